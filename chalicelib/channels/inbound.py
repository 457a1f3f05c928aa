"""The one inbound-message type every channel adapter produces.

The pipeline never sees a platform's payload: email, Slack or WhatsApp all
arrive here as the same dataclass, so threading, triage and acknowledgement
are written once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


MAX_SUBJECT_CHARS = 1_000
MAX_RECIPIENTS = 100


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
    quarantine_reason: str | None = None  # set when a spam/virus verdict failed
    conversation_key: str = ""  # one FIFO group (and one open ticket) per conversation
    # Where replies go on this channel, e.g. {"provider": "slack", "channel": "C1", "thread_ts": "..."}.
    reply_route: dict[str, str] = field(default_factory=dict)
    # Platform media not yet in S3: {"kind", "ref" (platform id or URL), "content_type", "filename"}.
    media: list[dict[str, str]] = field(default_factory=list)

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

    @property
    def dedup_key(self) -> str:
        return f"in:{self.channel}:{self.external_id}"

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
        return cls(**data)


def _valid_text(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
