"""Raw mail in S3 → ``InboundMessage``: fetch, parse, run the loop checks, read the verdicts.

A mail that can never become a ticket (missing object, empty, no sender, over
a parser limit) raises ``MalformedEmail``/``BlobMissing``, and the worker
parks it at once with the reason (as it does when parsing outruns its time
budget). Spam and virus verdicts do not drop the mail: the ticket is
quarantined. Sender authentication is read here and applied as policy by the
pipeline (``steps.check_sender``).

Attachments are *not* stored here: they travel as ``PendingBlob``s and the
pipeline uploads them only once it knows the message is new and its items fit
DynamoDB, so a duplicate delivery or a refused message writes nothing to S3.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib import clock, config
from chalicelib.domain.messages import AttachmentRef, Identity, InboundMessage
from chalicelib.domain import ids, sender_auth

__all__ = ["PendingBlob", "fetch", "to_inbound_message"]

_QUARANTINE_VERDICTS = ("spam", "virus")
_MAX_THREAD_REFS = 40
# RFC 5322 §2.1.1: a line is at most 998 characters, so no real Message-ID is longer;
# longer ones would only bloat every item that copies them (thread ids on the ticket).
_MAX_MESSAGE_ID_CHARS = 998


@dataclass(frozen=True)
class PendingBlob:
    """Bytes the pipeline stores in S3 under ``key`` once it decides to keep the message."""

    key: str
    content: bytes = field(repr=False)
    content_type: str


def fetch(pointer: dict[str, Any]) -> bytes:
    """The raw mail SES stored; ``BlobMissing`` when it is gone."""
    from chalicelib.storage import blobs

    return blobs.get(pointer["bucket"], pointer["key"])


def to_inbound_message(pointer: dict[str, Any], raw: bytes) -> tuple[InboundMessage, list[PendingBlob]]:
    """The message and the attachment bytes it refers to (pure CPU: the worker gives it a time budget)."""
    from chalicelib.channels.email.autoreply import machine_sent
    from chalicelib.channels.email.mime import parse_email

    ses_message_id = pointer["ses_message_id"]
    mail = parse_email(raw)
    machine = machine_sent(mail, [config.support_address()])
    dedup_key = f"in:email:{ses_message_id}"
    digest = ids.message_key_digest(dedup_key)
    pending = [PendingBlob(f"attachments/{digest}/{index}-{part.filename}", part.content, part.content_type)
               for index, part in enumerate(mail.attachments, start=1)]
    attachments = [AttachmentRef(filename=part.filename, content_type=part.content_type, size=part.size,
                                 s3_key=blob.key)
                   for part, blob in zip(mail.attachments, pending)]
    verdicts = pointer.get("verdicts") or {}
    failed = [name for name in _QUARANTINE_VERDICTS if str(verdicts.get(name, "")).upper() == "FAIL"]
    authentication = sender_auth.assess(verdicts)
    message = InboundMessage(
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
        message_id=_usable_id(mail.message_id),
        thread_refs=_thread_refs([*(mail.bounce.thread_ids if mail.bounce else []), *mail.in_reply_to], mail.references),
        recipients=list(dict.fromkeys([*pointer.get("recipients", []), *mail.to, *mail.cc])),
        auto_reply_reason=machine.reason if machine else None,
        machine_kind=machine.kind if machine else None,
        quarantine_reason=", ".join(f"{name} verdict FAIL" for name in failed) or None,
        sender_auth="pass" if authentication.status == "pass" else f"{authentication.status}: {authentication.reason}",
        conversation_key=f"email:{mail.from_address}",
        bounce=mail.bounce.bounce if mail.bounce else None,
    )
    return message, pending


def _usable_id(message_id: str | None) -> str | None:
    return message_id if message_id and len(message_id) <= _MAX_MESSAGE_ID_CHARS else None


def _thread_refs(in_reply_to: list[str], references: list[str]) -> list[str]:
    """Most specific first: the direct parent, then References from newest to oldest."""
    refs = [ref for ref in [*in_reply_to, *reversed(references)] if _usable_id(ref)]
    return list(dict.fromkeys(refs))[:_MAX_THREAD_REFS]


def _received_at(pointer: dict[str, Any]) -> datetime:
    stamp = pointer.get("timestamp")
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            pass
    return clock.now()
