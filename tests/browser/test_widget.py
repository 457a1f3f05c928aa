"""The web-chat widget on a customer's site: a page on another origin embeds it with one script tag.

The host page is served by a stdlib HTTP server on its own port (another origin than the desk)
with a strict Content-Security-Policy of its own: the widget must work with no inline script,
no inline style and no other host than the desk. The visitor writes, a ticket appears, an agent
answers through the agent API, the answer shows up in the widget without a reload, and after a
reload the whole conversation is still there.
"""
from __future__ import annotations

import functools
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import free_port

BUNDLED_SETTINGS = Path(__file__).resolve().parents[2] / "chalicelib" / "desk_settings.json"


class _HostPage(BaseHTTPRequestHandler):
    """A shop's page: one script tag, and a CSP that allows nothing but the desk."""

    def __init__(self, *args: Any, desk_url: str, files_origin: str = "", **kwargs: Any) -> None:
        self.desk_url = desk_url
        self.files_origin = files_origin  # where the widget PUTs files: the desk's bucket
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path not in ("/", "/index.html"):
            self.send_error(404)
            return
        body = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Shop</title></head>"
                "<body><h1>The Shop</h1><p>Things for sale.</p>"
                f'<script src="{self.desk_url}/widget.js" data-desk="{self.desk_url}" async></script>'
                "</body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy",
                         f"default-src 'none'; script-src {self.desk_url}; connect-src {self.desk_url} {self.files_origin}; "
                         "style-src 'none'; img-src 'none'; base-uri 'none'")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop(live_desk) -> Iterator[str]:
    """The shop's origin, serving the page, and on the desk's allow-list (through the desk settings)."""
    from chalicelib.storage import blobs

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(
        _HostPage, desk_url=live_desk.url, files_origin=blobs.browser_origin()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture
def allowed(shop, tmp_path, monkeypatch) -> str:
    bundled = json.loads(BUNDLED_SETTINGS.read_text())
    settings = tmp_path / "desk_settings.json"
    settings.write_text(json.dumps({**bundled, "webchat_allowed_origins": [shop]}))
    monkeypatch.setenv("DESK_SETTINGS", str(settings))
    return shop


def _api(live_desk, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        live_desk.url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {live_desk.admin_token}", "Content-Type": "application/json",
                 **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _webchat_ticket(live_desk, text: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ticket in live_desk.desk.tickets():
            if ticket["channel"] == "webchat" and any(m["text"] == text for m in ticket["messages"]):
                return ticket
        time.sleep(0.2)
    raise AssertionError(f"no web-chat ticket with {text!r} after {timeout} s")


def test_a_visitor_on_another_site_chats_and_sees_the_agents_reply_live_and_after_a_reload(
        live_desk, allowed, page: Page, shot):
    page.goto(allowed + "/")
    launcher = page.locator("[data-part=launcher]")
    expect(launcher).to_be_visible()
    # Styled through the adopted stylesheet, although the page's CSP allows no style at all.
    assert page.locator(".rd").evaluate("node => getComputedStyle(node).position") == "fixed"
    launcher.click()
    expect(page.locator("[data-part=status]")).not_to_have_text("")

    question = "Hi! Does the blue kettle come with a UK plug?"
    page.locator("[data-part=name]").fill("Kim Visitor")
    page.locator("[data-part=input]").fill(question)
    page.locator("[data-part=send]").click()
    expect(page.locator("[data-from=visitor]")).to_have_count(1)
    expect(page.locator("[data-from=visitor] [data-part=text]")).to_have_text(question)

    ticket = _webchat_ticket(live_desk, question)
    expect(page.locator("[data-from=desk]")).to_have_count(1, timeout=20_000)  # the chat acknowledgement
    shot(page, "asked")

    answer = "Yes — it ships with a UK plug. <b>Not bold</b>"
    _api(live_desk, "POST", f"/tickets/{ticket['id']}/replies", {"text": answer})
    expect(page.locator("[data-from=agent] [data-part=text]")).to_have_text(answer, timeout=10_000)
    assert page.locator("[data-from=agent] b").count() == 0  # text stays text
    expect(page.locator("[data-from=agent]")).to_contain_text("Ada Admin")
    shot(page, "answered")

    page.reload()
    page.locator("[data-part=launcher]").click()
    expect(page.locator("[data-part=message]")).to_have_count(3)
    expect(page.locator("[data-from=visitor] [data-part=text]")).to_have_text(question)
    expect(page.locator("[data-from=agent] [data-part=text]")).to_have_text(answer)
    stored = page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('relaydesk.webchat'))")
    assert len(stored) == 1
    shot(page, "reloaded")

    # And it goes on after the reload: the next reply arrives live too.
    _api(live_desk, "POST", f"/tickets/{ticket['id']}/replies", {"text": "Anything else?"})
    expect(page.locator("[data-from=agent]")).to_have_count(2, timeout=10_000)


def test_a_site_that_is_not_on_the_allow_list_gets_no_chat(live_desk, shop, page: Page):
    page.goto(shop + "/")
    page.locator("[data-part=launcher]").click()
    page.locator("[data-part=input]").fill("Hello from a page the desk does not know")
    page.locator("[data-part=send]").click()
    expect(page.locator("[data-part=error]")).to_contain_text("Not sent")
    assert page.evaluate("() => Object.keys(localStorage).length") == 0  # no session was opened
    assert not any("does not know" in m["text"] for t in live_desk.desk.tickets() for m in t["messages"])


def test_a_message_the_api_throttled_is_not_lost_and_goes_through_when_sent_again(live_desk, allowed,
                                                                                 page: Page, shot):
    """API Gateway answers 429 {"message": "Too Many Requests"}, no Retry-After, above ApiRateLimit, before the desk
    sees the request: the widget sends it again (about 1 s, then 2 s later); when the throttle lasts, the visitor is
    told the desk is busy and keeps their text, and sending again stores it once."""
    page.goto(allowed + "/")
    page.locator("[data-part=launcher]").click()
    question = "Is the red teapot dishwasher safe?"
    throttled: list[str] = []

    def throttle(times: int) -> Any:
        def handler(route: Any) -> None:
            throttled.append(route.request.method)
            if len(throttled) <= times:
                route.fulfill(status=429, content_type="application/json", body='{"message":"Too Many Requests"}')
            else:
                route.continue_()
        return handler

    page.route("**/webhooks/webchat", throttle(99))
    page.locator("[data-part=input]").fill(question)
    page.locator("[data-part=send]").click()
    expect(page.locator("[data-part=error]")).to_have_text(
        "Not sent: the desk is busy, please try again in a moment", timeout=15_000)
    assert throttled == ["POST"] * 3  # the first try and two more
    expect(page.locator("[data-part=input]")).to_have_value(question)
    expect(page.locator("[data-from=visitor]")).to_have_class(re.compile(r"\bfailed\b"))
    shot(page, "throttled")

    page.unroute("**/webhooks/webchat")
    throttled.clear()
    page.route("**/webhooks/webchat", throttle(1))  # a moment's throttle: the visitor notices nothing
    page.locator("[data-part=send]").click()
    # Wait in Playwright, not in a sleep: the sync API runs the route handler (the retry's) only inside its calls.
    expect(page.locator("[data-from=visitor]").last).not_to_have_class(re.compile(r"\bpending\b"), timeout=15_000)
    ticket = _webchat_ticket(live_desk, question)
    expect(page.locator("[data-part=error]")).to_have_text("")
    assert throttled == ["POST", "POST"]
    assert [m["text"] for m in ticket["messages"] if m["direction"] == "inbound"] == [question]


@pytest.fixture
def bucket_takes_uploads_from(live_desk, allowed) -> Iterator[str]:
    """The mail bucket's CORS rule lists the shop too, as a deployment embedding the widget configures it
    (the browser PUTs files to the bucket's pre-signed URLs from the shop's page). One rule, its origins
    extended: moto refuses a preflight that any one of several rules does not allow."""
    from chalicelib import config

    s3, bucket = live_desk.desk._aws("s3"), config.setting("MAIL_BUCKET")
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    [rule] = rules
    widened = {**rule, "AllowedOrigins": [*rule["AllowedOrigins"], allowed]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [widened]})
    yield allowed
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


def test_a_visitor_sends_a_file_from_the_widget_and_the_agent_gets_it(live_desk, bucket_takes_uploads_from,
                                                                      page: Page, tmp_path, shot):
    allowed = bucket_takes_uploads_from
    receipt = tmp_path / "receipt.png"
    receipt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x01" * 300)
    page.goto(allowed + "/")
    page.locator("[data-part=launcher]").click()
    page.locator("[data-part=input]").fill("Here is my receipt")
    page.locator("[data-part=file]").set_input_files(str(receipt))
    expect(page.locator("[data-from=visitor]").last).to_contain_text("receipt.png")
    ticket = _webchat_ticket(live_desk, "Here is my receipt")
    expect(page.locator("[data-part=error]")).to_have_text("")
    [attachment] = [a for m in ticket["messages"] for a in m["attachments"]]
    assert (attachment["filename"], attachment["size"]) == ("receipt.png", 308)
    shot(page, "file-sent")
