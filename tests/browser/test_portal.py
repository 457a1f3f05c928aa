"""The customer portal in headless Chromium (issue 14): read the knowledge base, contact the desk with a file,
sign in with the mailed link, follow the ticket and an agent's reply — and another customer sees none of it.

One desk over HTTP (``live_desk``), the demo articles imported, the event pump in its thread; every step is
screenshotted to ``tests/browser/artifacts/``; the ``page`` fixture fails the test on any uncaught page error.
"""
from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.console_helpers import call, wait_for

PDF = b"%PDF-1.4\n% a receipt\n"


@pytest.fixture(scope="module", autouse=True)
def portal_origin_allowed(live_desk: Any) -> None:
    """The bucket's CORS rule lists the desk's origin (infra/resources.yaml's ConsoleOrigins: the portal is served
    from the same origin as the console); the live desk runs on a free port, so add it, as a deployment does."""
    s3 = live_desk.desk._aws("s3")
    bucket = live_desk.desk.inbound_bucket
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    for rule in rules:
        rule["AllowedOrigins"] = [*rule["AllowedOrigins"], live_desk.url]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


@pytest.fixture(scope="module")
def articles(live_desk):
    from chalicelib.admin import DEMO_ARTICLES
    from chalicelib.service import kb

    report = kb.import_folder(DEMO_ARTICLES)
    assert not report.refused, report.refused
    return report


def _link_for(live: Any, address: str, seen: int = 0) -> str:
    def links() -> list[str]:
        found = []
        for mail in live.desk.sent_emails():
            if address in str(mail["To"]):
                text = mail.get_body(preferencelist=("plain",)).get_content()
                found += re.findall(r"(\S+/portal#signin=rpl_[0-9a-f]+)", text)
        return found[seen:]

    return wait_for(links, message=f"a portal sign-in link for {address}")[-1]


def _portal_ticket(live: Any, subject: str) -> dict[str, Any]:
    def find() -> Any:
        status, found = call(live, "GET", "/tickets?channel=portal&status=open")
        hits = [t for t in (found or {}).get("tickets", []) if t["subject"] == subject] if status == 200 else []
        return hits[0] if hits else None

    return wait_for(find, message=f"the portal ticket {subject!r}")


def _sign_in(page: Page, live: Any, address: str) -> None:
    before = len([m for m in live.desk.sent_emails() if address in str(m["To"])
                  and "#signin=rpl_" in m.get_body(preferencelist=("plain",)).get_content()])
    page.goto(live.url + "/portal#signin")
    page.get_by_label("Your email").fill(address)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.locator("#notice")).to_contain_text("sign-in link is on its way")
    link = _link_for(live, address, seen=before)
    assert link.startswith(live.url + "/portal#signin=")
    page.goto(link)
    expect(page.locator("#notice")).to_contain_text("You are signed in.")
    expect(page).to_have_url(re.compile(r"#tickets$"))  # the token is gone from the address bar


