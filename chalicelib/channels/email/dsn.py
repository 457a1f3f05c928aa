"""Delivery-status notifications: which of our messages bounced, to whom, and why.

A bounce belongs on the ticket whose message it returns, not in a new ticket
from ``mailer-daemon``. RFC 3464 reports (``multipart/report;
report-type=delivery-status``: Postfix, Exchange/Outlook.com, Gmail, Amazon SES)
carry the failed recipient, status and diagnostic in a ``message/delivery-status``
part and the original in a ``message/rfc822`` or ``text/rfc822-headers`` part.
Older MTAs (qmail, Exim, Sendmail variants) send plain text from
``MAILER-DAEMON`` or ``postmaster`` that quotes the original headers; for those
the ids and the status are read from the text. Either way the result is a
``Bounce`` and the ids of the bounced message (its Message-ID, then the ids it
replied to), which intake puts first in the thread references.

Every read is bounded: at most ``_MAX_REPORT_BLOCKS`` recipient blocks and
``_MAX_SCAN_CHARS`` of any text part, with linear patterns.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from itertools import islice

from chalicelib.channels.email.headers import message_ids
from chalicelib.domain.messages import Bounce

__all__ = ["BounceReport", "bounce_report"]

_MAX_REPORT_BLOCKS = 50
_MAX_SCAN_CHARS = 65_536
_MAX_FIELD_CHARS = 500
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon"})
#: "Undelivered Mail Returned to Sender" (Postfix), "Delivery Status Notification (Failure)" (Gmail),
#: "Undeliverable:" (Exchange), "failure notice" (qmail), "Mail delivery failed" (Exim), "Returned mail" (Sendmail).
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|failure notice|delivery failed|delivery failure|returned mail"
    r"|unzustellbar|kan ikke leveres|kunne ikke leveres|onbestelbaar|non remis",
    re.IGNORECASE,
)
_QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]{1,998}>)", re.IGNORECASE | re.MULTILINE)
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b[45]\d\d[ -]")
_FINAL_RECIPIENT = re.compile(r"^[ \t]*Final-Recipient:[ \t]*(?:rfc822;)?[ \t]*<?([^\s<>;]{1,320})>?", re.IGNORECASE | re.MULTILINE)
#: Postfix, qmail and Exim name the failed recipient at the start of a line: "<ole@kunde.no>: host ..." / "  ole@kunde.no".
_ANGLE_RECIPIENT = re.compile(r"^[ \t]*<([^\s<>@]{1,64}@[^\s<>]{1,255})>:?", re.MULTILINE)
#: Gmail: "Your message wasn't delivered to ole@kunde.no because ..."
_DELIVERED_TO = re.compile(r"delivered to ([^\s<>@]{1,64}@[^\s<>]{1,255}?)[.,]?\s", re.IGNORECASE)


@dataclass(frozen=True)
class BounceReport:
    """The bounce and the ids to thread it by: the bounced Message-ID first, then the ids that message replied to."""

    bounce: Bounce
    thread_ids: list[str] = field(default_factory=list)


def bounce_report(
    message: Message, from_address: str, subject: str, text_body: str, return_path: str | None
) -> BounceReport | None:
    """The delivery-status notification in this mail, or None when it is not one.

    A plain-text bounce must come from a daemon address, or with the null
    Return-Path bounces carry (RFC 5321 §4.5.5) and a bounce subject: a
    customer forwarding a bounce to us is still a customer writing.
    """
    if message.get_content_type() == "multipart/report" and \
            str(message.get_param("report-type") or "").lower() == "delivery-status":
        return _standard_report(message, text_body)
    local_part = from_address.rpartition("@")[0].lower()
    null_sender = return_path is not None and not return_path.strip("<> \t")
    if local_part in _DAEMON_LOCAL_PARTS or (null_sender and _BOUNCE_SUBJECT.search(subject[:300])):
        return _text_report(text_body)
    return None


# --- RFC 3464 reports -------------------------------------------------------------


def _standard_report(message: Message, text_body: str) -> BounceReport:
    fields: dict[str, str] = {}
    original: list[str] = []
    for part in list(message.iter_parts())[:10]:
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status") and not fields:
            fields = _recipient_fields(part)
        elif content_type in ("message/rfc822", "message/global") and not original:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = _original_ids(inner[0].raw_items())
        elif content_type in ("text/rfc822-headers", "message/global-headers") and not original:
            data = (part.get_payload(decode=True) or b"")[:_MAX_SCAN_CHARS]
            original = _original_ids(BytesHeaderParser(policy=compat32).parsebytes(data).raw_items())
    if not original:
        original = _ids_in_text(text_body)
    status = fields.get("status", "")
    bounce = Bounce(
        recipient=_address(fields.get("final-recipient") or fields.get("original-recipient") or "") or _recipient_in_text(text_body),
        status=status.split()[0] if status else _first(_STATUS, text_body),
        diagnostic=fields.get("diagnostic-code", "") or _diagnostic_in_text(text_body),
        action=fields.get("action", "").lower(),
        original_message_id=original[0] if original else None,
    )
    return BounceReport(bounce, original)


def _recipient_fields(part: Message) -> dict[str, str]:
    """The fields of the first recipient block that failed (else the first recipient block), lowercased names."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):  # a report the stdlib could not split: read it as text
        return _fields_from_text(str(blocks))
    recipients = []
    for block in blocks[:_MAX_REPORT_BLOCKS]:
        if not isinstance(block, Message):
            continue
        fields = {name.lower(): " ".join(str(value)[:_MAX_SCAN_CHARS].split())[:_MAX_FIELD_CHARS]
                  for name, value in islice(block.raw_items(), 100)}
        if "final-recipient" in fields or "original-recipient" in fields:
            recipients.append(fields)
    failed = [fields for fields in recipients if fields.get("action", "").lower() == "failed"]
    return (failed or recipients or [{}])[0]


