"""boto3 clients, created on first use and cached per process.

No AWS call (and no client) at import: Lambda bills the cold start, and moto
must be active before a client exists to intercept it. botocore itself
honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), so the same
code talks to AWS, moto server or another emulator.
"""
from __future__ import annotations

import threading
from typing import Any

from chalicelib import config

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
            _clients[service] = _session.client(service, region_name=config.region())
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
    from botocore.config import Config

    client(service)  # the shared session exists from here on
    with _lock:
        if name not in _clients:
            _clients[name] = _session.client(service, region_name=config.region(),
                                             config=Config(signature_version="s3v4" if service == "s3" else "v4"))
        return _clients[name]


def reset_clients() -> None:
    """Forget cached boto3 clients, e.g. when LocalDesk switches endpoint (PynamoDB's: ``models.reset_connections``).

    The session stays: clients read the endpoint when created, and a new session
    would reload botocore's service data (~70 ms per client).
    """
    with _lock:
        _clients.clear()
