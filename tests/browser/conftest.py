"""Browser tests: the desk served over HTTP as ``make local`` serves it, driven by Playwright in Debian's Chromium.

Playwright cannot download its own browser here, so it launches the system
``chromium`` (``RELAY_DESK_CHROMIUM``, set by ``make test``, default
``/usr/bin/chromium``; ``make test`` installs it). The flags keep Chromium off
the network it would otherwise call home to. Screenshots land in
``tests/browser/artifacts/`` (kept out of git; CI keeps them as artefacts).
"""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from chalicelib.local import LocalDesk
from chalicelib.local.serve import LOCAL_SECRETS, start_http

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class LiveDesk:
    url: str  # e.g. http://127.0.0.1:41234, the API and the console's origin
    desk: LocalDesk
    admin_token: str
    admin_email: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


BROWSER_TEST_SECONDS = 180  # a wait that never returns (a browser or driver that stopped answering) fails here


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.timeout(BROWSER_TEST_SECONDS))


@pytest.fixture(scope="module")
def live_desk() -> Iterator[LiveDesk]:
    """One desk per test module: moto server, the app on HTTP, and its event pump in a thread."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with LocalDesk(server=True, environment={**LOCAL_SECRETS, "PUBLIC_BASE_URL": url}) as desk:
        server = start_http(desk, port, quiet=True)
        _, token = desk.add_agent("Ada Admin", "admin@example.com", role="admin")
        stop = threading.Event()
        pump = threading.Thread(target=_pump_until, args=(desk, stop), daemon=True)
        pump.start()
        try:
            yield LiveDesk(url=url, desk=desk, admin_token=token, admin_email="admin@example.com")
        finally:
            stop.set()
            pump.join(timeout=10)
            server.shutdown()


def _pump_until(desk: LocalDesk, stop: threading.Event) -> None:
    while not stop.is_set():
        if not desk.pump():
            stop.wait(0.1)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("RELAY_DESK_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"the browser tests need Chromium at {executable}: run 'make test' (it installs Debian's "
                    "chromium) or 'apt-get install chromium', or set RELAY_DESK_CHROMIUM")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no storage shared between tests); fails on any uncaught page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(10_000)
    yield opened
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shot(page, "inbox")`` saves ``artifacts/<test>-inbox.png`` and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(target: Page, name: str, **options: Any) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        target.screenshot(path=str(path), **options)
        return path

    return take
