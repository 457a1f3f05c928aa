"""The agent directory: every agent's profile, and the only place agents are created, changed or removed.

Listing is one index Query per directory shard, cached for a few seconds per
container. Caching is safe because the directory is only used to *order*
candidates: the assignment transaction re-checks status, capacity and the
round-robin cursor on the agent's own item, so a stale cache costs a retry,
never a wrong assignment.

Shards (``DIRECTORY_SHARDS``, default 1). Every claim and release changes two
fields the directory index carries (``open_count``, ``last_assigned_at``), so
every ticket writes the index twice, and with one hash-key value (``agents``)
all of it lands on one partition (1,000 writes a second), and every Lambda copy
races for the same round-robin head: about 125 assignments a second for the
whole desk, however many agents (docs/scaling.md). With N shards each agent's
``directory`` is ``agents#<k>`` (a hash of its id), and a ticket is offered to
the agents of its own shard first (a hash of the ticket id), then the next
shards in turn: round robin is strict inside a shard, the writes and the races
spread N ways. One shard keeps the key ``agents``. Changing N needs every
agent's key rewritten (``python -m chalicelib.admin reshard-agents``).

The API's authentication imports this module at cold start, so the models
(PynamoDB) are imported inside the functions that use them.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from chalicelib.storage import shards
from chalicelib.storage.exceptions import ConditionFailed, condition_failed

__all__ = ["PROFILE_FIELDS", "active_with_email", "close_session", "create", "deactivate", "directory",
           "directory_key", "forget", "get", "note_load", "open_session", "reshard", "sessions_of", "shard",
           "shards_for", "state", "store_link", "update_profile"]

# What an agent's profile may change (``update_profile``); the rest is the assignment's or the token's.
PROFILE_FIELDS = ("name", "email", "role", "capacity", "status", "skills", "languages", "working_hours")

_CACHE_SECONDS = 5.0
_UNSHARDED = "agents"
_lock = threading.Lock()
_cached: dict[str, tuple[float, list[Any]]] = {}  # directory key -> (read at, its agents)


def _keys(count: int) -> list[str]:
    return [_UNSHARDED] if count == 1 else [f"{_UNSHARDED}#{k}" for k in range(count)]


def directory_key(agent_id: str) -> str:
    """The directory index's hash key for an agent: ``agents``, or ``agents#<k>`` with shards."""
    count = shards.count("DIRECTORY_SHARDS")
    return _keys(count)[shards.index(agent_id, count)]


def shards_for(ticket_id: str) -> list[str]:
    """The directory keys a ticket is offered to, in order: its own shard first, then the next ones."""
    keys = _keys(shards.count("DIRECTORY_SHARDS"))
    first = shards.index(ticket_id, len(keys))
    return keys[first:] + keys[:first]


def shard(key: str, *, fresh: bool = False) -> list[Any]:
    """The agents of one directory key (one Query, cached ``_CACHE_SECONDS``), by agent id."""
    from chalicelib.storage.models import AgentModel

    with _lock:
        cached = _cached.get(key)
        if not fresh and cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return list(cached[1])
    agents = list(AgentModel.by_directory.query(key))
    with _lock:
        _cached[key] = (time.monotonic(), agents)
    return list(agents)


def directory(*, fresh: bool = False) -> list[Any]:
    """Every agent (removed ones included, marked inactive), by agent id: one Query per shard."""
    agents = [agent for key in _keys(shards.count("DIRECTORY_SHARDS")) for agent in shard(key, fresh=fresh)]
    return sorted(agents, key=lambda agent: agent.agent_id)


def note_load(agent_id: str, change: int, *, assigned_at: str | None = None) -> None:
    """This container just changed an agent's load (and, for a claim, its round-robin cursor): keep the
    cached directory in step instead of dropping it, so the next ticket needs no directory Query."""
    with _lock:
        for _, agents in _cached.values():
            for agent in agents:
                if agent.agent_id == agent_id:
                    agent.open_count = int(agent.open_count or 0) + change
                    if assigned_at is not None:
                        agent.last_assigned_at = assigned_at


