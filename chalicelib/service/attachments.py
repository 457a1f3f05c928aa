"""An agent downloads a message's attachment: a short-lived pre-signed S3 GET, never the bucket key.

The id (``domain.attachment_policy.attachment_id``) names ticket, message and
position; it is honoured only on the ticket that shows the message (the ticket
itself, or the one a duplicate was merged into), so an id copied from another
ticket, or made up, is a 404 like any attachment whose bytes we never stored
(a chat platform that would not let us fetch the media).
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import attachment_policy as policy
from chalicelib.errors import NotFound
from chalicelib.storage import blobs
from chalicelib.storage import tickets as stored_tickets

__all__ = ["URL_SECONDS", "download"]

URL_SECONDS = 300


def download(ticket: Any, attachment_id: str) -> dict[str, Any]:
    """``{url, expires_in, filename, content_type, size}`` for one attachment of the ticket's conversation."""
    missing = NotFound(f"no attachment {attachment_id[:80]!r} on ticket {ticket.ticket_id}")
    address = policy.parse_attachment_id(attachment_id)
    if address is None or address.ticket_id not in {ticket.ticket_id, *(ticket.merged_from or [])}:
        raise missing
    message = stored_tickets.message(address.ticket_id, address.message_sk)
    attachments = list(message.attachments or []) if message is not None else []
    if address.index >= len(attachments):
        raise missing
    attachment = attachments[address.index]
    if not attachment.s3_key or blobs.describe(attachment.s3_key) is None:
        raise NotFound(f"attachment {attachment.filename!r} has no stored file (the platform it came from "
                       "would not let us fetch it)")
    url = blobs.presign_download(attachment.s3_key, content_disposition=policy.content_disposition(attachment.filename),
                                 expires_in=URL_SECONDS)
    return {"url": url, "expires_in": URL_SECONDS, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": int(attachment.size)}
