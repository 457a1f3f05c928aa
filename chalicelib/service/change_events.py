"""What one stored change of a ticket means, as events: the tickets table's stream, read.

Pure reading of the images before and after (no AWS): both of the stream's readers
use it, ``ticket_stream`` for its reactions and ``kpi_stream`` for its measures.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chalicelib import clock
from chalicelib.domain.vocabulary import holds_capacity
from chalicelib.observability import logger
from chalicelib.service.events import (AcknowledgementSent, AgentFreed, AgentReplied, CustomerWrote, Event,
                                       StatusChanged, TicketAssigned, TicketCreated, TicketDeflected)

__all__ = ["events_of", "publish_all"]


def publish_all(stored: Iterable[Any], publish: Callable[[Event], None]) -> int:
    """``publish`` every event of the stored changes (``.old``/``.new``), in stream order; returns how many.

    One that fails is logged and the rest go on: a reader's batch fails only on its own
    aggregates write (a reaction's work is redone by the sweep; a lost measure, by no one).
    """
    published = 0
    for change in stored:
        for event in events_of(change.old, change.new):
            published += 1
            try:
                publish(event)
            except Exception:
                logger.exception("handling an event of a stored ticket change failed",
                                 extra={"event": type(event).__name__})
    return published


def events_of(old: Any, new: Any) -> list[Event]:
    """What one stored change of a ticket means: created, acknowledged, status moved, the customer wrote again,
    assigned, answered, deflected, agent freed. A deflection is an event once: in the change where it first appears."""
    if new is None:
        return []
    ticket_id = new.ticket_id
    if old is None:
        found: list[Event] = [TicketCreated(ticket_id, clock.parse_iso(new.created_at), new)]
        if _acknowledged(new):
            found.append(AcknowledgementSent(ticket_id, _acknowledged_at(new), new))
        if new.deflection:
            found.append(TicketDeflected(ticket_id, _deflected_at(new), new))
        if new.assignee_id:
            found.append(TicketAssigned(ticket_id, clock.parse_iso(new.assigned_at or new.created_at), new))
        return found
    found = []
    if _acknowledged(new) and not _acknowledged(old):
        found.append(AcknowledgementSent(ticket_id, _acknowledged_at(new), new))
    if new.status != old.status:
        found.append(StatusChanged(ticket_id, old.status, new.status,
                                   clock.parse_iso(new.status_changed_at or new.last_activity_at), new))
    if new.last_customer_message_at and new.last_customer_message_at != old.last_customer_message_at:
        found.append(CustomerWrote(ticket_id, clock.parse_iso(new.last_customer_message_at), new))
    if new.last_agent_reply_at and new.last_agent_reply_at != old.last_agent_reply_at:
        found.append(AgentReplied(ticket_id, clock.parse_iso(new.last_agent_reply_at), new))
    if new.assignee_id and new.assignee_id != old.assignee_id:
        found.append(TicketAssigned(ticket_id, clock.parse_iso(new.assigned_at or new.last_activity_at), new))
    if new.deflection and not old.deflection:
        found.append(TicketDeflected(ticket_id, _deflected_at(new), new))
    freed = _freed_agent(old, new)
    if freed is not None:
        found.append(AgentFreed(freed, ticket_id, clock.now()))
    return found


def _acknowledged(ticket: Any) -> bool:
    return ticket.acknowledgement is not None and ticket.acknowledgement.status == "sent"


def _acknowledged_at(ticket: Any) -> Any:
    return clock.parse_iso(ticket.acknowledgement.sent_at or ticket.created_at)


def _deflected_at(ticket: Any) -> Any:
    at = ticket.deflection.get("at") if isinstance(ticket.deflection, dict) else None
    return clock.parse_iso(at or ticket.last_activity_at)


def _freed_agent(old: Any, new: Any) -> str | None:
    """The agent whose slot this change gave back (solved, closed, or handed to someone else), if any."""
    held_before = holds_capacity(old.status, old.assignee_id)
    held_after = holds_capacity(new.status, new.assignee_id)
    if held_before and (not held_after or new.assignee_id != old.assignee_id):
        return old.assignee_id
    return None
