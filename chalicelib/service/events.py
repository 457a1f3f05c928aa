"""What happened to a ticket, as values: how side effects travel between services.

A change does not call the services that react to it (that made ten service
modules import each other in a circle); it publishes an event, and the one
dispatch (``dispatch.run``) hands it to the reactions registered for it
(``bus.HANDLERS``) or, in ``kpi_stream``, to what it measures (``measures.MEASURES``). A person's
edit is published by the service that made it (``TicketEdited``); everything
else is read off the tickets table's stream after the change is stored
(``change_events.events_of``), each event carrying the ticket as written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AcknowledgementSent", "AgentFreed", "AgentReplied", "CustomerWrote", "Event", "StatusChanged",
           "TicketAssigned", "TicketCreated", "TicketDeflected", "TicketEdited"]


@dataclass(frozen=True)
class _Moment:
    """Something that happened to a ticket at ``at``; ``state`` is the ticket as written then."""

    ticket_id: str
    at: datetime
    state: Any = field(compare=False)


@dataclass(frozen=True)
class TicketCreated(_Moment):
    """Stored: a new ticket. Measured."""


@dataclass(frozen=True)
class AcknowledgementSent(_Moment):
    """Stored: the ticket's acknowledgement went out. Measured (auto-replies never count as a response)."""


@dataclass(frozen=True)
class StatusChanged:
    """Stored: the ticket's status went from ``old`` to ``new`` (solved, reopened ...). Measured.

    Who set it solved is on the ticket as written (``state.solved_by``: the agent, or None when
    a rule, the bot or a customer did), so a solve is credited to its solver, not the assignee.
    """

    ticket_id: str
    old: str
    new: str
    at: datetime
    state: Any = field(compare=False)


@dataclass(frozen=True)
class TicketAssigned(_Moment):
    """Stored: the ticket went to an agent (``state.assignee_id``): at creation, by routing or by hand. Counted:
    an agent's volume in the KPI report."""


@dataclass(frozen=True)
class AgentReplied(_Moment):
    """Stored: a person answered the customer (first response or the end of a wait). Measured."""


@dataclass(frozen=True)
class CustomerWrote(_Moment):
    """Stored: a customer's message joined an existing ticket (``state.last_customer_message_at`` moved; an
    out-of-office does not move it). Their customer record follows: last seen, last inquiry."""


@dataclass(frozen=True)
class TicketDeflected(_Moment):
    """Stored: self-service answered the ticket (its ``deflection`` appeared: confirmed or silent). Counted once."""


@dataclass(frozen=True)
class AgentFreed:
    """Stored: a change gave back one of the agent's slots (solved, closed, handed on). They take the next."""

    agent_id: str
    ticket_id: str
    at: datetime


@dataclass(frozen=True)
class TicketEdited:
    """Committed: a person edited the ticket. Automation's "updated" triggers run, it is routed.

    ``ticket`` is the ticket as the edit wrote it (so the reactions need not read it again).
    """

    ticket_id: str
    diff: dict[str, list[Any]] = field(hash=False)
    actor_id: str
    actor_role: str
    at: datetime
    ticket: Any = field(default=None, compare=False)


Event = (TicketCreated | AcknowledgementSent | StatusChanged | TicketAssigned | AgentReplied | AgentFreed | TicketEdited
         | TicketDeflected | CustomerWrote)
