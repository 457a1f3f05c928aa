"""SLA policies and clocks: how fast a ticket must be answered and solved, and how it did.

Policies are data (``chalicelib/sla_policies.yaml``, or the file named by env
``SLA_POLICIES``), validated with pydantic when loaded: an unknown schedule, a policy
without targets or an unreachable policy raises ``SlaPolicyError`` naming the policy.

Which policy applies (``policy_for``): the first policy, in file order, whose filters
(``priority_in``, ``channel_in``, ``tier_in``) all hold; the last policy must have no
filters, so every ticket has one. Its targets are minutes of *business* time on the
ticket's schedule (the policy's ``schedule``, else the queue's, else
``default_schedule``), or of calendar time with ``business_hours: false``.

How the clocks read a ticket's timeline (``clocks``):

* Only an ``agent_reply`` (a human's public reply, any channel) answers the customer.
  Auto-replies, internal notes, status and priority changes never do, and never move
  the first response once it happened (Zammad #5177: an update overwrote it).
* first response: the first customer message → the first agent reply after it. A
  ticket an agent opened (an agent reply before any customer message) has none; its
  customer messages start next-reply clocks.
* next reply: each time the customer starts waiting again after an agent reply (the
  first of their unanswered messages), until the next agent reply.
* customer wait: all the time customers waited for an agent (first response waits
  included): from the first unanswered message to the next agent reply, or to the
  solve when the desk solved without replying.
* resolution: creation → the first solve; ``last_resolution`` is creation → the latest
  solve while the ticket is solved or closed, and ``reopen_count`` counts reopens.
* handle time: time an agent was assigned while the ticket was ``open`` (not pending,
  on hold or solved).

Metrics are reported in calendar minutes and in business minutes of the current
policy's schedule, with no pauses. SLA targets are stricter about what counts:

* a target's clock does not tick while the ticket is solved/closed (a reopened ticket
  resumes where it stopped) nor, with ``pause_when_pending``, while it is ``pending``
  (waiting for the customer); the due time moves later by the paused business time;
* a target stops when fulfilled (an agent reply; a solve for resolution) or when the
  ticket is solved (a solve answers every open question); it is met if it stopped at
  or before its due time, breached if after;
* a priority change re-targets running clocks: the target follows the CURRENT
  priority's policy, measured from the original start. A ticket raised from normal
  to urgent 90 minutes after it arrived is already 30 minutes over a 60-minute
  target; lowered, it gets the longer target. A stopped clock keeps the policy that
  was in force when it stopped.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, StrictBool, StrictInt, field_validator, model_validator

from chalicelib.domain import rule_files
from chalicelib.domain.business_time import (
    CALENDAR,
    Pause,
    Schedule,
    add_business_minutes,
    business_minutes_between,
)
from chalicelib.domain.vocabulary import PRIORITIES, STATUSES, Priority, Status

__all__ = [
    "CALENDAR_SCHEDULE_NAME",
    "DEFAULT_POLICIES_PATH",
    "Breach",
    "Clocks",
    "Duration",
    "Event",
    "Policy",
    "PolicyResolver",
    "ResolvedPolicy",
    "SlaPolicies",
    "SlaPolicyError",
    "Target",
    "Timeline",
    "Wait",
    "clocks",
    "load_policies",
    "parse_policies",
    "policy_for",
]

DEFAULT_POLICIES_PATH = Path(__file__).resolve().parent.parent / "sla_policies.yaml"
CALENDAR_SCHEDULE_NAME = "calendar"  # what ResolvedPolicy.schedule_name says with business_hours: false

_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
_MAX_TARGET_MINUTES = 366 * 24 * 60  # a target beyond a year is a typo, not a promise

EventKind = Literal["customer_message", "agent_reply", "auto_reply", "note", "status", "priority", "assigned"]
TargetName = Literal["first_response", "next_reply", "resolution"]
State = Literal["ok", "warning", "breached", "paused", "met"]

_STATUSES = STATUSES
_KINDS: tuple[str, ...] = ("customer_message", "agent_reply", "auto_reply", "note", "status", "priority", "assigned")
_UTC = timezone.utc
_TARGETS: tuple[TargetName, ...] = ("first_response", "next_reply", "resolution")
_RESOLVED = frozenset({"solved", "closed"})
_DONE = _RESOLVED | {"spam"}  # no clock runs on these; spam stops clocks but resolves nothing


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
    from chalicelib.domain.business_time import HolidayCalendar

    return sorted({f for model in (SlaPolicies, Policy, Schedule, HolidayCalendar) for f in model.model_fields})


def _describe(error: Any, raw: dict[str, Any]) -> str:
    """One pydantic error as a policy author reads it: which policy or schedule, which field, what."""
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "policies" and isinstance(loc[1], int):
        entries = raw.get("policies")
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"policy {name!r} (policies[{loc[1]}])" if name else f"policies[{loc[1]}]"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "schedules":
        where = f"schedule {loc[1]!r}"
        loc = loc[2:]
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        field = str(loc.pop())
        close = difflib.get_close_matches(field, _known_fields(), n=1)
        message = f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a valid name (lowercase letters, digits, _ . -)"
    elif kind in ("literal_error", "string_type", "int_type", "bool_type", "greater_than_equal",
                  "less_than_equal"):
        message += f", got {error['input']!r}"
        if kind == "int_type" and isinstance(error["input"], float):
            message += " (targets are whole minutes)"
    path = ".".join(str(part) for part in loc)
    return ": ".join(part for part in (where, path, message) if part)


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


# --------------------------------------------------------------------------- the timeline


@dataclass(frozen=True)
class Event:
    """One thing that happened on a ticket, as the clocks need it.

    ``status`` goes with kind "status", ``priority`` with kind "priority", ``agent`` with
    kind "assigned" (None: unassigned). An ``agent_reply`` is a human's public reply.
    """

    at: datetime
    kind: EventKind
    status: Status | None = None
    priority: Priority | None = None
    agent: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("event time must be timezone-aware: SLA clocks depend on the instant")
        if self.kind not in _KINDS:
            raise ValueError(f"unknown event kind {self.kind!r} (one of {', '.join(_KINDS)})")
        if (self.kind == "status") != (self.status is not None):
            raise ValueError("a status event needs status=..., and only a status event has one")
        if self.status is not None and self.status not in _STATUSES:
            raise ValueError(f"unknown status {self.status!r} (one of {', '.join(_STATUSES)})")
        if (self.kind == "priority") != (self.priority is not None):
            raise ValueError("a priority event needs priority=..., and only a priority event has one")
        if self.priority is not None and self.priority not in PRIORITIES:
            raise ValueError(f"unknown priority {self.priority!r} (one of {', '.join(PRIORITIES)})")
        if self.agent is not None and self.kind != "assigned":
            raise ValueError("only an assigned event names an agent")


Timeline = Sequence[Event]  # in time order; events at the same instant count in the order given


class PolicyResolver(Protocol):
    """How ``clocks`` finds a policy: ``policy_for``, or any callable taking its keywords."""

    def __call__(self, *, priority: str, channel: str | None, tier: str | None,
                 queue: str | None) -> ResolvedPolicy: ...


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Duration:
    calendar_minutes: float  # wall-clock
    business_minutes: float  # open time of the policy's schedule


@dataclass(frozen=True)
class Wait:
    """One stretch a customer waited for an agent."""

    started_at: datetime  # their first unanswered message
    ended_at: datetime | None  # the agent reply (or solve); None while still waiting
    answered: bool  # ended by an agent reply, not by a solve
    duration: Duration  # up to now while still waiting


@dataclass(frozen=True)
class Target:
    """One SLA clock: a target, its due time and how it stands."""

    name: TargetName
    policy: str  # the policy whose target this is (the current one while running)
    minutes: int
    schedule: str  # schedule name, "calendar" for calendar time
    started_at: datetime
    due: datetime
    warning_at: datetime
    stopped_at: datetime | None  # fulfilled or ticket solved; None while running
    state: State
    overdue: Duration | None  # how far past due (at stop, or now while running); None if not


@dataclass(frozen=True)
class Breach:
    target: TargetName
    started_at: datetime
    due: datetime
    by: Duration
    running: bool  # still unfulfilled: the breach grows


@dataclass(frozen=True)
class Clocks:
    """Everything measured on one ticket's timeline at ``now``."""

    policy: ResolvedPolicy  # in force now (current priority)
    created_at: datetime
    status: str
    first_response: Duration | None  # None while unanswered (or never asked)
    first_response_at: datetime | None
    next_replies: tuple[Wait, ...]  # one per wait after the first response
    customer_wait: Duration
    resolution: Duration | None  # creation → first solve
    last_resolution: Duration | None  # creation → latest solve, while solved/closed
    reopen_count: int
    replies_to_resolve: int | None  # agent replies before the first solve; None until solved
    handle_time: Duration
    targets: tuple[Target, ...]
    due: datetime | None  # earliest due time of the running targets
    due_target: TargetName | None
    warning_at: datetime | None  # of that same target
    breaches: tuple[Breach, ...]
    state: State


