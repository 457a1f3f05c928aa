"""One small HTTP client for every platform's send API: timeouts, bounded retries, clear failures.

A chat message must never reach a customer twice, so a retry depends on what is known about the attempt that
failed (RFC 9110 §9.2.2: a client may resend an idempotent request, not a POST, after a failure it cannot see
through):

- **Nothing was sent**: the connection was refused, the name did not resolve, the connect timed out. Tried again.
- **The platform answered that it did nothing**: 429 (RFC 6585 §4) or 503 (RFC 9110 §15.6.4). Tried again after
  the ``Retry-After`` it gave (RFC 9110 §10.2.3), else after a jittered backoff. A ``Retry-After`` longer than
  ``MAX_WAIT_SECONDS`` or than the invocation has left is not waited for here: the message fails transiently and
  goes back to SQS, which delivers it again after its visibility timeout.
- **Any other 4xx**: permanent (a bad token or a blocked user does not get better).
- **The outcome is unknown**: the request went out and then the read timed out, the connection was reset or
  closed before a whole answer came back, or the answer was a 5xx other than 503 (a gateway's 502 or 504 says
  nothing of what the platform behind it did; a 500 can come after the message went out). A request that may be
  resent — an idempotent method (GET: media downloads) or one carrying the platform's idempotency key
  (``idempotency_header``) — is tried again. Any other is not: ``DeliveryOutcomeUnknown`` is permanent, so the
  worker parks the message at once with the reason and SQS never redelivers it. Slack's ``chat.postMessage``,
  Telegram's ``sendMessage``, the Graph API's ``/messages`` (WhatsApp, Messenger) and Twilio's Messages resource
  take no idempotency key, so no send here passes one. (``I-Twilio-Idempotency-Token`` is the header Twilio puts
  on the webhook requests *it* sends, so receivers can drop its retries; for requests to its Messages API Twilio
  documents no key, and its official SDK, generated from its API definitions, offers ``idempotency_key`` only on
  other resources such as Payments.)

Backoff between our own retries is "full jitter" (a uniform pause in ``[0, min(MAX_WAIT, BASE * 2 ** n)]``,
AWS Architecture Blog, "Exponential Backoff and Jitter"): copies of the function retrying together do not hit a
recovering platform in step. ``random`` and ``sleep`` are module attributes so tests make both deterministic.

A pooled keep-alive connection that the platform or a NAT dropped while idle (or while Lambda froze the
function) fails only once a request has been written to it — for a POST, an unknown outcome. So a request that
cannot be resent does not reuse a connection idle longer than ``IDLE_REUSE_SECONDS``.
"""
from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import invocation

__all__ = ["CONNECT_TIMEOUT", "DeliveryError", "DeliveryOutcomeUnknown", "HttpResult", "MAX_ATTEMPTS",
           "MAX_WAIT_SECONDS", "PermanentDeliveryError", "READ_TIMEOUT", "request"]

CONNECT_TIMEOUT = 3.05  # just over a multiple of 3 s, TCP's initial SYN retransmission interval (requests' advice)
READ_TIMEOUT = 10  # Slack, Telegram, Graph and Twilio answer a send in well under a second
MAX_ATTEMPTS = 3
MAX_WAIT_SECONDS = 20  # longest pause between attempts; a Lambda must not sleep past its timeout
BACKOFF_BASE_SECONDS = 1.0  # the first backoff is uniform in [0, 1 s], the second in [0, 2 s], ...
IDLE_REUSE_SECONDS = 10.0  # a connection idle longer than this is not trusted with a request that cannot be resent
_RESENDABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # RFC 9110 §9.2.2
_NOTHING_DONE = frozenset({429, 503})  # the platform says it did not act on the request


class DeliveryError(Exception):
    """The platform did not take the message. ``permanent``: never tried again, by us or by SQS (parked)."""

    permanent = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentDeliveryError(DeliveryError):
    permanent = True


class DeliveryOutcomeUnknown(PermanentDeliveryError):
    """The request was sent and no usable answer came back: the platform may have delivered it.

    Permanent so that nothing sends it again (SQS included): a message lost to an unknown outcome is parked with
    this reason, where an agent sees it, rather than risk the customer receiving it twice.
    """


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any  # parsed JSON when the platform answered JSON, else text


