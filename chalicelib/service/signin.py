"""Console sign-in: a one-time link by email, sessions kept on the agent's item, sign-out.

No password to store, reset or leak: the agent's work mailbox already proves who they are.

1. ``POST /auth/links`` → ``ask_for_link``: counts the request per client address and per email
   address (``storage/rate_limits.py``), then queues a ``signin`` message on the outbound queue. The
   answer is the same, and costs the same work, whether or not an agent has that address: only behind
   the queue (``issue_links``, run by ``send_outbound``) is the agent looked up, so neither the body nor
   the timing of the answer tells an address that belongs to an agent from one that does not. SES
   throttling and outages are retried by SQS, off the request path.
2. ``issue_links``: for each active agent with that address, a new link ``rdl_...`` (256 random bits;
   only a hash is stored, valid ``SIGNIN_LINK_MINUTES``), replacing the one before; the outbound edge
   mails ``{PUBLIC_BASE_URL}/console#signin=<token>`` (a fragment: never sent to a server, so never in
   access logs or a Referer).
3. ``POST /auth/sessions`` → ``sign_in``: one conditional UpdateItem uses the link (it must still be the
   pending one, unexpired, the agent active) and opens a session ``rds_...`` (``SESSION_HOURS``, at most
   ``SESSIONS_PER_AGENT`` per agent; expired ones are dropped in the same write). Of two requests with
   one link exactly one wins.
4. ``api/auth.py`` accepts ``rds_`` tokens with the same one GetItem as API tokens.
5. ``sign_out`` removes one session; removing an agent clears all of them (``storage.agents.deactivate``).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib import config
from chalicelib.domain import agent_tokens
from chalicelib.errors import TooManyRequests, Unauthorized
from chalicelib.observability import logger
from chalicelib.storage import agents as directory
from chalicelib.storage import queues as queue

__all__ = ["SignInLink", "SignedIn", "ask_for_link", "issue_links", "link_url", "sign_in", "sign_out"]

_LINK_REFUSED = "this sign-in link is unknown, expired or already used: ask for a new one"


@dataclass(frozen=True)
class SignInLink:
    """A link just made for an agent, to mail to ``to_address`` (the token exists only in ``url``)."""

    agent_id: str
    agent_name: str
    to_address: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """A new console session: its token (shown once), when it ends, and the agent as written."""

    agent: Any
    session_token: str
    expires_at: datetime


def ask_for_link(email: str, *, client: str, now: datetime) -> None:
    """Count the request (``TooManyRequests`` past a limit) and queue the link's making and mailing."""
    address = email.strip().lower()
    window = timedelta(minutes=config.int_setting("SIGNIN_LIMIT_MINUTES"))
    _count("signin-client", client, config.int_setting("SIGNIN_LINKS_PER_CLIENT"), window, now,
           "from this network address")
    _count("signin-address", address, config.int_setting("SIGNIN_LINKS_PER_ADDRESS"), window, now,
           "for this email address")
    key = f"signin:{uuid.uuid4().hex}"  # every request is its own: a second click must mail again
    # One message group per address keeps one address's links in order (the last one mailed is the valid one).
    queue.enqueue_reply({"v": 1, "kind": "signin", "email": address, "key": key},
                        ticket_id=f"signin:{address}", dedup_key=key)


def _count(scope: str, client: str, limit: int, window: timedelta, now: datetime, whom: str) -> None:
    from chalicelib.storage.rate_limits import LimitReached, count_request

    try:
        count_request(scope, client, limit=limit, window=window, now=now)
    except LimitReached as full:
        logger.warning("sign-in link refused: limit reached", extra={"scope": scope, "limit": limit})
        raise TooManyRequests(
            f"{limit} sign-in links were asked for {whom} in {int(window.total_seconds() // 60)} minutes;"
            f" try again in {full.retry_after_seconds} seconds", retry_after_seconds=full.retry_after_seconds,
        ) from None


def issue_links(email: str, *, now: datetime) -> list[SignInLink]:
    """A new link for each active agent with this address (normally one; none for a stranger)."""
    address = email.strip().lower()
    expires = datetime.fromtimestamp(int(now.timestamp()) + config.int_setting("SIGNIN_LINK_MINUTES") * 60,
                                     tz=timezone.utc)
    issued = []
    for agent in directory.active_with_email(address):
        link = agent_tokens.new_link(agent.agent_id)
        if directory.store_link(agent.agent_id, email=address, link_hash=link.token_hash,
                                expires_at=int(expires.timestamp())):
            issued.append(SignInLink(agent.agent_id, agent.name or "", address, link_url(link.token), expires))
    return issued


def link_url(token: str) -> str:
    """Where a link token is used: the console reads it from the fragment and posts it to /auth/sessions."""
    # /console, not /console/: the console's relative URLs (console/app.js, tickets) resolve against it.
    return f"{config.setting('PUBLIC_BASE_URL').rstrip('/')}/console#signin={token}"


def sign_in(link_token: str, *, now: datetime) -> SignedIn:
    """Use a link: a session, or ``Unauthorized`` (forged, expired, used or replaced; agent removed)."""
    parsed = agent_tokens.parse_link(link_token)
    if parsed is None:
        raise Unauthorized("not a sign-in link token (rdl_...): use the link from the latest sign-in mail")
    agent_id, secret = parsed
    agent = directory.get(agent_id)
    moment = int(now.timestamp())
    if (agent is None or not agent.active or not agent_tokens.matches_short(secret, agent.signin_link_hash)
            or int(agent.signin_link_expires or 0) <= moment):
        raise Unauthorized(_LINK_REFUSED)
    session = agent_tokens.new_session(agent_id)
    # Sessions expire in epoch milliseconds: one lifetime for all, so the expiry also orders them by age,
    # and sign-ins within one second must not tie (the cap drops the oldest).
    now_ms = int(now.timestamp() * 1000)
    expires_ms = now_ms + config.int_setting("SESSION_HOURS") * 3_600_000
    drop = agent_tokens.sessions_to_drop(directory.sessions_of(agent), now=now_ms,
                                         keep=config.int_setting("SESSIONS_PER_AGENT"))
    if not directory.open_session(agent, link_hash=agent.signin_link_hash, now=moment,
                                  session_hash=session.token_hash, expires_at=expires_ms, drop=drop):
        raise Unauthorized(_LINK_REFUSED)  # another request used it first, or it was replaced meanwhile
    logger.info("console session opened", extra={"agent_id": agent_id, "sessions_dropped": len(drop)})
    return SignedIn(agent, session.token, datetime.fromtimestamp(expires_ms / 1000, tz=timezone.utc))


def sign_out(agent_id: str, session_hash: str) -> None:
    """End one console session at once (the next request with its token is refused)."""
    directory.close_session(agent_id, session_hash)
    logger.info("console session closed", extra={"agent_id": agent_id})
