"""Agent API reads: every list is a Query on an index, paginated by key, never a Scan.

``GET /tickets`` picks its index from the filter: ``assignee`` (``me``, ``none`` or
an agent id), ``queue``, ``priority`` or ``channel`` — each combined with
``status`` (default open) — or ``overdue=true`` (the SLA due-time index,
shard by shard).
"""
from __future__ import annotations

import re
from typing import Any

from chalicelib.api import views
from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, NotFound, api_endpoint
from chalicelib.domain.vocabulary import PRIORITIES, STATUSES
from chalicelib.storage import tickets as stored_tickets
from chalicelib.storage.exceptions import BadCursor

_TICKET_ID = re.compile(r"^t-[0-9a-f]{20}$")
_AGENT_ID = re.compile(r"^a-[0-9a-f]{12}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_MAX_LIMIT = 100
_FILTERS = stored_tickets.VIEWS  # each its own index: one at a time


@api_endpoint
def list_tickets(request: Any) -> dict[str, Any]:
    agent = authenticate(request.headers)
    params = request.query_params or {}
    unknown = sorted(set(params) - {"status", "limit", "cursor", "overdue", *_FILTERS})
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
    status = params.get("status", "open")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    limit = _limit(params.get("limit"))
    cursor = views.decode_cursor(params.get("cursor"))
    chosen = [name for name in _FILTERS if name in params]
    if params.get("overdue") not in (None, "true"):
        raise BadRequest("overdue must be true (or left out)")
    if params.get("overdue") == "true":
        if chosen or "status" in params:
            raise BadRequest("overdue lists every overdue active ticket; it takes no other filter")
        return _overdue(limit, cursor)
    if len(chosen) > 1:
        raise BadRequest(f"use one of {', '.join(_FILTERS)} at a time (each is its own index)")
    view, value, described = None, None, {"status": status}
    if chosen:
        view, value = chosen[0], params[chosen[0]]
        _check_filter(view, value)
        if view == "assignee" and value == "me":
            value = agent.agent_id
        described = {"status": status, view: value}
    try:
        page = stored_tickets.tickets_in_view(status, view=view, value=value, limit=limit, start=cursor)
    except BadCursor as err:
        raise BadRequest("cursor is not one this API issued") from err
    return {**described, "tickets": [views.ticket_summary(ticket) for ticket in page.tickets],
            "next_cursor": views.encode_cursor(page.next_key)}


def _overdue(limit: int, cursor: dict[str, Any] | None) -> dict[str, Any]:
    """Active tickets past an SLA due time, most overdue first per shard."""
    try:
        page = stored_tickets.overdue_tickets(limit=limit, start=cursor)
    except BadCursor as err:
        raise BadRequest("cursor is not one this API issued") from err
    return {"overdue": True, "tickets": [views.ticket_summary(t) for t in page.tickets],
            "next_cursor": views.encode_cursor(page.next_key)}


def _check_filter(name: str, value: str) -> None:
    from chalicelib.domain.vocabulary import CHANNELS

    if name == "assignee" and not (value in ("me", "none") or _AGENT_ID.match(value)):
        raise BadRequest("assignee must be me, none or an agent id")
    if name == "queue" and not _SLUG.match(value):
        raise BadRequest("queue must be a queue name such as billing")
    if name == "priority" and value not in PRIORITIES:
        raise BadRequest(f"priority must be one of {', '.join(PRIORITIES)}")
    if name == "channel" and value not in CHANNELS:
        raise BadRequest(f"channel must be one of {', '.join(CHANNELS)}")


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
