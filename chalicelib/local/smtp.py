"""``make local``'s SMTP port: mail sent to it takes the path SES's receipt rule gives real mail.

An accepted message is stored under the mail bucket's inbound prefix and handed to
``ses_inbound`` as the receipt rule's Lambda-action event (``LocalDesk.receive_email``),
so threading, loop checks and acknowledgements run exactly as in AWS. Like SES,
the server answers for the support address's domain only and prepends the
``Return-Path`` (the envelope sender: ``<>`` marks a bounce, which is never
acknowledged, RFC 3834 §2) and a ``Received`` line to what it stores.

What SES would refuse is refused here with an SMTP reply, never a crash: a recipient
outside the domain (550), a message over SES's 40 MB (552, also announced with the
RFC 1870 ``SIZE`` extension), no message at all or no header section (554), and
aiosmtpd's own replies to broken commands, over-long lines and bad addresses (5xx).
A failure of the desk behind it is a temporary 451, so a client tries again.

aiosmtpd (Apache-2.0) is a development dependency (requirements-dev.txt), never in the Lambda bundle.
"""
from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import datetime, timezone
from typing import Any

__all__ = ["MAX_MESSAGE_BYTES", "Received", "SmtpServer", "start_smtp"]

#: SES receiving's limit, headers included (channels/email/mime.py parks larger mail the same way).
MAX_MESSAGE_BYTES = 40 * 1024 * 1024
_ATOMS = r"[^\s@<>()\[\],;:\\\".]+"  # what an address part may hold (UTF-8 too: SMTPUTF8 is on)
_ADDRESS = re.compile(rf"[^\s@<>()\[\],;:\\\"]+@(?:{_ATOMS}\.)+{_ATOMS}")  # local@domain.tld, no spaces
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")  # RFC 5322 §2.2: field name, colon


@dataclass(frozen=True)
class Received:
    """One message the desk took: who sent it to whom, its size and the SES message id it was stored under."""

    mail_from: str
    recipients: tuple[str, ...]
    size: int
    message_id: str


class _DeskInbox:
    """The aiosmtpd handler: recipients by domain, then the message into the desk's SES path."""

    def __init__(self, deliver: Callable[[bytes, list[str]], str], domain: str, hostname: str,
                 on_received: Callable[[Received], None]) -> None:
        self._deliver = deliver
        self._domain = domain.lower()
        self._hostname = hostname
        self._on_received = on_received

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if address and not _ADDRESS.fullmatch(address):  # <> (a bounce) is a sender too
            return f"501 5.1.7 Invalid MAIL FROM address provided: {address[:100]!r}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if not _ADDRESS.fullmatch(address) or address.rpartition("@")[2].lower() != self._domain:
            return f"550 5.7.1 <{address}>: this desk receives mail for @{self._domain} only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        problem = _malformed(raw)
        if problem:
            return f"554 5.6.0 {problem}"
        stored = self._trace_headers(session, envelope) + raw
        recipients = [address.lower() for address in envelope.rcpt_tos]
        try:  # off the event loop: the desk may be busy with another invocation
            message_id = await asyncio.get_running_loop().run_in_executor(None, self._deliver, stored, recipients)
        except Exception:
            traceback.print_exc()  # into make local's log file
            return "451 4.3.0 the local desk could not take the message (see its log file); try again"
        self._on_received(Received(envelope.mail_from or "", tuple(recipients), len(raw), message_id))
        return f"250 2.0.0 Ok: {message_id}"

    def _trace_headers(self, session: Any, envelope: Any) -> bytes:
        """What SES prepends to the stored message: the envelope sender and where it came from."""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        helo = session.host_name or "unknown"
        now = format_datetime(datetime.now(timezone.utc))
        lines = [f"Return-Path: <{envelope.mail_from or ''}>",
                 f"Received: from {helo} ([{peer}]) by {self._hostname} with SMTP for"
                 f" <{envelope.rcpt_tos[0]}>; {now}"]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def _malformed(raw: bytes) -> str | None:
    """Why SES would not take this as a message, or None."""
    if not raw.strip():
        return "empty message"
    if not _HEADER_LINE.match(raw):
        return "no header section: a message starts with header fields such as From: (RFC 5322 §2.1)"
    return None


class SmtpServer:
    """The running SMTP server: ``host``, ``port`` (the bound one, also when 0 was asked for) and ``stop()``."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller
        self.host: str = controller.hostname
        self.port: int = controller.port

    def stop(self) -> None:
        self._controller.stop()


def start_smtp(deliver: Callable[[bytes, list[str]], str], *, domain: str, host: str = "127.0.0.1",
               port: int = 2525, max_message_bytes: int = MAX_MESSAGE_BYTES,
               on_received: Callable[[Received], None] = lambda received: None) -> SmtpServer:
    """Listen on ``host:port`` (0: any free port) in a background thread; ``deliver(raw, recipients)`` stores
    and hands over one message and returns its id (``LocalDesk.receive_email``)."""
    from aiosmtpd.controller import Controller

    class _Controller(Controller):  # type: ignore[misc]
        def _trigger_server(self) -> None:
            # aiosmtpd 1.4.6 opens a connection to self.port to start its protocol factory; with port 0 that
            # is not the port the OS chose (aio-libs/aiosmtpd#388): read it from the listening socket first.
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    hostname = "relay-desk.localhost"  # named, so aiosmtpd does not look up this machine's FQDN (slow offline)
    handler = _DeskInbox(deliver, domain, hostname, on_received)
    controller = _Controller(handler, hostname=host, port=port, server_hostname=hostname,
                             ident="Relay Desk local SMTP", data_size_limit=max_message_bytes)
    controller.start()
    return SmtpServer(controller)
