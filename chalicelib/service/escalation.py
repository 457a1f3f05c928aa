"""SLA escalation, run by the sweep for tickets whose next SLA check is due.

Warning (the policy's warning percent of a target elapsed): tell the owner (or
the team lead when nobody owns it). Breach: raise the priority one step, hand
the ticket to someone available if its owner is not, and tell the team lead.
Each target instance is escalated once: the instance is recorded on the ticket
in the same versioned write as the escalation, so a second or concurrent sweep
finds it done (and loses the write race if it got there at the same time).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.service import assign, changes, clocks, measure, notify
from chalicelib.storage import agents as directory
from chalicelib.storage import repository, ticket_keys
from chalicelib.storage import tickets as stored_tickets

_RAISE = {"low": "normal", "normal": "high", "high": "urgent"}
SLA_ACTOR = changes.Actor("sla", "SLA")


def check(ticket: Any, moment: datetime) -> str | None:
    """Escalate what is due on this ticket; returns "warning", "breach" or None."""
    return changes.retrying(ticket, lambda current: _check(current, moment), raise_conflict=False,
                            gave_up="ticket kept changing during SLA escalation; the next sweep looks again")


def _check(ticket: Any, moment: datetime) -> str | None:
    running = clocks.running_target(clocks.fields_of(ticket), moment)
    sla = dict(ticket.sla or {})
    warned, escalated = list(sla.get("warned", [])), list(sla.get("escalated", []))
    if running is None:
        changes.apply(ticket, changes.TicketChange(sets={"sla": sla}), SLA_ACTOR, action="sla_checked", now=moment,
                      audited=False)
        return None  # nothing running (solved or paused): the write just clears the stale check
    key = clocks.instance(running)
    if moment >= running.due and key not in escalated:
        return _breach(ticket, running, key, {**sla, "warned": warned + [key], "escalated": escalated + [key]}, moment)
    if moment >= running.warning_at and key not in warned and key not in escalated:
        return _warn(ticket, running, key, {**sla, "warned": warned + [key]}, moment)
    changes.apply(ticket, changes.TicketChange(sets={"sla": sla}), SLA_ACTOR, action="sla_checked", now=moment,
                      audited=False)
    return None


def _warn(ticket: Any, target: Any, key: str, sla: dict[str, Any], moment: datetime) -> str:
    changes.apply(ticket, changes.TicketChange(sets={"sla": sla}), SLA_ACTOR, action="sla_warning",
                  detail=f"{target.name} due {clock.iso(target.due)}", now=moment)
    measure.sla_event(ticket, "SlaWarning", target.name)
    message = (f"SLA warning on #{{{{ number }}}} ({{{{ subject }}}}): {target.name.replace('_', ' ')} is due at "
               f"{clock.iso(target.due)[:16].replace('T', ' ')} UTC.")
    notify.send(ticket, "assignee" if ticket.assignee_id else "team_lead", message, rule="sla-warning",
                key=f"sla:{ticket.ticket_id}:{key}:warning")
    return "warning"


def _breach(ticket: Any, target: Any, key: str, sla: dict[str, Any], moment: datetime) -> str:
    raised = _RAISE.get(ticket.priority)
    owner_away = ticket.assignee_id and not _available(ticket.assignee_id, moment)
    change = changes.TicketChange(priority=raised, sets={"sla": sla}, assignee=None if owner_away else changes.UNSET)
    changes.apply(ticket, change, SLA_ACTOR, action="sla_breached",
                  detail=f"{target.name} was due {clock.iso(target.due)}", now=moment)
    measure.sla_event(ticket, "SlaBreached", target.name)
    fresh = repository.get_ticket(ticket.ticket_id)
    if assign.needs_agent(fresh):
        assign.auto_assign(fresh, now=moment)  # the queue's rule picks someone who is there
        fresh = repository.get_ticket(ticket.ticket_id)
    message = (f"SLA breached on #{{{{ number }}}} ({{{{ subject }}}}): {target.name.replace('_', ' ')} was due at "
               f"{clock.iso(target.due)[:16].replace('T', ' ')} UTC. Priority is now {{{{ priority }}}}, "
               f"owner {{{{ assignee }}}}.")
    notify.send(fresh, "team_lead", message, rule="sla-breach", key=f"sla:{ticket.ticket_id}:{key}:breach")
    if fresh.assignee_id:
        notify.send(fresh, "assignee", message, rule="sla-breach", key=f"sla:{ticket.ticket_id}:{key}:breach-owner")
    return "breach"


def _available(agent_id: str, moment: datetime) -> bool:
    agent = directory.get(agent_id)
    if agent is None:
        return False
    state = directory.state(agent)
    return state.active and state.status == "online" and (state.working_hours is None
                                                           or state.working_hours.is_open(moment))


def recompute_all(*, now: datetime | None = None) -> int:
    """Recompute every active ticket's clocks (new SLA policies or business hours): Queries, never Scan."""
    moment = now or clock.now()
    done = 0
    for status in ticket_keys.ACTIVE:
        for ticket_id in stored_tickets.ticket_ids_in_status(status):
            ticket = repository.get_ticket(ticket_id)
            if ticket is not None and _active(ticket) and changes.retrying(
                    ticket, lambda current: _recompute(current, moment), still_wanted=_active, raise_conflict=False,
                    gave_up="ticket kept changing while its clocks were recomputed; run recompute-sla again"):
                done += 1
    return done


def _active(ticket: Any) -> bool:
    return ticket.status in ticket_keys.ACTIVE


def _recompute(ticket: Any, moment: datetime) -> bool:
    changes.apply(ticket, changes.TicketChange(sets={"sla": dict(ticket.sla or {})}), SLA_ACTOR,
                  action="sla_recomputed", now=moment, audited=False)
    return True
