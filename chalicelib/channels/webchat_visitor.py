"""The web-chat routes a visitor's browser calls from another site: CORS with an allow-list, the
conversation read back (long polling), the desk's hours, and the session and message routes wrapped.

**Origins.** A browser names the page's origin in ``Origin`` on every cross-origin request
(and on same-origin POSTs). The desk answers only origins on its allow-list (the desk
settings' ``webchat_allowed_origins`` or ``WEBCHAT_ALLOWED_ORIGINS``; its own
``PUBLIC_BASE_URL`` always): their requests get ``Access-Control-Allow-Origin`` echoing
the origin; any other origin is refused with a 403 JSON body, not merely left to the
browser to block (the request would otherwise still open sessions and tickets).
A request without ``Origin`` is not a browser's cross-site request (a server, curl, the
platform tests) and is answered without CORS headers: ``Origin`` is a browser's promise,
anyone else can write any value, so it guards visitors' browsers, not the API.
Chalice's ``CORSConfig`` allows one fixed origin, so the preflight ``OPTIONS`` routes are
declared here and answer 204 for allowed origins. No cookies are involved (the session
token travels in ``Authorization``), so no ``Allow-Credentials``.

The API function loads this module on its first web-chat request; the transcript, the
SLA schedule and the agent directory (~200 ms of imports: pydantic schedules, holidays),
the session token's checks and the desk settings are imported by the routes that use
them, so a status or session request does not pay for them.

**Sessions.** ``Authorization: Bearer <session token>`` (``channels/webchat.py``): a
forged or expired token is 401, a valid token for another session 403.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib import clock, config, secrets
from chalicelib.channels import receive
from chalicelib.errors import BadRequest as BadWebhook
from chalicelib.errors import Forbidden, HttpError, NotFound
from chalicelib.errors import Unauthorized as Unauthenticated
from chalicelib.observability import logger

__all__ = ["ALLOWED_HEADERS", "MAX_AGE_SECONDS", "messages", "open_session", "post_message", "session_claims",
           "status", "upload"]

ALLOWED_HEADERS = "Authorization, Content-Type"
MAX_AGE_SECONDS = 600  # browsers cap it anyway (Chromium: 2 hours, Firefox: 24 hours)
STATUS_MAX_AGE_SECONDS = 15
_WAIT = re.compile(r"^[0-9]{1,2}$")
_SESSION_ID = re.compile(r"^ws-[0-9a-f]{20}$")  # channels/webchat.py issue_session


def open_session(request: Any) -> Any:
    """``POST /webchat/sessions`` (and its preflight), for allowed origins only."""
    return _cors(request, "POST", lambda: receive.webchat_session(request))


def post_message(request: Any) -> Any:
    """``POST /webhooks/webchat`` (and its preflight): the visitor's message, for allowed origins only;
    ``attachments`` names the session's uploads, claimed before the message is queued."""
    return _cors(request, "POST", lambda: receive.receive("webchat", request, claim=_claim_uploads))


def upload(request: Any, session_id: str) -> Any:
    """``POST /webchat/sessions/{session_id}/uploads`` ``{filename, content_type, size}``: a pre-signed PUT
    for one file of the visitor's, which a message then names in ``attachments`` (``service.uploads``)."""
    return _cors(request, "POST", lambda: _upload(request, session_id), session_id=session_id)


def messages(request: Any, session_id: str) -> Any:
    """``GET /webchat/sessions/{session_id}/messages?after=&wait=``: the visitor's conversation, long-polled.

    Answers ``{"messages": [...], "cursor": "..."}``; pass ``cursor`` back as ``after`` for what came since.
    """
    return _cors(request, "GET", lambda: _messages(request, session_id), session_id=session_id)


def status(request: Any) -> Any:
    """``GET /webchat/status``: is a person there to answer, and if not, when (public)."""
    return _cors(request, "GET", lambda: _status(request))


def _status(request: Any) -> Any:
    """Worded in the visitor's language: the browser's ``Accept-Language`` (the widget sends the page's
    ``lang`` first), else the desk's default; caches keep one answer per language (``Vary``)."""
    from chalicelib.service import customer_language, visitor_chat

    language = customer_language.of_visitor((request.headers or {}).get("accept-language"))
    return _json(visitor_chat.desk_availability(language=language).as_dict(), 200,
                 {"Cache-Control": f"public, max-age={STATUS_MAX_AGE_SECONDS}", "Vary": "Accept-Language"})


