"""The customer portal's rules, without I/O: its tokens, and what a signed-in customer may read.

**Tokens.** ``rpl_<secret>`` is a sign-in link (mailed, 15 minutes, used once), ``rps_<secret>``
a portal session (``Authorization: Bearer``). Secrets are 256 random bits; only their SHA-256
is stored (``agent_tokens.hash_secret``, the same hashing as agents' credentials), as the key
of the lookup item that holds the one customer it opens. Unlike agents' tokens they name no
id: the hash *is* the key, so checking one is a single GetItem.

**What a customer sees** of a ticket (``visible_as``): their own messages (sent from one of
their identities), agents' replies (by the agent's display name) and the desk's
acknowledgements and automated messages. Never internal notes or logged calls, never the
audit trail, agents' ids or addresses, and never a message from anyone else on the ticket
(a colleague copied on a mail is another customer).
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.domain.agent_tokens import hash_secret

__all__ = ["HIDDEN_STATUSES", "LINK_PREFIX", "SESSION_PREFIX", "PortalToken", "customer_view", "new_link",
           "new_session", "parse_link", "parse_session", "ticket_summary", "visible_as"]

LINK_PREFIX = "rpl_"
SESSION_PREFIX = "rps_"
_SECRET = r"[0-9a-f]{64}"
_LINK = re.compile(rf"^{LINK_PREFIX}(?P<secret>{_SECRET})$")
_SESSION = re.compile(rf"^{SESSION_PREFIX}(?P<secret>{_SECRET})$")
#: A customer never sees these: held mail may be a forgery in their name; a merged ticket lives on in its survivor.
HIDDEN_STATUSES = frozenset({"spam"})
Author = Literal["customer", "agent", "desk"]


@dataclass(frozen=True)
class PortalToken:
    """A new token (shown once: mailed or answered) and the hash stored instead."""

    token: str
    token_hash: str


def new_link() -> PortalToken:
    return _new(LINK_PREFIX)


def new_session() -> PortalToken:
    return _new(SESSION_PREFIX)


def _new(prefix: str) -> PortalToken:
    import secrets  # imported on use: the API function loads the portal routes (and this) with any portal request

    secret = secrets.token_hex(32)
    return PortalToken(prefix + secret, hash_secret(secret))


def parse_link(token: Any) -> str | None:
    """The stored hash a well-formed link token is found by, else None."""
    return _hash_of(_LINK, token)


def parse_session(token: Any) -> str | None:
    """The stored hash a well-formed session token is found by, else None."""
    return _hash_of(_SESSION, token)


def _hash_of(pattern: re.Pattern[str], token: Any) -> str | None:
    match = pattern.match(token) if isinstance(token, str) else None
    return hash_secret(match["secret"]) if match else None


def visible_as(message: Any, identities: Collection[str]) -> Author | None:
    """Who the customer sees as a stored message's author, or None to hide it."""
    if message.direction == "inbound":
        return "customer" if message.kind == "customer" and message.sender in identities else None
    if message.kind == "agent":
        return "agent"
    if message.kind in ("acknowledgement", "automated"):
        return "desk"
    return None  # notes, logged calls, anything new: hidden until someone decides it is the customer's


def customer_view(message: Any, author: Author, desk_name: str) -> dict[str, Any]:
    """One message as the portal shows it: text only (the page renders it as text, never as HTML)."""
    name = {"agent": message.sender_name or "Support", "desk": desk_name}.get(author, message.sender_name or "")
    text = message.reply_text if author == "customer" and message.reply_text else message.text
    return {
        "from": author,
        "author_name": name,
        "text": text or "",
        "at": message.created_at,
        "channel": message.channel,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": int(a.size)}
                        for a in (message.attachments or [])],
    }


def ticket_summary(ticket: Any) -> dict[str, Any]:
    """A ticket in the customer's list: what they asked and where it stands, nothing of the desk's workings."""
    return {
        "id": ticket.ticket_id,
        "number": int(ticket.number),
        "subject": ticket.subject or "",
        "status": ticket.status,
        "channel": ticket.channel,
        "created_at": ticket.created_at,
        "last_activity_at": getattr(ticket, "last_customer_message_at", None) or ticket.created_at,
    }
