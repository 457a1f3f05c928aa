"""The refusals every HTTP edge (agent API, webhooks) answers with one JSON shape.

``{"error": code, "reason": reason}`` with the status below; raising one of these
is how any layer says "this request is wrong", never a 500.
"""
from __future__ import annotations


class HttpError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


class NotConfigured(HttpError):
    """A secret the request needs is not configured: we never accept unsigned traffic."""

    status, code = 503, "not_configured"