def forget() -> None:
    """Drop the cache: after this container changed an agent, or between LocalDesks."""
    with _lock:
        _cached.clear()


def reshard() -> int:
    """Give every agent the directory key of the current ``DIRECTORY_SHARDS``; returns how many moved.

    One deliberate Scan of the agents table (the agents whose key is another shard count's are in no
    shard this code reads). Run it right after changing the setting; until then those agents get no
    new tickets.
    """
    from chalicelib.storage.models import AgentModel

    moved = 0
    for agent in AgentModel.scan(attributes_to_get=["agent_id", "directory"]):
        wanted = directory_key(agent.agent_id)
        if agent.directory != wanted:
            agent.update(actions=[AgentModel.directory.set(wanted)], condition=AgentModel.agent_id.exists())
            moved += 1
    forget()
    return moved


def get(agent_id: str, *, consistent: bool = True) -> Any | None:
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import AgentModel

    try:
        return AgentModel.get(agent_id, consistent_read=consistent)
    except DoesNotExist:
        return None


def create(agent_id: str, *, name: str, email: str, role: str, token_hash: str, created_at: str,
           skills: frozenset[str] | set[str], languages: frozenset[str] | set[str] | None, capacity: int,
           status: str, working_hours: dict[str, Any] | None) -> None:
    """Store a new agent; ``ConditionFailed`` if the id is taken (ids are random: practically never)."""
    from pynamodb.exceptions import PutError

    from chalicelib.storage.models import AgentModel

    try:
        AgentModel(
            agent_id, directory=directory_key(agent_id), name=name, email=email, role=role, token_hash=token_hash,
            created_at=created_at,
            skills=set(skills), languages=set(languages) if languages else None, capacity=capacity, status=status,
            working_hours=working_hours,
        ).save(condition=AgentModel.agent_id.does_not_exist())
    except PutError as err:
        _condition_failed(err, f"agent {agent_id} already exists")
        raise
    forget()


def update_profile(agent: Any, changes: Mapping[str, Any], *, at: str) -> None:
    """Set the profile fields in ``changes`` (``None`` removes a field) on an agent that is still active.

    ``ConditionFailed`` if the agent was removed meanwhile. ``agent`` is the
    agent as read from this directory.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import AgentModel

    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not a profile field: {', '.join(sorted(unknown))}")
    if not changes:
        return
    actions = [getattr(AgentModel, name).remove() if value is None else getattr(AgentModel, name).set(value)
               for name, value in changes.items()]
    actions.append(AgentModel.updated_at.set(at))
    if "email" in changes:  # a sign-in link mailed to the old address must not outlive the change
        actions += [AgentModel.signin_link_hash.remove(), AgentModel.signin_link_expires.remove()]
    try:
        agent.update(actions=actions, condition=AgentModel.active == True)  # noqa: E712 (a condition)
    except UpdateError as err:
        _condition_failed(err, f"agent {agent.agent_id} was removed")
        raise
    finally:
        forget()


def deactivate(agent: Any, *, at: str) -> None:
    """Remove an agent: inactive and offline (kept for the audit trail), its token, link and sessions revoked.

    The sessions map is emptied rather than removed, so a sign-out racing this write still names a valid
    document path (``close_session``).
    """
    from chalicelib.storage.models import AgentModel

    try:
        agent.update(actions=[AgentModel.active.set(False), AgentModel.status.set("offline"),
                              AgentModel.token_hash.set("revoked"), AgentModel.updated_at.set(at),
                              AgentModel.sessions.set({}), AgentModel.signin_link_hash.remove(),
                              AgentModel.signin_link_expires.remove()])
    finally:
        forget()


# --- Console sign-in: one pending link and a few sessions on the agent's own item --------------------
# Verifying a session is then the same one GetItem as an API token. None of these attributes is in the
# directory index (models.DIRECTORY_FIELDS), so these writes cost the item's write units only.


def active_with_email(email: str) -> list[Any]:
    """The active agents whose address is ``email`` (lower-case), from the cached directory (one Query at most).

    No Scan and no extra index: the directory is small and already cached for assignment. An agent
    created in another container in the last few seconds may be missing; ``store_link`` re-checks
    address and status on the agent's own item.
    """
    return [agent for agent in directory() if agent.active and (agent.email or "").lower() == email]


def store_link(agent_id: str, *, email: str, link_hash: str, expires_at: int) -> bool:
    """Make ``link_hash`` the agent's one pending sign-in link (replacing any other); False if the agent
    was removed or changed address meanwhile."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import AgentModel

    try:
        AgentModel(agent_id).update(
            actions=[AgentModel.signin_link_hash.set(link_hash), AgentModel.signin_link_expires.set(expires_at)],
            condition=(AgentModel.active == True) & (AgentModel.email == email))  # noqa: E712 (a condition)
    except UpdateError as err:
        if _is_condition_failure(err):
            return False
        raise
    return True


