"""The public survey endpoint: ``GET|POST /surveys/{token}``, no agent token — the signed link is the credential.

* ``GET`` (with or without ``?rating=N``, the links in the survey message) — records
  NOTHING: mail link scanners open every link in a message, so a GET that recorded would
  answer for the customer. A browser (``Accept`` weighs ``text/html`` above JSON) gets
  the survey page in the ticket's language with rating N pre-selected, optional NPS,
  CES and comment, and a button; an API caller gets the survey as JSON (the questions,
  ``language``, the link's ``rating``).
* ``POST`` — the answer, ``application/json`` (JSON types: ``{"rating": 5}``) or
  ``application/x-www-form-urlencoded`` (the page's plain HTML form; numbers arrive as
  digits, an empty NPS/CES is no answer): ``rating`` 1–5, optional ``comment``
  (≤ 2000 characters), ``nps`` 0–10, ``ces`` 1–7. A browser gets a thank-you page.

JSON answers and refusals as before: the desk's one error shape ``{"error", "reason"}``
with a survey-specific ``error`` code: 400 ``malformed_token`` / ``invalid_answer`` /
``bad_request``, 403 ``bad_signature`` / ``wrong_ticket``, 409 ``already_answered`` /
``conflict``, 410 ``expired``, 413 ``payload_too_large``, 503 ``not_configured``. A
browser gets a readable page with the same status instead (an invalid answer: the form
again, with what was entered and what to fix). Nothing is recorded on a refusal.
Responses are never cached, never leak the link as a Referer, and every page carries
the desk's Content-Security-Policy (forms may post to the desk itself only); the
pages' style is ``/survey.css``, and they work without any script.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from chalicelib.api import static
from chalicelib.api.errors import ApiError, BadRequest, PayloadTooLarge, api_endpoint
from chalicelib.api.requests import read_object
from chalicelib.domain import accept, survey_texts

# A valid answer is small (a 2000-character comment is at most ~24 KB even as JSON \u escapes
# of emoji); anything larger is refused before it is parsed.
MAX_BODY_BYTES = 32 * 1024
_MAX_FORM_FIELDS = 10
_SCORE_FIELDS = ("rating", "nps", "ces")
_DIGITS = re.compile(r"[0-9]{1,3}")
_TOKEN_SHAPE = re.compile(r"s1\.[A-Za-z0-9_-]{1,512}")  # what may go into a page's relative link
_HEADERS = {
    "Cache-Control": "no-store",  # a shared cache must not replay "thank you" to whoever has the link
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex",
    "Vary": "Accept",  # the same URL answers a browser with a page and an API caller with JSON
}
_STATUS = {  # service refusal code → HTTP status
    "malformed_token": 400,
    "invalid_answer": 400,
    "bad_signature": 403,
    "wrong_ticket": 403,
    "already_answered": 409,
    "expired": 410,
    "not_configured": 503,
}
# Refusal code → the page's status, heading and text (keys of survey_texts.WORDING).
_PAGES = {
    "malformed_token": (400, "invalid_title", "invalid"),
    "bad_signature": (403, "invalid_title", "invalid"),
    "wrong_ticket": (403, "invalid_title", "wrong_ticket"),
    "already_answered": (409, "answered_title", "answered"),
    "expired": (410, "expired_title", "expired"),
    "not_configured": (503, "unavailable_title", "unavailable"),
    "invalid_answer": (400, "check_title", "invalid_other"),
    "conflict": (409, "busy_title", "busy"),
    "bad_request": (400, "unreadable_title", "unreadable"),
    "payload_too_large": (413, "too_large_title", "too_large"),
}
_STYLESHEET = "../survey.css"  # relative: /surveys/<token> → /survey.css, under any API Gateway stage prefix


def respond(request: Any, token: str) -> Any:
    """Answer one survey request: a page for a browser, JSON for anyone else; see the module docstring."""
    response = _page(request, token) if _wants_html(request) else _respond(request, token)
    response.headers.update(_HEADERS)
    return response


# --------------------------------------------------------------------------- JSON


@api_endpoint
def _respond(request: Any, token: str) -> dict[str, Any]:
    from chalicelib.service import changes, surveys

    try:
        if request.method == "POST":
            return _thanks(surveys.answer(token, _body(request)))
        return surveys.describe(token, rating=_rating_param(request.query_params))
    except surveys.SurveyRefused as err:
        raise _refusal(_STATUS.get(err.code, 400), err.code, err.reason) from None
    except changes.Conflict as err:
        raise _refusal(409, "conflict", str(err)) from None


def _refusal(status: int, code: str, reason: str) -> ApiError:
    error = ApiError(reason)
    error.status, error.code = status, code
    return error


def _thanks(recorded: dict[str, Any]) -> dict[str, Any]:
    low = recorded["follow_up"] is not None
    message = ("Thank you for telling us. We are sorry we let you down: your request is back with our team."
               if low else "Thank you for your feedback!")
    return {"status": "recorded", "message": message,
            **{name: recorded[name] for name in ("ticket_number", "rating", "comment", "nps", "ces", "answered_at")}}


# --------------------------------------------------------------------------- pages


def _page(request: Any, token: str) -> Any:
    """The survey as a person's browser sees it: the form, the thank-you page, or why not (same statuses)."""
    from chalicelib.service import changes, surveys

    try:
        if request.method == "POST":
            return _posted(request, token)
        view = surveys.describe(token)
    except surveys.SurveyRefused as err:
        return _problem(request, token, err.code)
    except changes.Conflict:
        return _problem(request, token, "conflict")
    if view["answered"]:
        return _message(view["language"], 409, "answered_title", "answered")
    try:
        raw = _rating_param(request.query_params)
        rating = None if raw is None else surveys.check_rating(raw)
    except (BadRequest, surveys.InvalidAnswer):  # a mangled link: the form, nothing pre-selected, and why
        return _form(view, token, status=400, notice="link_rating_unknown")
    return _form(view, token, rating=rating)


