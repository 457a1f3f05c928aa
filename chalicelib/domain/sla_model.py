"""What the SLA clocks read and what they report: the data of ``chalicelib.domain.sla``.

A ticket's timeline is a sequence of ``Event``; ``clocks`` turns it into ``Clocks``,
whose durations (``Duration``), customer waits (``Wait``), targets (``Target``) and
breaches (``Breach``) are defined here. The rules are documented with ``clocks``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chalicelib.domain.sla_policies import ResolvedPolicy, TargetName
from chalicelib.domain.vocabulary import PRIORITIES, STATUSES, Priority, Status

__all__ = [
    "Breach",
    "Clocks",
    "Duration",
    "Event",
    "EventKind",
    "State",
    "Target",
    "Timeline",
    "Wait",
]

EventKind = Literal["customer_message", "agent_reply", "auto_reply", "note", "status", "priority", "assigned"]
State = Literal["ok", "warning", "breached", "paused", "met"]

_STATUSES = STATUSES
_KINDS: tuple[str, ...] = ("customer_message", "agent_reply", "auto_reply", "note", "status", "priority", "assigned")


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
