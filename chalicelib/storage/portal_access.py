"""The customer portal's credentials and reads: sign-in links, sessions, the customer's tickets.

Links and sessions are lookup items keyed by the SHA-256 of their secret (``plink:<hash>``,
``psess:<hash>``), so checking one is one GetItem and the token itself is never stored. Each
carries the one customer it opens, the identity that customer proved (``sender``) and
``expires_at`` (epoch seconds), which DynamoDB's TTL also uses to delete it. A link is used
by a conditional DeleteItem (it must still be there and unexpired): of two requests with one
link exactly one wins, and a used link is gone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.storage.exceptions import BadCursor, condition_failed

__all__ = ["PortalGrant", "close_session", "customer_ticket_page", "open_session", "session", "store_link",
           "use_link"]



@dataclass(frozen=True)
class PortalGrant:
    """What a link or session lets its holder read: one customer, through one proven identity."""

    customer_id: str
    identity: str  # e.g. email:ann@example.com: what the customer proved by using the link
    expires_at: int


def store_link(link_hash: str, grant: PortalGrant) -> None:
    """Keep a new link's hash until it expires."""
    _put(f"plink:{link_hash}", grant)


def use_link(link_hash: str, *, now: int) -> PortalGrant | None:
    """Delete the link if it is there and unexpired, and say what it granted; None otherwise."""
    from pynamodb.exceptions import DeleteError

    from chalicelib.storage.models import LookupModel

    try:
        # Model.delete cannot ask for the old item; the table connection can (ReturnValues=ALL_OLD), so the
        # use and the read of what it granted are one call.
        deleted = LookupModel._get_connection().delete_item(
            f"plink:{link_hash}", condition=LookupModel.lookup_key.exists() & (LookupModel.expires_at > now),
            return_values="ALL_OLD")
    except DeleteError as err:
        if condition_failed(err):
            return None
        raise
    old = (deleted or {}).get("Attributes") or {}
    if not old.get("customer_id") or not old.get("sender"):
        return None
    return PortalGrant(old["customer_id"]["S"], old["sender"]["S"], int(old["expires_at"]["N"]))


def open_session(session_hash: str, grant: PortalGrant) -> None:
    """Keep a new session's hash until it expires."""
    _put(f"psess:{session_hash}", grant)


def session(session_hash: str, *, now: int) -> PortalGrant | None:
    """The session's grant while it lasts (one strongly consistent GetItem: a new session works at once)."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import LookupModel

    try:
        item = LookupModel.get(f"psess:{session_hash}", consistent_read=True)
    except DoesNotExist:
        return None
    if not item.customer_id or int(item.expires_at or 0) <= now:
        return None  # TTL deletes expired items within days, not at once
    return PortalGrant(item.customer_id, item.sender or "", int(item.expires_at))


def close_session(session_hash: str) -> None:
    """End a session at once (deleting one already gone is no error)."""
    from chalicelib.storage.models import LookupModel

    LookupModel(f"psess:{session_hash}").delete()


def _put(key: str, grant: PortalGrant) -> None:
    from chalicelib.storage.models import LookupModel

    LookupModel(key, customer_id=grant.customer_id, sender=grant.identity, expires_at=grant.expires_at).save()


def customer_ticket_page(customer_id: str, *, limit: int, start: dict[str, Any] | None) -> tuple[list[Any], Any]:
    """One page of the customer's tickets, newest first (``by_customer`` index, then one BatchGetItem)."""
    from pynamodb.exceptions import QueryError

    from chalicelib.storage.models import TicketModel
    from chalicelib.storage.tickets import tickets_by_ids

    if start is not None and start.get("customer_id") != {"S": customer_id}:  # a page key is in DynamoDB's JSON
        raise BadCursor("the page key does not continue this customer's tickets")
    try:
        query = TicketModel.by_customer.query(customer_id, scan_index_forward=False, limit=limit, page_size=limit,
                                              last_evaluated_key=start)
        ids = [entry.ticket_id for entry in query]
    except (QueryError, ValueError, TypeError, KeyError) as err:
        raise BadCursor("the page key does not continue this customer's tickets") from err
    return tickets_by_ids(ids), query.last_evaluated_key
