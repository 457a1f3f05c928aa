"""Acknowledgement emails: built with ``email.message.EmailMessage``, sent with SES.

Headers follow what mail clients thread on: ``In-Reply-To``/``References``
(RFC 5322 §3.6.4; Gmail and Apple Mail), ``Thread-Topic``/``Thread-Index``
(Outlook), and the original subject with one ``Re:``. Every mail on a ticket
carries its token ``[#123]`` in the subject, exactly once: a customer who writes
a *new* mail with that subject (no In-Reply-To) still joins the ticket
(``chalicelib.domain.threading``). ``Auto-Submitted: auto-replied`` (RFC 3834 §5)
and ``X-Auto-Response-Suppress`` keep other responders from answering us.

Messages are built with ``mail_policies.SENDING``: policy.default's bytes, without
parsing again the plain header values we generated ourselves. The ``email``
machinery is imported on the first build, not at import: every Lambda imports
this module through ``app.py`` (delivery events, the pipeline), and only the
ones that send mail need it (~8 ms of each cold start).

Mail is sent with the configuration set ``SES_CONFIGURATION_SET``, whose event
destination publishes SES's delivery, bounce and complaint events back to us
(``chalicelib.outbound.delivery_events``).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import random
import re
import struct
import sys
from dataclasses import dataclass
from datetime import datetime
from email import errors as email_errors
from typing import TYPE_CHECKING

from chalicelib import aws, config
from chalicelib.domain import threading
from chalicelib.outbound.templates import render, template_in

if TYPE_CHECKING:
    from email.headerregistry import Address
    from email.message import EmailMessage

_FILETIME_EPOCH_OFFSET = 116444736000000000  # 1601-01-01 → 1970-01-01 in 100 ns ticks
_PERMANENT_SES_ERRORS = ("MessageRejected", "InvalidParameterValue", "MailFromDomainNotVerified")
# Reply prefixes mail clients put before a subject, repeated ("Re: Re:", "SV: RE:", "Re[2]:", "AW:", "Antw:"):
# English, Danish/Norwegian/Swedish (SV), German (AW), Dutch (Antw), Finnish (VS).
_REPLY_PREFIXES = re.compile(r"^(?:\s*(?:re|sv|aw|antw|vs)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*:)+\s*", re.IGNORECASE)
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))  # email.generator's boundary: 15 "=", zero-padded random digits, "=="


class Undeliverable(Exception):
    """This mail can never be sent (an address SES or RFC 5322 cannot carry, a rejected recipient)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    language: str = "en"  # the customer's (domain.language.for_customer); one we have no texts for: English


def reply_subject(subject: str, ticket_number: int, *, reply: bool = True) -> str:
    """The customer's subject with one ``Re:`` and the ticket's token, ``[#123]``, exactly once.

    Every token already in the subject goes (``[#123]`` kept by the customer, another
    ticket's copied in): threading reads the first token it finds, so ours must be the
    only one. Reply prefixes collapse into one ``Re:`` — or none when the desk writes first
    (``reply=False``: an agent-opened ticket answers no mail of the customer's).
    """
    token = f"[#{ticket_number}]"
    core = " ".join(threading.SUBJECT_TOKEN.sub(" ", subject or "").split())
    core = _REPLY_PREFIXES.sub("", core).strip()
    if not core:
        return f"Your request {token}"
    return f"Re: {core} {token}" if reply else f"{core} {token}"


def provider_message_id(ses_message_id: str) -> str:
    """The Message-ID SES gives a mail it sends, from the id SendRawEmail returned (and SES events carry)."""
    return f"{ses_message_id}@{_ses_message_id_domain()}"


def thread_index(ticket_id: str, created_at: datetime) -> str:
    """Outlook's Thread-Index: 6 bytes of FILETIME + a 16-byte GUID, base64 (MS-OXOMSG 2.2.1.3)."""
    ticks = int(created_at.timestamp() * 10_000_000) + _FILETIME_EPOCH_OFFSET
    header = struct.pack(">Q", ticks)[:6]
    guid = hashlib.sha256(ticket_id.encode()).digest()[:16]
    return base64.b64encode(header + guid).decode()


