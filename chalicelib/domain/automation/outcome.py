"""What fired rules want done (``Outcome``), and merging their actions in file order."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.automation.facts import TicketFacts
from chalicelib.domain.automation.schema import ASSIGN_VIA_QUEUE, CHANGEABLE_FIELDS, Actions

__all__ = ["Notification", "Outcome"]  # and, internal to the package: _Merge, _changed_fields


@dataclass(frozen=True)
class Notification:
    to: str  # "assignee" | "team_lead" | "email:<address>" | "slack:<channel id>"
    message: str  # template text, rendered by the sender
    rule: str  # the rule that asked for it (the first, if several asked for the same)


@dataclass(frozen=True)
class Outcome:
    """What the rules want done; empty when nothing fired."""

    # field → new value, only fields that end up different from the facts given:
    # status, priority, category, assignee_id (an agent id).
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)
    # True when the last assigning rule said ``assign_to: queue``: run the queue's
    # assignment strategy (changes then has no assignee_id).
    route_via_queue: bool = False
    add_tags: tuple[str, ...] = ()  # not on the ticket yet, in the order added
    remove_tags: tuple[str, ...] = ()  # on the ticket now, to remove
    macros: tuple[str, ...] = ()  # macro ids to send, in order, each once
    notifications: tuple[Notification, ...] = ()
    survey: bool = False  # a fired rule said send_survey: send the satisfaction survey (once per ticket)
    fired: tuple[str, ...] = ()  # rule names, in firing order
    reasons: tuple[str, ...] = ()  # one line per fired rule, same order: what matched
    # Trigger passes evaluated (1..MAX_PASSES; a pass runs only when the previous one changed
    # a field and an unfired "updated" trigger is left). Timers: 1, or 0 when nothing was due.
    passes: int = 0


class _Merge:
    """Actions of fired rules applied in order to a working copy of the ticket."""

    def __init__(self, facts: TicketFacts) -> None:
        self.original = facts
        self.values: dict[str, Any] = {f: getattr(facts, f) for f in ("status", "priority", "category",
                                                                      "assignee_id")}
        self.tags: dict[str, None] = dict.fromkeys(sorted(facts.tags))  # ordered set
        self.route_via_queue = False
        self.macros: dict[str, None] = {}
        self.notifications: dict[tuple[str, str], Notification] = {}
        self.survey = False
        self.fired: list[str] = []
        self.reasons: list[str] = []

    def apply(self, name: str, then: Actions, reason: str) -> None:
        self.fired.append(name)
        self.reasons.append(f"{name}: {reason}")
        for field, value in (("status", then.set_status), ("priority", then.set_priority),
                             ("category", then.set_category)):
            if value is not None:
                self.values[field] = value
        if then.assign_to == ASSIGN_VIA_QUEUE:
            # Unassigned until the strategy picks someone; later passes see it that way.
            self.values["assignee_id"], self.route_via_queue = None, True
        elif then.assign_to is not None:
            self.values["assignee_id"], self.route_via_queue = then.assign_to, False
        self.tags.update(dict.fromkeys(then.add_tags))
        for tag in then.remove_tags:
            self.tags.pop(tag, None)
        if then.send_macro:
            self.macros.setdefault(then.send_macro)
        for note in then.notify:
            self.notifications.setdefault((note.to, note.message), Notification(note.to, note.message, name))
        self.survey = self.survey or bool(then.send_survey)

    def facts(self) -> TicketFacts:
        """The ticket as the rules left it, as an update by the system."""
        return dataclasses.replace(self.original, event="updated", actor="system", changed=frozenset(),
                                   tags=frozenset(self.tags), **self.values)

    def outcome(self, passes: int) -> Outcome:
        original = self.original
        changes = {f: v for f, v in self.values.items() if v != getattr(original, f)}
        if self.route_via_queue:
            changes.pop("assignee_id", None)
        return Outcome(
            changes=changes,
            route_via_queue=self.route_via_queue,
            add_tags=tuple(t for t in self.tags if t not in original.tags),
            remove_tags=tuple(sorted(original.tags - set(self.tags))),
            macros=tuple(self.macros),
            notifications=tuple(self.notifications.values()),
            survey=self.survey,
            fired=tuple(self.fired),
            reasons=tuple(self.reasons),
            passes=passes,
        )


def _changed_fields(before: TicketFacts, after: TicketFacts) -> frozenset[str]:
    return frozenset(f for f in CHANGEABLE_FIELDS if getattr(before, f) != getattr(after, f))
