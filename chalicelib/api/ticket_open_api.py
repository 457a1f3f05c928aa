"""``POST /tickets``: an agent opens a ticket for a customer — a phone call logged, or a first message sent.

The use case (customer found or created by identity, routing, the first message,
idempotency) is ``chalicelib.service.ticket_open``; this edge validates the body
strictly and answers with the ticket as ``GET /tickets/{id}`` shows it.
"""
from __future__ import annotations

from typing import Any

from chalicelib.api import views
from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, Created, api_endpoint
from chalicelib.api.requests import idempotency_key, parse



@api_endpoint
def open_ticket(request: Any) -> Any:
    """201 with the ticket's detail; a repeated request (same Idempotency-Key) answers with the ticket it opened."""
    from chalicelib.api.ticket_bodies import OpenTicketBody  # pydantic: loaded by the routes using it
    from chalicelib.service import ticket_open

    agent = authenticate(request.headers)
    body = parse(request, OpenTicketBody)
    if not body.subject.strip() or not body.text.strip():
        raise BadRequest("subject and text must not be blank")
    key = idempotency_key(request)
    if key is not None and body.request_id is not None and key != body.request_id:
        raise BadRequest("Idempotency-Key and request_id differ; send one of them")
    opening = ticket_open.Opening(
        kind=body.kind, channel=body.channel, subject=" ".join(body.subject.split()), text=body.text,
        email=body.customer.email, phone=body.customer.phone, customer_id=body.customer.customer_id,
        name=body.customer.name, priority=body.priority, queue=body.queue, assignee_id=body.assignee_id,
        status=body.status, request_key=key or body.request_id)
    ticket, _ = ticket_open.open_ticket(opening, agent)
    return Created(views.ticket_detail(ticket))