def test_portal_journey(live_desk, articles, page: Page, browser: Browser, shot):
    """Read the KB, ask with a file, sign in with the mailed link, see the agent's reply; nobody else sees it."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.add_init_script("Object.defineProperty(navigator, 'languages', {get: () => ['en-GB', 'en']})")
    response = page.goto(live_desk.url + "/portal")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    # 1. Type-ahead and search in the knowledge base, then an article rendered from Markdown.
    page.get_by_label("Search the help centre").fill("retur")
    expect(page.locator("#suggestions a").first).to_be_visible()
    shot(page, "1-type-ahead")
    page.get_by_label("Search the help centre").fill("how do I return an item")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".results a").first).to_be_visible()
    shot(page, "2-search-results")
    page.locator(".results a", has_text="Return an item").click()
    expect(page.locator("article h1")).to_have_text("Return an item")
    expect(page.locator("article strong").first).to_have_text("30 days")  # Markdown, rendered as elements
    expect(page.locator("article ol li")).to_have_count(3)
    shot(page, "3-article")

    # 2. The form, with a file uploaded straight to S3.
    page.get_by_role("link", name="Contact us").first.click()
    page.get_by_label("Your name").fill("Petra Portal")
    page.get_by_label("Your email").fill("petra@customer.example")
    page.get_by_label("Subject").fill("Parcel damaged <b>badly</b>")
    page.get_by_label("How can we help?").fill("The box arrived crushed.\n<script>alert(1)</script>")
    page.get_by_label("Attachments (optional)").set_input_files(
        {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": PDF})
    shot(page, "4-form")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#notice")).to_contain_text("mailed a confirmation to petra@customer.example")
    shot(page, "5-sent")
    ticket = _portal_ticket(live_desk, "Parcel damaged <b>badly</b>")

    # 3. Sign in with the mailed link: the request is listed.
    _sign_in(page, live_desk, "petra@customer.example")
    expect(page.locator(".tickets a", has_text="Parcel damaged <b>badly</b>")).to_be_visible()
    shot(page, "6-my-requests")
    page.locator(".tickets a").first.click()
    expect(page.locator(".message.customer .text").first).to_have_text(
        "The box arrived crushed.\n<script>alert(1)</script>")  # text, never markup
    expect(page.locator(".message.customer .files")).to_contain_text("receipt.pdf")
    shot(page, "7-ticket")

    # 4. An agent answers through the agent API (and writes a note the customer must never see).
    assert call(live_desk, "POST", f"/tickets/{ticket['id']}/notes", {"text": "internal: check the courier"})[0] == 201
    assert call(live_desk, "POST", f"/tickets/{ticket['id']}/replies", {"text": "Sorry! A new one ships today."})[0] == 201
    page.reload()
    expect(page.locator(".message.agent .text")).to_have_text("Sorry! A new one ships today.")
    expect(page.locator("main")).not_to_contain_text("internal: check the courier")
    expect(page.locator("main")).not_to_contain_text("admin@example.com")
    shot(page, "8-agent-reply")

    # 5. The customer answers from the portal; the reply joins the same ticket.
    page.get_by_label("Write a reply").fill("Thanks, that was quick.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("#notice")).to_contain_text("Sent.")
    wait_for(lambda: any(m.get("text") == "Thanks, that was quick." for m in
                         call(live_desk, "GET", f"/tickets/{ticket['id']}")[1]["messages"]),
             message="the portal reply on the ticket")
    page.reload()
    expect(page.locator(".message.customer .text").last).to_have_text("Thanks, that was quick.")
    shot(page, "9-customer-reply")
    page.get_by_role("link", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    s3 = live_desk.desk._aws("s3").meta.endpoint_url.rstrip("/")
    foreign = [url for url in requested if not url.startswith((live_desk.url + "/", s3 + "/"))]
    assert foreign == [], f"requests left for other origins: {foreign}"

    # 6. Another customer, signed in in their own browser, cannot see Petra's ticket.
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    intruder = other.new_page()
    intruder.on("pageerror", lambda error: errors.append(str(error)))
    intruder.goto(live_desk.url + "/portal#new")
    intruder.get_by_label("Your name").fill("Otto Other")
    intruder.get_by_label("Your email").fill("otto@elsewhere.example")
    intruder.get_by_label("Subject").fill("My own question")
    intruder.get_by_label("How can we help?").fill("Hello")
    intruder.get_by_role("button", name="Send").click()
    expect(intruder.locator("#notice")).to_contain_text("mailed a confirmation")
    _portal_ticket(live_desk, "My own question")
    _sign_in(intruder, live_desk, "otto@elsewhere.example")
    expect(intruder.locator(".tickets a")).to_have_count(1)
    expect(intruder.locator("main")).not_to_contain_text("Parcel damaged")
    intruder.goto(live_desk.url + f"/portal#ticket/{urllib.parse.quote(ticket['id'])}")
    expect(intruder.locator("main .bad")).to_contain_text("no such ticket")
    expect(intruder.locator("main")).not_to_contain_text("The box arrived crushed")
    shot(intruder, "10-another-customer-404")
    other.close()
    assert not errors, errors


def test_portal_in_danish(live_desk, articles, browser: Browser, shot):
    """A Danish browser gets the portal and the articles in Danish; the picker switches to Norwegian."""
    context = browser.new_context(locale="da-DK")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_desk.url + "/portal")
    expect(page.locator("h1")).to_have_text("Søg i hjælpecentret")
    page.get_by_label("Søg i hjælpecentret").fill("returnere vare")
    page.get_by_role("button", name="Søg").click()
    expect(page.locator(".results a").first).to_be_visible()
    shot(page, "danish-results")
    page.get_by_label("Sprog").select_option("no")
    expect(page.locator("h1")).to_have_text("Søk i hjelpesenteret")
    context.close()
    assert not errors, errors
