"""Automation: what the desk does by itself when a ticket changes (triggers) or waits (timers).

Zendesk calls these triggers and automations. Rules are data
(``chalicelib/automation_rules.yaml``, or the file named by env ``AUTOMATION_RULES``),
validated with pydantic when loaded: a bad rule file raises ``AutomationRulesError``
naming the rule and field, instead of quietly never reminding a customer.

This module only decides; it writes nothing. The caller applies an ``Outcome``
(changes, tags, macros, notifications) to the ticket in one conditional write.

Triggers (``evaluate_triggers``), run after a ticket is created or updated:

* every trigger whose ``on`` includes the event and whose ``if`` conditions *all* hold
  fires, in file order, all judged on the same facts;
* their actions are applied in file order, so for ``set_*`` and ``assign_to`` the
  **last fired rule wins**; ``add_tags`` / ``remove_tags`` are applied in the same
  order (a later rule's remove undoes an earlier rule's add); macros and notifications
  accumulate, identical ones once; ``send_survey`` holds if any fired rule asked for it;
* the result is then judged again as an "updated" event by the system actor (``changed``
  = the fields the pass changed), because one rule's change may be another rule's
  condition ("priority became urgent → tell the team lead"). At most ``MAX_PASSES``
  passes, and a trigger fires at most once per call: two rules that flip priority back
  and forth stop instead of looping (Zendesk has the same "fire once per update" rule);
* ``changed`` conditions hold on a "created" event: every field of a new ticket is new,
  so one rule covers "urgent when created or when raised to urgent".

Timers (``next_timer_due`` / ``due_timers``), run by a scheduled sweep:

* a timer watches one status and is due ``after_minutes`` of calendar time after
  ``status_changed_at``; it fires at most once per status period: the caller keeps the
  names in ``TicketFacts.fired`` (written in the same write as the timer's changes, so a
  retried sweep does not remind twice) and clears them when the status changes;
* ``next_timer_due`` is what the caller stores in its due-time index, so the sweep
  queries "due before now" instead of scanning every ticket.

Surveys (``send_survey: true``): the caller sends the ticket's satisfaction survey
(``chalicelib.service.surveys``), which itself refuses spam, machine-opened, merged and
already-surveyed tickets. A survey only makes sense for a solved ticket, so a timer with
``send_survey`` must watch ``solved`` (and leave the status alone) and a trigger must have
``status_in: [solved]``; the delay ("an hour after solving") is the timer's ``after_minutes``.

Words (``any_words`` / ``none_words``) match as in triage (``chalicelib/domain/triage.py``):
whole words or phrases in subject and latest customer text, case-folded, ``*`` for any
ending.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, StrictBool, StrictInt, field_validator, model_validator

# Private in triage, shared on purpose: one definition of "whole word" for the whole desk.
from chalicelib.domain import rule_files
from chalicelib.domain.triage import _compile_words, _fold, _phrase_pattern
from chalicelib.domain.vocabulary import PRIORITIES, STATUSES, Priority, Status

__all__ = [
    "ASSIGN_VIA_QUEUE",
    "CHANGEABLE_FIELDS",
    "DEFAULT_RULES_PATH",
    "MAX_PASSES",
    "STATUSES",
    "Actions",
    "AutomationRulesError",
    "Notification",
    "Outcome",
    "RuleSet",
    "TicketFacts",
    "Timer",
    "TimerConditions",
    "Trigger",
    "TriggerConditions",
    "due_timers",
    "evaluate_triggers",
    "load_rules",
    "next_timer_due",
    "parse_rules",
]

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "automation_rules.yaml"

Event = Literal["created", "updated"]
Actor = Literal["customer", "agent", "system"]
ChangeableField = Literal["status", "priority", "category", "assignee_id", "tags"]
CHANGEABLE_FIELDS: tuple[str, ...] = ("status", "priority", "category", "assignee_id", "tags")

ASSIGN_VIA_QUEUE = "queue"  # assign_to value: let the queue's assignment strategy pick an agent
MAX_PASSES = 3  # trigger passes per event; bounds rule chains (and any loop they form)


class AutomationRulesError(Exception):
    """The rule file cannot be used; the message names the file, rule and field."""


# --------------------------------------------------------------------------- ticket in, outcome out


@dataclass(frozen=True)
class TicketFacts:
    """What the rules look at: one ticket as it is now, and what the latest update did."""

    ticket_id: str
    event: str  # "created" | "updated"
    channel: str  # email, slack, webchat, ...
    status: str  # one of STATUSES
    priority: str  # one of PRIORITIES
    category: str  # queue slug
    tags: frozenset[str]
    subject: str
    text: str  # the latest customer message, "" when the update had none
    assignee_id: str | None
    customer_tier: str | None  # e.g. "vip"; None when the customer has none
    created_at: datetime  # timezone-aware
    status_changed_at: datetime  # timezone-aware; the start of the current status period
    changed: frozenset[str] = frozenset()  # fields this update changed; empty when created
    actor: str = "customer"  # "customer" | "agent" | "system": who made this update
    fired: frozenset[str] = frozenset()  # timers already fired in the current status period

    def __post_init__(self) -> None:
        # Callers build these from stored items and API input: sets or lists are fine,
        # but a frozen value must be hashable and must not change under the rules.
        for name in ("tags", "changed", "fired"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a set of strings, not one string")
            object.__setattr__(self, name, frozenset(value))
        for name, allowed in (("event", ("created", "updated")), ("status", STATUSES),
                              ("priority", PRIORITIES), ("actor", ("customer", "agent", "system"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("created_at", "status_changed_at"):
            moment = getattr(self, name)
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware: timers compare instants")


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


# --------------------------------------------------------------------------- rule file schema

_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
_AGENT_ID = re.compile(r"^a-[0-9a-f]{12}$")  # chalicelib/api/auth.py issues these
_EMAIL = re.compile(r"^[^\s@:<>,;]+@[^\s@:<>,;]+\.[^\s@:<>,;.]+$")
_SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{6,}$")  # ids, not names: names change, ids do not


_Strict = rule_files.Strict  # unknown and empty keys are errors


def _slugs(value: tuple[str, ...] | None, what: str) -> tuple[str, ...] | None:
    if value is not None:
        if not value:
            raise ValueError(f"needs at least one {what}")
        for item in value:
            if not re.match(_NAME, item):
                raise ValueError(f"{item!r} is not a {what} (lowercase letters, digits, _ . -)")
    return value


class TimerConditions(_Strict):
    """Conditions a timer may use (triggers add more); every one given must hold."""

    always: Literal[True] | None = None
    channel_in: tuple[str, ...] | None = None
    priority_in: tuple[Priority, ...] | None = None
    category_in: tuple[str, ...] | None = None
    tier_in: tuple[str, ...] | None = None
    has_tags: tuple[str, ...] | None = None
    lacks_tags: tuple[str, ...] | None = None
    any_words: tuple[str, ...] | None = None
    none_words: tuple[str, ...] | None = None
    assigned: StrictBool | None = None

    _any: re.Pattern[str] | None = PrivateAttr(None)
    _none: re.Pattern[str] | None = PrivateAttr(None)

    @field_validator("any_words", "none_words")
    @classmethod
    def _words(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("needs at least one word or phrase")
            value = _compile_words(value)
        return value

    @field_validator("channel_in", "category_in", "tier_in", "has_tags", "lacks_tags")
    @classmethod
    def _names(cls, value: tuple[str, ...] | None, info: Any) -> tuple[str, ...] | None:
        what = {"channel_in": "channel", "category_in": "category", "tier_in": "tier"}.get(info.field_name, "tag")
        if value is not None and info.field_name in ("channel_in", "tier_in"):
            value = tuple(v.casefold() for v in value)  # compared case-insensitively
        return _slugs(value, what)

    @field_validator("priority_in")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("needs at least one value")
        return value

    @model_validator(mode="after")
    def _something_to_check(self) -> TimerConditions:
        given = self.model_fields_set - {"always"}
        if self.always and given:
            raise ValueError(f"always: true with other conditions ({', '.join(sorted(given))}); drop one")
        if not self.always and not given:
            raise ValueError("needs at least one condition, or always: true")
        if self.has_tags and self.lacks_tags and set(self.has_tags) & set(self.lacks_tags):
            both = ", ".join(sorted(set(self.has_tags) & set(self.lacks_tags)))
            raise ValueError(f"has_tags and lacks_tags both name {both}: the rule could never fire")
        return self

    def model_post_init(self, context: Any) -> None:
        def alternation(words: tuple[str, ...]) -> re.Pattern[str]:
            return re.compile("|".join(_phrase_pattern(w) for w in words))

        if self.any_words:
            self._any = alternation(self.any_words)
        if self.none_words:
            self._none = alternation(self.none_words)


class TriggerConditions(TimerConditions):
    """Trigger conditions: the timer ones plus what the update itself did."""

    status_in: tuple[Status, ...] | None = None  # timers watch one status of their own
    changed: tuple[ChangeableField, ...] | None = None
    actor_in: tuple[Actor, ...] | None = None

    @field_validator("status_in", "changed", "actor_in")
    @classmethod
    def _update_lists_not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("needs at least one value")
        return value


class NotifyAction(_Strict):
    to: str
    message: str = Field(min_length=1, max_length=500)

    @field_validator("to")
    @classmethod
    def _target(cls, value: str) -> str:
        kind, colon, address = value.partition(":")
        if value in ("assignee", "team_lead"):
            return value
        if colon and kind == "email" and _EMAIL.match(address):
            return value
        if colon and kind == "slack" and _SLACK_CHANNEL.match(address):
            return value
        raise ValueError(f"{value!r} is not a recipient: use assignee, team_lead, email:<address> "
                         "or slack:<channel id, e.g. C0123ABCD>")

    @field_validator("message")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message is empty")
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            raise ValueError("message has control characters; plain text only")
        return value


class Actions(_Strict):
    """What a fired rule does; at least one of these."""

    set_priority: Priority | None = None
    set_category: str | None = Field(None, pattern=_NAME)
    set_status: Status | None = None
    assign_to: str | None = None  # an agent id (a-<12 hex>) or "queue"
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    send_macro: str | None = Field(None, pattern=_NAME)
    notify: tuple[NotifyAction, ...] = ()
    # Literal[True], as ``always``: "send_survey: false" would be a rule that does nothing.
    send_survey: Literal[True] | None = None

    @field_validator("assign_to")
    @classmethod
    def _assignee(cls, value: str | None) -> str | None:
        if value is not None and value != ASSIGN_VIA_QUEUE and not _AGENT_ID.match(value):
            raise ValueError(f"{value!r} is not an agent id (a- and 12 hex digits) or \"queue\"")
        return value

    @field_validator("add_tags", "remove_tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not re.match(_NAME, tag):
                raise ValueError(f"{tag!r} is not a tag (lowercase letters, digits, _ . -)")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> Actions:
        if not self.model_fields_set or not any(getattr(self, f) for f in self.model_fields_set):
            raise ValueError("needs at least one action (set_priority, set_category, set_status, "
                             "assign_to, add_tags, remove_tags, send_macro, notify or send_survey)")
        both = sorted(set(self.add_tags) & set(self.remove_tags))
        if both:
            raise ValueError(f"adds and removes the same tag ({', '.join(both)})")
        return self


class Trigger(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    on: tuple[Event, ...]
    when: TriggerConditions = Field(alias="if")
    then: Actions

    @model_validator(mode="after")
    def _survey_only_when_solved(self) -> Trigger:
        if self.then.send_survey and self.when.status_in != ("solved",):
            raise ValueError("send_survey needs `if: {status_in: [solved]}`: a survey goes out for a solved "
                             "ticket only (or use a timer on status solved, which also gives the delay)")
        return self

    @field_validator("on")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs created, updated or both")
        if len(set(value)) != len(value):
            raise ValueError("lists an event twice")
        return value


class Timer(_Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    status: Status
    after_minutes: StrictInt = Field(ge=1)
    when: TimerConditions | None = Field(None, alias="if")
    then: Actions

    @model_validator(mode="after")
    def _ends_somewhere(self) -> Timer:
        if self.then.set_status == self.status:
            raise ValueError(f"then.set_status {self.status!r} is the status this timer watches: it changes "
                             "nothing (to act again later, add a second timer with a longer after_minutes)")
        if self.then.send_survey and (self.status != "solved" or self.then.set_status is not None):
            raise ValueError("send_survey needs a timer on status solved that leaves the status alone: "
                             "a survey goes out for a solved ticket only")
        return self


class RuleSet(_Strict):
    """A validated rule file. Build it with ``load_rules``; pass it to the functions below."""

    version: Literal[1] = 1
    triggers: tuple[Trigger, ...] = ()
    timers: tuple[Timer, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        problems = []
        seen: set[str] = set()
        for kind, entries in (("trigger", self.triggers), ("timer", self.timers)):
            for index, rule in enumerate(entries):
                if rule.name in seen:
                    problems.append(f"{kind} {rule.name!r} ({kind}s[{index}]): name used twice; names must be "
                                    "unique across triggers and timers (the audit trail and fired set use them)")
                seen.add(rule.name)
        if problems:
            raise ValueError("\n".join(problems))  # parse_rules lists each line as its own problem
        return self


# --------------------------------------------------------------------------- loading


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rule file; ``AutomationRulesError`` says what is wrong and where."""
    return parse_rules(rule_files.read(path, "automation rules", AutomationRulesError), source=str(path))


