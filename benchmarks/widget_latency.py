"""How long an agent's reply takes to show in the visitor's web-chat widget, and reads per empty poll.

Run: ``POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/widget_latency.py [samples]``

Set-up as the browser tests have it (``tests/browser/conftest.py``): LocalDesk with a moto
server, the app over HTTP (Chalice's local server, one thread per request), the queues pumped
in a thread, Debian's Chromium through Playwright. A shop page on another origin embeds the
widget with its one script tag; the visitor writes once, then for each sample an agent replies
through ``POST /tickets/{id}/replies`` and we time from just before that request is sent to
the moment the reply's element is added to the widget (a MutationObserver in the widget's
Shadow DOM stamps ``Date.now()``; same machine, same clock). The widget is long-polling
(``wait=20``) when each reply is written, so this is the poll's re-check interval (1 s) plus the
request round trips: on average about half a second of waiting, at most about one second.

Reads per empty poll: DynamoDB calls made by one ``GET .../messages?wait=0`` with nothing new
(counted on PynamoDB's connection, in the polling thread only), and by one that waits 20 seconds.
"""
from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from tests import conftest  # noqa: E402,F401  (fake credentials and moto before any client)
from tests.browser.conftest import CHROMIUM_FLAGS, free_port  # noqa: E402
from tests.browser.test_widget import _HostPage  # noqa: E402

_OBSERVE = """() => {
  const host = document.querySelector('[data-relay-desk=webchat]');
  window.__agentSeen = [];
  new MutationObserver(records => {
    for (const record of records) for (const node of record.addedNodes)
      if (node.getAttribute && node.getAttribute('data-from') === 'agent') window.__agentSeen.push(Date.now());
  }).observe(host.shadowRoot.querySelector('[data-part=log]'), {childList: true});
}"""


def _post(url: str, path: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(url + path, method="POST", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def main(samples: int = 10) -> None:
    from playwright.sync_api import sync_playwright

    from chalicelib.local import LocalDesk
    from chalicelib.local.serve import LOCAL_SECRETS, start_http

    port, shop_port = free_port(), free_port()
    url, shop = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{shop_port}"
    environment = {**LOCAL_SECRETS, "PUBLIC_BASE_URL": url, "WEBCHAT_ALLOWED_ORIGINS": shop}
    with LocalDesk(server=True, environment=environment) as desk:
        server = start_http(desk, port, quiet=True)
        _, token = desk.add_agent("Ada Admin", "admin@example.com", role="admin")
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                if not desk.pump():
                    stop.wait(0.1)

        threading.Thread(target=pump, daemon=True).start()
        page_server = ThreadingHTTPServer(("127.0.0.1", shop_port), functools.partial(_HostPage, desk_url=url))
        threading.Thread(target=page_server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=os.environ.get("RELAY_DESK_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_FLAGS)
                page = browser.new_page()
                page.goto(shop + "/")
                page.locator("[data-part=launcher]").click()
                page.locator("[data-part=input]").fill("Latency probe: hello")
                page.locator("[data-part=send]").click()
                ticket = None
                deadline = time.monotonic() + 30
                while ticket is None and time.monotonic() < deadline:
                    ticket = next((t for t in desk.tickets() if t["channel"] == "webchat"), None)
                    time.sleep(0.2)
                assert ticket is not None, "the visitor's message never became a ticket"
                page.locator("[data-from=desk]").wait_for()  # the acknowledgement: the widget is polling
                page.evaluate(_OBSERVE)
                latencies = []
                for n in range(1, samples + 1):
                    time.sleep(1.3 + 0.37 * (n % 3))  # land at different points of the poll's 1-s re-check
                    started = time.time() * 1000
                    _post(url, f"/tickets/{ticket['id']}/replies", token, {"text": f"Reply {n}"})
                    page.wait_for_function(f"() => window.__agentSeen.length >= {n}", polling="raf", timeout=30_000)
                    seen = page.evaluate(f"() => window.__agentSeen[{n - 1}]")
                    latencies.append(seen - started)
                browser.close()
            session = _session_of(desk)
            empty_now, empty_waiting = _reads_per_empty_poll(desk, session, wait=0), \
                _reads_per_empty_poll(desk, session, wait=20)
        finally:
            stop.set()
            page_server.shutdown()
            server.shutdown()

    print(f"agent reply → shown in the widget, {samples} samples (ms): "
          + ", ".join(f"{value:.0f}" for value in latencies))
    print(f"  p50 {_percentile(latencies, 0.5):.0f} ms, p90 {_percentile(latencies, 0.9):.0f} ms, "
          f"mean {statistics.mean(latencies):.0f} ms, max {max(latencies):.0f} ms")
    print(f"DynamoDB calls per empty poll: wait=0 → {dict(empty_now)}; wait=20 → {dict(empty_waiting)}")


def _session_of(desk) -> dict:
    """A fresh session with one message stored and read: the poll after that finds nothing new."""
    from tests import chat

    response = desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json"}, body=b"{}")
    session = json.loads(response.body)
    chat.post_webchat(desk, session["session_token"], "counting reads", message_id="reads-0001")
    desk.pump()
    first = desk.http.get(f"/webchat/sessions/{session['session_id']}/messages",
                          headers={"Authorization": f"Bearer {session['session_token']}"})
    return {**session, "cursor": json.loads(first.body)["cursor"]}


def _reads_per_empty_poll(desk, session: dict, *, wait: int) -> Counter:
    from pynamodb.connection.base import Connection

    calls: Counter = Counter()
    original = Connection._make_api_call
    polling = threading.current_thread()  # the test client runs the route here; the pump thread is not counted

    def counting(self, operation_name, *args, **kwargs):
        if threading.current_thread() is polling:
            calls[operation_name] += 1
        return original(self, operation_name, *args, **kwargs)

    Connection._make_api_call = counting
    try:
        answer = desk.client.http.get(
            f"/webchat/sessions/{session['session_id']}/messages?after={session['cursor']}&wait={wait}",
            headers={"Authorization": f"Bearer {session['session_token']}"})
    finally:
        Connection._make_api_call = original
    assert json.loads(answer.body)["messages"] == [], answer.body
    return calls


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
