"""``POST /tickets``: an agent opens a ticket for a customer — a phone call logged, or a first message sent.

The use case (customer found or created by identity, routing, the first message,
idempotency) is ``chalicelib.service.ticket_open``; this edge validates the body
strictly and answers with the ticket as ``GET /tickets/{id}`` shows it.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from chalicelib.api import views
from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, Created, api_endpoint
from chalicelib.api.requests import Body, parse
from chalicelib.domain.customers import Name
from chalicelib.domain.messages import MAX_SUBJECT_CHARS
from chalicelib.domain.vocabulary import Priority, SettableStatus

_REQUEST_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, as the IETF Idempotency-Key draft's examples
MAX_TEXT_CHARS = 50_000  # as a reply or a note


class CustomerRef(Body):
    email: str | None = Field(None, min_length=3, max_length=254)
    phone: str | None = Field(None, min_length=4, max_length=40)
    customer_id: str | None = Field(None, pattern=r"^c-[0-9a-f]{20}$")
    name: Name | None = None


class OpenTicketBody(Body):
    customer: CustomerRef
    kind: Literal["call", "outbound"]
    channel: Literal["phone", "email", "sms", "whatsapp", "webchat"]
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT_CHARS)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    priority: Priority | None = None
    queue: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")
    assignee_id: str | None = Field(None, pattern=r"^a-[0-9a-f]{12}$")
    status: SettableStatus | None = None
    request_id: str | None = Field(None, pattern=_REQUEST_KEY.pattern)


@api_endpoint
def open_ticket(request: Any) -> Any:
    """201 with the ticket's detail; a repeated request (same Idempotency-Key) answers with the ticket it opened."""
    from chalicelib.service import ticket_open

    agent = authenticate(request.headers)
    body = parse(request, OpenTicketBody)
    if not body.subject.strip() or not body.text.strip():
        raise BadRequest("subject and text must not be blank")
    header = (request.headers or {}).get("idempotency-key")
    if header is not None and not _REQUEST_KEY.match(header.strip()):
        raise BadRequest("Idempotency-Key must be 1-100 printable ASCII characters without spaces")
    key = header.strip() if header is not None else None
    if key is not None and body.request_id is not None and key != body.request_id:
        raise BadRequest("Idempotency-Key and request_id differ; send one of them")
    opening = ticket_open.Opening(
        kind=body.kind, channel=body.channel, subject=" ".join(body.subject.split()), text=body.text,
        email=body.customer.email, phone=body.customer.phone, customer_id=body.customer.customer_id,
        name=body.customer.name, priority=body.priority, queue=body.queue, assignee_id=body.assignee_id,
        status=body.status, request_key=key or body.request_id)
    ticket, _ = ticket_open.open_ticket(opening, agent)
    return Created(views.ticket_detail(ticket))
