"""Reading platform payloads defensively: the small helpers every chat adapter shares.

Webhook bodies are attacker-controlled JSON or forms: a field can be missing
or of any type. These helpers return an empty value of the expected type
instead of raising, so an adapter's only failures are the ``WebhookError``s
it raises on purpose.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib.channels.webhook import BadWebhook, WebhookRequest

SUBJECT_LENGTH = 80


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadWebhook(f"body is not valid JSON: {type(error).__name__}") from None
    if not isinstance(payload, dict):
        raise BadWebhook("body is not a JSON object")
    return payload


def header(request: WebhookRequest, name: str) -> str:
    value = request.headers.get(name)
    return value if isinstance(value, str) else ""


def media_type(request: WebhookRequest) -> str:
    return header(request, "content-type").split(";", 1)[0].strip().lower()


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def label(value: Any) -> str:
    """A payload value for a log line: short, whatever its type."""
    return repr(value)[:100]


def subject(text: str) -> str:
    """The first non-blank line, so a ticket opened from chat still has a title."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:SUBJECT_LENGTH]
    return ""
