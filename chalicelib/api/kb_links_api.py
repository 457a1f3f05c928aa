"""Tracked knowledge-base links: ``GET|POST /kb/go/{link}``, no token — the signed link is the credential.

* ``GET`` — 302 to the portal's article, the link kept for the page
  (``/portal?ref=<link>#article/<id>``). Records NOTHING: mail link scanners follow every
  link in a message, and a GET that recorded would read the article for the customer.
* ``POST`` ``{"event": "opened" | "solved" | "not_solved"}`` — what the portal page reports
  (``service.kb_tracking.record``): the customer read the article, or answered "did this
  answer your question?". Repeats change nothing (``recorded: false``). 200
  ``{"recorded", "answer", "deflected", "language"}`` — never anything of the ticket.

Refusals in the desk's one error shape ``{"error", "reason"}``: 400 ``malformed_token`` /
``bad_request``, 403 ``bad_signature``, 404 ``not_found`` (a genuine link whose ticket is
gone), 409 ``already_answered`` (a "no" after a "yes") / ``conflict``, 410 ``expired``,
413 ``payload_too_large``, 503 ``not_configured``. Responses are never cached and never
leak the link as a Referer.
"""
from __future__ import annotations

from typing import Any, Literal

from chalicelib.api.errors import ApiError, BadRequest, api_endpoint
from chalicelib.api.requests import Body, describe, read_object

__all__ = ["EventBody", "respond"]

MAX_BODY_BYTES = 1024  # {"event": "not_solved"} is 23 bytes
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
STATUS = {  # service refusal code → HTTP status
    "malformed_token": 400,
    "bad_signature": 403,
    "not_found": 404,
    "already_answered": 409,
    "expired": 410,
    "not_configured": 503,
}


class EventBody(Body):
    """``POST /kb/go/{link}``: what the portal page saw — the article opened, or the customer's answer."""

    event: Literal["opened", "solved", "not_solved"]


def respond(request: Any, link: str) -> Any:
    """Follow (GET) or report on (POST) a tracked link; see the module docstring."""
    response = _record(request, link) if request.method == "POST" else _follow(link)
    response.headers.update(HEADERS)
    return response


def _follow(link: str) -> Any:
    from chalice import Response

    from chalicelib.service import kb_tracking

    try:
        claim = kb_tracking.verify(link)
    except kb_tracking.LinkRefused as err:
        return _refused(err.code, err.reason)
    return Response(body="", status_code=302, headers={"Location": kb_tracking.portal_location(link, claim)})


@api_endpoint
def _record(request: Any, link: str) -> dict[str, Any]:
    from pydantic import ValidationError

    from chalicelib.service import changes, kb_tracking

    try:
        kb_tracking.verify(link)  # a forged link is refused before its body is read
        body = EventBody.model_validate(read_object(request, MAX_BODY_BYTES))
        outcome = kb_tracking.record(link, body.event)
    except ValidationError as err:
        raise BadRequest(describe(err)) from None
    except kb_tracking.LinkRefused as err:
        raise _refusal(err.code, err.reason) from None
    except changes.Conflict as err:
        raise _refusal("conflict", str(err), 409) from None
    return {name: outcome[name] for name in ("recorded", "answer", "deflected", "language")}


@api_endpoint
def _refused(code: str, reason: str) -> Any:
    raise _refusal(code, reason)


def _refusal(code: str, reason: str, status: int | None = None) -> ApiError:
    error = ApiError(reason)
    error.status, error.code = status or STATUS.get(code, 400), code
    return error
