"""A ticket's running clocks: its SLA state, and when the sweeps must look at it next.

The clocks are computed (``chalicelib.domain.sla``) from the ticket's own
timeline — customer messages, human replies, status, priority and owner
changes — kept on the ticket item, so recomputing needs no extra read. Every
change recomputes them in the same write (``changes.apply``, the pipeline),
so a priority, status or business-hours change moves the due times at once,
and the sweeps find due tickets by querying their indexes instead of scanning.

Escalations are remembered per target instance (``<target>@<its start>``), so a
warning or a breach is acted on once even when the due time moves.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib import configuration
from chalicelib.domain import acknowledgement, automation, sla
from chalicelib.domain import kb_links
from chalicelib.service.facts import facts

_FIELDS = ("ticket_id", "status", "priority", "category", "channel", "assignee_id", "created_at", "subject",
           "customer_tier", "first_response_at", "status_changed_at", "tags", "automation_fired", "timeline", "sla",
           # what decides whether (and when) self-service is credited with the ticket: silent_deflection_due
           "kb_links", "deflection", "last_customer_message_at", "last_agent_reply_at", "merged_into")
MAX_TIMELINE = 400  # ~25 KB: far inside DynamoDB's 400 KB item, and years of back-and-forth


def fields_of(ticket: Any) -> dict[str, Any]:
    return {name: getattr(ticket, name, None) for name in _FIELDS}


def append(timeline: list | None, stamp: str, events: list[tuple[str, str | None]]) -> list:
    """The timeline with ``events`` added at ``stamp``; notes and auto-replies go first when it is full."""
    merged = list(timeline or []) + [[stamp, kind, value] for kind, value in events]
    while len(merged) > MAX_TIMELINE:
        droppable = next((i for i, entry in enumerate(merged) if entry[1] in ("note", "auto_reply")), 1)
        merged.pop(droppable)  # never the first entry: it is the ticket's creation
    return merged


def initial_timeline(stamp: str, *, priority: str, customer_wrote: bool) -> list:
    events = [("customer_message", None)] if customer_wrote else []
    return append(None, stamp, events + [("status", "open"), ("priority", priority)])


def measure(fields: dict[str, Any], now: datetime) -> Any | None:
    """The SLA clocks (``sla.Clocks``) at ``now``, or None for a ticket without a timeline."""
    timeline = fields.get("timeline") or []
    if not timeline:
        return None
    events = []
    for stamp, kind, value in timeline:
        events.append(sla.Event(at=clock.parse_iso(stamp), kind=kind,
                                status=value if kind == "status" else None,
                                priority=value if kind == "priority" else None,
                                agent=value if kind == "assigned" else None))
    return sla.clocks(events, policy_resolver=functools.partial(sla.policy_for, policies=configuration.sla_policies()),
                      queue=fields.get("category"), channel=fields.get("channel"),
                      tier=fields.get("customer_tier"), now=max(now, clock.parse_iso(timeline[-1][0])))


def instance(target: Any) -> str:
    """One target's identity across re-targeting: its name and when it started."""
    return f"{target.name}@{clock.iso(target.started_at)}"


