"""Automatic assignment: pick candidates by the queue's strategy, claim one with a conditional write.

Many Lambda copies assign at once. Each orders candidates from a (possibly
stale) directory, then claims the first in one transaction that checks, on the
agent's own item, that it is online, below capacity and that round robin's
cursor (its ``last_assigned_at``) is what was read; and on the ticket that it
is still unassigned. A lost race refreshes that agent and tries the next.
Nobody exceeds capacity, no ticket is assigned twice, and a human's manual
assignment (which never waits for the condition) always wins.

With directory shards (``storage.agents``) a ticket is offered to its own
shard's agents first and to the next shards when nobody there can take it.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib import configuration
from chalicelib.domain import assignment
from chalicelib.observability import count, logger
from chalicelib.service import changes
from chalicelib.storage import agents as directory
from chalicelib.storage import repository, ticket_keys
from chalicelib.storage import tickets as stored_tickets

_MAX_CLAIMS = 12  # attempts per ticket before it waits for the sweep
_refills: ContextVar[set[str] | None] = ContextVar("refill_queues", default=None)


def _ticket_to_assign(ticket: Any) -> Any:
    return assignment.TicketToAssign(ticket_id=ticket.ticket_id, queue=ticket.category, language=ticket.language,
                                     priority=ticket.priority, previous_assignee=ticket.previous_assignee_id)


def needs_agent(ticket: Any) -> bool:
    return ticket is not None and not ticket.assignee_id and ticket.status in ticket_keys.ACTIVE \
        and not ticket.merged_into and not ticket_keys.bot_asking(getattr(ticket, "bot", None))


def auto_assign(ticket: Any, *, now: datetime | None = None) -> str | None:
    """Assign ``ticket`` to the best available agent; None when nobody can take it (it waits)."""
    moment = now or clock.now()
    config = configuration.routing()
    shards = directory.shards_for(ticket.ticket_id)
    key = shards.pop(0)
    agents = {a.agent_id: a for a in directory.shard(key)}
    lost = 0  # claims lost to other copies: the order then spreads (assignment._spread)
    claims = 0
    while claims < _MAX_CLAIMS:
        if not needs_agent(ticket):
            return ticket.assignee_id if ticket is not None else None
        wanted = _ticket_to_assign(ticket)
        states = [directory.state(a) for a in agents.values()]
        order = assignment.candidates(wanted, states, config, moment, retry=lost)
        if not order and shards:  # nobody in this shard can take it: the next shard's agents
            key = shards.pop(0)
            agents, lost = {a.agent_id: a for a in directory.shard(key)}, 0
            continue
        if not order:
            everyone = [directory.state(a) for a in directory.directory()]
            logger.info("no agent available; the ticket waits in its queue",
                        extra={"queue": ticket.category, "why": assignment.explain(wanted, everyone, config, moment)})
            count("TicketsWaiting", channel=ticket.channel, queue=ticket.category)
            return None
        claims += 1
        chosen = order[0]
        strategy = config.for_queue(ticket.category).strategy
        claim = changes.Claim(chosen.agent_id, chosen.name, f"auto:{strategy}",
                              expected_last_assigned_at=chosen.last_assigned_at)
        try:
            changes.apply(ticket, changes.TicketChange(assignee=claim, only_if_unassigned=True), changes.SYSTEM,
                          action="assigned", detail=f"{strategy}: {chosen.name} ({chosen.open_count + 1}/"
                                                    f"{chosen.capacity} open)", now=moment)
        except changes.AgentUnavailable:
            # Lost a race: other copies moved agents' cursors and loads too, so re-read the shard
            # (one Query) rather than retrying from a list that every copy shares and is now stale.
            agents = {a.agent_id: a for a in directory.shard(key, fresh=True)}
            lost += 1
            continue
        except changes.Conflict:
            ticket = repository.get_ticket(ticket.ticket_id)  # changed meanwhile: maybe assigned already
            continue
        count("TicketsAssigned", channel=ticket.channel, queue=ticket.category, strategy=strategy)
        return chosen.agent_id
    logger.warning("assignment kept losing races; the sweep will retry", extra={"ticket_id": ticket.ticket_id})
    return None


def plan_claim(ticket: Any, *, now: datetime) -> changes.Claim | None:
    """The claim a ticket not yet written would make (written with it, in one transaction), or None.

    Same order as ``auto_assign`` from the cached directory; the write checks the
    agent's capacity and round robin's cursor, so a stale directory only costs a
    lost race (the pipeline then writes the ticket unassigned and ``auto_assign``
    tries again with a fresh directory).
    """
    routing = configuration.routing()
    wanted = _ticket_to_assign(ticket)
    for key in directory.shards_for(ticket.ticket_id):  # its own shard first, then the next ones
        order = assignment.candidates(wanted, [directory.state(a) for a in directory.shard(key)], routing, now)
        if order:
            break
    else:
        return None
    chosen = order[0]
    strategy = routing.for_queue(ticket.category).strategy
    return changes.Claim(chosen.agent_id, chosen.name, f"auto:{strategy}",
                         expected_last_assigned_at=chosen.last_assigned_at,
                         detail=f"{strategy}: {chosen.name} ({chosen.open_count + 1}/{chosen.capacity} open)")


def claimed(ticket: Any, claim: changes.Claim, *, at: str) -> None:
    """A claim written with its ticket: the container's directory and the metrics learn of it."""
    directory.note_load(claim.agent_id, 1, assigned_at=at)
    count("TicketsAssigned", channel=ticket.channel, queue=ticket.category, strategy=claim.source.split(":", 1)[-1])


