"""The HTTP edge of every chat webhook: Chalice request → adapter → queue → fast answer.

At most two AWS calls per request: a secret from SSM (cached per container,
none when secrets are in the environment) and one SQS send for the messages.
The pipeline runs behind the queue, so Slack's 3-second limit is never close.
An anonymous web-chat session costs one more: the per-address counter
(``chalicelib/storage/rate_limits.py``).
"""
from __future__ import annotations

import importlib
import ipaddress
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalicelib import clock, secrets
from chalicelib.observability import count, logger

if TYPE_CHECKING:
    from chalicelib.channels.webhook import WebhookReply, WebhookRequest

# platform → (adapter module, function)
ADAPTERS: dict[str, tuple[str, str]] = {
    "slack": ("chalicelib.channels.slack", "handle"),
    "whatsapp": ("chalicelib.channels.meta", "handle_whatsapp"),
    "messenger": ("chalicelib.channels.meta", "handle_messenger"),
    "telegram": ("chalicelib.channels.telegram", "handle"),
    "twilio": ("chalicelib.channels.twilio", "handle"),
    "webchat": ("chalicelib.channels.webchat", "handle"),
}


UNKNOWN_CLIENT = "unknown"  # the counter for requests without a usable source address
WEBCHAT_SESSION_SCOPE = "webchat-session"


def receive(platform: str, request: Any, **adapter_options: Any) -> Any:
    """Authenticate, parse and enqueue one webhook request; answer as the platform expects.

    ``adapter_options`` are passed to the adapter as keywords (the web chat's ``claim`` of uploaded files:
    AWS work the route injects, so the adapter itself stays free of it).
    """
    from chalicelib.domain.messages import FieldTooLong
    from chalicelib.channels.webhook import BadWebhook, WebhookError

    try:
        web_request = to_webhook_request(request, f"/webhooks/{platform}")
        module_name, function_name = ADAPTERS[platform]
        adapter = getattr(importlib.import_module(module_name), function_name)
        try:
            reply: WebhookReply = adapter(web_request, secrets.get, clock.now(), **adapter_options)
        except FieldTooLong as error:  # an adapter that forgot to decide: a 400 beats a 500 the platform retries
            raise BadWebhook(f"event cannot be stored: {error}") from None
    except WebhookError as err:
        logger.warning("webhook refused", extra={"platform": platform, "status": err.status, "reason": err.reason})
        return _error_response(err)
    if reply.messages:
        from chalicelib.storage import queues as queue

        try:
            queue.enqueue_messages(reply.messages)
        except Exception:  # the platform retries on 5xx; nothing was accepted
            logger.exception("could not enqueue webhook messages", extra={"platform": platform})
            return _response(json.dumps({"error": "unavailable", "reason": "queue unavailable, retry later"}),
                             503, "application/json")
    for reason in reply.skipped:
        logger.info("webhook event skipped", extra={"platform": platform, "reason": reason})
    for message in reply.messages:
        count("ChatMessagesReceived", channel=message.channel)
    return _response(reply.body, reply.status, reply.content_type)


def webchat_session(request: Any) -> Any:
    """``POST /webchat/sessions``: a signed session for a visitor; anonymous ones are limited per client address."""
    from chalicelib.channels.webchat import issue_session
    from chalicelib.channels.webhook import MAX_BODY_BYTES, PayloadTooLarge, WebhookError

    now = clock.now()
    client = client_address(request.context)
    try:
        if len(request.raw_body or b"") > MAX_BODY_BYTES:
            raise PayloadTooLarge("body too large")
        session = issue_session(request.raw_body or b"", secrets.get, now,
                                admit_anonymous=lambda: _admit_anonymous_session(client, now))
    except WebhookError as err:
        return _error_response(err)
    return _response(json.dumps(session), 201, "application/json")


def _admit_anonymous_session(client: str, now: datetime) -> None:
    """Count one anonymous session for ``client``; 429 past the desk's ``webchat_session_limit``."""
    from chalicelib.errors import TooManyRequests
    from chalicelib.configuration import desk_settings
    from chalicelib.storage.rate_limits import LimitReached, count_request

    limit = desk_settings().webchat_session_limit
    try:
        count_request(WEBCHAT_SESSION_SCOPE, client, limit=limit.max_per_client,
                      window=timedelta(minutes=limit.window_minutes), now=now)
    except LimitReached as full:
        logger.warning("web-chat session refused: too many from one address",
                       extra={"client": client, "limit": limit.max_per_client, "window_minutes": limit.window_minutes})
        count("WebchatSessionsRefused", channel="webchat")
        raise TooManyRequests(
            f"this address opened {limit.max_per_client} anonymous chat sessions in {limit.window_minutes} minutes;"
            f" try again in {full.retry_after_seconds} seconds",
            retry_after_seconds=full.retry_after_seconds,
        ) from None


def client_address(request_context: Mapping[str, Any] | None) -> str:
    """The client a request counts against: API Gateway's ``requestContext.identity.sourceIp``.

    That is the address API Gateway saw the connection (or CloudFront's viewer) come from; headers such
    as X-Forwarded-For are the client's to write, so they are not used. An IPv6 client counts by its
    /64: a host picks addresses in its /64 freely and changes them often (SLAAC temporary addresses,
    RFC 8981), so one address would be one client only on IPv4. A missing or unreadable address (test
    clients, other front ends) counts under one shared ``unknown`` key rather than failing the request.
    """
    identity = (request_context or {}).get("identity") or {}
    source = identity.get("sourceIp") if isinstance(identity, Mapping) else None
    try:
        address = ipaddress.ip_address(source.strip()) if isinstance(source, str) else None
    except ValueError:
        address = None
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # "::ffff:203.0.113.7" is the IPv4 client 203.0.113.7
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def to_webhook_request(request: Any, path: str) -> "WebhookRequest":
    from chalicelib.channels.webhook import MAX_BODY_BYTES, PayloadTooLarge, WebhookRequest

    body = request.raw_body or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
    query = dict(request.query_params or {})
    base = (secrets.get("PUBLIC_BASE_URL") or "http://localhost:8000").rstrip("/")
    url = f"{base}{path}" + (f"?{urlencode(query)}" if query else "")
    headers = {str(k).lower(): str(v) for k, v in (request.headers or {}).items()}
    return WebhookRequest(method=request.method, url=url, headers=headers, query=query, body=body)


def _error_response(err: Any) -> Any:
    """The edge's one error shape, ``{"error", "reason"}``, with the headers the error carries (Retry-After...)."""
    return _response(json.dumps({"error": err.code, "reason": err.reason}), err.status, "application/json",
                     err.headers)


def _response(body: str, status: int, content_type: str, headers: Mapping[str, str] | None = None) -> Any:
    from chalice import Response

    return Response(body=body, status_code=status, headers={**(headers or {}), "Content-Type": content_type})
