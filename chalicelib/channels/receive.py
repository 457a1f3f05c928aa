"""The HTTP edge of every chat webhook: Chalice request → adapter → queue → fast answer.

At most two AWS calls per request: a secret from SSM (cached per container,
none when secrets are in the environment) and one SQS send for the messages.
The pipeline runs behind the queue, so Slack's 3-second limit is never close.
"""
from __future__ import annotations

import importlib
import json
from typing import Any
from urllib.parse import urlencode

from typing import TYPE_CHECKING

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


def receive(platform: str, request: Any) -> Any:
    """Authenticate, parse and enqueue one webhook request; answer as the platform expects."""
    from chalicelib.channels.webhook import WebhookError

    try:
        web_request = to_webhook_request(request, f"/webhooks/{platform}")
        module_name, function_name = ADAPTERS[platform]
        adapter = getattr(importlib.import_module(module_name), function_name)
        reply: WebhookReply = adapter(web_request, secrets.get, clock.now())
    except WebhookError as err:
        logger.warning("webhook refused", extra={"platform": platform, "status": err.status, "reason": err.reason})
        return _response(json.dumps({"error": err.code, "reason": err.reason}), err.status, "application/json")
    if reply.messages:
        from chalicelib.pipeline import queue

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
    from chalicelib.channels.webchat import issue_session
    from chalicelib.channels.webhook import MAX_BODY_BYTES, PayloadTooLarge, WebhookError

    try:
        if len(request.raw_body or b"") > MAX_BODY_BYTES:
            raise PayloadTooLarge("body too large")
        session = issue_session(request.raw_body or b"", secrets.get, clock.now())
    except WebhookError as err:
        return _response(json.dumps({"error": err.code, "reason": err.reason}), err.status, "application/json")
    return _response(json.dumps(session), 201, "application/json")


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


def _response(body: str, status: int, content_type: str) -> Any:
    from chalice import Response

    return Response(body=body, status_code=status, headers={"Content-Type": content_type})