def _fields_from_text(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text[:_MAX_SCAN_CHARS].splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip() and " " not in name.strip():
            fields.setdefault(name.strip().lower(), value.strip()[:_MAX_FIELD_CHARS])
    return fields


def _original_ids(raw_items: Iterable[tuple[str, object]]) -> list[str]:
    headers: dict[str, list[str]] = {}
    for name, value in islice(raw_items, 200):
        headers.setdefault(name.lower(), []).append(str(value)[:_MAX_SCAN_CHARS])
    own = message_ids(headers.get("message-id", []), require_at=False)[:1]
    replied_to = message_ids(headers.get("in-reply-to", []))
    references = list(reversed(message_ids(headers.get("references", []))))
    return list(dict.fromkeys(own + replied_to + references))


# --- Plain-text bounces -------------------------------------------------------------


def _text_report(text_body: str) -> BounceReport | None:
    text = text_body[:_MAX_SCAN_CHARS]
    fields = _fields_from_text(text)
    original = message_ids([value for value in (fields.get("original-message-id"), fields.get("x-original-message-id"))
                            if value]) or _ids_in_text(text)
    if not original:
        return None  # a daemon's mail that names no message of ours: nothing to join (daemon_sender still flags it)
    bounce = Bounce(
        recipient=_address(fields.get("final-recipient", "")) or _recipient_in_text(text),
        status=_first(_STATUS, text),
        diagnostic=fields.get("diagnostic-code", "") or _diagnostic_in_text(text),
        action=fields.get("action", "").lower() or "failed",
        original_message_id=original[0],
    )
    return BounceReport(bounce, original)


def _ids_in_text(text: str) -> list[str]:
    """Message-IDs of the original headers a bounce quotes in its text (the first is the bounced message's)."""
    return message_ids([found.group(1) for found in _QUOTED_MESSAGE_ID.finditer(text[:_MAX_SCAN_CHARS])][:1])


def _recipient_in_text(text: str) -> str:
    text = text[:_MAX_SCAN_CHARS]
    for pattern in (_FINAL_RECIPIENT, _ANGLE_RECIPIENT, _DELIVERED_TO):
        found = pattern.search(text)
        if found:
            return found.group(1).strip(".,;").lower()
    return ""


def _diagnostic_in_text(text: str) -> str:
    """The first line that reads like the remote server's answer ("550 5.1.1 User unknown")."""
    for line in text[:_MAX_SCAN_CHARS].splitlines():
        if _STATUS.search(line) or _SMTP_REPLY.search(line):
            return " ".join(line.split())[:_MAX_FIELD_CHARS]
    return ""


def _address(value: str) -> str:
    """An RFC 3464 address field ("rfc822; ole@kunde.no") as the bare address."""
    return value.rpartition(";")[2].strip().strip("<>").lower()


def _first(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text[:_MAX_SCAN_CHARS])
    return found.group(1) if found else ""
