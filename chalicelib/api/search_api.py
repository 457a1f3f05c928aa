"""``GET /search?q=``: the agents' console's one search box (tickets and customers), never a Scan.

How a query is read (number, email, phone, order, name) is ``chalicelib.domain.finding``;
what each kind looks up is ``chalicelib.service.finding``.
"""
from __future__ import annotations

from typing import Any

from chalicelib.api import views
from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, api_endpoint


@api_endpoint
def search(request: Any) -> dict[str, Any]:
    """``{"query", "kind", "tickets": [summary...], "customers": [{"id", "name", "identities", "tier"}]}``."""
    from chalicelib.service import finding

    authenticate(request.headers)
    params = request.query_params or {}
    unknown = sorted(set(params) - {"q"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}; send q")
    query = params.get("q") or ""
    try:
        found = finding.find(query)
    except finding.QueryError as err:
        raise BadRequest(str(err)) from None
    return {"query": query, "kind": found.kind,
            "tickets": [views.ticket_summary(ticket) for ticket in found.tickets],
            "customers": [{"id": c.customer_id, "name": c.name, "identities": sorted(c.identities or []),
                           "tier": c.tier} for c in found.customers]}