def build(ack: Acknowledgement) -> EmailMessage:
    try:
        return _build(ack)
    except (ValueError, TypeError, email_errors.MessageError) as err:  # e.g. a non-ASCII local part
        raise Undeliverable(f"cannot address the acknowledgement: {err!r}") from err


def _build(ack: Acknowledgement) -> EmailMessage:
    context = {
        "customer_name": ack.customer_name,
        "ticket_number": ack.ticket_number,
        "subject": ack.subject,
        "priority": ack.priority,
        "response_time": ack.response_time,
        "links": ack.links,
        "support_name": config.setting("SUPPORT_NAME"),
        "subject_token": f"[#{ack.ticket_number}]",
    }
    message = _new_message()
    message["From"] = _support_sender(config.setting("SUPPORT_NAME"), config.support_address())
    message["To"] = _address(ack.customer_name, ack.to_address) if ack.customer_name else ack.to_address
    message["Reply-To"] = ack.reply_to
    message["Subject"] = reply_subject(ack.subject, ack.ticket_number)
    message["Date"] = _format_date(ack.created_at)
    message["Message-ID"] = f"<{ack.message_id}>"
    if ack.thread_message_ids:
        message["In-Reply-To"] = f"<{ack.thread_message_ids[-1]}>"
        message["References"] = " ".join(f"<{mid}>" for mid in ack.thread_message_ids)
    message["Thread-Topic"] = ack.subject or f"Request #{ack.ticket_number}"
    message["Thread-Index"] = thread_index(ack.ticket_id, ack.created_at)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Relay-Desk-Ticket"] = str(ack.ticket_number)
    text = render(template_in("acknowledgement.txt.j2", ack.language), **context)
    html = render(template_in("acknowledgement.html.j2", ack.language), **context)
    message.set_content(text)
    message.make_alternative(boundary=_boundary(text, html))
    message.add_alternative(html, subtype="html")
    return message


def _boundary(*texts: str) -> str:
    """A multipart boundary none of the parts contains (RFC 2046 §5.1.1), in the stdlib generator's format.

    Left to itself, the generator picks one while writing and compiles a new regex
    for every mail to check it. The rendered texts are all the parts hold, and no
    transfer encoding can create the boundary: quoted-printable writes "=" as "=3D",
    base64 never has more than two "=" in a row.
    """
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        if not any(boundary in text for text in texts):
            return boundary


def _new_message() -> EmailMessage:
    """An empty message under ``mail_policies.SENDING`` (imported here, on the first mail: see the module docstring)."""
    from email.message import EmailMessage

    from chalicelib.domain.mail_policies import SENDING

    return EmailMessage(policy=SENDING)


def _address(display_name: str, addr_spec: str) -> Address:
    """``Address`` validates the addr-spec (a non-ASCII local part raises: ``Undeliverable``)."""
    from email.headerregistry import Address

    return Address(display_name, addr_spec=addr_spec)


@functools.lru_cache(maxsize=32)
def _support_sender(display_name: str, addr_spec: str) -> Address:
    """Our From address, validated once per process: the support name and address do not change per mail."""
    return _address(display_name, addr_spec)


