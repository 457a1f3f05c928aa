"""What the console's browser tests share: the API over HTTP (as a second agent behind the page's back),
waiting for the event pump, signing in, a listener that records any request a hostile mail might make."""
from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page, expect


def call(live: Any, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, Any]:
    """One API call over HTTP, as a script (or another agent) would make it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(live.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token or live.admin_token}",
                                              **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def wait_for(what: Callable[[], Any], *, seconds: float = 20, message: str = "condition") -> Any:
    """Poll until ``what()`` is truthy (the pump runs in its own thread); its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {message}")


def ticket_from(live: Any, sender: str, subject: str) -> dict[str, Any]:
    """The ticket the pump made from ``sender``'s mail with this subject, as GET /tickets/{id} shows it."""
    def find() -> dict[str, Any] | None:
        status, found = call(live, "GET", "/search?q=" + urllib.parse.quote(sender))
        hits = [t for t in (found or {}).get("tickets", []) if t["subject"] == subject] if status == 200 else []
        if not hits:
            return None
        return call(live, "GET", f"/tickets/{hits[0]['id']}")[1]

    return wait_for(find, message=f"a ticket {subject!r}")


def sign_in_with_token(page: Page, live: Any, token: str | None = None, hash_: str = "") -> None:
    """Paste an API token on the sign-in screen (the path scripts and admins use)."""
    page.goto(f"{live.url}/console{hash_}")
    page.get_by_label("API token (rd_…)").fill(token or live.admin_token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#who")).to_contain_text("(")


@contextmanager
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets: ``(base url, paths seen)``."""
    seen: list[str] = []

    class Record(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_OPTIONS = _any

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
