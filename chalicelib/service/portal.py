"""The customer portal's use cases: sign-in by a mailed link, sessions, and reading one's own tickets.

1. ``ask_for_link`` (``POST /portal/auth/links``) counts the request per client address and per
   email address (``storage/rate_limits.py``, as console sign-in does) and queues a
   ``portal_signin`` message. Whether anyone has that address is decided behind the outbound
   queue (``issue_link``), so neither the 202 nor its timing tells.
2. ``issue_link``: the address's customer is the one owning ``email:<address>``, else the one who
   claimed it on the portal's form (``portal:<address>``); no customer, no mail. A link
   ``rpl_...`` (256 bits, only its hash stored, ``SIGNIN_LINK_MINUTES``) grants that one customer.
3. ``sign_in`` uses the link (a conditional delete: once) and opens a session ``rps_...``
   (``SESSION_HOURS``). Using a link proves the mailbox: a form claimant of the address is then
   folded into the customer owning ``email:<address>`` (``customer_merge``), so tickets opened
   anonymously show up in that customer's list.
4. ``grant_of`` checks a bearer token: one GetItem.

Reading is scoped to the session's customer: a ticket of anyone else's is "not found" — the
portal never confirms that a ticket id exists.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib import config
from chalicelib.domain import portal as rules
from chalicelib.errors import NotFound, TooManyRequests, Unauthorized
from chalicelib.observability import logger
from chalicelib.storage import portal_access
from chalicelib.storage import queues as queue
from chalicelib.storage.portal_access import PortalGrant

__all__ = ["PortalLink", "PortalSession", "TICKET_SUBMISSIONS", "ask_for_link", "count_anonymous", "conversation",
           "grant_of", "issue_link", "link_url", "owned_ticket", "sign_in", "sign_out", "tickets"]

TICKET_SUBMISSIONS = "portal-ticket"  # the rate-limit scope of anonymous ticket forms (and their uploads)
_LINK_REFUSED = "this sign-in link is unknown, expired or already used: ask for a new one"
_NO_TICKET = "no such ticket among yours"


@dataclass(frozen=True)
class PortalLink:
    to_address: str
    customer_name: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class PortalSession:
    session_token: str
    expires_at: datetime
    customer_id: str


def ask_for_link(email: str, *, client: str, now: datetime, language: str = "en") -> None:
    """Count the request (429 past a limit) and queue the link's making and mailing."""
    address = email.strip().lower()
    window = timedelta(minutes=config.int_setting("SIGNIN_LIMIT_MINUTES"))
    _count("portal-signin-client", client, config.int_setting("SIGNIN_LINKS_PER_CLIENT"), window, now,
           "sign-in links were asked for from this network address")
    _count("portal-signin-address", address, config.int_setting("SIGNIN_LINKS_PER_ADDRESS"), window, now,
           "sign-in links were asked for this email address")
    key = f"portal-signin:{uuid.uuid4().hex}"
    queue.enqueue_reply({"v": 1, "kind": "portal_signin", "email": address, "language": language, "key": key},
                        ticket_id=f"portal-signin:{address}", dedup_key=key)


def count_anonymous(client: str, *, now: datetime, what: str = "tickets were opened") -> None:
    """One anonymous form (or upload) from ``client``: 429 past ``PORTAL_TICKETS_PER_CLIENT`` per window."""
    window = timedelta(minutes=config.int_setting("PORTAL_LIMIT_MINUTES"))
    _count(TICKET_SUBMISSIONS, client, config.int_setting("PORTAL_TICKETS_PER_CLIENT"), window, now,
           f"{what} from this network address")


def _count(scope: str, client: str, limit: int, window: timedelta, now: datetime, what: str) -> None:
    from chalicelib.storage.rate_limits import LimitReached, count_request

    try:
        count_request(scope, client, limit=limit, window=window, now=now)
    except LimitReached as full:
        logger.warning("portal request refused: limit reached", extra={"scope": scope, "limit": limit})
        raise TooManyRequests(f"{limit} {what} in {int(window.total_seconds() // 60)} minutes; try again in "
                              f"{full.retry_after_seconds} seconds",
                              retry_after_seconds=full.retry_after_seconds) from None


def issue_link(email: str, *, now: datetime) -> PortalLink | None:
    """A link for the customer of this address, or None when nobody has it (nothing is mailed then)."""
    from chalicelib.storage.customers import get_customer, identity_lookups

    address = email.strip().lower()
    owners = identity_lookups([f"email:{address}", f"portal:{address}"])
    identity = next((key for key in (f"email:{address}", f"portal:{address}")
                     if owners.get(key) is not None and owners[key].customer_id), None)
    if identity is None:
        return None
    customer_id = owners[identity].customer_id
    expires = int(now.timestamp()) + config.int_setting("SIGNIN_LINK_MINUTES") * 60
    link = rules.new_link()
    portal_access.store_link(link.token_hash, PortalGrant(customer_id, identity, expires))
    customer = get_customer(customer_id)
    return PortalLink(address, (getattr(customer, "name", None) or "") if customer else "", link_url(link.token),
                      datetime.fromtimestamp(expires, tz=timezone.utc))


