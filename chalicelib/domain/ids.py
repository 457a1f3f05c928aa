"""Identifiers derived from what they identify, so a redelivered message maps to the same ids.

SQS delivers at least once: deriving the ticket id, message sort key and
attachment keys from the inbound message's idempotency key makes every
retry write the same items (and conditional writes refuse the second copy).
"""
from __future__ import annotations

import hashlib


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def ticket_id_for(dedup_key: str) -> str:
    return "t-" + _digest("ticket|" + dedup_key, 20)


def customer_id_for(identity_key: str) -> str:
    return "c-" + _digest("customer|" + identity_key, 20)


def message_key_digest(dedup_key: str) -> str:
    return _digest("message|" + dedup_key, 24)


def content_digest(*parts: str) -> str:
    """A digest of what a message says (sender, subject, text ...): tells a redelivery from a reused id."""
    return _digest("content|" + "\x00".join(parts), 24)


def acknowledgement_message_id(ticket_id: str, domain: str) -> str:
    """Deterministic Message-ID for a ticket's acknowledgement (without angle brackets).

    A resend after a crash is then the same message to mail clients that keep
    Message-IDs. (Amazon SES replaces Message-ID on delivery; we also record the
    one SES assigns, see README "Exactly once".)
    """
    return f"ack.{ticket_id}@{domain}"
