"""What a change sets in motion, one small function per reaction (``bus.HANDLERS`` orders them).

This is the top of the service layer: it may import every service, and no
service imports it. Each reaction does one job with the ticket its event carries.
"""
from __future__ import annotations

from typing import Any

from chalicelib.service import assign, automate, contacts
from chalicelib.service.events import AgentFreed, CustomerWrote, TicketEdited
from chalicelib.storage import agents as directory
from chalicelib.storage import repository

__all__ = ["follow_up_edit", "refill_freed_agent", "remember_contact"]


def refill_freed_agent(event: AgentFreed) -> None:
    """The agent a change freed a slot for takes the oldest waiting ticket of their queues.

    A failure only delays it: the minute's sweep drains every queue too.
    """
    agent = directory.get(event.agent_id, consistent=False)  # only its queues are read
    if agent is None:
        return
    assign.refill(assign.queues_of(agent), now=event.at)


def follow_up_edit(event: TicketEdited) -> None:
    """After a person's edit, in order: automation's "updated" triggers, then routing if it is unassigned."""
    ticket = event.ticket if event.ticket is not None else repository.get_ticket(event.ticket_id)
    if ticket is None:
        return
    ticket = run_update_triggers(ticket, event)
    route_if_unassigned(ticket, event)


def run_update_triggers(ticket: Any, event: TicketEdited) -> Any:
    """Automation's "updated" triggers (rules never trigger on their own changes); the ticket as it is after."""
    if event.actor_id == "system" or event.actor_id.startswith("automation:"):
        return ticket
    outcome = automate.on_updated(ticket, event.diff, event.actor_role, now=event.at)
    return repository.get_ticket(ticket.ticket_id) if outcome.fired else ticket


def route_if_unassigned(ticket: Any, event: TicketEdited) -> str | None:
    """Reopened, unassigned or moved to another queue: the queue's strategy picks an agent (returned) again."""
    if ticket is not None and assign.needs_agent(ticket):
        return assign.auto_assign(ticket, now=event.at)
    return None


def remember_contact(event: CustomerWrote) -> None:
    """The customer who wrote on an existing ticket: their record's last seen and last inquiry follow, once per
    customer per stream batch (``contacts``)."""
    contacts.remember(event)
