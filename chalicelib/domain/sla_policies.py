"""SLA policies: the policy file, validated, and which policy a ticket gets.

Policies are data (``chalicelib/sla_policies.yaml``, or the file named by env
``SLA_POLICIES``), validated with pydantic when loaded: an unknown schedule, a policy
without targets or an unreachable policy raises ``SlaPolicyError`` naming the policy.

Which policy applies (``policy_for``): the first policy, in file order, whose filters
(``priority_in``, ``channel_in``, ``tier_in``) all hold; the last policy must have no
filters, so every ticket has one. Its targets are minutes of *business* time on the
ticket's schedule (the policy's ``schedule``, else the queue's, else
``default_schedule``), or of calendar time with ``business_hours: false``.

How the targets are measured on a ticket's timeline is ``chalicelib.domain.sla``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from chalicelib.domain import rule_files
from chalicelib.domain.business_time import CALENDAR, HolidayCalendar, Schedule
from chalicelib.domain.vocabulary import PRIORITIES, Priority

__all__ = [
    "CALENDAR_SCHEDULE_NAME",
    "DEFAULT_POLICIES_PATH",
    "Policy",
    "PolicyResolver",
    "ResolvedPolicy",
    "SlaPolicies",
    "SlaPolicyError",
    "TargetName",
    "load_policies",
    "parse_policies",
    "policy_for",
]

DEFAULT_POLICIES_PATH = Path(__file__).resolve().parent.parent / "sla_policies.yaml"
CALENDAR_SCHEDULE_NAME = "calendar"  # what ResolvedPolicy.schedule_name says with business_hours: false

_NAME = rule_files.NAME
_MAX_TARGET_MINUTES = 366 * 24 * 60  # a target beyond a year is a typo, not a promise

TargetName = Literal["first_response", "next_reply", "resolution"]

_TARGETS: tuple[TargetName, ...] = ("first_response", "next_reply", "resolution")


class SlaPolicyError(Exception):
    """The policy file cannot be used; the message names the file, policy and field."""


# --------------------------------------------------------------------------- policy file schema


_Strict = rule_files.Strict  # unknown and empty keys are errors


_Minutes = StrictInt  # whole minutes; StrictInt also refuses YAML's true/false


class Policy(_Strict):
    """One SLA policy: which tickets it covers (filters) and the targets they get."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    priority_in: tuple[Priority, ...] | None = None
    channel_in: tuple[str, ...] | None = None
    tier_in: tuple[str, ...] | None = None
    first_response: _Minutes | None = Field(None, ge=1, le=_MAX_TARGET_MINUTES)
    next_reply: _Minutes | None = Field(None, ge=1, le=_MAX_TARGET_MINUTES)
    resolution: _Minutes | None = Field(None, ge=1, le=_MAX_TARGET_MINUTES)
    business_hours: StrictBool = True
    schedule: str | None = Field(None, pattern=_NAME)
    pause_when_pending: StrictBool = True
    warning_percent: StrictInt = Field(80, ge=1, le=99)

    @field_validator("priority_in")
    @classmethod
    def _priorities(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("needs at least one priority")
        return value

    @field_validator("channel_in", "tier_in")
    @classmethod
    def _names(cls, value: tuple[str, ...] | None, info: Any) -> tuple[str, ...] | None:
        what = "channel" if info.field_name == "channel_in" else "tier"
        if value is None:
            return None
        if not value:
            raise ValueError(f"needs at least one {what}")
        folded = tuple(v.strip().casefold() for v in value)  # compared case-insensitively
        for item in folded:
            if not item or not item[0].isalnum() or not all(c.isalnum() or c in "_.-" for c in item):
                raise ValueError(f"{item!r} is not a {what} name (letters, digits, _ . -)")
        return folded

    @model_validator(mode="after")
    def _sane(self) -> Policy:
        if all(getattr(self, target) is None for target in _TARGETS):
            raise ValueError("needs at least one target: first_response, next_reply or resolution (minutes)")
        for target in ("first_response", "next_reply"):
            minutes = getattr(self, target)
            if minutes is not None and self.resolution is not None and minutes > self.resolution:
                raise ValueError(f"{target} ({minutes} min) is longer than resolution ({self.resolution} min): "
                                 "a ticket could not be solved in time before it was even answered")
        if not self.business_hours and self.schedule is not None:
            raise ValueError(f"schedule {self.schedule!r} has no effect with business_hours: false "
                             "(calendar time); remove one")
        return self

    @property
    def catch_all(self) -> bool:
        return self.priority_in is None and self.channel_in is None and self.tier_in is None

    def matches(self, priority: str, channel: str | None, tier: str | None) -> bool:
        channel = channel.casefold() if channel else None
        tier = tier.casefold() if tier else None
        return ((self.priority_in is None or priority in self.priority_in)
                and (self.channel_in is None or channel in self.channel_in)
                and (self.tier_in is None or tier in self.tier_in))


class SlaPolicies(_Strict):
    """A validated policy file. Build it with ``load_policies``; pass it to ``policy_for``."""

    version: Literal[1] = 1
    default_schedule: str
    schedules: dict[str, Schedule]
    queues: dict[str, str] = {}  # queue slug → schedule name
    policies: tuple[Policy, ...]

    @model_validator(mode="after")
    def _consistent(self) -> SlaPolicies:
        problems = []
        for name in self.schedules:
            if not re.match(_NAME, name):
                problems.append(f"schedule {name!r}: not a valid name (lowercase letters, digits, _ . -)")
            if name == CALENDAR_SCHEDULE_NAME:
                problems.append(f"schedule {name!r}: the name is reserved for calendar time "
                                "(use business_hours: false in a policy)")

        def unknown(name: str) -> str:
            close = difflib.get_close_matches(name, list(self.schedules), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(self.schedules) or 'none'}"
            return f"unknown schedule {name!r} ({hint})"

        if self.default_schedule not in self.schedules:
            problems.append(f"default_schedule: {unknown(self.default_schedule)}")
        for queue, schedule in self.queues.items():
            if not re.match(_NAME, queue):
                problems.append(f"queues: {queue!r} is not a queue slug (lowercase letters, digits, _ . -)")
            if schedule not in self.schedules:
                problems.append(f"queues.{queue}: {unknown(schedule)}")
        if not self.policies:
            problems.append("policies: needs at least one policy")
        seen: set[str] = set()
        catch_all: str | None = None
        for index, policy in enumerate(self.policies):
            label = f"policy {policy.name!r} (policies[{index}])"
            if policy.name in seen:
                problems.append(f"{label}: name used twice; names must be unique (tickets record them)")
            seen.add(policy.name)
            if policy.schedule is not None and policy.schedule not in self.schedules:
                problems.append(f"{label}: schedule: {unknown(policy.schedule)}")
            if catch_all is not None:
                problems.append(f"{label}: never used: policy {catch_all!r} before it has no filters "
                                "and matches every ticket")
            elif policy.catch_all:
                catch_all = policy.name
        if self.policies and catch_all is None:
            problems.append("policies: the last policy must have no filters (priority_in, channel_in, tier_in), "
                            "so every ticket gets an SLA")
        if problems:
            raise ValueError("\n".join(problems))  # parse_policies lists each line as its own problem
        return self


@dataclass(frozen=True)
class ResolvedPolicy:
    """The policy one ticket gets: targets in minutes and the clock they run on."""

    name: str
    first_response: int | None
    next_reply: int | None
    resolution: int | None
    schedule: Schedule  # CALENDAR with business_hours: false
    schedule_name: str  # "calendar" with business_hours: false
    business_hours: bool
    pause_when_pending: bool
    warning_percent: int

    def target(self, name: TargetName) -> int | None:
        return getattr(self, name)


# --------------------------------------------------------------------------- loading


def load_policies(path: str | Path) -> SlaPolicies:
    """Read and validate a policy file; ``SlaPolicyError`` says what is wrong and where."""
    return parse_policies(rule_files.read(path, "SLA policies", SlaPolicyError), source=str(path))


def parse_policies(text: str, source: str = "<sla policies>") -> SlaPolicies:
    """Validate policy-file text (YAML); ``source`` names it in error messages."""
    raw = rule_files.load_yaml(text, source, SlaPolicyError, top="schedules and policies")
    return rule_files.validate(SlaPolicies, raw, source, "SLA policies", SlaPolicyError, _describe)


def _known_fields() -> list[str]:
    return sorted({f for model in (SlaPolicies, Policy, Schedule, HolidayCalendar) for f in model.model_fields})


def _describe(error: Any, raw: dict[str, Any]) -> str:
    return rule_files.describe(error, raw, known_fields=_known_fields(), lists={"policies": "policy"},
                               maps={"schedules": "schedule"}, refine=_whole_minutes)


def _whole_minutes(error: Any, message: str) -> str:
    if error["type"] == "int_type" and isinstance(error["input"], float):
        return message + " (targets are whole minutes)"
    return message


# --------------------------------------------------------------------------- which policy


def policy_for(priority: str, channel: str | None, tier: str | None, queue: str | None,
               policies: SlaPolicies) -> ResolvedPolicy:
    """The first matching policy for a ticket, with the schedule its targets run on."""
    rule_set = policies
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r} (one of {', '.join(PRIORITIES)})")
    # The last policy is a catch-all (validated), so this always finds one.
    policy = next(p for p in rule_set.policies if p.matches(priority, channel, tier))
    if not policy.business_hours:
        schedule, schedule_name = CALENDAR, CALENDAR_SCHEDULE_NAME
    else:
        schedule_name = policy.schedule or rule_set.queues.get(queue or "", rule_set.default_schedule)
        schedule = rule_set.schedules[schedule_name]
    return ResolvedPolicy(
        name=policy.name,
        first_response=policy.first_response,
        next_reply=policy.next_reply,
        resolution=policy.resolution,
        schedule=schedule,
        schedule_name=schedule_name,
        business_hours=policy.business_hours,
        pause_when_pending=policy.pause_when_pending,
        warning_percent=policy.warning_percent,
    )


class PolicyResolver(Protocol):
    """How ``clocks`` finds a policy: ``policy_for``, or any callable taking its keywords."""

    def __call__(self, *, priority: str, channel: str | None, tier: str | None,
                 queue: str | None) -> ResolvedPolicy: ...
