"""What happened to a ticket, as values: how side effects travel between services.

A change does not call the services that react to it (that made ten service
modules import each other in a circle); it publishes an event, and the one
dispatcher (``bus``) hands it to the reactions registered for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AgentReplied", "Event", "StatusChanged", "TicketEdited"]


@dataclass(frozen=True)
class StatusChanged:
    """Committed: the ticket's status went from ``old`` to ``new`` (solved, reopened ...). Measured."""

    ticket_id: str
    old: str
    new: str
    at: datetime


@dataclass(frozen=True)
class TicketEdited:
    """Committed: a person edited the ticket. Automation's "updated" triggers run, it is routed, freed slots refill."""

    ticket_id: str
    diff: dict[str, list[Any]] = field(hash=False)
    actor_id: str
    actor_role: str
    at: datetime


@dataclass(frozen=True)
class AgentReplied:
    """Committed: a person answered the customer (first response or the end of a wait). Measured."""

    ticket_id: str
    at: datetime


Event = StatusChanged | TicketEdited | AgentReplied
