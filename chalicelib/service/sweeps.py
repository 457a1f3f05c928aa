"""The minute-by-minute schedule: timers due, SLA checks due, waiting tickets.

Each part reads an index of due times, shard by shard (``ticket_keys.SHARDS``
small Queries, never a Scan), and acts through ``changes.apply`` with the
ticket's version as the condition — so two overlapping runs (EventBridge may
deliver twice; a slow run may overlap the next) act once.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.observability import logger
from chalicelib.service import assign, automate, escalation
from chalicelib.storage import repository, ticket_keys

_PER_SHARD = 200  # per run; the rest are due next minute (and the index keeps them in order)


def run(event: dict[str, Any] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    moment = now or clock.now()
    report = {"timers": run_timers(moment), **run_sla(moment), "assigned": assign.drain(now=moment)}
    logger.info("sweep done", extra=report)
    return report


def due(index: Any, key_attribute: Any, moment: datetime, *, per_shard: int = _PER_SHARD) -> list[Any]:
    """Tickets whose ``key_attribute`` in ``index`` is at or before ``moment``, across every shard."""
    stamp = clock.iso(moment)
    found = []
    for shard in ticket_keys.all_shards():
        found += list(index.query(shard, key_attribute <= stamp, limit=per_shard, page_size=per_shard))
    return found


def run_timers(moment: datetime) -> int:
    from chalicelib.storage.models import TicketModel

    fired = 0
    for item in due(TicketModel.by_timer, TicketModel.timer_at, moment):
        ticket = repository.get_ticket(item.ticket_id)  # the index is eventually consistent
        if ticket is None or not ticket.timer_at or ticket.timer_at > clock.iso(moment):
            continue
        outcome = automate.run_timers(ticket, now=moment)
        fired += len(outcome.fired)
    return fired


def run_sla(moment: datetime) -> dict[str, int]:
    """Tickets whose SLA warning or due time has come: escalate each once."""
    from chalicelib.storage.models import TicketModel

    outcome = {"sla_warnings": 0, "sla_breaches": 0}
    for item in due(TicketModel.by_sla_due, TicketModel.sla_check_at, moment):
        ticket = repository.get_ticket(item.ticket_id)
        if ticket is None or not ticket.sla_check_at or ticket.sla_check_at > clock.iso(moment):
            continue
        result = escalation.check(ticket, moment)
        if result == "warning":
            outcome["sla_warnings"] += 1
        elif result == "breach":
            outcome["sla_breaches"] += 1
    return outcome
