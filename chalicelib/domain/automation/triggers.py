"""Triggers: what the rules do to a created or updated ticket, with the loop bound."""
from __future__ import annotations

import dataclasses

from chalicelib.domain.automation.facts import TicketFacts
from chalicelib.domain.automation.matching import _Text, _why
from chalicelib.domain.automation.outcome import Outcome, _changed_fields, _Merge
from chalicelib.domain.automation.schema import RuleSet

__all__ = ["MAX_PASSES", "evaluate_triggers"]

MAX_PASSES = 3  # trigger passes per event; bounds rule chains (and any loop they form)


def evaluate_triggers(facts: TicketFacts, rule_set: RuleSet) -> Outcome:
    """What the triggers do to this created or updated ticket, following rule chains
    for at most ``MAX_PASSES`` passes with each trigger firing at most once."""
    merge = _Merge(facts)
    current, passes = facts, 0
    text = _Text(facts)  # rules change fields, never the customer's words
    while passes < MAX_PASSES:
        passes += 1
        fired_now = []
        for trigger in rule_set.triggers:
            if trigger.name in merge.fired or current.event not in trigger.on:
                continue
            why = _why(trigger.when, current, text)
            if why is not None:
                fired_now.append((trigger, why))
        # All judged on the same facts first, then applied in file order: last fired wins.
        for trigger, why in fired_now:
            merge.apply(trigger.name, trigger.then, why if passes == 1 else f"{why} (pass {passes})")
        following = merge.facts()
        changed = _changed_fields(current, following)
        waiting = any(t.name not in merge.fired and "updated" in t.on for t in rule_set.triggers)
        if not changed or not waiting:  # nothing new to judge, or nobody left to judge it
            break
        current = dataclasses.replace(following, changed=changed)
    return merge.outcome(passes)
