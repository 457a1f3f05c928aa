"""boto3 clients, created on first use and cached per process, and the timeouts and retries of every AWS call.

No AWS call (and no client) at import: Lambda bills the cold start, and moto
must be active before a client exists to intercept it. botocore itself
honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), so the same
code talks to AWS, moto server or another emulator.

Timeouts and retries live here, once, for the boto3 clients below and for
PynamoDB's connection (``storage/models.py`` reads them). botocore's defaults
are a 60 s connect and a 60 s read timeout: one hung call would outlive
``ses_inbound`` (10 s) and every API function (30 s; API Gateway answers 504
after 29 s), and Lambda would kill the invocation without a word about which
call hung. The retry mode is set too, not left to the botocore release
(``legacy``, 5 attempts, in older ones), ``AWS_RETRY_MODE`` or ``~/.aws/config``:
a client's ``Config`` wins over both. With the values below:

- one attempt takes at most ``CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS``
  (6 s), under the smallest function timeout (``ses_inbound``'s 10 s,
  ``.chalice/config.json``);
- one call with all its retries takes at most ``worst_case_call_seconds()``
  (21 s: 3 attempts and the jittered backoffs between them), under API
  Gateway's 29 s and the 30 s of the API functions. In ``ses_inbound`` a call
  that needs its retries can run past 10 s: Lambda then retries the
  asynchronous invocation twice and hands the event to the on-failure
  destination (the raw mail is already in S3).

PynamoDB 6.1 takes the two timeouts and a retry count (``max_retry_attempts``, retries after the first try)
and builds a botocore client in standard mode from them; it has no backoff setting of its own (no
``base_backoff_ms``: botocore's standard mode backs off).

The read timeout bounds each wait for bytes, not a whole transfer: streaming a
40 MB mail from S3 is many reads. No code here long-polls SQS (a
``WaitTimeSeconds`` above the read timeout would need its own client).
"""
from __future__ import annotations

import threading
from typing import Any

from chalicelib import config

__all__ = ["CONNECT_TIMEOUT_SECONDS", "MAX_ATTEMPTS", "READ_TIMEOUT_SECONDS", "RETRY_MODE", "client",
           "client_config", "presigner", "reset_clients", "worst_case_call_seconds"]

# A TCP and TLS handshake with a regional endpoint from Lambda takes milliseconds; 2 s means it is not coming.
CONNECT_TIMEOUT_SECONDS = 2.0
# DynamoDB, SQS, SES and S3 answer in milliseconds (p99 well under 1 s); past 4 s without a byte, try again.
READ_TIMEOUT_SECONDS = 4.0
# botocore's "standard" mode: retries throttling, transient 5xx and connection errors (more than "legacy"),
# with jittered exponential backoff and a client-side retry quota, so a struggling service is not hammered.
RETRY_MODE = "standard"
# The first try and two retries, for every service. botocore's standard default for DynamoDB is 4; 3 keeps one
# call's worst case under API Gateway's 29 s (see worst_case_call_seconds). PynamoDB: max_retry_attempts = 2.
MAX_ATTEMPTS = 3
# botocore's standard backoff before retry i (1-based) is at most min(base * 2 ** (i - 1), 20) s, with base 1 s
# for throttling (botocore/retries/standard.py, ExponentialBackoff).
_THROTTLING_BACKOFF_BASE_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 20.0


def worst_case_call_seconds() -> float:
    """The longest one AWS call can take: every attempt timing out, with the longest backoff between them.

    (A service may ask for a longer pause with ``x-amz-retry-after``; botocore then waits up to 5 s more
    per retry. A timed-out attempt carries no such header.)
    """
    backoffs = sum(min(_THROTTLING_BACKOFF_BASE_SECONDS * 2 ** (retry - 1), _MAX_BACKOFF_SECONDS)
                   for retry in range(1, MAX_ATTEMPTS))
    return MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + backoffs


def client_config(**overrides: Any) -> Any:
    """The botocore ``Config`` of every client we make: timeouts and standard retries, plus ``overrides``."""
    from botocore.config import Config  # heavy: imported only by the functions that call AWS

    return Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                  retries={"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS}, **overrides)


_clients: dict[str, Any] = {}
_session: Any = None
_lock = threading.Lock()


def client(service: str) -> Any:
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            global _session
            if _session is None:
                import boto3  # heavy: imported only by the functions that call AWS

                _session = boto3.session.Session()  # one session: each new one reloads botocore's data
            _clients[service] = _session.client(service, region_name=config.region(), config=client_config())
        return _clients[service]


def presigner(service: str) -> Any:
    """A client for pre-signed URLs, signed with Signature Version 4.

    Left to itself botocore presigns S3 URLs in us-east-1 with the deprecated
    Signature Version 2; V4 works in every region and signs the headers the
    browser must send (Content-Type) into the URL.
    """
    name = f"{service}#sigv4"
    cached = _clients.get(name)
    if cached is not None:
        return cached
    client(service)  # the shared session exists from here on
    with _lock:
        if name not in _clients:
            signature = "s3v4" if service == "s3" else "v4"
            _clients[name] = _session.client(service, region_name=config.region(),
                                             config=client_config(signature_version=signature))
        return _clients[name]


def reset_clients() -> None:
    """Forget cached boto3 clients, e.g. when LocalDesk switches endpoint (PynamoDB's: ``models.reset_connections``).

    The session stays: clients read the endpoint when created, and a new session
    would reload botocore's service data (~70 ms per client).
    """
    with _lock:
        _clients.clear()
