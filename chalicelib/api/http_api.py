"""API Gateway's HTTP API in front of Chalice's routes: the event Chalice routes on, made from the HTTP API's.

Why an HTTP API: a request costs $1.00 per million there against $3.50 on the REST API Chalice deploys, the
biggest line of the bill after DynamoDB's writes (``make cost``). Chalice has no HTTP API of its own and routes on
the REST proxy event's ``requestContext.resourcePath``: the route *template*, ``/tickets/{ticket_id}``.
``infra/resources.yaml`` sends every path to ``api_handler`` through one greedy route, ``ANY /{proxy+}``, with
payload format 1.0 (the REST proxy event's shape), so the event names the path but not the template. This finds
the template among the app's routes as the REST API did — a literal segment wins over a variable one, and one
trailing slash is dropped — and fills in ``resourcePath`` and ``pathParameters``. Nothing else in the event
changes, and the app runs as before.

The greedy route's ``proxy`` parameter is the path after the stage, and after a custom domain's API mapping, so
the same code serves ``https://<api id>.execute-api.<region>.amazonaws.com/api/...`` and ``https://help.acme.test/
api/...``. A path no route takes is answered here: 404 with the API's ``{"error", "reason"}`` shape (the REST API
answered 403 "Missing Authentication Token"); the root, ``/``, which ``/{proxy+}`` does not take, API Gateway
answers itself (404 ``{"message": "Not Found"}``). A method a route lacks is Chalice's 405 with ``Allow``. The
REST API's own events, while a stack keeps it (``KeepRestApi``), go to the app as they are.

One more thing the REST API did and an HTTP API does not: gzip text answers of 1 KB or more (``compressed``).
"""
from __future__ import annotations

import base64
import functools
import gzip
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from chalicelib.api.errors import json_response
from chalicelib.domain import accept

__all__ = ["MIN_COMPRESSED_BYTES", "PAYLOAD_FORMAT", "compressed", "find_route", "handle", "rest_event"]

#: The integration's payloadFormatVersion (infra/resources.yaml): 2.0 has another shape, which Chalice cannot read.
PAYLOAD_FORMAT = "1.0"
#: A path longer than this is no route of ours: it is refused before it is split.
MAX_PATH_CHARS = 2048
#: Text answers from this size on are gzipped for a client that takes gzip (the REST API's threshold: 1 KB).
MIN_COMPRESSED_BYTES = 1024
_COMPRESSED_TYPES = ("text/", "application/json", "application/javascript", "application/problem+json",
                     "image/svg+xml")


