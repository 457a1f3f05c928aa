"""Agent API on customers: the shop's import (admin), the customer's context, edits (admin) and merges.

``chalicelib.domain.customers`` is imported here at cold start for its
validation types, and the customer services with it (they keep PynamoDB out of
their module-level imports); storage is reached inside the handlers.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from chalicelib.api.auth import authenticate, require_role
from chalicelib.api.errors import BadRequest, api_endpoint
from chalicelib.api.requests import Body, parse
from chalicelib.domain import customers as customer_rules
from chalicelib.service import customer_import, customer_merge, customers

MAX_IMPORT_RECORDS = 500  # per request: larger files go through `python -m chalicelib.admin import-customers`
_CUSTOMER_ID = re.compile(r"^c-[0-9a-f]{20}$")


class ImportBody(Body):
    # Records are validated one by one by the service, so one bad row is reported, not a 400 for the file.
    customers: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_IMPORT_RECORDS)


class CustomerPatch(Body):
    name: customer_rules.Name | None = None
    tier: customer_rules.Tier | None = None  # null removes the tier
    attributes: customer_rules.AttributeChanges | None = None  # merged into the stored ones; null values remove keys
    purchases_add: list[customer_rules.Purchase] = Field(default_factory=list, max_length=customer_rules.MAX_PURCHASES)


class MergeBody(Body):
    into: str = Field(pattern=r"^c-[0-9a-f]{20}$")


@api_endpoint
def import_customers(request: Any) -> dict[str, Any]:
    """200 with per-record outcomes even when some records conflict: the rest of the file is imported."""
    require_role(authenticate(request.headers), "admin")
    body = parse(request, ImportBody)
    return customer_import.import_customers(body.customers).as_dict()


@api_endpoint
def item(request: Any, customer_id: str) -> dict[str, Any]:
    agent = authenticate(request.headers)
    if request.method == "PATCH":
        require_role(agent, "admin")
        _check_id(customer_id)
        body = parse(request, CustomerPatch)
        if not body.model_fields_set or (body.model_fields_set == {"purchases_add"} and not body.purchases_add):
            raise BadRequest("nothing to change: send name, tier, attributes or purchases_add")
        if "name" in body.model_fields_set and body.name is None:
            raise BadRequest("name: a customer's name cannot be removed, only replaced")
        return customers.update_customer(
            customer_id, name=body.name,
            tier=body.tier if "tier" in body.model_fields_set else customers.UNSET,
            attributes=body.attributes, purchases_add=body.purchases_add,
        )
    _check_id(customer_id)
    return customers.customer_context(customer_id)


@api_endpoint
def merge(request: Any, customer_id: str) -> dict[str, Any]:
    """Merge the customer in the path into ``into``; answers with the surviving customer's context."""
    from chalicelib.service.changes import Actor

    agent = authenticate(request.headers)
    _check_id(customer_id)
    body = parse(request, MergeBody)
    result = customer_merge.merge_customers(customer_id, body.into, Actor.of_agent(agent))
    return {**customers.customer_context(body.into), "merge": result.as_dict()}


def _check_id(customer_id: str) -> None:
    if not _CUSTOMER_ID.match(customer_id or ""):
        raise BadRequest(f"{customer_id[:80]!r} is not a customer id (c- and 20 hex digits)")
