"""Managing agents: create, change skills/capacity/status, remove — and what that sets in motion.

Coming online drains the agent's queues (waiting tickets are picked up at
once, not on the next customer message: Chatwoot #10583); going offline or
being removed hands their active tickets to others.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.domain import agent_tokens
from chalicelib.observability import logger
from chalicelib.storage import agents as directory

ROLES = ("agent", "admin")
AGENT_STATUSES = ("online", "away", "offline")


@dataclass(frozen=True)
class Profile:
    """An agent's routing profile; None fields are left as they are on update."""

    name: str | None = None
    email: str | None = None
    role: str | None = None
    skills: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    capacity: int | None = None
    status: str | None = None
    working_hours: dict[str, Any] | None = None
    clear_working_hours: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def create(profile: Profile) -> tuple[Any, str]:
    """A new agent and its bearer token (shown once; only its hash is stored)."""
    role = profile.role or "agent"
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    credentials = agent_tokens.new_credentials()
    directory.create(
        credentials.agent_id, name=profile.name or "", email=(profile.email or "").lower(), role=role,
        token_hash=credentials.token_hash, created_at=clock.iso(clock.now()),
        skills=set(profile.skills) if profile.skills else {"*"}, languages=profile.languages,
        capacity=10 if profile.capacity is None else profile.capacity, status=profile.status or "online",
        working_hours=profile.working_hours,
    )
    agent = directory.get(credentials.agent_id)
    if agent.status == "online":
        _drain_for(agent)
        agent = directory.get(credentials.agent_id)
    return agent, credentials.token


def update(agent: Any, profile: Profile) -> Any:
    changes: dict[str, Any] = {}
    for name in ("name", "email", "role", "capacity", "status"):
        value = getattr(profile, name)
        if value is not None and value != getattr(agent, name):
            changes[name] = value.lower() if name == "email" else value
    for name in ("skills", "languages"):
        value = getattr(profile, name)
        if value is not None and set(value) != set(getattr(agent, name) or ()):
            changes[name] = set(value) if value else None  # no skills (languages) left: the field is removed
    if profile.working_hours is not None:
        changes["working_hours"] = profile.working_hours
    elif profile.clear_working_hours:
        changes["working_hours"] = None
    if not changes:
        return agent
    before = agent.status
    directory.update_profile(agent, changes, at=clock.iso(clock.now()))
    fresh = directory.get(agent.agent_id)
    if fresh.status == "online":
        _drain_for(fresh)  # came online, got more capacity or new skills: pick up waiting tickets
    elif fresh.status == "offline" and before != "offline":
        _release(fresh, "agent went offline")
    return directory.get(agent.agent_id)


def remove(agent: Any) -> Any:
    """Deactivate (kept for the audit trail), revoke the token, hand over the tickets."""
    directory.deactivate(agent, at=clock.iso(clock.now()))
    fresh = directory.get(agent.agent_id)
    _release(fresh, "agent removed")
    return fresh


def _drain_for(agent: Any) -> None:
    from chalicelib.service import assign

    assigned = assign.drain(assign.queues_of(agent))
    if assigned:
        logger.info("waiting tickets assigned", extra={"agent_id": agent.agent_id, "assigned": assigned})


def _release(agent: Any, reason: str) -> None:
    from chalicelib.service import assign

    moved = assign.release(agent, reason=reason)
    logger.info("tickets handed over", extra={"agent_id": agent.agent_id, "moved": moved, "reason": reason})
