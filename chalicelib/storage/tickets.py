"""Reading tickets the way agents look at them: views by index, a ticket's conversation, a customer's tickets.

Every list is a Query on an index, paginated by key, never a Scan. The ticket
indexes project keys only (each ticket write then touches an index only when a
key it is sorted by changes: issue 11's write budget), so a page's tickets are
read with one BatchGetItem after the Query, in the index's order. A page's
``next_key`` is DynamoDB's last evaluated key (opaque to callers: the API
encodes it as its cursor and hands it back); a key this module did not issue
raises ``BadCursor``.

The API's views import this module at cold start, so the models (PynamoDB)
are imported inside the functions that use them.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib import clock

from chalicelib.storage import ticket_keys
from chalicelib.storage.exceptions import BadCursor

__all__ = ["DUE_INDEXES", "VIEWS", "TicketPage", "audit_trail", "customer_ticket_ids", "customer_tickets",
           "due_ticket_ids", "message", "messages", "messages_at", "overdue_tickets", "ticket_ids_held_by", "ticket_ids_in_status",
           "rekey_all", "tickets_by_ids", "tickets_in_view", "waiting_ticket_ids"]

_MAX_BATCH_GET = 100  # DynamoDB BatchGetItem limit

# The views an agent filters by: assignee and queue each have an index keyed "<value>#<status>" (see
# ticket_keys.derived); priority and channel filter by_status on its projected attribute.
VIEWS = ("assignee", "queue", "priority", "channel")
_FILTERED_PAGE = 500  # index entries read per request for a filtered view (~120 bytes each: <1 MB pages)


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Any]
    next_key: dict[str, Any] | None  # where the next page starts; None on the last page


def tickets_in_view(status: str, *, view: str | None = None, value: str | None = None, limit: int,
                    start: dict[str, Any] | None = None) -> TicketPage:
    """Tickets in ``status``, latest customer activity first; with ``view`` only those whose assignee
    (an agent id or ``none``), queue, priority or channel is ``value``."""
    from pynamodb.exceptions import QueryError

    from chalicelib.storage.models import TicketModel

    query: dict[str, Any] = {"page_size": limit}
    if view in ("assignee", "queue"):
        index, key = {"assignee": TicketModel.by_assignee, "queue": TicketModel.by_queue}[view], f"{value}#{status}"
    else:
        index, key = TicketModel.by_status, status
        if view is not None:  # a rare value reads through the status's entries: keys and three small fields
            query = {"page_size": _FILTERED_PAGE,
                     "filter_condition": getattr(TicketModel, view)
                     == value}
    keys = ticket_keys.view_keys(key)
    if len(keys) > 1:
        entries, next_key = _merged_page(index, keys, limit=limit, start=start, query=query)
        return TicketPage(tickets_by_ids(entry.ticket_id for entry in entries), next_key)
    try:
        page = index.query(key, scan_index_forward=False, limit=limit, last_evaluated_key=start, **query)
        ids = [entry.ticket_id for entry in page]
    except (QueryError, ValueError, KeyError) as err:
        raise BadCursor("the page key does not continue this view") from err
    return TicketPage(tickets_by_ids(ids), page.last_evaluated_key)


def _merged_page(index: Any, keys: list[str], *, limit: int, start: dict[str, Any] | None,
                 query: dict[str, Any]) -> tuple[list[Any], dict[str, Any] | None]:
    """One page of a sharded view, latest activity first: each shard's next ``limit`` entries, merged.

    The page key holds each shard's position (``{"shards": {"M": {shard key: {"M": DynamoDB key}, or
    {"NULL": true} once read to its end}}}``); a shard it does not name starts at its beginning. A page
    costs one Query per shard key (``VIEW_SHARDS`` + 1: the unsharded spelling is read too).
    """
    from pynamodb.exceptions import QueryError

    hash_name = index._hash_key_attribute().attr_name
    positions = _positions(start, keys)
    candidates: list[tuple[str, Any]] = []
    exhausted: set[str] = set()
    for key in keys:
        if key in positions and positions[key] is None:  # read to its end on an earlier page
            exhausted.add(key)
            continue
        position = positions.get(key)
        after_key = None if position is None else {
            hash_name: {"S": key}, "view_order": {"S": position[0]}, "ticket_id": {"S": position[1]}}
        try:
            page = index.query(key, scan_index_forward=False, limit=limit, last_evaluated_key=after_key, **query)
            candidates += [(key, entry) for entry in page]
        except (QueryError, ValueError, KeyError) as err:
            raise BadCursor("the page key does not continue this view") from err
        if page.last_evaluated_key is None:
            exhausted.add(key)
    candidates.sort(key=lambda pair: (pair[1].view_order or "", pair[1].ticket_id), reverse=True)
    taken, left = candidates[:limit], {key for key, _ in candidates[limit:]}
    after = dict(positions)
    for key, entry in taken:  # each shard goes on after the last of its entries on this page
        after[key] = (entry.view_order, entry.ticket_id)
    for key in exhausted - left:
        after[key] = None
    entries = [entry for _, entry in taken]
    if all(after.get(key, ()) is None for key in keys):
        return entries, None
    return entries, {"shards": {"M": {
        key: {"NULL": True} if position is None else {"M": {"o": {"S": position[0]}, "t": {"S": position[1]}}}
        for key, position in after.items()}}}


def _positions(start: dict[str, Any] | None, keys: list[str]) -> dict[str, tuple[str, str] | None]:
    """A sharded view's page key, read back: shard key → the (view_order, ticket_id) to go on after, or None
    when that shard was read to its end. Only the view's own shard keys, each with text values, are accepted."""
    if start is None:
        return {}
    shards = start.get("shards", {}).get("M") if isinstance(start.get("shards"), dict) else None
    if len(start) != 1 or not isinstance(shards, dict) or not set(shards) <= set(keys):
        raise BadCursor("the page key does not continue this view")
    positions: dict[str, tuple[str, str] | None] = {}
    for key, value in shards.items():
        inner = value.get("M") if isinstance(value, dict) else None
        if value == {"NULL": True}:
            positions[key] = None
        elif isinstance(inner, dict) and set(inner) == {"o", "t"} and all(
                isinstance(inner[name], dict) and isinstance(inner[name].get("S"), str) for name in ("o", "t")):
            positions[key] = (inner["o"]["S"], inner["t"]["S"])
        else:
            raise BadCursor("the page key does not continue this view")
    return positions


