"""Agent API on customers: the shop's import (admin), the customer's context, edits (admin) and merges.

The request bodies (``customer_bodies``, with the domain's validation types) and
the customer services load in the handlers, on the first request that needs
them, not when the API function loads this module (about 6 ms).
"""
from __future__ import annotations

import re
from typing import Any

from chalicelib.api.auth import authenticate, require_role
from chalicelib.api.errors import BadRequest, api_endpoint
from chalicelib.api.requests import parse

_CUSTOMER_ID = re.compile(r"^c-[0-9a-f]{20}$")


@api_endpoint
def import_customers(request: Any) -> dict[str, Any]:
    """200 with per-record outcomes even when some records conflict: the rest of the file is imported."""
    from chalicelib.api.customer_bodies import ImportBody
    from chalicelib.service import customer_import

    require_role(authenticate(request.headers), "admin")
    body = parse(request, ImportBody)
    return customer_import.import_customers(body.customers).as_dict()


@api_endpoint
def item(request: Any, customer_id: str) -> dict[str, Any]:
    from chalicelib.api.customer_bodies import CustomerPatch
    from chalicelib.service import customers

    agent = authenticate(request.headers)
    if request.method == "PATCH":
        require_role(agent, "admin")
        _check_id(customer_id)
        body = parse(request, CustomerPatch)
        if not body.model_fields_set or (body.model_fields_set == {"purchases_add"} and not body.purchases_add):
            raise BadRequest("nothing to change: send name, tier, language, attributes or purchases_add")
        if "name" in body.model_fields_set and body.name is None:
            raise BadRequest("name: a customer's name cannot be removed, only replaced")
        return customers.update_customer(
            customer_id, name=body.name,
            tier=body.tier if "tier" in body.model_fields_set else customers.UNSET,
            language=body.language if "language" in body.model_fields_set else customers.UNSET,
            attributes=body.attributes, purchases_add=body.purchases_add,
        )
    _check_id(customer_id)
    return customers.customer_context(customer_id)


@api_endpoint
def merge(request: Any, customer_id: str) -> dict[str, Any]:
    """Merge the customer in the path into ``into``; answers with the surviving customer's context."""
    from chalicelib.api.customer_bodies import MergeBody
    from chalicelib.service import customer_merge, customers
    from chalicelib.service.changes import Actor

    agent = authenticate(request.headers)
    _check_id(customer_id)
    body = parse(request, MergeBody)
    result = customer_merge.merge_customers(customer_id, body.into, Actor.of_agent(agent))
    return {**customers.customer_context(body.into), "merge": result.as_dict()}


def _check_id(customer_id: str) -> None:
    if not _CUSTOMER_ID.match(customer_id or ""):
        raise BadRequest(f"{customer_id[:80]!r} is not a customer id (c- and 20 hex digits)")
