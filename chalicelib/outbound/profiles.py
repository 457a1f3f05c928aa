"""Customers' display names from the chat platforms that do not send them with the message.

Telegram (``from.first_name``/``last_name``), WhatsApp (``contacts[].profile.name``),
Twilio WhatsApp (``ProfileName``) and the web chat (the site's signed claims) name the
sender in the webhook itself. Two platforms may not:

* Slack puts ``user_profile`` on many message events but not all, and never on button
  presses: ``users.info`` (https://docs.slack.dev/reference/methods/users.info, scope
  ``users:read``, Tier 4: 100+ calls a minute) gives the profile, with the bot token.
* Messenger sends only the page-scoped id: the User Profile API
  (``GET /<PSID>?fields=first_name,last_name``) gives the name, with the page token, once
  the person wrote to the page.

SMS carries no name at all. The pipeline asks here (``pipeline/steps.py``, ``name_sender``),
behind the inbound queue, never in a webhook's request: the platform's answer time is
not the webhook's. One attempt with the HTTP client's short timeouts, and any failure (no
token, a missing scope, an unknown user, a timeout) is one log line and no name: a name is
nice to have, the message is not held back for it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import secrets
from chalicelib.observability import count, logger
from chalicelib.outbound.http import request

__all__ = ["LOOKUPS", "display_name"]

_GRAPH = "https://graph.facebook.com"
_MAX_NAME_CHARS = 200  # a display name, not a document; InboundMessage caps sender_name further


def display_name(channel: str, sender_value: str) -> str | None:
    """The name the platform shows for this sender, or None (no lookup for the channel, or it failed)."""
    lookup = LOOKUPS.get(channel)
    if lookup is None:
        return None
    try:
        name = lookup(sender_value)
    except Exception as err:  # any failure: no name this time, the next message asks again
        logger.warning("customer profile lookup failed; the customer stays unnamed for now",
                       extra={"channel": channel, "reason": str(err)[:300]})
        count("ProfileLookupsFailed", channel=channel)
        return None
    return " ".join(name.split())[:_MAX_NAME_CHARS] or None


def _slack(sender_value: str) -> str:
    """``users.info`` (GET, form arguments: the method takes no JSON) for ``<team>:<user>``."""
    user = sender_value.rpartition(":")[2]
    token = _configured(secrets.get("SLACK_BOT_TOKEN"), "SLACK_BOT_TOKEN")
    result = request("GET", "https://slack.com/api/users.info", platform="slack", attempts=1,
                     params={"user": user}, headers={"Authorization": f"Bearer {token}"})
    body = result.body if isinstance(result.body, dict) else {}
    if not body.get("ok"):
        raise LookupError(f"slack users.info: {body.get('error') or result.body!r}")
    found = _dict(body.get("user"))
    profile = _dict(found.get("profile"))
    # The order the adapter reads a message's user_profile in (channels/slack.py), so both agree.
    for value in (profile.get("display_name"), profile.get("real_name"), found.get("real_name"), found.get("name")):
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _messenger(psid: str) -> str:
    version = secrets.get("META_GRAPH_VERSION") or "v21.0"
    token = _configured(secrets.get("MESSENGER_PAGE_ACCESS_TOKEN"), "MESSENGER_PAGE_ACCESS_TOKEN")
    result = request("GET", f"{_GRAPH}/{version}/{psid}", platform="messenger", attempts=1,
                     params={"fields": "first_name,last_name", "access_token": token})
    body = _dict(result.body)
    return " ".join(part for part in (body.get("first_name"), body.get("last_name")) if isinstance(part, str))


def _configured(value: str | None, name: str) -> str:
    if not value:
        raise LookupError(f"{name} is not configured")
    return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


#: Channel → the lookup of a sender's name (``sender.value`` of the message's identity).
LOOKUPS: dict[str, Callable[[str], str]] = {"slack": _slack, "messenger": _messenger}