def overdue_tickets(*, limit: int, start: dict[str, Any] | None = None) -> TicketPage:
    """Active tickets past an SLA due time (the sparse ``overdue`` index), most overdue first per shard.

    The index is sharded (``ticket_keys.shard_count()``): a page walks the shards in
    order, and its ``next_key`` says which shard (and where in it) to go on from.
    """
    from pynamodb.exceptions import QueryError

    from chalicelib.storage.models import TicketModel

    shards = ticket_keys.all_shards()
    position = start or {}
    first = position.get("shard", {}).get("S", shards[0]) if isinstance(position.get("shard"), dict) else shards[0]
    if first not in shards:
        raise BadCursor("the page key names no shard of the overdue index")
    last_key = position.get("key", {}).get("M") if isinstance(position.get("key"), dict) else None
    found: list[Any] = []
    next_key = None
    for index, shard in enumerate(shards[shards.index(first):], start=shards.index(first)):
        try:
            page = TicketModel.overdue.query(shard, limit=limit - len(found), last_evaluated_key=last_key,
                                             page_size=limit)
            found += list(page)
        except (QueryError, ValueError, KeyError) as err:
            raise BadCursor("the page key does not continue the overdue list") from err
        last_key = None
        if page.last_evaluated_key:
            next_key = {"shard": {"S": shard}, "key": {"M": page.last_evaluated_key}}
            break
        if len(found) >= limit:
            next_key = {"shard": {"S": shards[index + 1]}} if index + 1 < len(shards) else None
            break
    return TicketPage(tickets_by_ids([entry.ticket_id for entry in found]), next_key)


def messages(ticket_ids: Iterable[str], *, limit_each: int) -> list[Any]:
    """The messages of these tickets (a ticket and the duplicates merged into it), oldest first per ticket."""
    from chalicelib.storage.models import MessageModel

    return [message for ticket_id in ticket_ids for message in MessageModel.query(ticket_id, limit=limit_each)]


def message(ticket_id: str, message_sk: str) -> Any | None:
    """One message of a ticket by its sort key (an attachment download names it), or None."""
    from chalicelib.storage.models import MessageModel

    try:
        return MessageModel.get(ticket_id, message_sk)
    except MessageModel.DoesNotExist:
        return None


def messages_at(ticket_id: str, at: str) -> list[Any]:
    """The ticket's messages stored at ``at`` (sort keys ``<at>#<digest>``): one Query, usually one message."""
    from chalicelib.storage.models import MessageModel

    return list(MessageModel.query(ticket_id, MessageModel.sk.startswith(f"{at}#"), limit=10))


def audit_trail(ticket_id: str, *, limit: int) -> list[Any]:
    """Who changed what on the ticket, oldest first."""
    from chalicelib.storage.models import AuditModel

    return list(AuditModel.query(ticket_id, limit=limit))


