"""One way to change a ticket: fields, views, agent load and audit trail in one transaction.

Every writer — agents through the API, automatic assignment, automation rules,
the SLA sweep — goes through ``apply``. The transaction holds:

- the ticket update, conditioned on the version the writer read (two agents
  cannot overwrite each other silently: the loser gets ``Conflict`` → 409);
- the agent load changes: releasing a ticket decrements the previous owner's
  ``open_count``; taking one increments the new owner's on condition it is
  online, active and below capacity (so no agent ever exceeds capacity);
- one audit item saying who changed what from what to what.

This module decides (what changes, the diff, the SLA plan, whose load moves);
``storage.ticket_changes.commit_change`` builds every item, condition and update
action from those values and commits them. What a stored change sets in motion
later — response-time measures, KPI aggregates, a freed agent's next ticket —
follows from the tickets table's stream (``service/ticket_stream.py``), so no
request pays for it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from chalicelib import clock
from chalicelib.domain.vocabulary import holds_capacity
from chalicelib.observability import logger
from chalicelib.service import clocks
from chalicelib.storage import agents as directory
from chalicelib.storage import repository, ticket_changes, ticket_keys
from chalicelib.storage.exceptions import AgentCannotTake, TicketMoved

UNSET: Any = object()  # "leave the assignee alone" (None means "unassign")


@dataclass(frozen=True)
class Actor:
    """Who made a change: an agent, or the desk itself (system, automation:<rule>, sla, customer)."""

    id: str
    name: str = ""
    role: str = "system"  # agent | admin | system

    @classmethod
    def of_agent(cls, agent: Any) -> Actor:
        return cls(agent.agent_id, agent.name, agent.role)


SYSTEM = Actor("system", "Relay Desk")


@dataclass(frozen=True)
class Claim:
    """An assignee to take the ticket, and what the writer believed about them."""

    agent_id: str
    name: str
    source: str  # manual | auto:<strategy> | automation:<rule>
    expected_last_assigned_at: str | None = None  # round robin's derived cursor, checked in the write
    force: bool = False  # an admin assigning over capacity or to an agent who is away
    detail: str = ""  # why this agent, for the audit trail ("round_robin: Ann (3/5 open)")


@dataclass
class TicketChange:
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assignee: Claim | None | Any = UNSET  # a Claim, None (unassign) or UNSET
    add_tags: frozenset[str] = frozenset()
    remove_tags: frozenset[str] = frozenset()
    only_if_unassigned: bool = False  # automatic assignment never overrides a human's choice
    additions: dict[str, Any] = field(default_factory=dict)  # numbers and sets added (ADD), e.g. reply counts
    # Written in the same transaction: storage's values (ticket_changes.Reply, Note) or writes storage built.
    extra_writes: list[Any] = field(default_factory=list)
    sets: dict[str, Any] = field(default_factory=dict)  # other fields' new values (also seen by the clocks)
    set_once: dict[str, Any] = field(default_factory=dict)  # written only if absent: first response, first solve
    version_check: bool = True  # False for appends that cannot conflict (replies, notes)
    events: list[tuple[str, str | None]] = field(default_factory=list)  # timeline: (kind, value), e.g. agent_reply


class Diff(dict):  # type: ignore[type-arg]
    """The audit diff ``{field: [old, new]}`` of a change, and ``ticket``: the ticket as it was written."""

    def __init__(self, diff: dict[str, list[Any]], ticket: Any) -> None:
        super().__init__(diff)
        self.ticket = ticket


class Conflict(Exception):
    """The ticket changed since it was read (or no longer meets the change's condition)."""


class AgentUnavailable(Exception):
    """The agent cannot take the ticket now: offline, removed, at capacity, or another copy got there first."""


T = TypeVar("T")


def retrying(ticket: Any, attempt: Callable[[Any], T], *, gave_up: str, tries: int = 3,
             still_wanted: Callable[[Any], bool] | None = None, raise_conflict: bool = True) -> T | None:
    """Optimistic concurrency in one place: ``attempt(ticket)``; when the ticket moved on, read it and try again.

    Every write is conditioned on the version read (``apply``), so a lost race is
    a ``Conflict``, never a lost update. After one, the ticket is read again and,
    if it still exists and ``still_wanted(ticket)``, the attempt runs on the fresh
    copy. Returns the attempt's result, or None when the ticket is gone or no
    longer wants the change; after ``tries`` lost races raises ``Conflict(gave_up)``
    (or logs it and returns None with ``raise_conflict=False``: a sweep will look again).
    """
    for _ in range(tries):
        try:
            return attempt(ticket)
        except Conflict:
            ticket = repository.get_ticket(ticket.ticket_id)
            if ticket is None or (still_wanted is not None and not still_wanted(ticket)):
                return None
    if raise_conflict:
        raise Conflict(gave_up)
    logger.warning(gave_up, extra={"ticket_id": ticket.ticket_id})
    return None


def apply(ticket: Any, change: TicketChange, actor: Actor, *, action: str = "updated", detail: str | None = None,
          now: datetime | None = None, expected_version: int | None = None,
          audited: bool = True) -> Diff:
    """Commit ``change`` to the loaded ``ticket``; returns the audit diff ``{field: [old, new]}``
    (with ``.ticket``: the ticket as written, or as loaded when nothing changed).

    Raises ``Conflict`` when the ticket moved on (or ``expected_version`` is not its
    version), ``AgentUnavailable`` when the new owner cannot take it.
    """
    if expected_version is not None and int(ticket.version or 0) != expected_version:
        raise Conflict(f"ticket is at version {int(ticket.version or 0)}, not {expected_version}")
    moment = now or clock.now()
    stamp = clock.iso(moment)
    after, diff, field_changes, additions = _field_changes(ticket, change, stamp)
    if after.get("status") == "solved":  # per-agent reports credit the solve to the agent who set it (kpis)
        field_changes["solved_by"] = actor.id if actor.role != "system" else None
    events = _events(ticket, after, change)
    if events:  # the SLA clocks are computed from this, so it moves with the change that made it
        timeline = clocks.append(ticket.timeline, stamp, events)
        change.sets["timeline"] = timeline
    for name, value in change.sets.items():
        if name in after or name == "sla":
            continue  # a new status period reset it (timers fired); the clocks write sla (escalations given)
        field_changes[name] = value
    for name, value in change.set_once.items():
        if getattr(ticket, name) is None:
            after[name] = value
    additions.update(change.additions)
    if not diff and not field_changes and not change.set_once and not additions and not change.extra_writes \
            and not change.sets:
        return Diff({}, ticket)
    if audited:
        field_changes["last_activity_at"] = stamp
    after.update({name: value for name, value in change.sets.items() if name not in after})
    if after:  # due times follow status, priority, queue, owner and replies
        planned = clocks.recompute(ticket, after, moment)
        field_changes["sla"] = planned.pop("sla") or None  # no clocks: no SLA state
        after.update(planned)
    loads = _load_changes(ticket, after, change, stamp)
    try:
        written = ticket_changes.commit_change(
            ticket, field_changes=field_changes, set_once=change.set_once, additions=additions, after=after,
            # only bookkeeping (a stale SLA check cleared) goes unaudited
            audit=ticket_changes.Audit(stamp, actor.id, actor.name, action, diff or None, detail) if audited else None,
            extra_items=change.extra_writes, loads=loads, only_if_unassigned=change.only_if_unassigned,
            version_check=change.version_check)
    except TicketMoved as err:
        # TransactionConflict (another transaction writing the same item at that instant) is the same
        # outcome for us as a failed condition: the ticket or agent moved on, reload and try again.
        raise Conflict("the ticket changed since it was read; reload it and try again") from err
    except AgentCannotTake as err:
        raise AgentUnavailable("the agent is offline, removed or at capacity") from err
    for load in loads:  # keep this container's directory in step
        directory.note_load(load.agent_id, load.delta, assigned_at=load.cursor)
    # What a stored change sets in motion after the fact (measures, a freed agent's next ticket)
    # follows from the tickets table's stream: see service/ticket_stream.py.
    return Diff(diff, written)


def _events(ticket: Any, after: dict[str, Any], change: TicketChange) -> list[tuple[str, str | None]]:
    events = list(change.events)
    if "status" in after:
        events.append(("status", after["status"]))
    if "priority" in after:
        events.append(("priority", after["priority"]))
    if "assignee_id" in after:
        events.append(("assigned", after["assignee_id"]))
    return events


def _field_changes(ticket: Any, change: TicketChange,
                   stamp: str) -> tuple[dict[str, Any], dict[str, list], dict[str, Any], dict[str, Any]]:
    """What the change's own fields do: (after, diff, fields set (None: removed), counts and sets added)."""
    after: dict[str, Any] = {}
    diff: dict[str, list[Any]] = {}
    fields: dict[str, Any] = {}
    additions: dict[str, Any] = {}
    for name in ("status", "priority", "category"):
        value = getattr(change, name)
        if value is not None and value != getattr(ticket, name):
            after[name] = value
            diff[name] = [getattr(ticket, name), value]
            fields[name] = value
    if "status" in after:  # a new status period: its timers start over
        fields.update(status_changed_at=stamp, automation_fired=None)
        after.update(status_changed_at=stamp, automation_fired=None)
        if after["status"] == "solved":
            fields["solved_at"] = stamp
        if ticket.status in ("solved", "closed") and after["status"] in ticket_keys.ACTIVE:
            additions["reopen_count"] = 1
    claim = change.assignee
    if claim is not UNSET:
        new_id = claim.agent_id if claim is not None else None
        if new_id != ticket.assignee_id:
            after["assignee_id"] = new_id
            diff["assignee_id"] = [ticket.assignee_id, new_id]
            if ticket.assignee_id:
                fields["previous_assignee_id"] = ticket.assignee_id
            if claim is None:
                fields.update(assignee_id=None, assignee_name=None, assigned_at=None, assignment_source=None)
            else:
                fields.update(assignee_id=claim.agent_id, assignee_name=claim.name, assigned_at=stamp,
                              assignment_source=claim.source)
    tags = set(ticket.tags or ())
    added, removed = set(change.add_tags) - tags, set(change.remove_tags) & tags
    if added or removed:  # one SET of the result: DynamoDB refuses ADD and DELETE on one path together
        final = (tags | added) - removed
        fields["tags"] = final or None
        diff["tags"] = [sorted(tags), sorted(final)]
    return after, diff, fields, additions


def _load_changes(ticket: Any, after: dict[str, Any], change: TicketChange,
                  stamp: str) -> list[ticket_changes.LoadChange]:
    """Agents' loads that move: release the old owner's slot, take one of the new owner's (with the new
    round-robin cursor when the change's claim names them)."""
    old_owner, new_owner = ticket.assignee_id, after.get("assignee_id", ticket.assignee_id)
    old_status, new_status = ticket.status, after.get("status", ticket.status)
    held_before, held_after = holds_capacity(old_status, old_owner), holds_capacity(new_status, new_owner)
    updates = []
    if held_before and (not held_after or new_owner != old_owner):
        updates.append(ticket_changes.LoadChange(old_owner, -1))
    if held_after and (not held_before or new_owner != old_owner):
        claim = change.assignee if change.assignee is not UNSET else None
        force = claim is not None and claim.force
        if claim is not None and claim.agent_id == new_owner:
            updates.append(ticket_changes.LoadChange(new_owner, 1, cursor=stamp,
                                                     expected_cursor=claim.expected_last_assigned_at, force=force))
        else:
            updates.append(ticket_changes.LoadChange(new_owner, 1, force=force))
    return updates
