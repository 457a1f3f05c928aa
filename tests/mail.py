"""Build RFC 5322 messages for tests with the standard library (not our parser)."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone


def compose(
    *,
    sender: str = "Ann Customer <ann@customer.example>",
    to: str = "support@example.com",
    subject: str = "My order never arrived",
    body: str = "Hello, order 1234 has not arrived. Can you help?",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc))
    message["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
