"""Condition matching: whether a rule's ``if`` holds for a ticket, and why (for the audit trail)."""
from __future__ import annotations

from chalicelib.domain.automation.facts import TicketFacts
from chalicelib.domain.automation.schema import TimerConditions, TriggerConditions
from chalicelib.domain.words import FoldedText

__all__: list[str] = []  # internal to the package: _Text, _why


class _Text(FoldedText):
    """Subject and latest text, folded once per ticket however many rules ask."""

    def __init__(self, facts: TicketFacts) -> None:
        super().__init__(facts.subject, facts.text)


def _why(when: TimerConditions | None, facts: TicketFacts, text: _Text) -> str | None:
    """Why these conditions hold for this ticket (for the audit trail), or None if they do not."""
    if when is None or when.always:
        return "always"
    reasons: list[str] = []

    def member(value: str | None, allowed: tuple[str, ...] | None, label: str) -> bool:
        if allowed is None:
            return True
        if value is None or value not in allowed:
            return False
        reasons.append(f"{label} {value}")
        return True

    tier = facts.customer_tier.casefold() if facts.customer_tier else None
    if not (member(facts.channel.casefold(), when.channel_in, "channel")
            and member(facts.priority, when.priority_in, "priority")
            and member(facts.category, when.category_in, "category")
            and member(tier, when.tier_in, "tier")):
        return None
    if isinstance(when, TriggerConditions):
        if not member(facts.status, when.status_in, "status") or not member(facts.actor, when.actor_in, "by"):
            return None
        if when.changed is not None:
            if facts.event == "created":
                reasons.append("new ticket")
            else:
                hit = [field for field in when.changed if field in facts.changed]
                if not hit:
                    return None
                reasons.append("changed " + ", ".join(hit))
    if when.has_tags is not None:
        if not facts.tags.issuperset(when.has_tags):
            return None
        reasons.append("tags " + ", ".join(when.has_tags))
    if when.lacks_tags is not None and not facts.tags.isdisjoint(when.lacks_tags):
        return None
    if when.assigned is not None:
        if (facts.assignee_id is not None) != when.assigned:
            return None
        reasons.append("assigned" if when.assigned else "unassigned")
    if when._any is not None:
        found = text.search(when._any)
        if found is None:
            return None
        reasons.append(f"words {found!r}")
    if when._none is not None and text.search(when._none) is not None:
        return None
    return "; ".join(reasons) or "always"
