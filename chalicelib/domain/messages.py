"""The one inbound-message type every channel adapter produces, and every layer shares.

The pipeline never sees a platform's payload: email, Slack or WhatsApp all
arrive here as the same dataclass, so threading, triage and acknowledgement
are written once. It is the domain's vocabulary (plain Python, no AWS):
adapters produce it, the pipeline decides on it, storage records it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["MACHINE_KINDS", "AttachmentRef", "Bounce", "FieldTooLong", "Identity", "InboundMessage"]

# What kind of machine sent a machine-sent message, most telling first (a mail showing signs of
# several is the first of them): a delivery-status notification or mailer-daemon ("bounce"), an
# out-of-office or other response to us ("auto_reply"), a newsletter or mailing list ("bulk":
# Precedence bulk/list/junk, List-Id, List-Unsubscribe), anything else a program sent ("automated":
# cron output, no-reply senders, Auto-Submitted: auto-generated without list headers).
MACHINE_KINDS: tuple[str, ...] = ("bounce", "auto_reply", "bulk", "automated")

MAX_SUBJECT_CHARS = 1_000
MAX_RECIPIENTS = 100

# DynamoDB keys are at most 2,048 bytes (partition key, UTF-8;
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-partition-sort-keys),
# and the pipeline's lookup keys embed these fields behind a prefix: ``in:<channel>:<external_id>``,
# ``id:<kind>:<sender value>``, ``conv:<conversation_key>``. A longer value cannot be stored, now or on any
# retry, so it is refused here, where the adapter (or the queue worker) can say why, instead of failing
# the pipeline's write transaction as if DynamoDB were down. The limits are far above real ids (Slack
# event ids ~12 characters, WhatsApp message ids ~60, Twilio SIDs 34, SES message ids ~60).
MAX_ID_BYTES = 256  # external_id
MAX_SENDER_BYTES = 512  # sender.value; an email address is at most 254 (RFC 5321 §4.5.3.1.3, errata 1690)
MAX_CONVERSATION_KEY_BYTES = 1_024  # holds two addresses (ours and the customer's) behind a channel prefix
# A Message-ID is keyed by its hash past 500 bytes (chalicelib/domain/threading.py::message_id_key), so this
# only bounds what is stored: 998 characters (RFC 5322 §2.1.1's line limit; email intake drops longer ids)
# of up to 4 bytes each (RFC 6532 allows UTF-8 in headers), so no mail intake keeps is refused here.
MAX_MESSAGE_ID_BYTES = 4 * 998


class FieldTooLong(ValueError):
    """A field that becomes (part of) a storage key is longer than any key may be: the message can never be stored."""

    def __init__(self, field_name: str, size: int, limit: int) -> None:
        super().__init__(f"{field_name} is {size:,} bytes long; at most {limit:,} fit in a storage key")
        self.field_name, self.size, self.limit = field_name, size, limit


@dataclass(frozen=True)
class Identity:
    """How a customer is reachable on one channel, e.g. ``email:ann@example.com``."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class AttachmentRef:
    """An attachment already stored in S3; only its reference travels on."""

    filename: str
    content_type: str
    size: int
    s3_key: str  # "" when the platform would not let us fetch the content
    ref: str = ""  # the platform's own media id or URL


@dataclass(frozen=True)
class Bounce:
    """A delivery-status notification (RFC 3464): which of our messages could not be delivered, to whom, and why."""

    recipient: str = ""  # Final-Recipient (else Original-Recipient), e.g. "ole@kunde.no"
    status: str = ""  # RFC 3463 status code, e.g. "5.1.1" (5 = permanent, 4 = delayed/transient)
    diagnostic: str = ""  # the remote server's words, e.g. "smtp; 550 5.1.1 User unknown"
    action: str = ""  # "failed", "delayed", ... (RFC 3464 §2.3.3); "" when the bounce does not say
    original_message_id: str | None = None  # Message-ID of the message that bounced, without brackets


