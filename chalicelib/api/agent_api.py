"""Agent API handlers: every list is a Query on an index, paginated by key, never a Scan."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.api import views
from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, NotFound, api_endpoint

_TICKET_ID = re.compile(r"^t-[0-9a-f]{20}$")
_MAX_LIMIT = 100


@api_endpoint
def list_tickets(request: Any) -> dict[str, Any]:
    from pynamodb.exceptions import QueryError

    from chalicelib.storage.models import TicketModel

    authenticate(request.headers)
    params = request.query_params or {}
    unknown = sorted(set(params) - {"status", "limit", "cursor"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
    status = params.get("status", "open")
    if status not in views.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(views.STATUSES)}")
    limit = _limit(params.get("limit"))
    cursor = views.decode_cursor(params.get("cursor"))
    try:
        page = TicketModel.by_status.query(
            status, scan_index_forward=False, limit=limit, last_evaluated_key=cursor, page_size=limit
        )
        tickets = [views.ticket_summary(ticket) for ticket in page]
    except (QueryError, ValueError, KeyError) as err:
        raise BadRequest("cursor is not one this API issued") from err
    return {"status": status, "tickets": tickets, "next_cursor": views.encode_cursor(page.last_evaluated_key)}


@api_endpoint
def get_ticket(request: Any, ticket_id: str) -> dict[str, Any]:
    from chalicelib.storage import repository

    authenticate(request.headers)
    if not _TICKET_ID.match(ticket_id or ""):
        raise NotFound(f"no ticket {ticket_id!r}")
    ticket = repository.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id!r}")
    return views.ticket_detail(ticket)


def _limit(value: str | None) -> int:
    if value is None:
        return 25
    if not (value.isascii() and value.isdigit() and len(value) <= 3) or not 1 <= int(value) <= _MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {_MAX_LIMIT}")
    return int(value)