# --------------------------------------------------------------------------- clocks


_Stretch = tuple[datetime, datetime | None, bool, bool]  # a wait: start, end, answered, before any reply


@dataclass
class _Walk:
    """The timeline read once, in order: the raw stretches every clock is built from."""

    created_at: datetime
    since: datetime  # start of the current status period
    status: str = "open"
    first_customer_at: datetime | None = None
    first_reply_at: datetime | None = None
    agent_replied: bool = False
    replies_before_solve: int = 0
    first_solve_at: datetime | None = None
    last_solve_at: datetime | None = None  # latest move into solved/closed
    last_done_at: datetime | None = None  # latest move into solved/closed/spam
    reopen_count: int = 0
    waiting_since: datetime | None = None
    waiting_first: bool = False  # the current wait began before any agent reply
    waits: list[_Stretch] = field(default_factory=list)
    pending: list[Pause] = field(default_factory=list)
    done: list[Pause] = field(default_factory=list)
    handling: list[Pause] = field(default_factory=list)
    agent: str | None = None
    handle_since: datetime | None = None
    priorities: list[tuple[datetime, str]] = field(default_factory=list)

    def end_wait(self, at: datetime, answered: bool) -> None:
        if self.waiting_since is not None:
            self.waits.append((self.waiting_since, at, answered, self.waiting_first))
            self.waiting_since = None

    def handle(self, at: datetime) -> None:
        """Start or stop the handle-time stretch: an agent assigned AND the ticket open."""
        handling = self.agent is not None and self.status == "open"
        if handling and self.handle_since is None:
            self.handle_since = at
        elif not handling and self.handle_since is not None:
            self.handling.append((self.handle_since, at))
            self.handle_since = None


