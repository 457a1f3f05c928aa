"""SLA clocks: how a ticket did against its policy's targets, read from its timeline.

The policy file and which policy a ticket gets are ``chalicelib.domain.sla_policies``;
the events the clocks read and the results they report are
``chalicelib.domain.sla_model``. Their public names are re-exported here, so
``chalicelib.domain.sla`` remains the one import for SLA callers.

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

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from chalicelib.domain.business_time import Pause, Schedule, add_business_minutes, business_minutes_between
from chalicelib.domain.sla_model import (
    Breach,
    Clocks,
    Duration,
    Event,
    State,
    Target,
    Timeline,
    Wait,
)
from chalicelib.domain.sla_policies import (
    CALENDAR_SCHEDULE_NAME,
    DEFAULT_POLICIES_PATH,
    Policy,
    PolicyResolver,
    ResolvedPolicy,
    SlaPolicies,
    SlaPolicyError,
    TargetName,
    load_policies,
    parse_policies,
    policy_for,
)

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

_UTC = timezone.utc
_RESOLVED = frozenset({"solved", "closed"})
_DONE = _RESOLVED | {"spam"}  # no clock runs on these; spam stops clocks but resolves nothing


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
