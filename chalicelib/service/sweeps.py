"""The minute-by-minute schedule: timers due, SLA checks due, waiting tickets.

Each part reads an index of due times, shard by shard (``ticket_keys.shard_count()``
small Queries, never a Scan), and acts through ``changes.apply`` with the
ticket's version as the condition — so two overlapping runs (EventBridge may
deliver twice; a slow run may overlap the next) act once.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.observability import logger
from chalicelib.service import assign, automate, escalation, kb_tracking
from chalicelib.storage import repository
from chalicelib.storage import tickets as stored_tickets

_PER_SHARD = 200  # per run; the rest are due next minute (and the index keeps them in order)


def run(event: dict[str, Any] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    moment = now or clock.now()
    report = {"timers": run_timers(moment), **run_sla(moment), "assigned": assign.drain(now=moment)}
    logger.info("sweep done", extra=report)
    return report


def due(index: str, moment: datetime, *, per_shard: int = _PER_SHARD) -> list[str]:
    """Ids of tickets whose due time in ``index`` ("timer" or "sla") is at or before ``moment``, across every shard."""
    return stored_tickets.due_ticket_ids(index, moment, per_shard=per_shard)


def run_timers(moment: datetime) -> int:
    """Tickets whose ``timer_at`` has come: a silent-deflection window that ended (solved by self-service),
    then the time-based automation rules due."""
    fired = 0
    for ticket_id in due("timer", moment):
        ticket = repository.get_ticket(ticket_id)  # the index is eventually consistent
        if ticket is None or not ticket.timer_at or ticket.timer_at > clock.iso(moment):
            continue
        if kb_tracking.settle_silent(ticket, now=moment):
            ticket = repository.get_ticket(ticket_id)  # solved now: the rules see it as it is
        outcome = automate.run_timers(ticket, now=moment)
        fired += len(outcome.fired)
    return fired


def run_sla(moment: datetime) -> dict[str, int]:
    """Tickets whose SLA warning or due time has come: escalate each once."""
    outcome = {"sla_warnings": 0, "sla_breaches": 0}
    for ticket_id in due("sla", moment):
        ticket = repository.get_ticket(ticket_id)
        if ticket is None or not ticket.sla_check_at or ticket.sla_check_at > clock.iso(moment):
            continue
        result = escalation.check(ticket, moment)
        if result == "warning":
            outcome["sla_warnings"] += 1
        elif result == "breach":
            outcome["sla_breaches"] += 1
    return outcome
