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

__all__ = ["follow_up_edit", "measure_reply", "measure_status_change"]


def measure_status_change(event: StatusChanged) -> None:
    """Solved: resolution and handle time; reopened: counted (EMF and the KPI aggregates)."""
    measure.status_changed(event.state, event.old, event.new, event.at)


def measure_reply(event: AgentReplied) -> None:
    """First response, or the next reply that ended the customer's wait."""
    measure.agent_replied(event.state, event.at)


def follow_up_edit(event: TicketEdited) -> None:
    """After a person's edit, in order: automation's "updated" triggers, routing, a freed agent's next ticket.

    One read of the ticket, and another only after a step that wrote it.
    """
    ticket = repository.get_ticket(event.ticket_id)
    if ticket is None:
        return
    ticket = run_update_triggers(ticket, event)
    assigned_to = route_if_unassigned(ticket, event)
    refill_freed_agent(ticket, event, assigned_to)


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


def refill_freed_agent(ticket: Any, event: TicketEdited, assigned_to: str | None) -> None:
    """The agent this change freed a slot for takes the oldest waiting ticket of their queues."""
    if ticket is None:
        return
    released = _released_agent(ticket, event.diff, assigned_to or ticket.assignee_id)
    agent = directory.get(released, consistent=False) if released else None  # only its queues are read
    if agent is not None:
        assign.drain(assign.queues_of(agent), now=event.at)


def _released_agent(ticket: Any, diff: dict[str, list[Any]], owner: str | None) -> str | None:
    """The agent this change freed a slot for (solved, closed, or handed to someone else), if any."""
    old_owner = diff["assignee_id"][0] if "assignee_id" in diff else owner
    old_status = diff["status"][0] if "status" in diff else ticket.status
    held_before = changes.holds_capacity(old_status, old_owner)
    held_after = changes.holds_capacity(ticket.status, owner)
    if held_before and (not held_after or owner != old_owner):
        return old_owner
    return None
