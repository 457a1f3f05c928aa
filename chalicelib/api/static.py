"""The console and the chat widget as files served by the deployment itself: ``/console``, ``/widget.js``.

Served from the Chalice app rather than an S3 website: the console then shares
the API's origin (no CORS for agents, one URL to configure, the same stage
prefix behind API Gateway), it works unchanged in ``make local``, and the
files are a few tens of kilobytes — two API Gateway requests per page load, at
the price of nothing to deploy beside the app. Files are read on the first
request (not at cold start, which every Lambda function pays) and revalidated
with an ETag, so a reload after the first costs a 304.

Every HTML page carries a Content-Security-Policy that allows only the app's
own scripts and styles (no inline code, no eval, no other host), images from
itself or data:, and requests to itself and to the S3 origin that pre-signed
upload URLs point at. The widget is a script other sites embed, so it is served
to any origin (CORP cross-origin); what it may call is decided by the web-chat
routes' origin allow-list, not here.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any, NamedTuple

from chalicelib.api.errors import NotFound, api_endpoint
from chalicelib.storage import blobs

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json"}
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


class Asset(NamedTuple):
    body: str
    content_type: str
    etag: str


def console(request: Any, name: str = "index.html") -> Any:
    """``GET /console`` and ``GET /console/{name}``: the agents' console (one flat folder)."""
    return _serve(request, f"console/{name}")


def portal(request: Any, name: str = "index.html") -> Any:
    """``GET /portal`` and ``GET /portal/{name}``: the customer portal (one flat folder, the same CSP)."""
    return _serve(request, f"portal/{name}")


def widget(request: Any) -> Any:
    """``GET /widget.js``: the script a customer's site embeds."""
    return _serve(request, "widget.js", {"Cross-Origin-Resource-Policy": "cross-origin"})


def survey_stylesheet(request: Any) -> Any:
    """``GET /survey.css``: the satisfaction survey pages' style (their CSP allows no inline style)."""
    return _serve(request, "survey.css")


def content_security_policy(*, form_action: str = "'none'") -> str:
    """The policy of every page the desk serves (also asserted by the browser tests).

    ``form_action``: where a page's forms may post; none but the survey page has a form
    (``"'self'"``: it posts to its own URL).
    """
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"connect-src 'self' {blobs.browser_origin()}; frame-src 'self'; base-uri 'none'; "
            f"form-action {form_action}; frame-ancestors 'none'")


def _serve(request: Any, name: str, extra: dict[str, str] | None = None) -> Any:
    from chalice import Response

    asset = _assets().get(name)
    if asset is None:
        return _not_found(name)
    headers = {**_COMMON, **(extra or {}), "ETag": asset.etag, "Content-Type": asset.content_type}
    if asset.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = content_security_policy()
    if _weakly(asset.etag) in {_weakly(tag) for tag in (request.headers or {}).get("if-none-match", "").split(",")}:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=asset.body, status_code=200, headers=headers)


def _weakly(tag: str) -> str:
    """An entity tag for If-None-Match's weak comparison (RFC 9110 13.1.2): ``W/"x"`` matches ``"x"``. The HTTP
    API's gzipped answers carry the weak form (``api/http_api.py``)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


@api_endpoint
def _not_found(name: str) -> Any:
    raise NotFound(f"no such file: {name}")


@functools.cache
def _assets() -> dict[str, Asset]:
    """Every servable file by its path under ``static/``: only these names are ever read (no traversal)."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        content_type = _TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_text(encoding="utf-8")
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
        found[path.relative_to(STATIC_DIR).as_posix()] = Asset(body, content_type, etag)
    return found
