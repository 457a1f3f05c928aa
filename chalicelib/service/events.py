"""What happened to a ticket, as values: how side effects travel between services.

A change does not call the services that react to it (that made ten service
modules import each other in a circle); it publishes an event, and the one
dispatcher (``bus``) hands it to the reactions registered for it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

__all__ = ["AgentReplied", "Event", "StatusChanged", "TicketEdited", "TicketState"]


class TicketState:
    """The ticket as the committed change left it, read-only: what reactions measure without reading it again.

    Built by ``changes.apply`` from the ticket it loaded and the fields it wrote
    (status, priority, owner, timeline ...); attribute access like the stored ticket.
    """

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = MappingProxyType(dict(fields))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class StatusChanged:
    """Committed: the ticket's status went from ``old`` to ``new`` (solved, reopened ...). Measured."""

    ticket_id: str
    old: str
    new: str
    at: datetime
    state: TicketState = field(compare=False)


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
    state: TicketState = field(compare=False)


Event = StatusChanged | TicketEdited | AgentReplied