def _format_date(moment: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(moment)


@dataclass(frozen=True)
class FileToSend:
    """An attachment's bytes for a reply (read from S3 by the worker)."""

    filename: str
    content_type: str
    content: bytes


def build_reply(*, ticket_id: str, ticket_number: int, to_address: str, customer_name: str, subject: str,
                text: str, agent_name: str, message_id: str, thread_message_ids: list[str], reply_to: str,
                sent_at: datetime, cc: list[str] | tuple[str, ...] = (),
                attachments: list[FileToSend] | tuple[FileToSend, ...] = ()) -> EmailMessage:
    """An agent's (or a rule's) reply in the customer's thread: same threading headers as the acknowledgement.

    ``cc``: addresses checked by ``domain.recipients`` (one plain addr-spec each); ``Address`` validates
    them again, so no value can add a header. ``attachments`` make it multipart/mixed (RFC 2046 §5.1.3),
    the text first; non-ASCII filenames are RFC 2231-encoded by ``policy.default``.
    """
    try:
        message = _new_message()
        message["From"] = _support_sender(f"{agent_name} ({config.setting('SUPPORT_NAME')})" if agent_name
                                          else config.setting("SUPPORT_NAME"), config.support_address())
        message["To"] = _address(customer_name, to_address) if customer_name else to_address
        if cc:
            message["Cc"] = tuple(_address("", address) for address in cc)
        message["Reply-To"] = reply_to
        message["Subject"] = reply_subject(subject, ticket_number, reply=bool(thread_message_ids))
        message["Date"] = _format_date(sent_at)
        message["Message-ID"] = f"<{message_id}>"
        if thread_message_ids:
            message["In-Reply-To"] = f"<{thread_message_ids[-1]}>"
            message["References"] = " ".join(f"<{mid}>" for mid in thread_message_ids)
        message["Thread-Topic"] = subject or f"Request #{ticket_number}"
        message["Thread-Index"] = thread_index(ticket_id, sent_at)
        message["X-Relay-Desk-Ticket"] = str(ticket_number)
        message.set_content(text)
        for file in attachments:
            maintype, _, subtype = file.content_type.partition("/")
            message.add_attachment(file.content, maintype=maintype, subtype=subtype, filename=file.filename)
        return message
    except (ValueError, TypeError, email_errors.MessageError) as err:
        raise Undeliverable(f"cannot address the reply: {err!r}") from err


def build_notification(to_address: str, subject: str, text: str) -> EmailMessage:
    """A note to an agent or team lead (SLA warnings, automation notices): plain, auto-generated."""
    try:
        message = _new_message()
        message["From"] = _support_sender(config.setting("SUPPORT_NAME"), config.support_address())
        message["To"] = to_address
        message["Subject"] = subject
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        return message
    except (ValueError, TypeError, email_errors.MessageError) as err:
        raise Undeliverable(f"cannot address the notification: {err!r}") from err


class NotSent(Exception):
    """SES answered with an error that may pass (throttling, an outage) or was never reached: the mail certainly
    did not go out, so sending it again later cannot make two. (A read timeout is not this: SES may have sent it.)"""


def send(message: EmailMessage, to_address: str, cc: list[str] | tuple[str, ...] = ()) -> str:
    """Send through SES to ``to_address`` and ``cc``; returns the Message-ID SES assigned (it replaces ours).

    SES delivers to the envelope's Destinations, not to the headers: the Cc addresses are in both.
    ``Undeliverable``: never (the address or the mail); ``NotSent``: not now, certainly not sent.
    """
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as NotConnected

    try:
        data = message.as_bytes()
    except (ValueError, TypeError, email_errors.MessageError) as err:
        raise Undeliverable(f"cannot serialise the acknowledgement: {err!r}") from err
    request = {"Source": config.support_address(), "Destinations": [to_address, *cc], "RawMessage": {"Data": data}}
    configuration_set = config.setting("SES_CONFIGURATION_SET")
    if configuration_set:  # its event destination reports delivery, bounces and complaints (delivery_events)
        request["ConfigurationSetName"] = configuration_set
    try:
        response = aws.client("ses").send_raw_email(**request)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _PERMANENT_SES_ERRORS:
            raise Undeliverable(f"SES refused it: {err}") from err
        # throttling, outages, a configuration set that does not exist: SQS retries the message
        raise NotSent(f"SES answered {err}") from err
    except NotConnected as err:
        raise NotSent(f"SES was not reached: {err}") from err
    return provider_message_id(response["MessageId"])


def _ses_message_id_domain() -> str:
    region = config.region()
    return "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
