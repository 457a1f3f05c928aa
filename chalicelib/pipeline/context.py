"""What the pipeline steps know about one message as it moves through them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.messages import InboundMessage
from chalicelib.domain.acknowledgement import AckDecision
from chalicelib.settings import DeskSettings


@dataclass
class Context:
    message: InboundMessage
    now: datetime
    settings: DeskSettings
    found: dict[str, Any] = field(default_factory=dict)  # lookup key → the stored lookup (opaque; storage reads it)
    customer_id: str = ""
    ticket: Any = None  # the stored ticket (opaque), existing (threaded) or new
    is_new: bool = False
    thread_method: str | None = None
    duplicate: bool = False
    stored_in: str | None = None  # the ticket holding this message, once known (written now or by an earlier try)
    reopened: bool = False
    ack: AckDecision | None = None
    triage: Any = None  # TriageResult for a new ticket
    language: str | None = None  # detected for a new ticket (skill-based routing)
    assignee_id: str | None = None  # set when the assign step gave the ticket to an agent
    ack_sent: bool = False
    blobs: list[Any] = field(default_factory=list)  # PendingBlob: stored in S3 just before the write
    message_id_reused: bool = False  # another message already carried this Message-ID
    changed: dict[str, Any] = field(default_factory=dict)  # what the message changed on the ticket it joined
    bot_decision: Any = None  # service.bot.BotDecision for a new chat ticket the bot answers
    bot_verdict: str | None = None  # what the customer said to the bot's "did this solve it?" (domain.bot.Answer)
    reply_language: str | None = None  # the language the customer reads (their preference read once)
    suggested: list[Any] | None = None  # knowledge-base hits for the customer's question (searched once)
    done: bool = False  # a step decided nothing more is to be written
    number: int | None = None  # the new ticket's number once taken (a run again keeps it: no gap)

    @property
    def outcome(self) -> str:
        if self.duplicate:
            return "duplicate"
        return "created" if self.is_new else "threaded"


@dataclass(frozen=True)
class Outcome:
    """What happened to one inbound message; logged, returned to tests and the demo."""

    ticket_id: str | None
    ticket_number: int | None
    outcome: str  # created | threaded | duplicate
    thread_method: str | None
    acknowledgement: str | None  # sent | suppressed: <reason> | None (not a new ticket)
