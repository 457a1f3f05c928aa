"""Acknowledgement emails: built with ``email.message.EmailMessage``, sent with SES.

Headers follow what mail clients thread on: ``In-Reply-To``/``References``
(RFC 5322 §3.6.4; Gmail and Apple Mail), ``Thread-Topic``/``Thread-Index``
(Outlook), and the original subject with ``Re:``. ``Auto-Submitted:
auto-replied`` (RFC 3834 §5) and ``X-Auto-Response-Suppress`` keep other
responders from answering us.
"""
from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from chalicelib import aws, config
from chalicelib.outbound.templates import render

_FILETIME_EPOCH_OFFSET = 116444736000000000  # 1601-01-01 → 1970-01-01 in 100 ns ticks


@dataclass(frozen=True)
class Acknowledgement:
    ticket_id: str
    ticket_number: int
    to_address: str
    customer_name: str
    subject: str
    priority: str
    response_time: str
    links: list[dict[str, str]]
    message_id: str  # without <>
    thread_message_ids: list[str]  # the customer's References chain, their message last
    reply_to: str
    created_at: datetime


def reply_subject(subject: str, ticket_number: int) -> str:
    if not subject.strip():
        return f"Your request #{ticket_number}"
    return subject if subject.lower().startswith(("re:", "aw:", "sv:")) else f"Re: {subject}"


def thread_index(ticket_id: str, created_at: datetime) -> str:
    """Outlook's Thread-Index: 6 bytes of FILETIME + a 16-byte GUID, base64 (MS-OXOMSG 2.2.1.3)."""
    ticks = int(created_at.timestamp() * 10_000_000) + _FILETIME_EPOCH_OFFSET
    header = struct.pack(">Q", ticks)[:6]
    guid = hashlib.sha256(ticket_id.encode()).digest()[:16]
    return base64.b64encode(header + guid).decode()


def build(ack: Acknowledgement) -> EmailMessage:
    context = {
        "customer_name": ack.customer_name,
        "ticket_number": ack.ticket_number,
        "subject": ack.subject,
        "priority": ack.priority,
        "response_time": ack.response_time,
        "links": ack.links,
        "support_name": config.setting("SUPPORT_NAME"),
    }
    message = EmailMessage()
    message["From"] = Address(config.setting("SUPPORT_NAME"), addr_spec=config.support_address())
    message["To"] = Address(ack.customer_name, addr_spec=ack.to_address) if ack.customer_name else ack.to_address
    message["Reply-To"] = ack.reply_to
    message["Subject"] = reply_subject(ack.subject, ack.ticket_number)
    message["Date"] = format_datetime(ack.created_at)
    message["Message-ID"] = f"<{ack.message_id}>"
    if ack.thread_message_ids:
        message["In-Reply-To"] = f"<{ack.thread_message_ids[-1]}>"
        message["References"] = " ".join(f"<{mid}>" for mid in ack.thread_message_ids)
    message["Thread-Topic"] = ack.subject or f"Request #{ack.ticket_number}"
    message["Thread-Index"] = thread_index(ack.ticket_id, ack.created_at)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Relay-Desk-Ticket"] = str(ack.ticket_number)
    message.set_content(render("acknowledgement.txt.j2", **context))
    message.add_alternative(render("acknowledgement.html.j2", **context), subtype="html")
    return message


def send(message: EmailMessage, to_address: str) -> str:
    """Send through SES; returns the Message-ID SES assigned (it replaces ours on delivery)."""
    response = aws.client("ses").send_raw_email(
        Source=config.support_address(),
        Destinations=[to_address],
        RawMessage={"Data": message.as_bytes()},
    )
    return f"{response['MessageId']}@{_ses_message_id_domain()}"


def _ses_message_id_domain() -> str:
    region = config.region()
    return "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