def _read(events: Timeline, now: datetime) -> _Walk:
    walk = _Walk(created_at=events[0].at, since=events[0].at)
    for event in events:
        at = event.at
        if event.kind == "customer_message":
            if walk.first_customer_at is None and not walk.agent_replied:
                walk.first_customer_at = at
            if walk.waiting_since is None:
                walk.waiting_since, walk.waiting_first = at, not walk.agent_replied
        elif event.kind == "agent_reply":
            if walk.first_solve_at is None:
                walk.replies_before_solve += 1
            if walk.first_customer_at is not None and walk.first_reply_at is None:
                walk.first_reply_at = at  # set once: a later reply never moves it (Zammad #5177)
            walk.agent_replied = True
            walk.end_wait(at, answered=True)
        elif event.kind == "status" and event.status != walk.status:
            _change_status(walk, at, event.status)  # type: ignore[arg-type]
        elif event.kind == "priority":
            walk.priorities.append((at, event.priority))  # type: ignore[arg-type]
        elif event.kind == "assigned":
            walk.agent = event.agent
            walk.handle(at)
        # auto_reply and note: recorded on the ticket, never part of any clock.

    # Close what is still running at now.
    if walk.status == "pending":
        walk.pending.append((walk.since, now))
    if walk.status in _DONE:
        walk.done.append((walk.since, now))
        # A message to a solved ticket that nobody reopened: the desk owed no reply.
        walk.end_wait(walk.waiting_since or now, answered=False)
    if walk.handle_since is not None:
        walk.handling.append((walk.handle_since, now))
    return walk