def schedule(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``{"sla", "sla_check_at", "timer_at"}`` for a ticket with these fields.

    ``timer_at`` is the sweep's next look at the ticket: the next time-based automation
    rule, or the end of its silent-deflection window, whichever comes first.
    """
    due = [found for found in (_next_timer(fields), silent_deflection_due(fields)) if found is not None]
    return {**_sla(fields, now), "timer_at": min(due) if due else None}


def recompute(ticket: Any, after: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The ticket's clocks after a change: ``{"sla", "sla_check_at", "timer_at", "overdue_at"}``.

    ``sla`` is the SLA state to store (None: no clocks); the due times are what
    ``ticket_keys`` derives the sweeps' indexes from.
    """
    planned = schedule({**fields_of(ticket), **after}, now)
    return {"sla": planned["sla"], "sla_check_at": planned["sla_check_at"], "timer_at": planned["timer_at"],
            "overdue_at": planned["overdue_at"]}


def _sla(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    measured = measure(fields, now)
    if measured is None:
        return {"sla": None, "sla_check_at": None, "overdue_at": None}
    previous = fields.get("sla") or {}
    warned, escalated = list(previous.get("warned", [])), list(previous.get("escalated", []))
    running = _running(measured)
    state = {
        "policy": measured.policy.name,
        "state": measured.state,
        "due_at": clock.iso(running.due) if running else None,  # none while paused: it keeps moving
        "due_target": running.name if running else None,
        "warning_at": clock.iso(running.warning_at) if running else None,
        "breaches": [{"target": b.target, "due": clock.iso(b.due), "by_minutes": round(b.by.calendar_minutes, 1),
                      "by_business_minutes": round(b.by.business_minutes, 1), "running": b.running}
                     for b in measured.breaches][-20:],
        "warned": warned[-20:],
        "escalated": escalated[-20:],
        # The clocks as measured at this write, in calendar and business minutes (None: not yet).
        "first_response": _minutes(measured.first_response),
        "resolution": _minutes(measured.last_resolution or measured.resolution),
        "handle_time": _minutes(measured.handle_time),
        "customer_wait": _minutes(measured.customer_wait),
        "next_replies": [_minutes(w.duration) for w in measured.next_replies if w.ended_at is not None][-20:],
        "replies_to_resolve": measured.replies_to_resolve,
        "reopen_count": measured.reopen_count,
    }
    check = None
    if running is not None:
        key = instance(running)
        if key not in warned and key not in escalated:
            check = clock.iso(running.warning_at)
        elif key not in escalated:
            check = clock.iso(running.due)
    overdue = clock.iso(running.due) if running is not None and running.due <= now else None
    return {"sla": state, "sla_check_at": check, "overdue_at": overdue}


def _minutes(duration: Any) -> dict[str, float] | None:
    if duration is None:
        return None
    return {"calendar": round(duration.calendar_minutes, 2), "business": round(duration.business_minutes, 2)}


def _running(measured: Any) -> Any | None:
    """The target the sweep must watch: the earliest due one that is running and not paused."""
    return next((t for t in measured.targets if t.stopped_at is None and t.due == measured.due
                 and t.state != "paused"), None)


def running_target(fields: dict[str, Any], now: datetime) -> Any | None:
    measured = measure(fields, now)
    return _running(measured) if measured is not None else None


def silent_deflection_due(fields: dict[str, Any]) -> str | None:
    """When the ticket counts as deflected without a word (``domain.kb_links.silent_due``), ISO; None: it cannot.

    The window is the desk setting ``deflection_window_hours`` (0: off), from the customer's
    first open of a suggested article (``kb_links.opened_at``).
    """
    opened = (fields.get("kb_links") or {}).get("opened_at")
    if not opened:
        return None

    def moment(name: str) -> datetime | None:
        return clock.parse_iso(fields[name]) if fields.get(name) else None

    due = kb_links.silent_due(
        opened_at=clock.parse_iso(opened),
        window=timedelta(hours=configuration.desk_settings().deflection_window_hours),
        last_customer_message_at=moment("last_customer_message_at"), last_agent_reply_at=moment("last_agent_reply_at"),
        status=fields.get("status") or "", merged_into=fields.get("merged_into"),
        deflected=bool(fields.get("deflection")))
    return clock.iso(due) if due is not None else None


def _next_timer(fields: dict[str, Any]) -> str | None:
    """When the next time-based automation rule is due (pending 3 days → reminder...)."""
    due = automation.next_timer_due(facts(None, event="updated", actor="system", fields=fields), configuration.automation_rules())
    return clock.iso(due) if due is not None else None


def response_promise(ticket: Any) -> str:
    """The first-response promise, from the ticket's own SLA policy ("4 business hours", "1 hour"): what an
    acknowledgement and the bot's hand-off tell the customer."""
    policy = sla.policy_for(ticket.priority, ticket.channel, ticket.customer_tier, ticket.category,
                            configuration.sla_policies())
    if policy.first_response is None:
        return "as soon as we can"
    promise = acknowledgement.humanise_minutes(policy.first_response)
    return promise.replace(" ", " business ", 1) if policy.business_hours else promise
