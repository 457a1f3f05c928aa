"""The refusals every HTTP edge (agent API, webhooks) answers with one JSON shape.

``{"error": code, "reason": reason}`` with the status below; raising one of these
is how any layer says "this request is wrong", never a 500. ``headers`` are the
few a status needs beside the body (``Retry-After`` on 429, a platform's
"do not retry" flag).
"""
from __future__ import annotations

from collections.abc import Mapping


class HttpError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, reason: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(HttpError):
    pass


class Unauthorized(HttpError):
    status, code = 401, "unauthorized"


class Forbidden(HttpError):
    status, code = 403, "forbidden"


class NotFound(HttpError):
    status, code = 404, "not_found"


class Conflict(HttpError):
    """The resource changed since the client read it (optimistic concurrency), or the change cannot apply now."""

    status, code = 409, "conflict"


class PayloadTooLarge(HttpError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(HttpError):
    status, code = 415, "unsupported_media_type"


class TooManyRequests(HttpError):
    """The client made more requests of this kind than its window allows; ``Retry-After`` says when to come back.

    RFC 6585 §4: a 429 "MAY include a Retry-After header"; we always send it (seconds, RFC 9110 §10.2.3).
    """

    status, code = 429, "too_many_requests"

    def __init__(self, reason: str, *, retry_after_seconds: int) -> None:
        super().__init__(reason, headers={"Retry-After": str(max(1, int(retry_after_seconds)))})
        self.retry_after_seconds = max(1, int(retry_after_seconds))


class NotConfigured(HttpError):
    """A secret the request needs is not configured: we never accept unsigned traffic."""

    status, code = 503, "not_configured"
