"""The agent directory: one index Query for all agents, cached for a few seconds per container.

Caching is safe because the directory is only used to *order* candidates: the
assignment transaction re-checks status, capacity and the round-robin cursor
on the agent's own item, so a stale cache costs a retry, never a wrong
assignment.
"""
from __future__ import annotations

import threading
import time
from typing import Any

_CACHE_SECONDS = 5.0
_lock = threading.Lock()
_cached: tuple[float, list[Any]] | None = None


def directory(*, fresh: bool = False) -> list[Any]:
    """Every agent (removed ones included, marked inactive), by agent id."""
    global _cached
    from chalicelib.storage.models import AgentModel

    with _lock:
        if not fresh and _cached is not None and time.monotonic() - _cached[0] < _CACHE_SECONDS:
            return list(_cached[1])
    agents = list(AgentModel.by_directory.query("agents"))
    with _lock:
        _cached = (time.monotonic(), agents)
    return list(agents)


def forget() -> None:
    """Drop the cache: after this container changed an agent, or between LocalDesks."""
    global _cached
    with _lock:
        _cached = None


def get(agent_id: str, *, consistent: bool = True) -> Any | None:
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import AgentModel

    try:
        return AgentModel.get(agent_id, consistent_read=consistent)
    except DoesNotExist:
        return None


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
