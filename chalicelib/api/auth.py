"""Who is calling: the agent behind ``Authorization: Bearer rd_<agent id>_<secret>``, and what they may do.

Tokens are made and checked by ``chalicelib.domain.agent_tokens`` (only a hash
is stored); the agent id in the token makes verification one read of the
agent in the directory (no index, no Scan).
"""
from __future__ import annotations

from typing import Any

from chalicelib.api.errors import Forbidden, Unauthorized
from chalicelib.domain import agent_tokens
from chalicelib.storage import agents as directory


def authenticate(headers: Any) -> Any:
    """The agent behind ``Authorization: Bearer <token>``; Unauthorized otherwise."""
    header = (headers or {}).get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    parsed = agent_tokens.parse(token.strip())
    if parsed is None:
        raise Unauthorized("malformed token")
    agent_id, secret = parsed
    agent = directory.get(agent_id, consistent=False)
    if agent is None or not agent.active or not agent_tokens.matches(secret, agent.token_hash):
        raise Unauthorized("unknown or revoked token")
    return agent


def require_role(agent: Any, role: str) -> None:
    if role == "admin" and agent.role != "admin":
        raise Forbidden("this needs an admin token")
