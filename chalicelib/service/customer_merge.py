"""Merging duplicate customers: one survivor with both histories, found by every identity of both.

The pipeline finds a customer through identity lookups (``id:<kind>:<value>`` →
``customer_id``), so a merge moves the merged-away customer's lookups to the
survivor (or its next message would open a ticket on the old customer), gives
every lookup the survivor's ``tier``, and moves its tickets through
``changes.apply`` so each move has its audit entry.

The API imports this module at cold start; ``changes`` and the repository
import PynamoDB, so they are imported inside the function that moves tickets.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.domain.customers import MAX_ATTRIBUTES, merge_purchases
from chalicelib.errors import BadRequest, Conflict
from chalicelib.service.customer_state import require_customer
from chalicelib.storage import customers as stored_customers
from chalicelib.storage import tickets as stored_tickets
from chalicelib.storage.exceptions import ConditionFailed

if TYPE_CHECKING:
    from chalicelib.service.changes import Actor

__all__ = ["InvalidMerge", "MergeConflict", "MergeResult", "merge_customers"]

_TICKET_RETRIES = 3


class InvalidMerge(BadRequest):
    """The merge asked for makes no sense (a customer into itself)."""


class MergeConflict(Conflict):
    """The merge cannot apply now: one side was already merged elsewhere, or changed meanwhile."""


@dataclass(frozen=True)
class MergeResult:
    source_id: str
    target_id: str
    identities_moved: int
    tickets_moved: int
    repeated: bool  # the source was already merged into the target: this call only finished the moves
    identities_skipped: tuple[str, ...] = ()  # lookups another customer owns: never taken over

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identities_skipped": list(self.identities_skipped)}


def merge_customers(source_id: str, target_id: str, actor: Actor) -> MergeResult:
    """Fold ``source`` into ``target``: one customer with both histories, and new messages find the survivor.

    Crash-safe and idempotent: the customers' union and the source's
    ``merged_into`` are written in one transaction (so ``ticket_count`` is added
    once); the lookups and tickets are moved after it, by steps that skip what
    is already moved, so repeating the call finishes an interrupted merge.
    """
    if source_id == target_id:
        raise InvalidMerge("a customer cannot be merged into itself")
    source, target = require_customer(source_id), require_customer(target_id)
    if target.merged_into:
        raise MergeConflict(f"customer {target_id} was itself merged into {target.merged_into}; merge into that one")
    repeated = bool(source.merged_into)
    if source.merged_into and source.merged_into != target_id:
        raise MergeConflict(f"customer {source_id} was already merged into {source.merged_into}")
    if not repeated:
        try:
            stored_customers.merge_customers(source_id, _union(source, target))
        except ConditionFailed:
            raise MergeConflict("one of the customers changed or was merged meanwhile; try again") from None
        target = require_customer(target_id)
    moved, skipped = _move_identities(source, target)
    tickets = _move_tickets(source_id, target_id, actor)
    return MergeResult(source_id, target_id, moved, tickets, repeated, tuple(skipped))


def _union(source: Any, target: Any) -> stored_customers.CustomerUpdate:
    """The target's update: the union of both customers, the target's values winning."""
    values: dict[str, Any] = {}
    purchases = merge_purchases(list(source.purchases or []), list(target.purchases or []))
    if purchases != list(target.purchases or []):
        values["purchases"] = purchases
    attributes = dict(target.attributes or {})
    for key, value in (source.attributes or {}).items():  # target wins; the item stays within its bounds
        if key not in attributes and len(attributes) < MAX_ATTRIBUTES:
            attributes[key] = value
    if attributes != dict(target.attributes or {}):
        values["attributes"] = attributes
    if source.name and not target.name:
        values["name"] = source.name
    if source.tier and not target.tier:
        values["tier"] = source.tier
    if source.language and not target.language:  # a preference stated on either record still holds
        values["language"] = source.language
    if source.first_seen_at and (not target.first_seen_at or source.first_seen_at < target.first_seen_at):
        values["first_seen_at"] = source.first_seen_at
    if source.last_seen_at and (not target.last_seen_at or source.last_seen_at > target.last_seen_at):
        values["last_seen_at"] = source.last_seen_at
    if source.last_inquiry is not None and (
            target.last_inquiry is None or source.last_inquiry.at > target.last_inquiry.at):
        values["last_inquiry"] = source.last_inquiry
    return stored_customers.CustomerUpdate(target.customer_id, values,
                                           add_identities=frozenset(source.identities or ()),
                                           add_tickets=int(source.ticket_count or 0))


def _move_identities(source: Any, target: Any) -> tuple[int, list[str]]:
    """Point the source's lookups at the target, and give every lookup of the survivor its tier.

    Each lookup is conditioned on the owner read, so an identity another
    customer owns is reported, never taken.
    """
    mine = set(source.identities or ())
    everyone = sorted(mine | set(target.identities or ()))
    lookups = stored_customers.identity_lookups(everyone)
    moved, skipped = 0, []
    for identity in everyone:
        lookup = lookups.get(identity)
        owner = lookup.customer_id if lookup is not None else None
        if owner not in (None, source.customer_id, target.customer_id):
            skipped.append(identity)
            continue
        if owner is None and identity not in mine and lookup is None:
            continue  # a target identity without a lookup: nothing to correct
        change = stored_customers.IdentityUpdate(
            identity, expected_owner=owner, new_owner=target.customer_id if owner != target.customer_id else None,
            tier=target.tier if (lookup.tier if lookup is not None else None) != target.tier else stored_customers.KEEP)
        if not change:
            continue
        try:
            stored_customers.move_identity(change, at=clock.iso(clock.now()))
        except ConditionFailed:
            skipped.append(identity)  # claimed meanwhile; a repeated merge looks again
            continue
        moved += int(owner != target.customer_id)
    missing = mine - set(target.identities or ()) - set(skipped)
    if missing:  # identities the source gained after the union was written (a message raced the merge)
        stored_customers.add_identities(target.customer_id, missing)
    return moved, skipped


def _move_tickets(source_id: str, target_id: str, actor: Actor) -> int:
    """Every ticket of the source onto the target, each with its audit entry, through ``changes.apply``."""
    ticket_ids = stored_tickets.customer_ticket_ids(source_id)
    return sum(_repoint(ticket_id, source_id, target_id, actor) for ticket_id in ticket_ids)


def _repoint(ticket_id: str, source_id: str, target_id: str, actor: Actor) -> int:
    from chalicelib.service import changes  # imports PynamoDB: not at the API's cold start
    from chalicelib.storage import repository

    def still_the_sources(ticket: Any) -> bool:  # the index may lag: the ticket itself says where it is
        return ticket.customer_id == source_id

    def repoint(ticket: Any) -> int:
        changes.apply(ticket, changes.TicketChange(sets={"customer_id": target_id}), actor,
                      action="customer_merged", detail=f"customer merged: {source_id} → {target_id}")
        return 1

    ticket = repository.get_ticket(ticket_id)
    if ticket is None or not still_the_sources(ticket):
        return 0
    try:
        return changes.retrying(ticket, repoint, still_wanted=still_the_sources, tries=_TICKET_RETRIES,
                                gave_up="the ticket kept changing") or 0
    except changes.Conflict:
        raise MergeConflict(f"ticket {ticket_id} kept changing; merge again to finish moving the tickets") from None
