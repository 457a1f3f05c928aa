"""Agents' credentials: API tokens, emailed sign-in links and console sessions. Only hashes are stored.

* ``rd_<agent id>_<secret>``: an agent's API token; the SHA-256 of the secret is stored.
* ``rdl_<agent id>_<secret>``: a one-time sign-in link, mailed to the agent (``service/signin.py``).
* ``rds_<agent id>_<secret>``: a console session, made by using a link.

The agent id in every token makes verification one read of the agent (no index,
no Scan); comparisons of hashes are constant-time. Secrets are 256 random bits.
Links and sessions keep a 128-bit prefix of the SHA-256 (``short_hash``): a
guess or a stored hash still takes 2^128 work to turn into a token, and the
sessions map stays small enough that the agent item (written on every ticket
assignment) stays within one 1 KB write unit. Pure: no I/O, no storage.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Credentials", "LINK_PREFIX", "SESSION_PREFIX", "hash_secret", "matches", "matches_short",
           "new_credentials", "new_link", "new_session", "parse", "parse_link", "parse_session", "sessions_to_drop",
           "short_hash"]

LINK_PREFIX = "rdl_"
SESSION_PREFIX = "rds_"
_SHORT_HASH_CHARS = 32  # 128 bits of the SHA-256, in hex


def _pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{prefix}(?P<agent>a-[0-9a-f]{{12}})_(?P<secret>[0-9a-f]{{64}})$")


_TOKEN = _pattern("rd_")
_LINK = _pattern(LINK_PREFIX)
_SESSION = _pattern(SESSION_PREFIX)


@dataclass(frozen=True)
class Credentials:
    """An agent's id and a new token (shown once) with the hash that is stored instead of the token."""

    agent_id: str
    token: str
    token_hash: str


def new_credentials() -> Credentials:
    import secrets  # with hashlib and hmac, imported on use: app.py imports the API's auth (and this) at cold start

    agent_id = "a-" + secrets.token_hex(6)
    secret = secrets.token_hex(32)
    return Credentials(agent_id, f"rd_{agent_id}_{secret}", hash_secret(secret))


def new_link(agent_id: str) -> Credentials:
    """A one-time sign-in link token for ``agent_id``; ``token_hash`` is its ``short_hash``."""
    return _new(LINK_PREFIX, agent_id)


def new_session(agent_id: str) -> Credentials:
    """A console session token for ``agent_id``; ``token_hash`` is its ``short_hash``."""
    return _new(SESSION_PREFIX, agent_id)


def _new(prefix: str, agent_id: str) -> Credentials:
    import secrets

    secret = secrets.token_hex(32)
    return Credentials(agent_id, f"{prefix}{agent_id}_{secret}", short_hash(secret))


def hash_secret(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


def short_hash(secret: str) -> str:
    """What is stored for a link or a session: the first 128 bits of the secret's SHA-256, in hex."""
    return hash_secret(secret)[:_SHORT_HASH_CHARS]


def parse(token: str) -> tuple[str, str] | None:
    """``(agent_id, secret)`` of a well-formed API token, else None."""
    return _parse(_TOKEN, token)


def parse_link(token: str) -> tuple[str, str] | None:
    """``(agent_id, secret)`` of a well-formed sign-in link token, else None."""
    return _parse(_LINK, token)


def parse_session(token: str) -> tuple[str, str] | None:
    """``(agent_id, secret)`` of a well-formed session token, else None."""
    return _parse(_SESSION, token)


def _parse(pattern: re.Pattern[str], token: str) -> tuple[str, str] | None:
    match = pattern.match(token) if isinstance(token, str) else None
    return (match["agent"], match["secret"]) if match else None


def matches(secret: str, token_hash: str) -> bool:
    """Whether ``secret`` is the one ``token_hash`` was made from (constant-time)."""
    import hmac

    return hmac.compare_digest(token_hash, hash_secret(secret))


def matches_short(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` is the one a link's (or session's) stored ``short_hash`` was made from (constant-time)."""
    import hmac

    return bool(stored) and hmac.compare_digest(str(stored), short_hash(secret))


def sessions_to_drop(sessions: Mapping[str, int], *, now: int, keep: int) -> list[str]:
    """The sessions to remove so a new one fits: every expired one, then the oldest past ``keep - 1``.

    ``sessions`` maps a session's hash to when it expires (epoch milliseconds, like ``now``); sessions
    have one lifetime, so the soonest to expire is the oldest. An agent signed in on
    more than ``keep`` browsers loses the oldest session, never the new one.
    """
    expired = sorted(key for key, expires in sessions.items() if int(expires) <= now)
    live = sorted((int(expires), key) for key, expires in sessions.items() if int(expires) > now)
    surplus = max(0, len(live) - max(0, keep - 1))
    return expired + [key for _, key in live[:surplus]]