@dataclass
class InboundMessage:
    channel: str
    external_id: str  # the platform's own id: SES message id, Slack event id, ...
    received_at: datetime
    sender: Identity
    sender_name: str = ""
    subject: str = ""
    text: str = ""  # the full text as received
    reply_text: str = ""  # the new part only: quoted history and signature stripped
    html: str | None = None  # sanitised
    attachments: list[AttachmentRef] = field(default_factory=list)
    message_id: str | None = None  # RFC 5322 Message-ID, without angle brackets
    thread_refs: list[str] = field(default_factory=list)  # most specific first
    recipients: list[str] = field(default_factory=list)
    auto_reply_reason: str | None = None  # set when the message was machine-sent
    machine_kind: str | None = None  # with auto_reply_reason: one of MACHINE_KINDS (email's autoreply.machine_sent)
    quarantine_reason: str | None = None  # set when a spam/virus verdict or sender authentication failed
    sender_auth: str | None = None  # email: "pass", or why SPF/DKIM/DMARC did not vouch for the sender
    conversation_key: str = ""  # one FIFO group (and one open ticket) per conversation
    # Where replies go on this channel, e.g. {"provider": "slack", "channel": "C1", "thread_ts": "..."}.
    reply_route: dict[str, str] = field(default_factory=dict)
    # Platform media not yet in S3: {"kind", "ref" (platform id or URL), "content_type", "filename"}.
    media: list[dict[str, str]] = field(default_factory=list)
    # Set when the message is a delivery-status notification about one of ours (email); auto_reply_reason
    # is then "delivery-status" and thread_refs start with the bounced message's ids.
    bounce: Bounce | None = None
    # A button the customer pressed (``domain.bot.CHOICES``, e.g. "bot:yes"); adapters keep only those values.
    choice: str | None = None

    def __post_init__(self) -> None:
        # JSON may carry lone UTF-16 surrogates ("\ud83d"); they cannot be stored or
        # encoded, so a valid pair is rejoined and a lone half becomes U+FFFD here, once.
        for name in ("subject", "text", "reply_text", "sender_name"):
            setattr(self, name, _valid_text(getattr(self, name)))
        self.subject = self.subject[:MAX_SUBJECT_CHARS]  # it is copied into ticket, message and customer items
        self.sender_name = self.sender_name[:MAX_SUBJECT_CHARS]
        self.recipients = self.recipients[:MAX_RECIPIENTS]
        if self.html is not None:
            self.html = _valid_text(self.html)
        for name, value, limit in (
            ("external_id", self.external_id, MAX_ID_BYTES),
            ("sender.value", self.sender.value, MAX_SENDER_BYTES),
            ("conversation_key", self.conversation_key, MAX_CONVERSATION_KEY_BYTES),
            ("message_id", self.message_id or "", MAX_MESSAGE_ID_BYTES),
        ):
            _check_key_part(name, value, limit)

    @property
    def dedup_key(self) -> str:
        return f"in:{self.channel}:{self.external_id}"

    @property
    def own_words(self) -> str:
        """What the sender just wrote, without quoted context: what rules read (triage, automation,
        language). A reply text keeps the quoted lines a customer answered in between, each starting
        with ``>``; a quoted "urgent" from last month must not count."""
        reply = self.reply_text or self.text
        own = "\n".join(line for line in reply.split("\n") if not line.lstrip().startswith(">")).strip()
        return own or reply

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InboundMessage":
        data = dict(data)
        data["received_at"] = datetime.fromisoformat(data["received_at"])
        data["sender"] = Identity(**data["sender"])
        data["attachments"] = [AttachmentRef(**a) for a in data.get("attachments", [])]
        if data.get("bounce") is not None:
            data["bounce"] = Bounce(**data["bounce"])
        return cls(**data)


def _check_key_part(name: str, value: str, limit: int) -> None:
    size = len(value.encode("utf-8", "surrogatepass"))  # bytes, as DynamoDB counts; JSON may carry lone surrogates
    if size > limit:
        raise FieldTooLong(name, size, limit)


def _valid_text(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
