"""The platforms' HTTP client (chalicelib/outbound/http.py) against a real local server: what is retried, what
never is, and how many requests the platform saw. Jitter and sleep are injected, so every pause is exact."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib import invocation
from chalicelib.outbound import http

READ_TIMEOUT = 0.3  # the tests' read timeout: a "hung" platform answers after 1 s


@dataclass
class Platform:
    """A local stand-in for a platform's send API that answers from a script, then 200 with ``{"ok": true}``.

    Script steps: ``("status", code, headers)``, ``"hang"`` (reads the request, answers too late), ``"reset"``
    (reads the request, then resets the connection), ``"close"`` (reads it, closes without a word).
    """

    script: list[Any] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)  # every request the platform received
    server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/send"

    def start(self, port: int = 0) -> Platform:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real platforms

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                platform.seen.append({"method": self.command, "body": body, "headers": dict(self.headers),
                                      "client_port": self.client_address[1]})
                step = platform.script.pop(0) if platform.script else ("status", 200, {})
                if step == "hang":
                    time.sleep(1.0)
                    self.close_connection = True
                    return
                if step in ("reset", "close"):
                    if step == "reset":  # SO_LINGER 0: close() sends RST, the client sees "connection reset"
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                _, code, headers = step
                payload = json.dumps({"ok": code < 400}).encode()
                self.send_response(code)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer  # noqa: N815 (http.server's names)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """Every pause the client takes, instead of sleeping; jitter fixed at half the window."""
    taken: list[float] = []
    monkeypatch.setattr(http, "sleep", taken.append)
    monkeypatch.setattr(http, "random", lambda: 0.5)
    monkeypatch.setattr(http, "READ_TIMEOUT", READ_TIMEOUT)
    monkeypatch.setattr(invocation, "_deadline", None)  # no Lambda invocation around these calls
    monkeypatch.setattr(http, "_session", None)
    return taken


@pytest.fixture
def platform() -> Iterator[Platform]:
    running = Platform().start()
    yield running
    running.stop()


def _post(platform: Platform, **kwargs: Any) -> http.HttpResult:
    return http.request("POST", platform.url, platform="telegram", json={"chat_id": 1, "text": "Hej"}, **kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Nothing was sent: retried ------------------------------------------------------------------------


def test_a_refused_connection_is_retried_and_the_platform_sees_the_message_once(monkeypatch, pauses):
    port = _free_port()  # nothing listens there yet: the first connect is refused
    late = Platform()

    def platform_comes_up(pause: float) -> None:
        pauses.append(pause)
        late.start(port)

    monkeypatch.setattr(http, "sleep", platform_comes_up)
    try:
        result = http.request("POST", f"http://127.0.0.1:{port}/api/send", platform="telegram", json={"text": "Hej"})
    finally:
        late.stop()
    assert result.status == 200
    assert len(late.seen) == 1  # sent exactly once
    assert pauses == [0.5]  # the first backoff: random 0.5 × 1 s


def test_a_connection_refused_every_time_is_a_transient_failure_for_the_queue(pauses):
    port = _free_port()
    with pytest.raises(http.DeliveryError) as failure:
        http.request("POST", f"http://127.0.0.1:{port}/api/send", platform="telegram", json={"text": "Hej"})
    assert not failure.value.permanent  # nothing was sent: SQS may try again later
    assert not isinstance(failure.value, http.DeliveryOutcomeUnknown)
    assert pauses == [0.5, 1.0]  # full jitter over 1 s, then 2 s


# --- The platform said it did nothing: retried, after its Retry-After ------------------------------


def test_a_503_with_retry_after_is_retried_after_that_delay(platform, pauses):
    platform.script = [("status", 503, {"Retry-After": "4"})]
    assert _post(platform).status == 200
    assert len(platform.seen) == 2
    assert pauses == [4.0]


def test_a_429_without_retry_after_waits_the_jittered_backoff(platform, pauses):
    platform.script = [("status", 429, {}), ("status", 429, {})]
    assert _post(platform).status == 200
    assert len(platform.seen) == 3
    assert pauses == [0.5, 1.0]


def test_a_retry_after_longer_than_the_cap_is_left_to_the_queue_not_slept(platform, pauses):
    platform.script = [("status", 503, {"Retry-After": "120"})]
    with pytest.raises(http.DeliveryError) as failure:
        _post(platform)
    assert len(platform.seen) == 1 and pauses == []
    assert not failure.value.permanent and "not before 120 s" in failure.value.reason


def test_a_retry_after_longer_than_the_invocation_has_left_is_not_slept(platform, pauses, monkeypatch):
    monkeypatch.setattr(http, "_time_left", lambda: 5.0)
    platform.script = [("status", 429, {"Retry-After": "10"})]
    with pytest.raises(http.DeliveryError):
        _post(platform)
    assert len(platform.seen) == 1 and pauses == []


def test_503s_stop_after_max_attempts(platform, pauses):
    platform.script = [("status", 503, {})] * 5
    with pytest.raises(http.DeliveryError) as failure:
        _post(platform)
    assert len(platform.seen) == http.MAX_ATTEMPTS == 3
    assert not failure.value.permanent and "HTTP 503 after 3 attempts" in failure.value.reason


# --- The outcome is unknown: a POST is never sent again ---------------------------------------------


@pytest.mark.parametrize("step, error", [
    ("hang", "ReadTimeout"),  # sent; no answer within the read timeout
    ("reset", "ConnectionError"),  # sent; the connection reset before the answer
    ("close", "ConnectionError"),  # sent; the connection closed without an answer
    (("status", 500, {}), "HTTP 500"),
    (("status", 502, {}), "HTTP 502"),  # a gateway's answer: the platform behind it may have acted
    (("status", 504, {}), "HTTP 504"),
])
def test_a_post_whose_outcome_is_unknown_is_not_sent_again(platform, pauses, step, error):
    platform.script = [step]
    with pytest.raises(http.DeliveryOutcomeUnknown) as failure:
        _post(platform)
    assert len(platform.seen) == 1  # the platform saw it once, and only once
    assert pauses == []
    assert failure.value.permanent  # parked by the worker, never redelivered by SQS
    reason = failure.value.reason
    assert error in reason and "outcome unknown" in reason and "may have delivered it" in reason, reason


def test_a_get_whose_outcome_is_unknown_is_retried(platform, pauses):
    """Media downloads (GET) are idempotent (RFC 9110 §9.2.2): reading twice harms nobody."""
    platform.script = ["hang", "reset"]
    result = http.request("GET", platform.url, platform="whatsapp", raw=True)
    assert result.status == 200 and json.loads(result.body) == {"ok": True}
    assert [request["method"] for request in platform.seen] == ["GET"] * 3
    assert pauses == [0.5, 1.0]


def test_a_post_with_the_platforms_idempotency_key_is_retried_with_the_same_key(platform, pauses):
    """A platform that acts once per key (Twilio's Payments API, Stripe's Idempotency-Key) makes a resend safe;
    none of the chat send APIs offers one today, so only this path retries a POST with an unknown outcome."""
    platform.script = ["hang", ("status", 500, {})]
    result = _post(platform, idempotency_header=("Idempotency-Key", "out:t-1:reply-7"))
    assert result.status == 200
    assert len(platform.seen) == 3
    assert {request["headers"]["Idempotency-Key"] for request in platform.seen} == {"out:t-1:reply-7"}
    assert pauses == [0.5, 1.0]


def test_no_platform_sender_claims_an_idempotency_key():
    """Slack chat.postMessage, Telegram sendMessage, Graph /messages and Twilio Messages document none: a sender
    that passed one would turn an unknown outcome into a possible duplicate."""
    import inspect

    from chalicelib.outbound import platforms

    assert "idempotency_header" not in inspect.getsource(platforms)


def test_a_bad_url_is_permanent_and_never_sent(pauses):
    with pytest.raises(http.PermanentDeliveryError) as failure:
        http.request("POST", "not a url", platform="slack", json={})
    assert not isinstance(failure.value, http.DeliveryOutcomeUnknown)
    assert pauses == []


# --- Connections: a POST that cannot be resent does not trust a connection left idle ------------------


def test_a_post_after_an_idle_spell_opens_a_new_connection(platform, pauses, monkeypatch):
    monkeypatch.setattr(http, "IDLE_REUSE_SECONDS", 0.2)
    _post(platform)
    _post(platform)  # straight after: the pooled connection is reused
    time.sleep(0.3)
    _post(platform)  # idle past IDLE_REUSE_SECONDS: a fresh connection
    ports = [request["client_port"] for request in platform.seen]
    assert ports[0] == ports[1] != ports[2]


# --- The backoff itself -------------------------------------------------------------------------------


def test_full_jitter_stays_inside_a_doubling_window_capped_at_max_wait(monkeypatch):
    monkeypatch.setattr(http, "random", lambda: 0.0)
    assert [http.backoff(retry) for retry in (1, 2, 3)] == [0.0, 0.0, 0.0]
    monkeypatch.setattr(http, "random", lambda: 0.999)
    windows = [http.backoff(retry) / 0.999 for retry in range(1, 10)]
    assert windows == [1, 2, 4, 8, 16, 20, 20, 20, 20]