def parse_rules(text: str, source: str = "<automation rules>") -> RuleSet:
    """Validate rule-file text (YAML); ``source`` names it in error messages."""
    raw = rule_files.load_yaml(text, source, AutomationRulesError, top="'triggers' and/or 'timers'",
                               loader=_rule_file_loader())
    return rule_files.validate(RuleSet, raw, source, "automation rules", AutomationRulesError, _describe)


@functools.lru_cache(maxsize=1)
def _rule_file_loader() -> type:
    import yaml

    class Loader(rule_files.unique_key_loader()):  # type: ignore[misc]  (refuses duplicate keys)
        """Keys are always strings here. YAML 1.1 reads an unquoted ``on:`` key as the
        boolean true, which would turn every trigger's ``on: [created]`` into
        "unknown field True"; no key in this schema is a boolean, so read them as written."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:bool" \
                        and key_node.style is None:
                    key_node.tag = "tag:yaml.org,2002:str"
            return super().construct_mapping(node, deep=deep)

    return Loader


_KNOWN_FIELDS = sorted({field.alias or name
                        for model in (RuleSet, Trigger, Timer, TriggerConditions, Actions, NotifyAction)
                        for name, field in model.model_fields.items()})


_TRIGGER_ONLY = {
    "status_in": "a timer watches its own `status`",
    "changed": "a timer runs when time is up, not on an update",
    "actor_in": "a timer runs when time is up, not on an update",
}


def _describe(error: Any, raw: dict[str, Any]) -> str:
    """One pydantic error as a rule author reads it: which rule, which field, what is wrong."""
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] in ("triggers", "timers") and isinstance(loc[1], int):
        entries = raw.get(loc[0])
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        kind = loc[0][:-1]
        where = f"{kind} {name!r} ({loc[0]}[{loc[1]}])" if name else f"{loc[0]}[{loc[1]}]"
        loc = loc[2:]
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        field = str(loc.pop())
        close = difflib.get_close_matches(field, _KNOWN_FIELDS, n=1)
        message = f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        if error["loc"][0] == "timers" and field in _TRIGGER_ONLY:
            message = f"{field} is for triggers: {_TRIGGER_ONLY[field]}"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a valid name (lowercase letters, digits, _ . -)"
    elif kind in ("literal_error", "string_type", "int_type", "bool_type", "greater_than_equal",
                  "string_too_long", "string_too_short"):
        message += f", got {error['input']!r}"
        if kind == "string_type" and isinstance(error["input"], bool):
            message += " (YAML reads unquoted yes/no/on/off as true/false: quote it, e.g. \"no\")"
    # Literal[True] reports its own value as a "union" path step; it says nothing to an author.
    path = ".".join(str(part) for part in loc if not str(part).startswith(("literal[", "function-")))
    return ": ".join(part for part in (where, path, message) if part)


# --------------------------------------------------------------------------- matching


class _Text:
    """Subject and latest text, folded once per ticket however many rules ask."""

    def __init__(self, facts: TicketFacts) -> None:
        self.fields = (_fold(facts.subject), _fold(facts.text))

    def search(self, pattern: re.Pattern[str]) -> str | None:
        for field in self.fields:
            match = pattern.search(field)
            if match:
                return match.group(0)
        return None


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


# --------------------------------------------------------------------------- merging actions


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


# --------------------------------------------------------------------------- triggers


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


# --------------------------------------------------------------------------- timers


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
