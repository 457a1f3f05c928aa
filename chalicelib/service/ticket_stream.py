"""Reading a stored ticket change for what it sets in motion: the tickets table's stream, as events.

Measuring and refilling used to run inside the request or message that changed
the ticket: a new email ticket paid a KPI transaction, an agent's PATCH paid
for the freed agent's queue Queries. The stream's consumer does it after the
change is stored, from the images before and after, so the same rules apply
whoever wrote (pipeline, agent, automation, sweep) and a whole batch of changes
is counted with one aggregate update per series and day. Two functions read the
stream, each on its own: ``ticket_stream`` reacts (``react``) within ~30 s,
``kpi_stream`` measures (``measure_all``) over up to 5 minutes of changes.

Events come out in stream order per ticket; each carries the ticket as written.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from chalicelib import clock
from chalicelib.observability import logger
from chalicelib.service import assign, bus, changes, measure
from chalicelib.service.events import (AcknowledgementSent, AgentFreed, AgentReplied, Event, StatusChanged,
                                       TicketAssigned, TicketCreated, TicketDeflected)
from chalicelib.domain import inbox_counts
from chalicelib.storage import aggregates, ticket_counts
from chalicelib.storage.ticket_stream import StoredChange, batch_token

__all__ = ["events_of", "measure_all", "react"]


def react(stored: Iterable[StoredChange]) -> int:
    """``ticket_stream``: run the reactions (``bus.HANDLERS``) to every event of the batch's changes, and
    record how they moved the inbox counters (``domain.inbox_counts``) in one go. Returns the events.

    A reaction that fails is logged and the batch goes on (the sweep refills and
    re-checks every minute); only the counters' write fails the batch, and the
    stream delivers it again under the same token (counted once). Agents freed in
    the batch are refilled once per queue, after its events (``assign.refills_batched``).
    """
    stored = list(stored)
    with assign.refills_batched():
        published = _publish_all(stored, bus.HANDLERS)
    moves: Counter = Counter()
    for change in stored:
        moves.update(inbox_counts.moved(change.old, change.new))
    aggregates.record_all((), token=batch_token(stored, "ticket_stream"),
                          adjustments=ticket_counts.adjustments(moves))
    return published


def measure_all(stored: Iterable[StoredChange]) -> int:
    """``kpi_stream``: measure every event of the batch's changes (``bus.MEASURES``: EMF metrics and the
    KPI aggregates), the aggregates with one update per series and day. Returns the events.

    A measure that fails is logged and the batch goes on; only the aggregates' write
    fails the batch, delivered again under the same token (counted once). Its own
    stream reader, apart from ``ticket_stream``: it waits for up to 5 minutes of
    changes, so a day's aggregate items (1-2 KB each) are written once per 5
    minutes, not once per 30 s.
    """
    stored = list(stored)
    with measure.batched() as tallies:
        published = _publish_all(stored, bus.MEASURES)
    aggregates.record_all(tallies, token=batch_token(stored, "kpi_stream"))
    return published


def _publish_all(stored: list[StoredChange], table: dict[type, Any]) -> int:
    published = 0
    for change in stored:
        for event in events_of(change.old, change.new):
            published += 1
            try:
                bus.publish(event, table)
            except Exception:
                logger.exception("a reaction to a stored ticket change failed",
                                 extra={"event": type(event).__name__})
    return published


def events_of(old: Any, new: Any) -> list[Event]:
    """What one stored change of a ticket means: created, acknowledged, status moved, assigned, answered,
    deflected, agent freed. A deflection is an event once: in the change where it first appears."""
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
    held_before = changes.holds_capacity(old.status, old.assignee_id)
    held_after = changes.holds_capacity(new.status, new.assignee_id)
    if held_before and (not held_after or new.assignee_id != old.assignee_id):
        return old.assignee_id
    return None
