"""Who is calling: the agent behind ``Authorization: Bearer <token>``, and what they may do.

Two kinds of token (``chalicelib.domain.agent_tokens``; only hashes are stored):
``rd_<agent id>_<secret>``, an agent's API token, and ``rds_<agent id>_<secret>``, a console
session (``service/signin.py``). The agent id in the token makes verification one read of the
agent (no index, no Scan). A session is read strongly consistent: a sign-out or a removal
must stop it on the very next request (1 read unit instead of 0.5 for an item under 4 KB).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.api.errors import Forbidden, Unauthorized
from chalicelib.domain import agent_tokens
from chalicelib.storage import agents as directory

__all__ = ["Caller", "authenticate", "caller", "require_role"]


@dataclass(frozen=True)
class Caller:
    """The agent calling, and the console session they call with (None for an API token)."""

    agent: Any
    session_hash: str | None = None


def authenticate(headers: Any) -> Any:
    """The agent behind ``Authorization: Bearer <token>`` (API token or session); Unauthorized otherwise."""
    return caller(headers).agent


def caller(headers: Any) -> Caller:
    """The agent and, for a console session, which session: what sign-out needs."""
    header = (headers or {}).get("authorization") or ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    if token.startswith(agent_tokens.SESSION_PREFIX):
        return _session(token)
    parsed = agent_tokens.parse(token)
    if parsed is None:
        raise Unauthorized("malformed token")
    agent_id, secret = parsed
    agent = directory.get(agent_id, consistent=False)
    if agent is None or not agent.active or not agent_tokens.matches(secret, agent.token_hash):
        raise Unauthorized("unknown or revoked token")
    return Caller(agent)


def _session(token: str) -> Caller:
    parsed = agent_tokens.parse_session(token)
    if parsed is None:
        raise Unauthorized("malformed token")
    agent_id, secret = parsed
    agent = directory.get(agent_id, consistent=True)
    session_hash = agent_tokens.short_hash(secret)
    expires = directory.sessions_of(agent).get(session_hash) if agent is not None else None
    if agent is None or not agent.active or expires is None or expires <= clock.now().timestamp() * 1000:
        raise Unauthorized("unknown, expired or signed-out session: sign in again")
    return Caller(agent, session_hash)


def require_role(agent: Any, role: str) -> None:
    if role == "admin" and agent.role != "admin":
        raise Forbidden("this needs an admin token")
