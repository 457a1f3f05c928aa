"""Measure the console (not a test): bytes shipped, and time to first paint and to an interactive inbox
on a live desk holding 200 tickets, in headless Chromium.

    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/console_paint.py [--tickets 200] [--runs 5]

The inbox is "interactive" when its first page of rows is in the DOM and the keyboard handler is set
(``performance.mark("relay:inbox-ready")`` in views-inbox.js). Times are from navigation start, with
the browser's cache empty (a new context per run) and warm (a reload: 304s by ETag).
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import threading
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from chalicelib.local import LocalDesk  # noqa: E402
from chalicelib.local.serve import LOCAL_SECRETS, start_http  # noqa: E402
from tests.browser.conftest import CHROMIUM_FLAGS, free_port  # noqa: E402
from tests.mail import compose  # noqa: E402

CONSOLE = PROJECT / "chalicelib" / "static" / "console"
TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = Object.fromEntries(performance.getEntriesByType("paint").map((p) => [p.name, p.startTime]));
  const ready = performance.getEntriesByName("relay:inbox-ready")[0];
  const bytes = performance.getEntriesByType("resource").concat([nav]).reduce((n, r) => n + (r.transferSize || 0), 0);
  const api = (part) => {
    const entry = performance.getEntriesByType("resource").find((r) => r.name.includes(part));
    return entry ? entry.responseEnd - entry.startTime : null;
  };
  return {api_me: api("/auth/me"), api_tickets: api("/tickets?"), first_paint: paint["first-paint"], first_contentful_paint: paint["first-contentful-paint"],
          inbox_ready: ready && ready.startTime, dom_content_loaded: nav.domContentLoadedEventEnd,
          requests: performance.getEntriesByType("resource").length + 1, transferred: bytes,
          rows: document.querySelectorAll("table.tickets tbody tr").length};
}"""


def shipped() -> dict[str, int]:
    files = sorted(p for p in CONSOLE.iterdir() if p.is_file())
    raw = {p.name: p.stat().st_size for p in files}
    zipped = {p.name: len(gzip.compress(p.read_bytes(), 9)) for p in files}
    return {"files": len(files), "bytes": sum(raw.values()), "gzip_bytes": sum(zipped.values()),
            "per_file": {name: [raw[name], zipped[name]] for name in raw}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(shipped(), indent=1))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with LocalDesk(server=True, environment={**LOCAL_SECRETS, "PUBLIC_BASE_URL": url}) as desk:
        server = start_http(desk, port, quiet=True)
        _, token = desk.add_agent("Ada Admin", "admin@example.com", role="admin", capacity=1000)
        started = time.monotonic()
        for n in range(args.tickets):
            desk.receive_email(compose(sender=f"Customer {n} <c{n}@customer.example>", subject=f"Question {n} about order {1000 + n}",
                                       body=f"Hello, order {1000 + n} has a problem."))
            if n % 25 == 24:
                desk.pump()
        while desk.pump():
            pass
        print(f"seeded {args.tickets} tickets in {time.monotonic() - started:.1f} s", flush=True)
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                if not desk.pump():
                    stop.wait(0.2)

        pumping = threading.Thread(target=pump, daemon=True)
        pumping.start()
        import urllib.request
        for path in ("/auth/me", "/tickets/counts", "/tickets?assignee=me&limit=50"):
            begun = time.monotonic()
            with urllib.request.urlopen(urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})) as r:
                r.read()
            print(f"GET {path}: {1000 * (time.monotonic() - begun):.0f} ms", flush=True)
        session = json.dumps({"token": token, "kind": "api"})
        results: dict[str, list[dict]] = {"mine cold": [], "mine warm": [], "open cold": []}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            for _ in range(args.runs):
                for view, label in (("#inbox/mine", "mine"), ("#inbox/status/open", "open")):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    context.add_init_script(f"sessionStorage.setItem('relay-desk.session', {json.dumps(session)})")
                    page = context.new_page()
                    page.goto(f"{url}/console{view}")
                    page.wait_for_selector("table.tickets[aria-busy=false]")  # no wait_for_function: the CSP forbids eval
                    results[f"{label} cold"].append(page.evaluate(TIMING))
                    if label == "mine":
                        page.reload()
                        page.wait_for_selector("table.tickets[aria-busy=false]")
                        results["mine warm"].append(page.evaluate(TIMING))
                    context.close()
            browser.close()
        stop.set()
        pumping.join(timeout=30)
        server.shutdown()
    for name, runs in results.items():
        summary = {key: round(statistics.median(r[key] for r in runs), 1) for key in
                   ("first_paint", "first_contentful_paint", "dom_content_loaded", "api_me", "api_tickets", "inbox_ready",
                    "transferred", "requests", "rows")}
        print(name, json.dumps(summary))


if __name__ == "__main__":
    main()
