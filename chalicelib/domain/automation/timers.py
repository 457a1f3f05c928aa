"""Timers: time-based rules, due a while after a ticket entered a status, run by a scheduled sweep."""
from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.automation.facts import TicketFacts
from chalicelib.domain.automation.matching import _Text, _why
from chalicelib.domain.automation.outcome import Outcome, _Merge
from chalicelib.domain.automation.schema import RuleSet, Timer

__all__ = ["due_timers", "next_timer_due"]


def _due_at(timer: Timer, facts: TicketFacts) -> datetime | None:
    try:
        return facts.status_changed_at + timedelta(minutes=timer.after_minutes)
    except OverflowError:  # past year 9999: never
        return None


def _candidates(facts: TicketFacts, rule_set: RuleSet) -> list[tuple[Timer, datetime, str]]:
    """Timers watching the ticket's status that have not fired this period and whose
    conditions hold, with their due time and why."""
    text = _Text(facts)
    found = []
    for timer in rule_set.timers:
        if timer.status != facts.status or timer.name in facts.fired:
            continue
        due = _due_at(timer, facts)
        why = _why(timer.when, facts, text) if due is not None else None
        if due is not None and why is not None:
            found.append((timer, due, why))
    return found


def next_timer_due(facts: TicketFacts, rule_set: RuleSet) -> datetime | None:
    """When the sweep next has something to do for this ticket (may be in the past:
    then it is due now), or None: store it in the due-time index the sweep queries."""
    return min((due for _, due, _ in _candidates(facts, rule_set)), default=None)


def due_timers(facts: TicketFacts, rule_set: RuleSet, now: datetime) -> Outcome:
    """The timers due at ``now``, merged like triggers (file order, last wins). The caller
    adds ``fired`` to the ticket's fired set in the same write as the changes: that is
    what makes a retried or overlapping sweep fire each timer once."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    merge = _Merge(facts)
    for timer, due, why in _candidates(facts, rule_set):
        if due <= now:
            waited = f"{facts.status} for {_duration(timer.after_minutes)}"
            merge.apply(timer.name, timer.then, waited if why == "always" else f"{waited}; {why}")
    return merge.outcome(1 if merge.fired else 0)


def _duration(minutes: int) -> str:
    """4320 → "3 days", 90 → "90 minutes": how a support lead reads the audit trail."""
    for size, unit in ((24 * 60, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