def queues() -> list[str]:
    """Every queue tickets can wait in: the triage categories."""
    rule_set = configuration.triage_rules()
    return sorted(set(rule_set.categories or ()) | {rule_set.defaults.category})


def drain(queue_names: Iterable[str] | None = None, *, now: datetime | None = None, per_queue: int = 50) -> int:
    """Assign waiting tickets oldest first, as long as agents can take them. Returns how many were assigned.

    Called when an agent comes online or frees capacity, and every minute by the
    schedule, so a waiting ticket is never forgotten (Chatwoot #10583).
    """
    moment = now or clock.now()
    assigned = 0
    for queue in queue_names if queue_names is not None else queues():
        for ticket_id in stored_tickets.waiting_ticket_ids(queue, per_queue):
            ticket = repository.get_ticket(ticket_id)  # the index is eventually consistent
            if not needs_agent(ticket):
                continue
            if auto_assign(ticket, now=moment) is not None:  # an unassignable head (language) blocks nobody
                assigned += 1
    return assigned


@contextmanager
def refills_batched() -> Iterator[None]:
    """Inside, ``refill`` only notes the queues; when the block ends each is drained once.

    A stream batch frees many agents; draining every freed agent's queues one agent at a time
    read each queue's waiting line again for each of them (5 Queries per freed agent, most
    finding nobody). One drain per queue serves them all: it assigns oldest first as long as
    anyone can take a ticket. Nothing is drained when the block raises (the batch comes again).
    """
    queues: set[str] = set()
    token = _refills.set(queues)
    try:
        yield
    finally:
        _refills.reset(token)
    if queues:
        _drain_logged(sorted(queues), now=clock.now())


def refill(queue_names: Iterable[str], *, now: datetime) -> None:
    """Agents of these queues freed a slot: drain them now, or at the end of the batch being read."""
    batch = _refills.get()
    if batch is not None:
        batch.update(queue_names)
        return
    _drain_logged(list(queue_names), now=now)


def _drain_logged(queue_names: list[str], *, now: datetime) -> None:
    """A failure only delays the refill: the minute's sweep drains every queue too."""
    try:
        drain(queue_names, now=now)
    except Exception:
        logger.exception("could not refill the freed agents' queues; the sweep will", extra={"queues": queue_names})


def queues_of(agent: Any) -> list[str]:
    skills = set(agent.skills or ())
    return queues() if "*" in skills else sorted(skills)


def release(agent: Any, *, reason: str, now: datetime | None = None) -> int:
    """Hand an agent's active tickets to others (offline or removed); returns how many moved."""
    moment = now or clock.now()
    moved = 0

    def still_theirs(current: Any) -> bool:
        return current.assignee_id == agent.agent_id

    def hand_back(current: Any) -> bool:
        changes.apply(current, changes.TicketChange(assignee=None), changes.SYSTEM, action="unassigned",
                      detail=reason, now=moment)
        return True

    for ticket_id in stored_tickets.ticket_ids_held_by(agent.agent_id):
        ticket = repository.get_ticket(ticket_id)
        if ticket is not None and still_theirs(ticket) and changes.retrying(
                ticket, hand_back, still_wanted=still_theirs, raise_conflict=False,
                gave_up="ticket kept changing while its owner's tickets were handed back; it stays assigned"):
            moved += 1
            auto_assign(repository.get_ticket(ticket.ticket_id), now=moment)
    return moved
