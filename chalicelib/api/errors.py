"""Typed API errors, mapped to one JSON shape at the HTTP edge: ``{"error", "reason"}``."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any


from chalicelib.errors import BadRequest, Conflict, Forbidden, HttpError, NotFound, PayloadTooLarge, Unauthorized

ApiError = HttpError  # the API's name for the shared refusal type

__all__ = ["ApiError", "BadRequest", "Conflict", "Forbidden", "NotFound", "PayloadTooLarge", "Unauthorized",
           "api_endpoint", "error_response", "json_response"]


class Created:
    """Return ``Created(body)`` from an endpoint to answer 201."""

    status = 201

    def __init__(self, body: Any) -> None:
        self.body = body


class Accepted(Created):
    """Return ``Accepted(body)`` to answer 202: the request is queued, its outcome comes later."""

    status = 202


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from chalice import Response

    return Response(
        body=json.dumps(body, default=str),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(err: ApiError) -> Any:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else {}
    return json_response({"error": err.code, "reason": err.reason}, err.status, {**headers, **err.headers})


def api_endpoint(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn typed errors into JSON responses; anything else is a real bug and stays a 500."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except ApiError as err:
            return error_response(err)
        if isinstance(result, Created):
            return json_response(result.body, result.status)
        return json_response(result)

    return wrapper
