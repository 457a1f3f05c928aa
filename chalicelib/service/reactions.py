"""What a committed change sets in motion, one small function per reaction (``bus.HANDLERS`` orders them).

This is the top of the service layer: it may import every service, and no
service imports it. Each reaction reads the ticket as stored now (an earlier
reaction may have changed it) and does one job.
"""
from __future__ import annotations

from typing import Any

from chalicelib.service import assign, automate, changes, measure
from chalicelib.service.events import AgentReplied, StatusChanged, TicketEdited
from chalicelib.storage import agents as directory
from chalicelib.storage import repository

__all__ = ["measure_reply", "measure_status_change", "refill_freed_agent", "route_if_unassigned",
           "run_update_triggers"]


def measure_status_change(event: StatusChanged) -> None:
    """Solved: resolution and handle time; reopened: counted (EMF and the KPI aggregates)."""
    ticket = repository.get_ticket(event.ticket_id)
    if ticket is not None:
        measure.status_changed(ticket, event.old, event.new, event.at)


def measure_reply(event: AgentReplied) -> None:
    """First response, or the next reply that ended the customer's wait."""
    ticket = repository.get_ticket(event.ticket_id)
    if ticket is not None:
        measure.agent_replied(ticket, event.at)


def run_update_triggers(event: TicketEdited) -> None:
    """Automation's "updated" triggers, after a person's edit (rules never trigger on their own changes)."""
    if event.actor_id == "system" or event.actor_id.startswith("automation:"):
        return
    ticket = repository.get_ticket(event.ticket_id)
    if ticket is not None:
        automate.on_updated(ticket, event.diff, event.actor_role, now=event.at)


def route_if_unassigned(event: TicketEdited) -> None:
    """Reopened, unassigned or moved to another queue: the queue's strategy picks an agent again."""
    ticket = repository.get_ticket(event.ticket_id)
    if assign.needs_agent(ticket):
        assign.auto_assign(ticket, now=event.at)


def refill_freed_agent(event: TicketEdited) -> None:
    """The agent this change freed a slot for takes the oldest waiting ticket of their queues."""
    ticket = repository.get_ticket(event.ticket_id)
    released = _released_agent(ticket, event.diff) if ticket is not None else None
    agent = directory.get(released) if released else None
    if agent is not None:
        assign.drain(assign.queues_of(agent), now=event.at)


def _released_agent(ticket: Any, diff: dict[str, list[Any]]) -> str | None:
    """The agent this change freed a slot for (solved, closed, or handed to someone else), if any."""
    old_owner = diff["assignee_id"][0] if "assignee_id" in diff else ticket.assignee_id
    old_status = diff["status"][0] if "status" in diff else ticket.status
    held_before = changes.holds_capacity(old_status, old_owner)
    held_after = changes.holds_capacity(ticket.status, ticket.assignee_id)
    if held_before and (not held_after or ticket.assignee_id != old_owner):
        return old_owner
    return None
