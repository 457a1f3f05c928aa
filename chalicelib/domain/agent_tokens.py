"""Agents' bearer tokens: ``rd_<agent id>_<secret>``, of which only a SHA-256 hash of the secret is stored.

The agent id in the token makes verification one read of the agent (no index,
no Scan); the hash comparison is constant-time. Pure: no I/O, no storage.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Credentials", "hash_secret", "matches", "new_credentials", "parse"]

_TOKEN = re.compile(r"^rd_(?P<agent>a-[0-9a-f]{12})_(?P<secret>[0-9a-f]{64})$")


@dataclass(frozen=True)
class Credentials:
    """A new agent's id and bearer token (shown once) with the hash that is stored instead of the token."""

    agent_id: str
    token: str
    token_hash: str


def new_credentials() -> Credentials:
    import secrets  # with hashlib and hmac, imported on use: app.py imports the API's auth (and this) at cold start

    agent_id = "a-" + secrets.token_hex(6)
    secret = secrets.token_hex(32)
    return Credentials(agent_id, f"rd_{agent_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """``(agent_id, secret)`` of a well-formed token, else None."""
    match = _TOKEN.match(token)
    return (match["agent"], match["secret"]) if match else None


def matches(secret: str, token_hash: str) -> bool:
    """Whether ``secret`` is the one ``token_hash`` was made from (constant-time)."""
    import hmac

    return hmac.compare_digest(token_hash, hash_secret(secret))
