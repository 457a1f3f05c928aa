"""The customer portal's API: the anonymous form, uploads, sign-in by link, and the customer's own tickets.

Anonymous: ``POST /portal/tickets`` (the form; counted per client address, 429 past the
limit), ``POST /portal/uploads`` (counted the same way unless signed in),
``POST /portal/auth/links`` (always 202) and ``POST /portal/auth/sessions``. Signed in
(``Authorization: Bearer rps_...``): ``GET /portal/tickets``, ``GET /portal/tickets/{id}``,
``POST /portal/tickets/{id}/replies``. Anything another customer owns is 404, never 403.

New messages travel like every channel's: ``channels/portal.py`` makes the
``InboundMessage`` and it is enqueued for the pipeline. Bodies are capped at 64 KB (413).
The pydantic bodies (``portal_bodies``) and the services load inside the routes, on the
first request that needs them (the API function loads this module on its first portal request).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from chalicelib import clock
from chalicelib.api.errors import Accepted, BadRequest, Created, NotFound, Unauthorized, api_endpoint
from chalicelib.api.requests import describe, read_object

__all__ = ["auth_link", "auth_session", "reply", "sign_out", "ticket", "tickets", "upload"]

MAX_BODY_BYTES = 64 * 1024  # the form's 20,000 characters of text, escaped, fit many times over
_TICKET_ID = re.compile(r"^t-[0-9a-f]{20}$")
_MAX_LIMIT = 50


def _body(request: Any, model: type) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(read_object(request, MAX_BODY_BYTES))
    except ValidationError as err:
        raise BadRequest(describe(err)) from None


def _client(request: Any) -> str:
    from chalicelib.channels.receive import client_address

    return client_address(request.context)


def _bearer(request: Any) -> str:
    scheme, _, token = ((request.headers or {}).get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("sign in first: send 'Authorization: Bearer <portal session token>'")
    return token.strip()


def _grant(request: Any) -> Any:
    """The signed-in customer: 401 without a valid ``Authorization: Bearer rps_...``."""
    from chalicelib.service import portal

    return portal.grant_of(_bearer(request), now=clock.now())


def tickets(request: Any) -> Any:
    """``GET /portal/tickets`` (signed in: the customer's list) and ``POST /portal/tickets`` (the anonymous form)."""
    return _open_ticket(request) if request.method == "POST" else _list(request)


@api_endpoint
def _open_ticket(request: Any) -> Any:
    """202 ``{"accepted": true, "reference"}``: queued for the pipeline; the acknowledgement is mailed."""
    from chalicelib.api.portal_bodies import PortalTicketBody
    from chalicelib.channels import portal as channel
    from chalicelib.service import portal
    from chalicelib.storage import queues

    body = _body(request, PortalTicketBody)
    if not (body.name.strip() and body.subject.strip() and body.message.strip()):
        raise BadRequest("name, subject and message must not be blank")
    now = clock.now()
    portal.count_anonymous(_client(request), now=now)
    files = _claim(body.draft, body.attachments)
    reference = "p-" + uuid.uuid4().hex
    message = channel.submission(submission_id=reference, name=" ".join(body.name.split()), email=body.email,
                                 subject=" ".join(body.subject.split()), text=body.message, attachments=files,
                                 language=body.language, now=now)
    queues.enqueue_messages([message])
    return Accepted({"accepted": True, "reference": reference})


def _claim(draft: str | None, upload_ids: list[str]) -> list[Any]:
    from chalicelib.service import uploads

    if not upload_ids:
        return []
    if draft is None:
        raise BadRequest("attachments need the draft the upload route gave with them")
    if not all(isinstance(item, str) and 0 < len(item) <= 400 for item in upload_ids):
        raise BadRequest("attachments must be upload ids")
    return uploads.claim_uploads(f"portal:{draft}", list(upload_ids))


@api_endpoint
def _list(request: Any) -> Any:
    """``{"tickets": [...], "next_cursor"}``: the customer's tickets, newest first."""
    from chalicelib.api import views
    from chalicelib.service import portal
    from chalicelib.storage.exceptions import BadCursor

    grant = _grant(request)
    query = request.query_params or {}
    limit = query.get("limit", "20")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 3) or not 1 <= int(limit) <= _MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {_MAX_LIMIT}")
    try:
        shown, next_key = portal.tickets(grant, limit=int(limit), start=views.decode_cursor(query.get("cursor")))
    except BadCursor:
        raise BadRequest("cursor is not one this API issued") from None
    return {"tickets": shown, "next_cursor": views.encode_cursor(next_key)}


