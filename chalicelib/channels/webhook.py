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

if TYPE_CHECKING:
    from chalicelib.channels.inbound import InboundMessage

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


class WebhookError(Exception):
    """A request we refuse; ``status`` and ``reason`` become the JSON answer."""

    status = 400
    code = "bad_request"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadWebhook(WebhookError):
    pass


class Unauthenticated(WebhookError):
    status, code = 401, "unauthorized"


class Forbidden(WebhookError):
    status, code = 403, "forbidden"


class UnsupportedMediaType(WebhookError):
    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(WebhookError):
    status, code = 413, "payload_too_large"


class NotConfigured(WebhookError):
    """The platform's secret is not configured: we never accept unsigned traffic."""

    status, code = 503, "not_configured"


Secrets = Callable[[str], str | None]  # name (e.g. "SLACK_SIGNING_SECRET") → value or None


def require(secrets: Secrets, name: str) -> str:
    value = secrets(name)
    if not value:
        raise NotConfigured(f"{name} is not configured for this deployment")
    return value
