"""What happened, measured: EMF metrics for CloudWatch and the daily KPI aggregates, from one place.

Measured after the fact, from the tickets table's stream (``kpi_stream``, up to
5 minutes of changes a batch): the request that changed a ticket pays for none
of it, and a stream batch is counted with one aggregate update per series and
day (``batched``).

Durations come from the ticket's SLA clocks (``clocks.measure``), so the
metric, the aggregate and the ticket's own ``sla`` agree — in calendar and in
business time. Auto-replies and notes never produce a response time; only a
human reply does (Zammad #5177).

By agent (``domain/kpis.py``): an assignment counts for the agent who got the
ticket (their volume), a solve and its resolution measures for the agent who
set it solved (``ticket.solved_by``; none when a rule, the bot or the customer
did), everything else for the assignee at the time.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.domain.vocabulary import ACTIVE_STATUSES, CHANNELS, RESOLVED
from chalicelib.observability import count, duration, logger
from chalicelib.service import clocks
from chalicelib.storage import aggregates


_ASSIGNEE: Any = object()  # "the agent is the ticket's assignee"


def _groups(ticket: Any, agent: str | None = _ASSIGNEE) -> dict[str, str | None]:
    return {"channel": ticket.channel if ticket.channel in CHANNELS else "other", "priority": ticket.priority,
            "queue": ticket.category, "agent": ticket.assignee_id if agent is _ASSIGNEE else agent}


_batch: ContextVar[list[aggregates.Tally] | None] = ContextVar("measure_batch", default=None)


@contextmanager
def batched() -> Iterator[list[aggregates.Tally]]:
    """Collect what is measured inside the block instead of writing it: the caller records the batch
    with one update per series and day (``aggregates.record_all``)."""
    tallies: list[aggregates.Tally] = []
    token = _batch.set(tallies)
    try:
        yield tallies
    finally:
        _batch.reset(token)


def _record(ticket: Any, moment: datetime, *, counters: dict[str, int] | None = None,
            durations: dict[str, float] | None = None, agent: str | None = _ASSIGNEE) -> None:
    tally = aggregates.Tally(moment, _groups(ticket, agent), counters or {}, durations or {})
    try:
        aggregates.check(tally)
        batch = _batch.get()
        if batch is not None:
            batch.append(tally)
        else:
            aggregates.record_all([tally])
    except Exception:  # the report loses one count; the ticket and its metrics are already right
        logger.exception("could not update the KPI aggregates")


def _dims(ticket: Any) -> dict[str, str]:
    return {"priority": ticket.priority, "queue": ticket.category}


def ticket_created(ticket: Any, moment: datetime, *, acknowledged: bool = False) -> None:
    """A new ticket (and its acknowledgement, when it went out in the same run: one aggregate write)."""
    count("TicketsCreated", channel=ticket.channel, **_dims(ticket))
    if acknowledged:
        count("AutoRepliesSent", channel=ticket.channel, **_dims(ticket))
    _record(ticket, moment, counters={"created": 1, **({"auto_replies": 1} if acknowledged else {})})


def ticket_assigned(ticket: Any, moment: datetime) -> None:
    """The ticket went to ``ticket.assignee_id``: one more ticket in that agent's volume."""
    _record(ticket, moment, counters={"assigned": 1})


def auto_reply_sent(ticket: Any, moment: datetime) -> None:
    count("AutoRepliesSent", channel=ticket.channel, **_dims(ticket))
    _record(ticket, moment, counters={"auto_replies": 1})


def agent_replied(ticket: Any, moment: datetime) -> None:
    """First response (once) or the next reply that ended a customer's wait."""
    measured = clocks.measure(clocks.fields_of(ticket), moment)
    if measured is None:
        return
    stamp = clock.iso(moment)
    if measured.first_response is not None and measured.first_response_at is not None \
            and clock.iso(measured.first_response_at) == stamp:
        took = measured.first_response
        target = next((t for t in measured.targets if t.name == "first_response"), None)
        met = target is None or target.overdue is None
        duration("FirstResponseTime", took.calendar_minutes * 60, channel=ticket.channel, clock="calendar",
                 **_dims(ticket))
        duration("FirstResponseTime", took.business_minutes * 60, channel=ticket.channel, clock="business",
                 **_dims(ticket))
        _record(ticket, moment, counters={f"sla_first_response_{'met' if met else 'breached'}": 1},
                durations={"first_response_minutes": took.calendar_minutes,
                           "first_response_business_minutes": took.business_minutes})
        return
    ended = [w for w in measured.next_replies if w.ended_at is not None and w.answered
             and clock.iso(w.ended_at) == stamp]
    for wait in ended:
        duration("NextReplyTime", wait.duration.calendar_minutes * 60, channel=ticket.channel, clock="calendar",
                 **_dims(ticket))
        duration("NextReplyTime", wait.duration.business_minutes * 60, channel=ticket.channel, clock="business",
                 **_dims(ticket))


def status_changed(ticket: Any, old: str, new: str, moment: datetime) -> None:
    """Solved: resolution and handle time, resolution SLA; reopened: counted."""
    if new == "solved" and old != "closed":
        count("TicketsSolved", channel=ticket.channel, **_dims(ticket))
        measured = clocks.measure(clocks.fields_of(ticket), moment)
        resolution = measured.last_resolution or measured.resolution if measured is not None else None
        counters = {"solved": 1}
        durations: dict[str, float] = {}
        if resolution is not None:
            duration("ResolutionTime", resolution.calendar_minutes * 60, channel=ticket.channel, clock="calendar",
                     **_dims(ticket))
            duration("ResolutionTime", resolution.business_minutes * 60, channel=ticket.channel, clock="business",
                     **_dims(ticket))
            duration("HandleTime", measured.handle_time.calendar_minutes * 60, channel=ticket.channel,
                     clock="calendar", **_dims(ticket))
            durations = {"resolution_minutes": resolution.calendar_minutes,
                         "resolution_business_minutes": resolution.business_minutes}
            target = next((t for t in measured.targets if t.name == "resolution"), None)
            if target is not None:
                counters[f"sla_resolution_{'breached' if target.overdue is not None else 'met'}"] = 1
        _record(ticket, moment, counters=counters, durations=durations, agent=ticket.solved_by)
    elif old in RESOLVED and new in ACTIVE_STATUSES:
        count("TicketsReopened", channel=ticket.channel, **_dims(ticket))
        _record(ticket, moment, counters={"reopened": 1})


def ticket_deflected(ticket: Any, moment: datetime) -> None:
    """Self-service answered the ticket (``ticket.deflection``): ``deflected``, and ``deflected_by_bot`` when
    the customer said yes to the chat bot's answer."""
    deflection = ticket.deflection or {}
    via = deflection.get("via")
    count("TicketsDeflected", channel=ticket.channel, how=str(deflection.get("how")), **_dims(ticket))
    _record(ticket, moment, counters={"deflected": 1, **({"deflected_by_bot": 1} if via == "bot" else {})})


def sla_event(ticket: Any, kind: str, target: str) -> None:
    """SlaWarning / SlaBreached, once per target instance (the sweep makes sure of that)."""
    count(kind, channel=ticket.channel, target=target, **_dims(ticket))