def session_claims(request: Any, session_id: str) -> dict[str, Any]:
    """The session token's claims when it is valid and names ``session_id``: 401 forged/expired, 403 another's."""
    from chalicelib.channels.webchat import verify_session
    from chalicelib.channels.webhook import require

    scheme, _, token = ((request.headers or {}).get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send the chat session's token as 'Authorization: Bearer <session_token>'")
    claims = verify_session(token.strip(), require(secrets.get, "WEBCHAT_SECRET").encode(), clock.now())
    if claims.get("sid") != session_id:
        raise Forbidden("this session token belongs to another chat session")
    return claims


def _messages(request: Any, session_id: str) -> Any:
    from chalicelib.domain.visitor_chat import BadCursor, read_cursor
    from chalicelib.service import visitor_chat

    session_claims(request, session_id)
    query = request.query_params or {}
    wait = query.get("wait", "0")
    if not _WAIT.match(wait) or int(wait) > visitor_chat.MAX_WAIT_SECONDS:
        raise BadWebhook(f"wait must be whole seconds from 0 to {visitor_chat.MAX_WAIT_SECONDS}")
    try:
        cursor = read_cursor(query.get("after"))
    except BadCursor as err:
        raise BadWebhook(f"after: {err}; pass the cursor a previous answer gave, or nothing to start over") from None
    found = visitor_chat.read_conversation(session_id, cursor, wait_seconds=int(wait))
    return _json({"messages": found.messages, "cursor": found.cursor.encode()}, 200, {"Cache-Control": "no-store"})


def _upload(request: Any, session_id: str) -> Any:
    from chalicelib.channels.payload import json_object
    from chalicelib.channels.webhook import MAX_BODY_BYTES, PayloadTooLarge, UnsupportedMediaType
    from chalicelib.service import uploads

    session_claims(request, session_id)
    if not ((request.headers or {}).get("content-type") or "").lower().startswith("application/json"):
        raise UnsupportedMediaType("an upload request is application/json: {filename, content_type, size}")
    body = request.raw_body or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("body too large")
    document = json_object(body)
    unknown = set(document) - {"filename", "content_type", "size"}
    if unknown:
        raise BadWebhook(f"unknown field(s): {', '.join(sorted(unknown))}")
    return _json(uploads.presign_upload(f"webchat:{session_id}", document.get("filename"),
                                        document.get("content_type"), document.get("size")), 201,
                 {"Cache-Control": "no-store"})


def _claim_uploads(session_id: str, upload_ids: list[str]) -> list[Any]:
    from chalicelib.service import uploads

    return uploads.claim_uploads(f"webchat:{session_id}", upload_ids)


# --------------------------------------------------------------------------- CORS


def _cors(request: Any, method: str, answer: Callable[[], Any], *, session_id: str | None = None) -> Any:
    """Refuse a disallowed ``Origin`` (403), answer a preflight (204), or run ``answer`` and add the headers.

    ``session_id``: the path's session, which must look like one (404 otherwise, preflights included).
    """
    origin = (request.headers or {}).get("origin")
    headers = {"Vary": "Origin"}
    if origin is not None:
        if origin.lower() not in _allowed_origins():
            logger.warning("web-chat request from an origin not on the allow-list", extra={"origin": origin[:200]})
            return _refusal(Forbidden("this site is not allowed to use the chat (its origin is not on the desk's "
                                      "webchat_allowed_origins)"), headers)
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "Retry-After"
    if session_id is not None and not _SESSION_ID.match(session_id):
        return _refusal(NotFound("no such chat session: session ids are ws- and 20 hex digits"), headers)
    if request.method == "OPTIONS":
        preflight = {"Allow": f"{method}, OPTIONS"}
        if origin is not None:
            preflight.update({"Access-Control-Allow-Methods": f"{method}, OPTIONS",
                              "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                              "Access-Control-Max-Age": str(MAX_AGE_SECONDS)})
        return _response("", 204, {**headers, **preflight})
    try:
        response = answer()
    except HttpError as err:  # the channels' refusals (channels/webhook.py) are these
        return _refusal(err, headers)
    own = response.headers or {}
    vary = ", ".join(filter(None, (headers["Vary"], own.get("Vary"))))  # the answer's own Vary kept beside Origin
    response.headers = {**own, **headers, "Vary": vary}
    return response


def _allowed_origins() -> frozenset[str]:
    from chalicelib import configuration

    own = urlsplit(config.setting("PUBLIC_BASE_URL"))
    return configuration.webchat_allowed_origins() | {f"{own.scheme}://{own.netloc}".lower()}


def _refusal(err: HttpError, headers: Mapping[str, str]) -> Any:
    challenge = {"WWW-Authenticate": "Bearer"} if err.status == 401 else {}
    return _json({"error": err.code, "reason": err.reason}, err.status, {**challenge, **err.headers, **headers})


def _json(body: Any, status_code: int, headers: Mapping[str, str]) -> Any:
    return _response(json.dumps(body), status_code, {**headers, "Content-Type": "application/json"})


def _response(body: str, status_code: int, headers: Mapping[str, str]) -> Any:
    from chalice import Response

    return Response(body=body, status_code=status_code, headers=dict(headers))