def sessions_of(agent: Any) -> dict[str, int]:
    """The agent's sessions: hash → expiry (epoch milliseconds), expired ones included until the next sign-in."""
    return {key: int(value) for key, value in (agent.sessions.as_dict() if agent.sessions is not None else {}).items()}


def open_session(agent: Any, *, link_hash: str, now: int, session_hash: str, expires_at: int,
                 drop: list[str]) -> bool:
    """Use the agent's pending link ``link_hash`` and open a session, in one conditional UpdateItem.

    ``now``: epoch seconds (the link's expiry); ``expires_at``: the session's, epoch milliseconds.

    The condition (this link still pending, not expired, agent active) makes the link single-use: of two
    requests with one link, exactly one opens a session. ``drop`` (expired and surplus sessions) goes in the
    same write. ``agent`` is the agent as read; on success it holds the item as written. False if the
    condition failed: the link was used, replaced or expired, or the agent removed, meanwhile.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import AgentModel

    actions = [AgentModel.signin_link_hash.remove(), AgentModel.signin_link_expires.remove()]
    if agent.sessions is None:  # the first sign-in: the map itself (later ones set a path inside it)
        actions.append(AgentModel.sessions.set({session_hash: expires_at}))
    else:
        actions.append(AgentModel.sessions[session_hash].set(expires_at))
        actions += [AgentModel.sessions[key].remove() for key in drop if key != session_hash]
    condition = ((AgentModel.signin_link_hash == link_hash) & (AgentModel.signin_link_expires > now)
                 & (AgentModel.active == True))  # noqa: E712 (a condition)
    if agent.sessions is None:
        condition &= AgentModel.sessions.does_not_exist()
    try:
        agent.update(actions=actions, condition=condition)
    except UpdateError as err:
        if _is_condition_failure(err):
            return False
        raise
    return True


def close_session(agent_id: str, session_hash: str) -> None:
    """End one session (sign-out); ending one that is gone already changes nothing (an agent that never had
    sessions fails the condition and is left as it is)."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import AgentModel

    try:
        AgentModel(agent_id).update(actions=[AgentModel.sessions[session_hash].remove()],
                                    condition=AgentModel.sessions.exists())
    except UpdateError as err:
        if _is_condition_failure(err):
            return
        raise


def _is_condition_failure(err: Any) -> bool:
    """Whether PynamoDB reports the write as refused by its condition (not throttled, not broken)."""
    return condition_failed(err)


def _condition_failed(err: Any, reason: str) -> None:
    """Raise ``ConditionFailed`` for a write PynamoDB reports as failing its condition; else return."""
    if _is_condition_failure(err):
        raise ConditionFailed(reason) from err


def state(agent: Any) -> Any:
    """The pure view of an agent item that the assignment rules decide on."""
    from chalicelib.domain import assignment

    hours = assignment.parse_working_hours(agent.working_hours) if agent.working_hours else None
    return assignment.AgentState(
        agent_id=agent.agent_id,
        name=agent.name,
        status=agent.status,
        skills=frozenset(agent.skills or ()),
        languages=frozenset(agent.languages or ()),
        capacity=int(agent.capacity or 0),
        open_count=int(agent.open_count or 0),
        last_assigned_at=agent.last_assigned_at or "",
        working_hours=hours,
        active=bool(agent.active),
    )
