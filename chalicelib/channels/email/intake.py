"""Raw mail in S3 → ``InboundMessage``: fetch, parse, run the loop checks, store attachments.

A mail that can never become a ticket (missing object, empty, no sender)
raises ``MalformedEmail``/``BlobMissing``: the worker parks it with the reason.
Spam and virus verdicts do not drop the mail: the ticket is quarantined.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock, config
from chalicelib.channels.inbound import AttachmentRef, Identity, InboundMessage
from chalicelib.domain import ids

_QUARANTINE_VERDICTS = ("spam", "virus")
_MAX_THREAD_REFS = 40


def to_inbound_message(pointer: dict[str, Any]) -> InboundMessage:
    from chalicelib.channels.email.autoreply import auto_reply_reason
    from chalicelib.channels.email.mime import parse_email
    from chalicelib.storage import blobs

    ses_message_id = pointer["ses_message_id"]
    raw = blobs.get(pointer["bucket"], pointer["key"])
    mail = parse_email(raw)
    dedup_key = f"in:email:{ses_message_id}"
    digest = ids.message_key_digest(dedup_key)
    attachments = [
        AttachmentRef(
            filename=part.filename,
            content_type=part.content_type,
            size=part.size,
            s3_key=blobs.put(f"attachments/{digest}/{index}-{part.filename}", part.content, part.content_type),
        )
        for index, part in enumerate(mail.attachments, start=1)
    ]
    verdicts = pointer.get("verdicts") or {}
    failed = [name for name in _QUARANTINE_VERDICTS if str(verdicts.get(name, "")).upper() == "FAIL"]
    return InboundMessage(
        channel="email",
        external_id=ses_message_id,
        received_at=_received_at(pointer),
        sender=Identity("email", mail.from_address),
        sender_name=mail.from_name,
        subject=mail.subject,
        text=mail.text_body,
        reply_text=mail.reply_text,
        html=mail.html_body,
        attachments=attachments,
        message_id=mail.message_id,
        thread_refs=_thread_refs(mail.in_reply_to, mail.references),
        recipients=list(dict.fromkeys([*pointer.get("recipients", []), *mail.to, *mail.cc])),
        auto_reply_reason=auto_reply_reason(mail, [config.support_address()]),
        quarantine_reason=", ".join(f"{name} verdict FAIL" for name in failed) or None,
        conversation_key=f"email:{mail.from_address}",
    )


def _thread_refs(in_reply_to: list[str], references: list[str]) -> list[str]:
    """Most specific first: the direct parent, then References from newest to oldest."""
    return list(dict.fromkeys([*in_reply_to, *reversed(references)]))[:_MAX_THREAD_REFS]


def _received_at(pointer: dict[str, Any]) -> datetime:
    stamp = pointer.get("timestamp")
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            pass
    return clock.now()
