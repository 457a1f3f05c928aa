"""Automation rules carried out: triggers on created/updated, timers from the sweep.

``chalicelib.domain.automation`` decides; this module builds its facts from a
ticket and applies the outcome through ``changes.apply`` — so every automated
change is audited as ``automation:<rule>`` and moves due times like any other.
Macros sent by rules are automated replies: they never stamp first response.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib import configuration
from chalicelib.domain import automation
from chalicelib.observability import count, logger
from chalicelib.service import assign, changes, macros, notify, surveys, tickets
from chalicelib.service.facts import facts
from chalicelib.storage import agents as directory
from chalicelib.storage import repository


def on_created(ticket: Any, text: str, *, now: datetime | None = None) -> Any:
    """Triggers for a new ticket (after triage, after the ticket is stored)."""
    outcome = automation.evaluate_triggers(facts(ticket, event="created", actor="customer", text=text),
                                           configuration.automation_rules())
    return carry_out(ticket, outcome, now=now)


def preview_created(ticket: Any, text: str) -> Any:
    """What the "created" triggers will do to a ticket not yet written (nothing is carried out here):
    the pipeline claims an agent in the ticket's own write only if they leave its routing alone, and
    promises the response time of the priority they will set."""
    return automation.evaluate_triggers(facts(ticket, event="created", actor="customer", text=text),
                                        configuration.automation_rules())


def changes_routing(outcome: Any) -> bool:
    """Whether a triggers' outcome gives the ticket another owner, queue or status."""
    return outcome.route_via_queue or any(outcome.changes.get(name) for name in ("assignee_id", "category", "status"))


def on_customer_message(ticket: Any, text: str, changed: frozenset[str], *, after: dict[str, Any],
                        now: datetime | None = None) -> Any:
    """Triggers after a customer's message to ``ticket`` (as loaded before it) that changed ``after``.

    The rules read the ticket as the message left it; only when one fires is the
    stored ticket read again (its version moved with the message) to change it.
    """
    outcome = automation.evaluate_triggers(
        facts(ticket, event="updated", actor="customer", text=text, changed=changed, fields=after),
        configuration.automation_rules())
    if not outcome.fired:
        return outcome
    return carry_out(repository.get_ticket(ticket.ticket_id), outcome, now=now)


def on_updated(ticket: Any, diff: dict[str, list[Any]], actor_role: str, *, now: datetime | None = None) -> Any:
    """Triggers after a person's change (``actor_role``: agent, admin or system)."""
    who = "agent" if actor_role in ("agent", "admin") else "system"
    outcome = automation.evaluate_triggers(
        facts(ticket, event="updated", actor=who, changed=frozenset(diff)), configuration.automation_rules())
    return carry_out(ticket, outcome, now=now)


def run_timers(ticket: Any, *, now: datetime) -> Any:
    """The time-based rules due on this ticket, fired once: their names are saved with their changes."""
    outcome = automation.due_timers(facts(ticket, event="updated", actor="system"), configuration.automation_rules(), now)
    if not outcome.fired:
        return outcome
    fired = set(ticket.automation_fired or ()) | set(outcome.fired)
    return carry_out(ticket, outcome, now=now, fired=fired)


def carry_out(ticket: Any, outcome: Any, *, now: datetime | None = None, fired: set[str] | None = None) -> Any:
    """Apply an outcome: field changes and tags in one audited write, then macros, notifications, routing."""
    if not outcome.fired:
        return outcome
    moment = now or clock.now()
    actor = changes.Actor(f"automation:{outcome.fired[0]}", ", ".join(outcome.fired))
    values = outcome.changes
    claim: Any = changes.UNSET
    if values.get("assignee_id"):
        agent = directory.get(values["assignee_id"])
        if agent is not None and agent.active:
            claim = changes.Claim(agent.agent_id, agent.name, f"automation:{outcome.fired[0]}")
    elif outcome.route_via_queue and ticket.assignee_id:
        claim = None  # unassign, then route below
    change = changes.TicketChange(status=values.get("status"), priority=values.get("priority"),
                                  category=values.get("category"), assignee=claim,
                                  add_tags=frozenset(outcome.add_tags), remove_tags=frozenset(outcome.remove_tags))
    if fired is not None:
        change.sets["automation_fired"] = fired
    def attempt(current: Any) -> Any:
        detail = "; ".join(outcome.reasons)[:2000]
        try:
            changes.apply(current, change, actor, action="automation", detail=detail, now=moment)
        except changes.AgentUnavailable:
            if change.assignee is changes.UNSET:  # the current owner cannot take it back: read again, retry
                raise changes.Conflict("the owner is at capacity or offline") from None
            change.assignee = changes.UNSET  # the named agent cannot take it: the queue decides instead
            raise changes.Conflict("the named agent cannot take the ticket") from None
        return current

    def not_fired_yet(current: Any) -> bool:  # else another sweep fired these timers already
        return fired is None or not set(outcome.fired) <= set(current.automation_fired or ())

    ticket = changes.retrying(ticket, attempt, still_wanted=not_fired_yet, raise_conflict=False,
                              gave_up="automation could not apply; it runs again on the next change or sweep")
    if ticket is None:
        return outcome
    for rule in outcome.fired:
        count("AutomationFired", channel=ticket.channel, rule=rule)
    fresh = repository.get_ticket(ticket.ticket_id)
    for macro_id in outcome.macros:
        _send_macro(fresh, macro_id, actor)
    for notification in outcome.notifications:
        _notify(fresh, notification)
    if outcome.survey:  # the service refuses spam, machine-opened, merged and already-surveyed tickets
        surveys.send(fresh, now=moment)
    if outcome.route_via_queue and assign.needs_agent(fresh):
        assign.auto_assign(fresh, now=moment)
    return outcome


def _send_macro(ticket: Any, macro_id: str, actor: changes.Actor) -> None:
    try:
        text, actions = macros.render_for(macro_id, ticket, None)
        tickets.reply(ticket, text, actor)
        macros.apply_actions(ticket.ticket_id, actions, actor)
    except Exception as err:  # a missing or broken macro must not undo the rule's other effects
        logger.warning("automation macro not sent", extra={"macro_id": macro_id, "reason": repr(err)})


def _notify(ticket: Any, notification: Any) -> None:
    notify.send(ticket, notification.to, notification.message, rule=notification.rule)