@api_endpoint
def ticket(request: Any, ticket_id: str) -> Any:
    """``GET /portal/tickets/{id}``: ``{"ticket", "messages"}`` as the customer may read them; 404 if not theirs."""
    from chalicelib.service import portal

    grant = _grant(request)
    if not _TICKET_ID.match(ticket_id or ""):
        raise NotFound("no such ticket among yours")
    return portal.conversation(grant, portal.owned_ticket(grant, ticket_id))


@api_endpoint
def reply(request: Any, ticket_id: str) -> Any:
    """``POST /portal/tickets/{id}/replies``: 202, queued for the pipeline, which joins it to the ticket."""
    from chalicelib.api.portal_bodies import PortalReplyBody
    from chalicelib.channels import portal as channel
    from chalicelib.service import portal
    from chalicelib.storage import queues

    grant = _grant(request)
    if not _TICKET_ID.match(ticket_id or ""):
        raise NotFound("no such ticket among yours")
    body = _body(request, PortalReplyBody)
    if not (body.text.strip() or body.attachments):
        raise BadRequest("text must not be blank (or send attachments)")
    owned = portal.owned_ticket(grant, ticket_id)
    files = _claim(body.draft, body.attachments)
    reference = "r-" + uuid.uuid4().hex
    text = body.text if body.text.strip() else "Sent " + ", ".join(f.filename for f in files)
    message = channel.reply(ticket_id=owned.ticket_id, message_id=reference, identity=grant.identity,
                            email=grant.identity.partition(":")[2], subject=owned.subject or "",
                            name=owned.requester_name or "", text=text, attachments=files,
                            language=body.language, now=clock.now())
    queues.enqueue_messages([message])
    return Accepted({"accepted": True, "reference": reference})


@api_endpoint
def upload(request: Any) -> Any:
    """``POST /portal/uploads``: a pre-signed PUT for one file (``service.uploads``) and the ``draft`` it belongs to."""
    import secrets

    from chalicelib.api.portal_bodies import PortalUploadBody
    from chalicelib.service import portal, uploads

    body = _body(request, PortalUploadBody)
    if (request.headers or {}).get("authorization"):
        _grant(request)  # a signed-in customer's files are not counted against the address
    else:
        portal.count_anonymous(_client(request), now=clock.now(), what="files were uploaded")
    draft = body.draft or secrets.token_urlsafe(18)
    presigned = uploads.presign_upload(f"portal:{draft}", body.filename, body.content_type, body.size)
    return Created({**presigned, "draft": draft})


@api_endpoint
def auth_link(request: Any) -> Any:
    """202 ``{"sent": true}`` for any well-formed address: whether a customer has it is never told."""
    from chalicelib.api.portal_bodies import PortalLinkBody
    from chalicelib.service import portal

    body = _body(request, PortalLinkBody)
    portal.ask_for_link(body.email, client=_client(request), now=clock.now(), language=body.language)
    return Accepted({"sent": True})


@api_endpoint
def auth_session(request: Any) -> Any:
    """201 ``{"session_token", "expires_at"}`` for a valid, unused, unexpired link; 401 otherwise."""
    from chalicelib.api.portal_bodies import PortalSessionBody
    from chalicelib.service import portal

    body = _body(request, PortalSessionBody)
    session = portal.sign_in(body.token, now=clock.now())
    return Created({"session_token": session.session_token, "expires_at": clock.iso(session.expires_at)})


@api_endpoint
def sign_out(request: Any) -> Any:
    """``DELETE /portal/auth/sessions/current``: the session's token stops working at once."""
    from chalicelib.service import portal

    portal.sign_out(_bearer(request), now=clock.now())
    return {"signed_out": True}