_session: Any = None
_last_used = 0.0  # time.monotonic() when _session last finished a request
sleep: Callable[[float], None] = time.sleep  # replaced in tests
random: Callable[[], float] = _random.random  # replaced in tests: the jitter's source, in [0, 1)
_DEADLINE_MARGIN = 0.1  # share of the invocation kept for writing results after the last request
_MIN_ATTEMPT_SECONDS = 1.0


def _time_left() -> float:
    """Bounded by the Lambda invocation's remaining time, so a hung platform cannot time it out."""
    return invocation.time_left(keep=_DEADLINE_MARGIN)


def backoff(retry: int) -> float:
    """The pause before retry number ``retry`` (1-based): full jitter over a doubling, capped window."""
    return random() * min(MAX_WAIT_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (retry - 1))


def request(method: str, url: str, *, platform: str, raw: bool = False, attempts: int = MAX_ATTEMPTS,
            idempotency_header: tuple[str, str] | None = None, **kwargs: Any) -> HttpResult:
    """``raw=True`` returns the body as bytes (media downloads) instead of parsed JSON.

    ``idempotency_header``: ``(name, key)`` of a platform that promises to act once per key; with it a request
    whose outcome is unknown is resent (with the same key), as an idempotent method's is.
    """
    import requests

    resendable = method.upper() in _RESENDABLE_METHODS or idempotency_header is not None
    if idempotency_header is not None:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), idempotency_header[0]: idempotency_header[1]}
    for attempt in range(1, attempts + 1):
        left = _time_left()
        if left < _MIN_ATTEMPT_SECONDS:
            raise DeliveryError(f"{platform}: no time left in this invocation for another attempt")
        timeout = (min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left))
        retry_after: float | None = None
        try:
            response = _session_for(resendable).request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as err:
            _mark_used()
            failure = f"{platform}: {type(err).__name__}: {err}"
            if isinstance(err, _refused_before_sending()):  # a bad URL or header, a redirect loop: no retry helps
                raise PermanentDeliveryError(failure) from err
            if not resendable and not _never_sent(err):
                raise DeliveryOutcomeUnknown(_unknown(platform, method, failure)) from err
        else:
            _mark_used()
            status = response.status_code
            body = response.content if raw and status < 400 else _body(response)
            if status < 400:
                return HttpResult(status, body)
            if status < 500 and status != 429:
                raise PermanentDeliveryError(f"{platform}: HTTP {status}: {body}")
            failure = f"{platform}: HTTP {status} after {attempt} attempts: {body}"
            if status not in _NOTHING_DONE and not resendable:
                raise DeliveryOutcomeUnknown(_unknown(platform, method, f"{platform}: HTTP {status}: {body}"))
            retry_after = _retry_after(response)
        if attempt == attempts:
            raise DeliveryError(failure)
        pause = backoff(attempt) if retry_after is None else retry_after
        if pause > MAX_WAIT_SECONDS or pause > _time_left() - _MIN_ATTEMPT_SECONDS:
            raise DeliveryError(f"{failure} (next attempt not before {pause:.0f} s: left to the queue)")
        sleep(pause)
    raise AssertionError("unreachable")


def _refused_before_sending() -> tuple[type[Exception], ...]:
    import requests

    return (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidHeader, requests.exceptions.URLRequired, requests.exceptions.InvalidJSONError,
            requests.exceptions.TooManyRedirects)


def _unknown(platform: str, method: str, failure: str) -> str:
    return (f"{failure} — outcome unknown: the {method.upper()} was sent and {platform} may have delivered it; "
            f"not sent again, so the customer cannot get it twice (check the conversation on {platform})")


def _never_sent(err: Exception) -> bool:
    """True when the request cannot have reached the platform: the connection was never made."""
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    if isinstance(err, requests.ConnectTimeout):  # connect() timed out: nothing was written
        return True
    cause = err.args[0] if isinstance(err, requests.ConnectionError) and err.args else None
    # Refused, unreachable, or the name did not resolve (urllib3's NameResolutionError is a NewConnectionError).
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _session_for(resendable: bool) -> Any:
    global _session
    import requests

    if _session is not None and not resendable and time.monotonic() - _last_used > IDLE_REUSE_SECONDS:
        _session.close()  # its pooled connections may be dead without knowing it: start afresh
        _session = None
    if _session is None:
        _session = requests.Session()
    return _session


def _mark_used() -> None:
    global _last_used
    _last_used = time.monotonic()


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