def link_url(token: str) -> str:
    """Where a link is used: the portal reads the fragment (never sent to a server) and posts it."""
    return f"{config.setting('PUBLIC_BASE_URL').rstrip('/')}/portal#signin={token}"


def sign_in(link_token: str, *, now: datetime) -> PortalSession:
    """Use a link once: a session for its customer, or ``Unauthorized`` (forged, expired, used)."""
    link_hash = rules.parse_link(link_token)
    if link_hash is None:
        raise Unauthorized("not a portal sign-in link token (rpl_...): use the link from the latest mail")
    grant = portal_access.use_link(link_hash, now=int(now.timestamp()))
    if grant is None:
        raise Unauthorized(_LINK_REFUSED)
    grant = _adopt_claims(grant)
    session = rules.new_session()
    expires = int(now.timestamp()) + config.int_setting("SESSION_HOURS") * 3600
    portal_access.open_session(session.token_hash, PortalGrant(grant.customer_id, grant.identity, expires))
    logger.info("portal session opened", extra={"customer_id": grant.customer_id})
    return PortalSession(session.token, datetime.fromtimestamp(expires, tz=timezone.utc), grant.customer_id)


def _adopt_claims(grant: PortalGrant) -> PortalGrant:
    """The mailbox is proven: fold a form claimant of the address into the customer who owns it by email."""
    from chalicelib.service.changes import Actor
    from chalicelib.service.customer_merge import merge_customers
    from chalicelib.storage.customers import identity_lookups

    kind, _, address = grant.identity.partition(":")
    if kind != "email":
        return grant
    claimant = identity_lookups([f"portal:{address}"]).get(f"portal:{address}")
    if claimant is None or not claimant.customer_id or claimant.customer_id == grant.customer_id:
        return grant
    try:
        merge_customers(claimant.customer_id, grant.customer_id, Actor("customer", address, "system"))
    except Exception:  # the session still opens; the claimant's tickets show after the next sign-in
        logger.exception("could not fold the portal claimant into the customer",
                         extra={"customer_id": grant.customer_id})
    return grant


def grant_of(session_token: str, *, now: datetime) -> PortalGrant:
    """The customer a bearer token opens, or ``Unauthorized``."""
    session_hash = rules.parse_session(session_token)
    grant = portal_access.session(session_hash, now=int(now.timestamp())) if session_hash else None
    if grant is None:
        raise Unauthorized("this portal session is unknown or expired: sign in again")
    return grant


def sign_out(session_token: str, *, now: datetime) -> None:
    """End the session this token is (``Unauthorized`` when it is none, or over already)."""
    grant_of(session_token, now=now)
    portal_access.close_session(rules.parse_session(session_token) or "")
    logger.info("portal session closed")


def tickets(grant: PortalGrant, *, limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], Any]:
    """A page of the customer's tickets, newest first, as the portal lists them."""
    found, next_key = portal_access.customer_ticket_page(grant.customer_id, limit=limit, start=start)
    shown = [rules.ticket_summary(t) for t in found
             if t.customer_id == grant.customer_id and t.status not in rules.HIDDEN_STATUSES and not t.merged_into]
    return shown, next_key


def owned_ticket(grant: PortalGrant, ticket_id: str) -> Any:
    """The ticket when it is the customer's (a merged one: its survivor); ``NotFound`` for anything else."""
    from chalicelib.storage import repository

    ticket = repository.get_ticket(ticket_id)
    for _ in range(3):
        if ticket is None or not ticket.merged_into:
            break
        ticket = repository.get_ticket(ticket.merged_into)
    if ticket is None or ticket.customer_id != grant.customer_id or ticket.status in rules.HIDDEN_STATUSES:
        raise NotFound(_NO_TICKET)
    return ticket


def conversation(grant: PortalGrant, ticket: Any) -> dict[str, Any]:
    """The ticket and the messages its customer may read, oldest first."""
    from chalicelib.storage import conversations
    from chalicelib.storage.customers import get_customer

    customer = get_customer(grant.customer_id)
    identities = set(getattr(customer, "identities", None) or ()) | {grant.identity}
    desk_name = config.setting("SUPPORT_NAME")
    shown = []
    for message in conversations.messages_after(ticket.ticket_id, None):
        author = rules.visible_as(message, identities)
        if author is not None:
            shown.append(rules.customer_view(message, author, desk_name))
    return {"ticket": rules.ticket_summary(ticket), "messages": shown}