def _change_status(walk: _Walk, at: datetime, new: str) -> None:
    old = walk.status
    if old == "pending":
        walk.pending.append((walk.since, at))
    if old in _DONE and new not in _DONE:
        walk.done.append((walk.since, at))
        walk.reopen_count += 1
    if new in _DONE and old not in _DONE:
        walk.last_done_at = at
        walk.end_wait(at, answered=False)  # a solve closes the question without a reply
    if new in _RESOLVED and old not in _RESOLVED:
        walk.last_solve_at = at
        if walk.first_solve_at is None:
            walk.first_solve_at = at
    if not (old in _DONE and new in _DONE):  # solved → closed continues one done period
        walk.since = at
    walk.status = new
    walk.handle(at)


def _duration(start: datetime, end: datetime, schedule: Schedule) -> Duration:
    return Duration(calendar_minutes=(end - start) / timedelta(minutes=1),
                    business_minutes=business_minutes_between(start, end, schedule))


def _total(stretches: Iterable[Pause], schedule: Schedule) -> Duration:
    parts = [_duration(start, end, schedule) for start, end in stretches]
    return Duration(calendar_minutes=sum(p.calendar_minutes for p in parts),
                    business_minutes=sum(p.business_minutes for p in parts))


def clocks(events: Timeline, *, policy_resolver: PolicyResolver,
           queue: str | None, channel: str | None, tier: str | None, now: datetime) -> Clocks:
    """Response and resolution metrics and the SLA state of one ticket at ``now``.

    ``events`` is the ticket's timeline (the first event is its creation). The priority
    is the latest "priority" event's ("normal" before any), so record triage's priority
    as a "priority" event at creation. ``policy_resolver`` is called with keywords
    ``priority``, ``channel``, ``tier``, ``queue`` (``policy_for`` with the deployment's policies fits). Times in the
    result are UTC.
    """
    if not events:
        raise ValueError("a ticket's timeline has at least one event (its creation)")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    # Everything in UTC from here: aware datetimes sharing one ZoneInfo subtract and compare
    # as wall-clock times, an hour wrong across a DST switch.
    ordered = sorted((replace(e, at=e.at.astimezone(_UTC)) for e in events), key=lambda e: e.at)  # stable
    # Another Lambda's clock may run a little ahead: an event "after now" is taken as now.
    now = max(now.astimezone(_UTC), ordered[-1].at)
    walk = _read(ordered, now)

    resolved: dict[str, ResolvedPolicy] = {}

    def policy_at(moment: datetime) -> ResolvedPolicy:
        priority = "normal"
        for at, new in walk.priorities:
            if at > moment:
                break
            priority = new
        if priority not in resolved:
            resolved[priority] = policy_resolver(priority=priority, channel=channel, tier=tier, queue=queue)
        return resolved[priority]

    current = policy_at(now)
    schedule = current.schedule
    done_now = walk.status in _DONE

    # ---------------------------------------------------------------- metrics
    first_response = None
    if walk.first_customer_at is not None and walk.first_reply_at is not None:
        first_response = _duration(walk.first_customer_at, walk.first_reply_at, schedule)
    stretches = walk.waits + ([(walk.waiting_since, None, False, walk.waiting_first)]
                              if walk.waiting_since is not None else [])
    waits = [(Wait(started_at=start, ended_at=end, answered=answered,
                   duration=_duration(start, end or now, schedule)), first)
             for start, end, answered, first in stretches]
    next_replies = tuple(wait for wait, first in waits if not first)
    resolution = (_duration(walk.created_at, walk.first_solve_at, schedule)
                  if walk.first_solve_at is not None else None)
    last_resolution = (_duration(walk.created_at, walk.last_solve_at, schedule)
                       if walk.status in _RESOLVED and walk.last_solve_at is not None else None)

    # ---------------------------------------------------------------- SLA targets
    stop_if_done = walk.last_done_at if done_now else None
    runs: list[tuple[TargetName, datetime, datetime | None]] = []
    if walk.first_customer_at is not None:
        stop = walk.first_reply_at or stop_if_done
        if stop is not None:
            stop = max(stop, walk.first_customer_at)  # asked on an already solved ticket
        runs.append(("first_response", walk.first_customer_at, stop))
    for wait in next_replies:
        runs.append(("next_reply", wait.started_at, wait.ended_at))
    runs.append(("resolution", walk.created_at, stop_if_done))

    paused_now = walk.status == "pending"
    targets = []
    for name, start, stopped_at in runs:
        target = _target(name, start, stopped_at, now, policy_at(stopped_at or now), walk, paused_now)
        if target is not None:
            targets.append(target)

    running = [t for t in targets if t.stopped_at is None]
    breaches = tuple(Breach(target=t.name, started_at=t.started_at, due=t.due, by=t.overdue,
                            running=t.stopped_at is None)
                     for t in targets if t.overdue is not None)
    next_due = min(running, key=lambda t: t.due, default=None)
    return Clocks(
        policy=current,
        created_at=walk.created_at,
        status=walk.status,
        first_response=first_response,
        first_response_at=walk.first_reply_at,
        next_replies=next_replies,
        customer_wait=Duration(calendar_minutes=sum(w.duration.calendar_minutes for w, _ in waits),
                               business_minutes=sum(w.duration.business_minutes for w, _ in waits)),
        resolution=resolution,
        last_resolution=last_resolution,
        reopen_count=walk.reopen_count,
        replies_to_resolve=walk.replies_before_solve if walk.first_solve_at is not None else None,
        handle_time=_total(walk.handling, schedule),
        targets=tuple(targets),
        due=next_due.due if next_due else None,
        due_target=next_due.name if next_due else None,
        warning_at=next_due.warning_at if next_due else None,
        breaches=breaches,
        state=_state(running, targets),
    )


