"""A customer as an agent sees it, and an admin's edit of it.

The shop's import is ``customer_import``, merging duplicates ``customer_merge``
and the record's validation ``chalicelib.domain.customers``; this module is the
read an agent makes (the context, always of the surviving customer of a merge)
and the PATCH. The customer's ``tier`` is copied onto every identity lookup it
owns, so an edit of the tier rewrites those lookups in the same transaction.

Every read and write goes through ``chalicelib.storage.customers`` (and
``storage.tickets`` for the customer's tickets), which keep PynamoDB out of
their module-level imports: the API imports this module at cold start.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib import clock
from chalicelib.domain.customers import MAX_ATTRIBUTES, Purchase, merge_purchases, new_orders
from chalicelib.errors import BadRequest, Conflict
from chalicelib.service.customer_state import CustomerState, customer_update, require_customer
from chalicelib.storage import customers as stored_customers
from chalicelib.storage import tickets as stored_tickets
from chalicelib.storage.exceptions import ConditionFailed

__all__ = ["PAST_TICKETS_SHOWN", "PURCHASES_SHOWN", "UNSET", "CustomerConflict", "customer_context",
           "update_customer"]

PURCHASES_SHOWN = 20
PAST_TICKETS_SHOWN = 10
UNSET: Any = object()  # "leave the tier (language) alone" (None removes it)


class CustomerConflict(Conflict):
    """The customer was merged away or changed during the write; change the survivor or retry."""


def update_customer(customer_id: str, *, name: str | None = None, tier: str | None | Any = UNSET,
                    language: str | None | Any = UNSET, attributes: dict[str, Any] | None = None,
                    purchases_add: Sequence[Purchase] = ()) -> dict[str, Any]:
    """An admin's edit; returns the customer's context. ``None`` attribute values remove the attribute.

    A tier change is written to the customer and to every identity lookup it
    owns in one transaction, so triage never sees the old tier on one channel
    and the new one on another.
    """
    model = require_customer(customer_id)
    if model.merged_into:
        raise CustomerConflict(f"customer {customer_id} was merged into {model.merged_into}; change that one")
    before = CustomerState.of(model)
    merged_attributes = {**before.attributes, **(attributes or {})}
    after = CustomerState(
        customer_id, True,
        name=name if name is not None else before.name,
        tier=before.tier if tier is UNSET else tier,
        language=before.language if language is UNSET else language,
        attributes={k: v for k, v in merged_attributes.items() if v is not None},
        purchases=merge_purchases(before.purchases, [p.stored() for p in purchases_add]),
        identities=before.identities,
    )
    if len(after.attributes) > MAX_ATTRIBUTES:
        raise BadRequest(f"the customer would have {len(after.attributes)} attributes; at most {MAX_ATTRIBUTES}")
    update = customer_update(before, after)
    if not update:
        return customer_context(customer_id)
    lookups: list[stored_customers.IdentityUpdate] = []
    if after.tier != before.tier:
        owned = stored_customers.identity_lookups(sorted(before.identities))
        lookups = [stored_customers.IdentityUpdate(identity, expected_owner=customer_id, tier=after.tier)
                   for identity, lookup in sorted(owned.items()) if lookup.customer_id == customer_id]
    try:
        stored_customers.save_customer(update, lookups, at=clock.iso(clock.now()),
                                       orders=new_orders(before.purchases, after.purchases))
    except ConditionFailed:
        raise CustomerConflict("the customer changed (or was merged) meanwhile; GET it again and retry") from None
    return customer_context(customer_id)


def customer_context(customer_id: str) -> dict[str, Any]:
    """Everything an agent needs about a customer, for the surviving customer of a merge.

    ``redirected_from`` names the id asked for when it was merged away, so a
    client holding an old id learns the new one.
    """
    customer = require_customer(customer_id)
    redirected_from = None
    for _ in range(3):  # merges refuse chains; a bound keeps a raced one from looping
        if not customer.merged_into:
            break
        redirected_from = redirected_from or customer_id
        customer = require_customer(customer.merged_into)
    identities = sorted(customer.identities or ())
    channels: dict[str, list[str]] = {}
    for identity in identities:
        kind, _, value = identity.partition(":")
        channels.setdefault(kind, []).append(value)
    purchases = list(customer.purchases or [])
    previous = [
        {"id": t.ticket_id, "number": int(t.number), "subject": t.subject, "status": t.status,
         "channel": t.channel, "created_at": t.created_at}
        for t in stored_tickets.customer_tickets(customer.customer_id, limit=PAST_TICKETS_SHOWN)
    ]
    inquiry = customer.last_inquiry
    return {
        "id": customer.customer_id,
        "name": customer.name,
        "tier": customer.tier,
        "language": customer.language,
        "identities": identities,
        "channels": channels,
        "attributes": dict(customer.attributes or {}),
        "purchases": purchases[:PURCHASES_SHOWN],
        "purchase_count": len(purchases),
        "last_inquiry": None if inquiry is None else inquiry.as_dict(),
        "previous_tickets": previous,
        "ticket_count": int(customer.ticket_count or 0),
        "first_seen_at": customer.first_seen_at,
        "last_seen_at": customer.last_seen_at,
        "redirected_from": redirected_from,
    }
