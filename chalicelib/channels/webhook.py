"""What every chat-platform adapter receives and returns, independent of Chalice.

An adapter is a module with ``handle(request, secrets, now) -> WebhookReply``: it
authenticates the request exactly as its platform specifies, parses the body
into ``InboundMessage``s and says what to answer. It makes no AWS call; the
route enqueues the messages (one SQS call) so the webhook answers fast.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chalicelib.errors import (
    BadRequest,
    Forbidden,
    HttpError,
    NotConfigured,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)

__all__ = ["MAX_BODY_BYTES", "BadWebhook", "Forbidden", "NotConfigured", "PayloadTooLarge", "Secrets",
           "Unauthenticated", "UnsupportedMediaType", "WebhookError", "WebhookReply", "WebhookRequest", "require"]

if TYPE_CHECKING:
    from chalicelib.domain.messages import InboundMessage

MAX_BODY_BYTES = 256 * 1024  # above any platform's real payload; larger bodies are refused (413)


@dataclass(frozen=True)
class WebhookRequest:
    method: str  # "GET" | "POST"
    url: str  # the full public URL the platform called, query string included (Twilio signs it)
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: bytes


@dataclass
class WebhookReply:
    status: int = 200
    body: str = ""
    content_type: str = "application/json"
    messages: list["InboundMessage"] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why events were not messages (logged)


# The adapters' names for the shared refusals (chalicelib/errors.py), as platforms' docs call them.
WebhookError = HttpError
BadWebhook = BadRequest
Unauthenticated = Unauthorized


Secrets = Callable[[str], str | None]  # name (e.g. "SLACK_SIGNING_SECRET") → value or None


def require(secrets: Secrets, name: str) -> str:
    value = secrets(name)
    if not value:
        raise NotConfigured(f"{name} is not configured for this deployment")
    return value