def _target(name: TargetName, start: datetime, stopped_at: datetime | None, now: datetime,
            policy: ResolvedPolicy, walk: _Walk, paused_now: bool) -> Target | None:
    minutes = policy.target(name)
    if minutes is None:
        return None
    end = stopped_at or now
    # No clock ticks on a solved ticket; with pause_when_pending, nor while it waits for
    # the customer. Pauses after the clock stopped cannot move its due time.
    stretches = walk.done + (walk.pending if policy.pause_when_pending else [])
    pauses = [(s, min(e, end)) for s, e in stretches if s < end]
    schedule = policy.schedule
    due = add_business_minutes(start, minutes, schedule, pauses)
    warning_at = add_business_minutes(start, minutes * policy.warning_percent / 100, schedule, pauses)
    overdue = None
    if end > due:
        overdue = Duration(calendar_minutes=(end - due) / timedelta(minutes=1),
                           business_minutes=business_minutes_between(due, end, schedule, pauses))
    if stopped_at is not None:
        state: State = "breached" if overdue else "met"
    elif overdue:
        state = "breached"
    elif paused_now and policy.pause_when_pending:
        state = "paused"
    elif now >= warning_at:
        state = "warning"
    else:
        state = "ok"
    return Target(name=name, policy=policy.name, minutes=minutes, schedule=policy.schedule_name,
                  started_at=start, due=due, warning_at=warning_at, stopped_at=stopped_at, state=state,
                  overdue=overdue)


def _state(running: list[Target], targets: list[Target]) -> State:
    """The ticket's SLA state: the worst running clock; when none runs, met unless one was breached."""
    if not running:
        return "breached" if any(t.state == "breached" for t in targets) else "met"
    for state in ("breached", "paused", "warning"):
        if any(t.state == state for t in running):
            return state  # type: ignore[return-value]
    return "ok"
