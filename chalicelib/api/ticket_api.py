"""Agent API writes on tickets: edit, reply, note, merge — each a JSON body validated strictly.

The bodies (``ticket_bodies``: pydantic models) load on the first write, not when
the API function loads this module for a read.
"""
from __future__ import annotations

import re
from typing import Any

from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, Conflict, Created, NotFound, api_endpoint
from chalicelib.api.requests import idempotency_key, parse

_TICKET_ID = re.compile(r"^t-[0-9a-f]{20}$")
def load(ticket_id: str) -> Any:
    from chalicelib.storage import repository

    ticket = repository.get_ticket(ticket_id) if _TICKET_ID.match(ticket_id or "") else None
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id!r}")
    return ticket


@api_endpoint
def update_ticket(request: Any, ticket_id: str) -> dict[str, Any]:
    from chalicelib.api import views
    from chalicelib.api.ticket_bodies import TicketUpdate
    from chalicelib.service import changes, tickets

    agent = authenticate(request.headers)
    body = parse(request, TicketUpdate)
    for tag in body.add_tags + body.remove_tags:
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,49}$", tag):
            raise BadRequest(f"tag {tag!r} must be lower-case letters, digits, - or _ (max 50)")
    both = sorted(set(body.add_tags) & set(body.remove_tags))
    if both:
        raise BadRequest(f"tag(s) {', '.join(both)} both added and removed")
    if body.force and agent.role != "admin":
        raise BadRequest("force needs an admin token")
    fields = body.model_fields_set - {"version", "force"}
    if not fields:
        raise BadRequest("nothing to change: send status, priority, category, assignee_id, add_tags or remove_tags")
    ticket = load(ticket_id)
    expected = body.version if body.version is not None else _if_match(request)
    update = tickets.Update(
        status=body.status, priority=body.priority, category=body.category,
        assignee_id=body.assignee_id if "assignee_id" in fields else changes.UNSET,
        add_tags=frozenset(body.add_tags), remove_tags=frozenset(body.remove_tags), force=body.force,
    )
    if body.category is not None:
        _known_queue(body.category)
    try:
        diff = tickets.update(ticket, update, changes.Actor.of_agent(agent), expected_version=expected)
    except changes.Conflict as err:
        raise Conflict(f"{err}; GET the ticket again and re-apply your change") from None
    except changes.AgentUnavailable as err:
        raise Conflict(f"cannot assign: {err}") from None
    except tickets.NotAllowed as err:
        raise Conflict(str(err)) from None
    # The ticket as the edit wrote it (its reactions — automation, routing — may move it on after).
    return {"changed": dict(diff), "ticket": views.ticket_summary(diff.ticket)}


@api_endpoint
def reply(request: Any, ticket_id: str) -> Any:
    from chalicelib.api.ticket_bodies import ReplyBody
    from chalicelib.service import changes, macros, tickets

    agent = authenticate(request.headers)
    body = parse(request, ReplyBody)
    if (body.text is None) == (body.macro_id is None):
        raise BadRequest("send either text or macro_id")
    ticket = load(ticket_id)
    actor = changes.Actor.of_agent(agent)
    text, actions = body.text, None
    if body.macro_id is not None:
        from chalicelib.domain.macros import MacroError

        try:
            text, actions = macros.render_for(body.macro_id, ticket, agent, order_number=body.order_number)
        except macros.MacroNotFound:
            raise NotFound(f"no macro {body.macro_id!r}") from None
        except MacroError as err:
            raise BadRequest(f"macro {body.macro_id!r} cannot render: {'; '.join(err.problems)}") from None
    try:
        sent = tickets.reply(ticket, text, actor, channel=body.channel, cc=body.cc, upload_ids=body.attachments,
                             request_key=idempotency_key(request))
        if actions is not None:
            macros.apply_actions(ticket.ticket_id, actions, actor)
    except tickets.NotAllowed as err:
        raise Conflict(str(err)) from None
    except changes.Conflict as err:
        raise Conflict(str(err)) from None
    return Created({**sent, "text": text})


@api_endpoint
def add_note(request: Any, ticket_id: str) -> Any:
    from chalicelib.api.ticket_bodies import NoteBody
    from chalicelib.service import changes, tickets

    agent = authenticate(request.headers)
    body = parse(request, NoteBody)
    try:
        return Created(tickets.add_note(load(ticket_id), body.text, changes.Actor.of_agent(agent)))
    except changes.Conflict as err:
        raise Conflict(str(err)) from None


@api_endpoint
def merge(request: Any, ticket_id: str) -> dict[str, Any]:
    from chalicelib.api import views
    from chalicelib.api.ticket_bodies import MergeBody
    from chalicelib.service import changes, tickets

    agent = authenticate(request.headers)
    body = parse(request, MergeBody)
    source, target = load(ticket_id), load(body.into)
    try:
        tickets.merge(source, target, changes.Actor.of_agent(agent))
    except tickets.NotAllowed as err:
        raise Conflict(str(err)) from None
    except changes.Conflict as err:
        raise Conflict(str(err)) from None
    return {"merged": ticket_id, "into": views.ticket_summary(load(body.into))}


def _if_match(request: Any) -> int | None:
    header = (request.headers or {}).get("if-match")
    if header is None:
        return None
    value = header.strip().strip('"').removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) <= 12):
        raise BadRequest("If-Match must be the ticket's version number")
    return int(value)


def _known_queue(category: str) -> None:
    from chalicelib.service import assign

    if category not in assign.queues():
        raise BadRequest(f"category must be one of {', '.join(assign.queues())}")
