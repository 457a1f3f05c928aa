"""Bearer tokens for agents: ``rd_<agent id>_<secret>``, stored only as a SHA-256 hash.

The agent id in the token makes verification one GetItem (no index, no
Scan); the hash comparison is constant-time.
"""
from __future__ import annotations

import re
from typing import Any

from chalicelib import clock
from chalicelib.api.errors import Forbidden, Unauthorized

_TOKEN = re.compile(r"^rd_(?P<agent>a-[0-9a-f]{12})_(?P<secret>[0-9a-f]{64})$")
ROLES = ("agent", "admin")


def _hash(secret: str) -> str:
    import hashlib  # with hmac and secrets, imported on use: app.py imports this module at cold start

    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(name: str, email: str, role: str = "agent", *, skills: Any = None, languages: Any = None,
                capacity: int | None = None, status: str | None = None,
                working_hours: dict[str, Any] | None = None) -> tuple[str, str]:
    """Create an agent and return ``(agent_id, token)``; the token is shown once, never stored."""
    import secrets

    from chalicelib.storage.models import AgentModel

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    agent_id = "a-" + secrets.token_hex(6)
    secret = secrets.token_hex(32)
    AgentModel(
        agent_id,
        name=name,
        email=email.lower(),
        role=role,
        token_hash=_hash(secret),
        created_at=clock.iso(clock.now()),
        skills=set(skills) if skills else {"*"},
        languages=set(languages) if languages else None,
        capacity=10 if capacity is None else capacity,
        status=status or "online",
        working_hours=working_hours,
    ).save(condition=AgentModel.agent_id.does_not_exist())
    return agent_id, f"rd_{agent_id}_{secret}"


def authenticate(headers: Any) -> Any:
    """The agent behind ``Authorization: Bearer <token>``; Unauthorized otherwise."""
    import hmac

    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import AgentModel

    header = (headers or {}).get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    match = _TOKEN.match(token.strip())
    if not match:
        raise Unauthorized("malformed token")
    try:
        agent = AgentModel.get(match["agent"])
    except DoesNotExist:
        raise Unauthorized("unknown or revoked token") from None
    if not agent.active or not hmac.compare_digest(agent.token_hash, _hash(match["secret"])):
        raise Unauthorized("unknown or revoked token")
    return agent


def require_role(agent: Any, role: str) -> None:
    if role == "admin" and agent.role != "admin":
        raise Forbidden("this needs an admin token")
