"""Request bodies: size-capped, strict JSON, validated by a pydantic model — or a clear 4xx.

Chalice's ``json_body`` raises its own 400 without our JSON shape; reading the raw
body here keeps every refusal ``{"error", "reason"}`` and names the offending field.
"""
from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.api.errors import BadRequest, PayloadTooLarge

MAX_BODY_BYTES = 256 * 1024  # a reply with a long quoted history fits; a file upload does not
REQUEST_KEY = r"^[\x21-\x7e]{1,100}$"  # Idempotency-Key / request_id: printable ASCII, as the IETF draft's examples
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """Base for request bodies: unknown fields are refused, types are not coerced.

    ``defer_build``: each model builds its validator on its first request, not when
    the API function imports its module.
    """

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


def parse(request: Any, model: type[M]) -> M:
    try:
        return model.model_validate(read_object(request))
    except ValidationError as err:
        raise BadRequest(describe(err)) from None


def read_object(request: Any, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, or a 400/413 that says what is wrong with it."""
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {max_bytes}")
    if not raw.strip():
        raise BadRequest("request body is empty; send a JSON object")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"request body is not valid JSON: {err}") from None
    except RecursionError:  # "[[[[..." nested past the parser's depth: a few KB of brackets
        raise BadRequest("request body is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object")
    return document


def describe(err: ValidationError) -> str:
    """One line per problem, naming the field: what an API user needs to fix the call."""
    problems = []
    for error in err.errors(include_url=False)[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def idempotency_key(request: Any) -> str | None:
    """The request's ``Idempotency-Key`` header (IETF draft): 1-100 printable ASCII characters, or None when absent.

    A client that retries a request it got no answer to sends the same key, and gets the first
    attempt's outcome instead of a second ticket or reply."""
    header = (request.headers or {}).get("idempotency-key")
    if header is None:
        return None
    if not re.match(REQUEST_KEY, header.strip()):
        raise BadRequest("Idempotency-Key must be 1-100 printable ASCII characters without spaces")
    return header.strip()
