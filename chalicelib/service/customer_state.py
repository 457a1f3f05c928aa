"""A customer as the use cases read, compare and write it: the import, the merge and an admin's edit.

The import and an edit both build the customer as it should be and write only
the difference (``customer_update``), so a repeated import writes nothing.
Reads go through ``chalicelib.storage.customers``, which keeps PynamoDB out of
its module-level imports: the API imports the customer services at cold start.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import NotFound
from chalicelib.storage import customers as stored_customers

__all__ = ["CustomerState", "UnknownCustomer", "customer_update", "require_customer"]

_CUSTOMER_ID = re.compile(r"^c-[0-9a-f]{20}$")


class UnknownCustomer(NotFound):
    """No customer has this id."""


@dataclass
class CustomerState:
    """What the import and merge compare against: a customer as stored, or about to be."""

    customer_id: str
    exists: bool = False
    name: str | None = None
    tier: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    purchases: list[dict[str, Any]] = field(default_factory=list)
    identities: set[str] = field(default_factory=set)
    merged_into: str | None = None
    language: str | None = None  # the customer's stated preference (en, da, no); None: what they write in

    @classmethod
    def of(cls, model: Any) -> CustomerState:
        return cls(model.customer_id, True, model.name, model.tier, dict(model.attributes or {}),
                   list(model.purchases or []), set(model.identities or ()), model.merged_into, model.language)


def customer_update(before: CustomerState, after: CustomerState) -> stored_customers.CustomerUpdate:
    """The write that turns ``before`` into ``after``: only the values that differ, and the new identities."""
    values: dict[str, Any] = {}
    if after.name != before.name and after.name is not None:
        values["name"] = after.name
    if after.tier != before.tier:
        values["tier"] = after.tier or None  # None removes it
    if after.language != before.language:
        values["language"] = after.language or None  # None removes it: detection decides again
    if after.attributes != before.attributes:
        values["attributes"] = after.attributes
    if after.purchases != before.purchases:
        values["purchases"] = after.purchases
    return stored_customers.CustomerUpdate(after.customer_id, values,
                                           add_identities=frozenset(after.identities - before.identities))


def require_customer(customer_id: str) -> Any:
    """The stored customer (a consistent read), or UnknownCustomer: the API's 404."""
    customer = stored_customers.get_customer(customer_id, consistent=True) if _CUSTOMER_ID.match(
        customer_id or "") else None
    if customer is None:
        raise UnknownCustomer(f"no customer {customer_id!r}")
    return customer