def handle(app: Any, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one HTTP API request: through ``app`` (the Chalice app) when one of its routes takes the path."""
    if "version" not in event and "resourcePath" in (event.get("requestContext") or {}):
        return app(event, context)  # the REST API's (KeepRestApi): Chalice's own event
    if event.get("version") != PAYLOAD_FORMAT:
        return _error(500, "misconfigured", f"api_handler reads API Gateway payload format {PAYLOAD_FORMAT}; this "
                                            f"event is format {event.get('version')!r} (infra/resources.yaml sets it)")
    path = "/" + str((event.get("pathParameters") or {}).get("proxy") or "")
    # One trailing slash is dropped: the REST API took /tickets/ for /tickets.
    found = find_route(app.routes, path[:-1] if len(path) > 1 and path.endswith("/") else path)
    if found is None:
        method = (event.get("requestContext") or {}).get("httpMethod") or event.get("httpMethod") or "?"
        return _error(404, "not_found", f"no route for {method} {quote(path[:200], safe='/')}")  # no markup echoed
    template, parameters = found
    return compressed(app(rest_event(event, template, parameters), context), event.get("headers") or {})


def compressed(response: dict[str, Any], request_headers: Mapping[str, Any]) -> dict[str, Any]:
    """``response`` gzipped when the client takes gzip and the body is text of ``MIN_COMPRESSED_BYTES`` or more.

    The REST API did this (``minimum_compression_size``); the HTTP API does not. A gzipped answer's ETag
    becomes weak (``W/"…"``, as RFC 9110 asks when a content coding changes the bytes), and
    ``If-None-Match`` is compared weakly (``api/static.py``), so a revalidation still gets its 304.
    """
    body = response.get("body")
    if (not isinstance(body, str) or len(body) < MIN_COMPRESSED_BYTES or response.get("isBase64Encoded")
            or not _accepts_gzip(request_headers)):
        return response
    headers = dict(response.get("headers") or {})
    names = {name.lower(): name for name in headers}
    if "content-encoding" in names or not str(headers.get(names.get("content-type", ""), "")).lower().startswith(
            _COMPRESSED_TYPES):
        return response
    headers["Content-Encoding"] = "gzip"
    vary = headers.pop(names["vary"], "") if "vary" in names else ""
    headers["Vary"] = ", ".join(filter(None, [vary, "Accept-Encoding"]))
    if "etag" in names and not str(headers[names["etag"]]).startswith("W/"):
        headers[names["etag"]] = "W/" + str(headers[names["etag"]])
    payload = gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0)
    return {**response, "headers": headers, "body": base64.b64encode(payload).decode("ascii"),
            "isBase64Encoded": True}


def _accepts_gzip(headers: Mapping[str, Any]) -> bool:
    """``Accept-Encoding`` weighs gzip (or, when gzip is not listed, ``*``) above 0."""
    weights = accept.weights(next((str(v) for k, v in headers.items() if str(k).lower() == "accept-encoding"), None))
    return (weights["gzip"] if "gzip" in weights else weights.get("*", 0.0)) > 0


def rest_event(event: Mapping[str, Any], template: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """``event`` as the REST API would have sent it for the route ``template``."""
    context = {**(event.get("requestContext") or {}), "resourcePath": template}
    # Chalice's Request reads these with [], as the REST API always sends them (None when empty).
    present = {key: event.get(key) for key in ("headers", "multiValueQueryStringParameters", "stageVariables",
                                                 "body")}
    return {**event, **present, "resource": template, "requestContext": context,
            "pathParameters": dict(parameters) or None}


def find_route(routes: Iterable[str], path: str) -> tuple[str, dict[str, str]] | None:
    """The route template that takes ``path`` and its path parameters, or None.

    Of several, the one with a literal segment where the others have a variable, leftmost first: ``/tickets/counts``
    before ``/tickets/{ticket_id}``, as API Gateway chooses.
    """
    if len(path) > MAX_PATH_CHARS or not path.startswith("/"):
        return None
    segments = path[1:].split("/")
    best: tuple[tuple[bool, ...], str, dict[str, str]] | None = None
    for template, pattern in _patterns(tuple(routes)).get(len(segments), ()):
        parameters = {}
        for wanted, given in zip(pattern, segments):
            if not given:
                break
            if wanted.startswith("{"):
                parameters[wanted[1:-1]] = given
            elif wanted != given:
                break
        else:
            rank = tuple(not wanted.startswith("{") for wanted in pattern)
            if best is None or rank > best[0]:
                best = (rank, template, parameters)
    return None if best is None else (best[1], best[2])


@functools.lru_cache(maxsize=4)
def _patterns(routes: tuple[str, ...]) -> dict[int, list[tuple[str, list[str]]]]:
    """The route templates by their number of segments: a request is compared with those of its length only."""
    by_length: dict[int, list[tuple[str, list[str]]]] = {}
    for template in routes:
        pattern = template[1:].split("/")
        by_length.setdefault(len(pattern), []).append((template, pattern))
    return by_length


def _error(status: int, code: str, reason: str) -> dict[str, Any]:
    """The API's one error shape (``api.errors``), as the dict Lambda returns: no Chalice view answered."""
    return json_response({"error": code, "reason": reason}, status,
                         {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}).to_dict()