def _posted(request: Any, token: str) -> Any:
    """Record the form's answer: the thank-you page, or the form again with what to fix."""
    from chalicelib.service import surveys

    try:
        body = _body(request)
    except PayloadTooLarge:
        return _problem(request, token, "payload_too_large", back=True)
    except BadRequest:
        return _problem(request, token, "bad_request", back=True)
    try:
        recorded = surveys.answer(token, body)
    except surveys.InvalidAnswer as err:
        view = surveys.describe(token)  # the token held for answer(): a refusal here is the caller's to map
        if view["answered"]:
            return _message(view["language"], 409, "answered_title", "answered")
        field = err.field if err.field in ("rating", "nps", "ces", "comment") else "other"
        return _form(view, token, status=400, notice=f"invalid_{field}", entered=body)
    language = recorded["language"]
    text = "thanks_low" if recorded["follow_up"] is not None else "thanks"
    return _message(language, 200, "thanks_title", text, answer=recorded)


def _form(view: dict[str, Any], token: str, *, status: int = 200, rating: int | None = None,
          notice: str | None = None, entered: dict[str, Any] | None = None) -> Any:
    from chalicelib.domain import survey_tokens
    from chalicelib.outbound.templates import render

    words = survey_texts.wording(view["language"])
    entered = entered or {}
    comment = entered.get("comment")
    html = render("survey_form.html.j2", lang=view["language"], w=words, stylesheet=_STYLESHEET,
                  action=_relative(token), number=view["ticket_number"], notice=notice and words[notice],
                  rating=entered.get("rating", rating), nps=entered.get("nps"), ces=entered.get("ces"),
                  comment=comment if isinstance(comment, str) else "", comment_max=survey_tokens.COMMENT_MAX_CHARS)
    return _html(html, status)


def _problem(request: Any, token: str, code: str, *, back: bool = False) -> Any:
    """The page for a refusal, in the ticket's language when the link still names one, else the browser's."""
    status, heading, text = _PAGES.get(code, _PAGES["invalid_answer"])
    return _message(_language(request, token), status, heading, text, back=_relative(token) if back else None)


def _message(language: str, status: int, heading: str, text: str, *, answer: dict[str, Any] | None = None,
             back: str | None = None) -> Any:
    from chalicelib.outbound.templates import render

    words = survey_texts.wording(language)
    html = render("survey_message.html.j2", lang=language, w=words, stylesheet=_STYLESHEET, status=status,
                  heading=words[heading], text=words[text], answer=answer, back=back)
    return _html(html, status)


def _html(body: str, status: int) -> Any:
    from chalice import Response

    return Response(body=body, status_code=status, headers={
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": static.content_security_policy(form_action="'self'"),
        "X-Content-Type-Options": "nosniff",
    })


def _language(request: Any, token: str) -> str:
    """The customer's language if the token still names a surveyed ticket, else the browser's Accept-Language
    (then the desk's default)."""
    from chalicelib.service import customer_language, surveys

    try:
        return surveys.describe(token)["language"]
    except surveys.SurveyRefused:
        return customer_language.of_visitor((request.headers or {}).get("accept-language"))


def _relative(token: str) -> str | None:
    """The survey's URL relative to itself (``<token>``), for a token of the right shape only: never a scheme."""
    return token if _TOKEN_SHAPE.fullmatch(token or "") else None


def _wants_html(request: Any) -> bool:
    """True when the client weighs HTML above JSON (browsers: ``text/html,...,*/*;q=0.8``); no Accept is JSON."""
    weights = accept.weights((request.headers or {}).get("accept"))
    html_q = max(weights.get("text/html", 0.0), weights.get("application/xhtml+xml", 0.0))
    json_q = max(weights.get("application/json", 0.0), weights.get("application/*", 0.0))
    return html_q > json_q


# --------------------------------------------------------------------------- request parts


def _rating_param(params: Any) -> int | str | None:
    """The ``rating`` query parameter as a number when it is digits (range checked by the service), or None."""
    if not params or "rating" not in params:
        return None
    values = params.getlist("rating") if hasattr(params, "getlist") else [params["rating"]]
    if len(values) != 1:
        raise BadRequest("give rating once")
    value = values[0]
    return int(value) if _DIGITS.fullmatch(value or "") else value  # "abc" → the service says what a rating is


def _body(request: Any) -> dict[str, Any]:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        return _form_fields(request.raw_body or b"")
    return read_object(request, MAX_BODY_BYTES)


def _form_fields(raw: bytes) -> dict[str, Any]:
    """A form post: every field once, scores from digits; what remains wrong is the service's to say."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                          max_num_fields=_MAX_FORM_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as err:
        raise BadRequest(f"the form is not valid application/x-www-form-urlencoded UTF-8: {err}") from None
    if not pairs:
        raise BadRequest("the form is empty; send at least rating")
    form: dict[str, Any] = {}
    for name, value in pairs:
        if name in form:
            raise BadRequest(f"{name} is given more than once")
        if name in _SCORE_FIELDS:
            form[name] = None if value == "" else int(value) if _DIGITS.fullmatch(value) else value
        else:
            form[name] = value
    return form
