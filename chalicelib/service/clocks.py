"""A ticket's running clocks: when the SLA sweep and the automation timers must look at it.

Recomputed by every change (``changes.apply``) and at creation, so a priority,
status or owner change moves the due times in the same write, and the sweeps
find due tickets by querying their indexes instead of scanning.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.storage import ticket_keys

_FIELDS = ("ticket_id", "status", "priority", "category", "channel", "assignee_id", "created_at", "subject",
           "customer_tier", "first_response_at", "status_changed_at", "tags", "automation_fired")


def fields_of(ticket: Any) -> dict[str, Any]:
    return {name: getattr(ticket, name, None) for name in _FIELDS}


def schedule(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``{"sla", "sla_check_at", "timer_at"}`` for a ticket with these fields."""
    return {**_sla(fields), "timer_at": _next_timer(fields)}


def recompute(ticket: Any, after: dict[str, Any], now: datetime) -> tuple[list[Any], dict[str, Any]]:
    """Update actions for the ticket's clocks, and the keys ``ticket_keys`` derives the indexes from."""
    from chalicelib.storage.models import TicketModel

    planned = schedule({**fields_of(ticket), **after}, now)
    sla = planned["sla"]
    actions = [TicketModel.sla.set(sla) if sla else TicketModel.sla.remove()]
    return actions, {"sla_check_at": planned["sla_check_at"], "timer_at": planned["timer_at"]}


def _sla(fields: dict[str, Any]) -> dict[str, Any]:
    """The first-response target from the desk settings' response time per priority."""
    from chalicelib.settings import desk_settings

    if fields["status"] not in ticket_keys.ACTIVE or fields.get("first_response_at") or not fields.get("created_at"):
        return {"sla": None, "sla_check_at": None}
    minutes = desk_settings().response_time_minutes[fields["priority"]]
    due = clock.parse_iso(fields["created_at"]) + timedelta(minutes=minutes)
    return {"sla": {"first_response_due": clock.iso(due)}, "sla_check_at": clock.iso(due)}


def _next_timer(fields: dict[str, Any]) -> str | None:
    """When the next time-based automation rule is due (pending 3 days → reminder...)."""
    from chalicelib.domain import automation
    from chalicelib.service.automate import facts

    due = automation.next_timer_due(facts(None, event="updated", actor="system", fields=fields), automation.rules())
    return clock.iso(due) if due is not None else None
