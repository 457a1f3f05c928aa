"""The rule file's schema: pydantic models that refuse a bad trigger or timer when loaded."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PrivateAttr, StrictBool, StrictInt, field_validator, model_validator

# Private in triage, shared on purpose: one definition of "whole word" for the whole desk.
from chalicelib.domain import rule_files
from chalicelib.domain.words import alternation, compile_words
from chalicelib.domain.vocabulary import Priority, Status

__all__ = [
    "ASSIGN_VIA_QUEUE",
    "CHANGEABLE_FIELDS",
    "PLACEHOLDERS",
    "Actions",
    "NotifyAction",
    "RuleSet",
    "Timer",
    "TimerConditions",
    "Trigger",
    "TriggerConditions",
]

Event = Literal["created", "updated"]
Actor = Literal["customer", "agent", "system"]
ChangeableField = Literal["status", "priority", "category", "assignee_id", "tags"]
CHANGEABLE_FIELDS: tuple[str, ...] = ("status", "priority", "category", "assignee_id", "tags")

ASSIGN_VIA_QUEUE = "queue"  # assign_to value: let the queue's assignment strategy pick an agent

# What a notify message may say in {{ ... }}; chalicelib/service/notify.py fills each one.
PLACEHOLDERS: tuple[str, ...] = ("ticket_number", "number", "subject", "priority", "status", "queue", "assignee",
                                 "console_url", "ticket_id")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

_NAME = rule_files.NAME
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
            value = compile_words(value)
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
        unknown = [name for name in _PLACEHOLDER.findall(value) if name not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"{{{{ {unknown[0]} }}}} is not a placeholder: use {', '.join(PLACEHOLDERS)}")
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
        return rule_files.checked_tags(value)

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
