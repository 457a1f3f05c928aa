"""One small HTTP client for every platform's send API: timeouts, bounded retries, clear failures.

Retries 429 and 5xx with exponential backoff, honouring ``Retry-After`` (RFC
9110 §10.2.3) up to a cap, because a Lambda must not sleep past its timeout.
Any other 4xx is permanent: retrying cannot fix a bad token or a blocked user.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import invocation

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10
MAX_ATTEMPTS = 3
MAX_WAIT_SECONDS = 20


class DeliveryError(Exception):
    """The platform did not take the message."""

    permanent = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentDeliveryError(DeliveryError):
    permanent = True


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any  # parsed JSON when the platform answered JSON, else text


_session: Any = None
sleep: Callable[[float], None] = time.sleep  # replaced in tests
_DEADLINE_MARGIN = 0.1  # share of the invocation kept for writing results after the last request
_MIN_ATTEMPT_SECONDS = 1.0


def _time_left() -> float:
    """Bounded by the Lambda invocation's remaining time, so a hung platform cannot time it out."""
    return invocation.time_left(keep=_DEADLINE_MARGIN)


def request(method: str, url: str, *, platform: str, raw: bool = False, attempts: int = MAX_ATTEMPTS,
            **kwargs: Any) -> HttpResult:
    """``raw=True`` returns the body as bytes (media downloads) instead of parsed JSON."""
    import requests

    global _session
    if _session is None:
        _session = requests.Session()
    wait = 1.0
    for attempt in range(1, attempts + 1):
        left = _time_left()
        if left < _MIN_ATTEMPT_SECONDS:
            raise DeliveryError(f"{platform}: no time left in this invocation for another attempt")
        timeout = (min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left))
        try:
            response = _session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as err:
            failure: str = f"{platform}: {type(err).__name__}: {err}"
            pause = wait
        else:
            body = response.content if raw and response.status_code < 400 else _body(response)
            if response.status_code < 400:
                return HttpResult(response.status_code, body)
            if response.status_code != 429 and response.status_code < 500:
                raise PermanentDeliveryError(f"{platform}: HTTP {response.status_code}: {body}")
            failure = f"{platform}: HTTP {response.status_code} after {attempt} attempts: {body}"
            pause = min(_retry_after(response) or wait, MAX_WAIT_SECONDS)
        if attempt == attempts or pause > _time_left() - _MIN_ATTEMPT_SECONDS:
            raise DeliveryError(failure)
        sleep(pause)
        wait *= 2
    raise AssertionError("unreachable")


def _body(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