def customer_tickets(customer_id: str, *, limit: int) -> list[Any]:
    """The customer's tickets, newest first."""
    from chalicelib.storage.models import TicketModel

    return tickets_by_ids([entry.ticket_id for entry in TicketModel.by_customer.query(
        customer_id, scan_index_forward=False, limit=limit)])


def tickets_by_ids(ticket_ids: Iterable[str]) -> list[Any]:
    """The tickets, in the order asked (BatchGetItem, 100 a call); ids of tickets that do not exist are left out."""
    from chalicelib.storage.models import TicketModel

    wanted = list(dict.fromkeys(ticket_ids))
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), _MAX_BATCH_GET):
        found.update((t.ticket_id, t) for t in TicketModel.batch_get(wanted[start:start + _MAX_BATCH_GET]))
    return [found[ticket_id] for ticket_id in wanted if ticket_id in found]


def customer_ticket_ids(customer_id: str) -> list[str]:
    """The ids of every ticket of the customer (the index may lag a moment behind a ticket's own item)."""
    from chalicelib.storage.models import TicketModel

    return [ticket.ticket_id for ticket in TicketModel.by_customer.query(customer_id, page_size=100,
                                                                         attributes_to_get=["ticket_id"])]


# --- what the sweeps and assignment look for (index entries: ids only; read the ticket before acting) ---

# The sweeps' sharded due-time indexes: "timer" (automation timers), "sla" (SLA warnings and breaches).
DUE_INDEXES = ("timer", "sla")


def waiting_ticket_ids(queue: str, limit: int) -> list[str]:
    """A queue's waiting line, oldest first (one Query on the sparse ``waiting`` index)."""
    from chalicelib.storage.models import TicketModel

    entries = [entry for key in ticket_keys.view_keys(queue)
               for entry in TicketModel.waiting.query(key, scan_index_forward=True, limit=limit, page_size=limit)]
    entries.sort(key=lambda entry: (entry.created_at, entry.ticket_id))  # the shards' lines, merged
    return [entry.ticket_id for entry in entries[:limit]]


def ticket_ids_held_by(agent_id: str) -> Iterator[str]:
    """The ids of the agent's active tickets, status by status (read page by page, as the caller goes)."""
    from chalicelib.storage.models import TicketModel

    for status in ticket_keys.ACTIVE:
        for key in ticket_keys.view_keys(f"{agent_id}#{status}"):
            for entry in TicketModel.by_assignee.query(key):
                yield entry.ticket_id


def ticket_ids_in_status(status: str) -> Iterator[str]:
    """The ids of every ticket in ``status`` (read page by page, as the caller goes)."""
    from chalicelib.storage.models import TicketModel

    for key in ticket_keys.view_keys(status):
        for entry in TicketModel.by_status.query(key):
            yield entry.ticket_id


def due_ticket_ids(index: str, moment: datetime, *, per_shard: int) -> list[str]:
    """Tickets whose due time in ``index`` (one of ``DUE_INDEXES``) is at or before ``moment``, at most
    ``per_shard`` from each shard (``ticket_keys.shard_count()`` small Queries, never a Scan)."""
    from chalicelib.storage.models import TicketModel

    queried, due_at = {"timer": (TicketModel.by_timer, TicketModel.timer_at),
                       "sla": (TicketModel.by_sla_due, TicketModel.sla_check_at)}[index]
    stamp = clock.iso(moment)
    found = []
    for shard in ticket_keys.all_shards():
        found += [entry.ticket_id for entry in queried.query(shard, due_at <= stamp, limit=per_shard,
                                                             page_size=per_shard)]
    return found


def rekey_all(*, tries: int = 3) -> int:
    """Rewrite every ticket's derived view and sweep keys that differ from its fields; returns how many.

    A migration tool (``python -m chalicelib.admin rekey-tickets``) for when the
    derived keys change shape (e.g. ``view_order``): tickets missing from a new
    index are found only by reading the table, so this one Scan is deliberate and
    never runs on a request's path. Each update is conditioned on the version
    read; a ticket that keeps changing is read again, and a change made by the
    desk meanwhile writes its keys anyway.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import TicketModel

    changed = 0
    for ticket in TicketModel.scan():
        for _ in range(tries):
            actions = ticket_keys.update_actions(ticket, {})
            if not actions:
                break
            try:
                ticket.update(actions=actions)
                changed += 1
                break
            except UpdateError:
                ticket = TicketModel.get(ticket.ticket_id, consistent_read=True)
    return changed
