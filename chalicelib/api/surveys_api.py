"""The public survey endpoint: ``GET|POST /surveys/{token}``, no agent token — the signed link is the credential.

* ``GET ?rating=N`` — the one-click links in the survey message: records rating N.
* ``GET`` without ``rating`` — describes the survey (ticket number, questions, answered or not),
  for a survey form.
* ``POST`` — the full answer, ``application/json`` (JSON types: ``{"rating": 5}``) or
  ``application/x-www-form-urlencoded`` (a plain HTML form; numbers arrive as digits):
  ``rating`` 1–5, optional ``comment`` (≤ 2000 characters), ``nps`` 0–10, ``ces`` 1–7.

Answers are JSON; refusals are the desk's one error shape ``{"error", "reason"}`` with a
survey-specific ``error`` code: 400 ``malformed_token`` / ``invalid_answer`` /
``bad_request``, 403 ``bad_signature`` / ``wrong_ticket``, 409 ``already_answered``,
410 ``expired``, 413 ``payload_too_large``, 503 ``not_configured``. Nothing is recorded
on a refusal. Responses are never cached and never leak the link as a Referer.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from chalicelib.api.errors import ApiError, BadRequest, api_endpoint
from chalicelib.api.requests import read_object

# A valid answer is small (a 2000-character comment is at most ~24 KB even as JSON \u escapes
# of emoji); anything larger is refused before it is parsed.
MAX_BODY_BYTES = 32 * 1024
_MAX_FORM_FIELDS = 10
_SCORE_FIELDS = ("rating", "nps", "ces")
_DIGITS = re.compile(r"[0-9]{1,3}")
_HEADERS = {
    "Cache-Control": "no-store",  # a shared cache must not replay "thank you" to whoever has the link
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex",
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


def respond(request: Any, token: str) -> Any:
    response = _respond(request, token)
    response.headers.update(_HEADERS)
    return response


@api_endpoint
def _respond(request: Any, token: str) -> dict[str, Any]:
    from chalicelib.service import changes, surveys

    try:
        if request.method == "POST":
            return _thanks(surveys.answer(token, _body(request)))
        rating = _rating_param(request.query_params)
        if rating is None:
            return surveys.describe(token)
        return _thanks(surveys.answer(token, {"rating": rating}))
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
        return _form(request.raw_body or b"")
    return read_object(request, MAX_BODY_BYTES)


def _form(raw: bytes) -> dict[str, Any]:
    """A form post: every field once, scores from digits; what remains wrong is the service's to say."""
    from chalicelib.api.errors import PayloadTooLarge

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
