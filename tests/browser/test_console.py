"""The agents' console in a real browser (Chromium via Playwright) against the whole desk served over HTTP.

Each test is a flow an agent goes through, with a screenshot per step in ``tests/browser/artifacts/``:
sign in by the emailed link, work the inbox with the keyboard, find a ticket by number, download an
attachment, send a macro reply with a file, change status, survive a concurrent edit (409) without losing
anything, open a ticket for a call, the admin pages — and a hostile mail that must stay inert.
"""
from __future__ import annotations

import re
import time
from email.message import EmailMessage
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console_helpers import call, listener, sign_in_with_token, ticket_from, wait_for
from tests.mail import compose

@pytest.fixture(scope="module", autouse=True)
def console_origin_allowed(live_desk: Any) -> None:
    """The bucket's CORS rule lists the console's origin (infra/resources.yaml's ConsoleOrigins, whose default is
    ``make local``'s port 8000); the live desk runs on a free port, so add it, as a deployment sets the parameter."""
    s3 = live_desk.desk._aws("s3")
    bucket = live_desk.desk.inbound_bucket
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    for rule in rules:
        rule["AllowedOrigins"] = [*rule["AllowedOrigins"], live_desk.url]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + bytes(range(256))


def settled(live: Any, ticket_id: str) -> dict[str, Any]:
    """The ticket once the pump has finished with it (acknowledged, assigned): same version twice, 0.5 s apart."""
    last = None
    for _ in range(60):
        ticket = call(live, "GET", f"/tickets/{ticket_id}")[1]
        if last is not None and ticket["version"] == last["version"]:
            return ticket
        last = ticket
        time.sleep(0.5)
    return last


def assert_every_control_labelled(page: Page) -> None:
    """Every visible input, select, textarea and button has an accessible name (a label, aria-label or text)."""
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
        .filter((el) => el.getClientRects().length > 0)
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !(el.tagName === 'BUTTON' && el.textContent.trim()))
        .map((el) => el.outerHTML.slice(0, 120))""")
    assert unlabelled == []


def test_sign_in_by_the_emailed_link_then_sign_out(live_desk: Any, page: Page, shot: Any) -> None:
    live_desk.desk.add_agent("Sam Support", "sam@example.com")
    page.goto(f"{live_desk.url}/console")
    expect(page.get_by_role("heading", name="Sign in with your email")).to_be_visible()
    page.get_by_label("Work email").fill("sam@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.locator("#link-status")).to_contain_text("Check your mail")
    assert_every_control_labelled(page)
    shot(page, "1-link-sent")

    links = wait_for(lambda: [link for to, link in live_desk.desk.signin_links() if "sam@example.com" in to],
                     message="the sign-in mail")
    link = links[-1]
    assert link.startswith(f"{live_desk.url}/console#signin="), link
    page.goto(link)
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    expect(page.locator("#who")).to_have_text("Sam Support (agent)")
    assert "signin=" not in page.url  # the one-time token leaves the address bar and history at once
    session = page.evaluate("JSON.parse(sessionStorage.getItem('relay-desk.session'))")
    assert session["token"].startswith("rds_") and session["kind"] == "session"
    shot(page, "2-signed-in")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_contain_text("You are signed out")
    assert page.evaluate("sessionStorage.getItem('relay-desk.session')") is None
    assert call(live_desk, "GET", "/auth/me", token=session["token"])[0] == 401  # the session is gone server-side
    page.goto(link)  # a used link does not work twice
    expect(page.get_by_role("alert")).to_contain_text("did not work")
    shot(page, "3-signed-out")


def test_a_refused_token_goes_back_to_sign_in_with_the_reason(live_desk: Any, page: Page, shot: Any) -> None:
    page.goto(f"{live_desk.url}/console")
    page.evaluate("sessionStorage.setItem('relay-desk.session', JSON.stringify({token: 'rd_a-000000000000_' + "
                  "'0'.repeat(64), kind: 'api'}))")
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked token")
    expect(page.get_by_label("Work email")).to_be_visible()

    # Mid-session: the agent is removed (token revoked) while the page is open; the next call is a 401.
    agent_id, token = live_desk.desk.add_agent("Temp Agent", "temp@example.com")
    sign_in_with_token(page, live_desk, token)
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    expect(page.locator(".views a", has_text="Mine").locator(".count")).to_be_visible()  # every call answered
    assert call(live_desk, "DELETE", f"/agents/{agent_id}")[0] == 200
    page.get_by_role("link", name="Unassigned").click()
    expect(page.get_by_role("alert")).to_have_text("Signed out: unknown or revoked token")
    expect(page.locator("#top")).to_be_hidden()
    shot(page, "signed-out-mid-session")


def test_inbox_keyboard_find_by_number_and_download_an_attachment(live_desk: Any, page: Page, shot: Any) -> None:
    desk = live_desk.desk
    desk.receive_email(compose(sender="Nora Buyer <nora@customer.example>", subject="Invoice for order 5521",
                               body="Hi, the invoice is attached. The total looks wrong.",
                               attachments=[("invoice-5521.pdf", "application/pdf", PDF)]))
    desk.receive_email(compose(sender="Per Hansen <per@customer.example>", subject="Where is my parcel?",
                               body="Order 7781 has not arrived."))
    invoice = ticket_from(live_desk, "nora@customer.example", "Invoice for order 5521")
    ticket_from(live_desk, "per@customer.example", "Where is my parcel?")

    sign_in_with_token(page, live_desk)
    expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    expect(page.locator(".views a", has_text="Mine").locator(".count")).to_have_text(re.compile(r"^\d+$"))
    page.get_by_role("navigation", name="Ticket views").get_by_role("link", name=re.compile("^open")).click()
    expect(page.get_by_role("heading", name="Status: open")).to_be_visible()
    rows = page.locator("table.tickets tbody tr")
    expect(rows.filter(has_text="Invoice for order 5521")).to_have_count(1)
    expect(rows.first.locator(".sla")).to_contain_text("left")  # the first-response clock is running
    assert_every_control_labelled(page)
    shot(page, "1-inbox")

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile("selected"))
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile("selected"))
    opened = rows.nth(0).locator("td.subject a").inner_text()
    page.keyboard.press("Enter")
    expect(page.locator(".ticket h1")).to_contain_text(opened)

    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(f"#{invoice['number']}")
    page.keyboard.press("Enter")
    expect(page.locator(".ticket h1")).to_have_text(f"#{invoice['number']} Invoice for order 5521")
    expect(page).to_have_url(re.compile(f"#ticket/{invoice['id']}$"))
    expect(page.locator(".msg.inbound pre.text").first).to_contain_text("the invoice is attached")
    expect(page.locator(".side .customer")).to_contain_text("nora@customer.example")
    assert_every_control_labelled(page)
    shot(page, "2-ticket")

    with page.expect_download() as downloading:
        page.get_by_role("button", name=re.compile("invoice-5521.pdf")).click()
    download = downloading.value
    assert download.suggested_filename == "invoice-5521.pdf"
    with open(download.path(), "rb") as saved:
        assert saved.read() == PDF
    shot(page, "3-downloaded")

    page.keyboard.press("/")
    page.keyboard.type("nora@customer.example")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(page.locator("table.tickets")).to_contain_text("Invoice for order 5521")
    shot(page, "4-find-by-email")


def test_macro_reply_with_an_attachment_then_change_status(live_desk: Any, page: Page, shot: Any) -> None:
    desk = live_desk.desk
    desk.receive_email(compose(sender="Lena Berg <lena@customer.example>", subject="Need the signed contract",
                               body="Could you send me the signed contract?"))
    ticket = settled(live_desk, ticket_from(live_desk, "lena@customer.example", "Need the signed contract")["id"])
    status, listed = call(live_desk, "GET", f"/macros?queue={ticket['category']}")
    macro = next(m for m in listed["macros"] if "order_number" not in m["body"] and not m["actions"].get("set_status"))

    sign_in_with_token(page, live_desk, hash_=f"#ticket/{ticket['id']}")
    expect(page.locator(".ticket h1")).to_contain_text("Need the signed contract")
    page.get_by_label("Macro").select_option(macro["id"])
    expect(page.locator(".macro-preview h3")).to_have_text(macro["title"])
    expect(page.locator(".macro-preview pre")).to_have_text(macro["body"])
    expect(page.get_by_label("Message")).to_be_hidden()  # the macro's text is what is sent
    page.get_by_label("CC").fill("legal@customer.example")
    page.get_by_label("Attachments").set_input_files(
        {"name": "contract.pdf", "mimeType": "application/pdf", "buffer": PDF})
    expect(page.locator(".composer .files")).to_contain_text("contract.pdf")
    shot(page, "1-macro-preview")
    page.get_by_role("button", name="Send macro reply").click()
    expect(page.locator(".composer .status")).to_have_text("Reply queued for sending.")
    expect(page.locator(".msg.outbound").last).to_contain_text("contract.pdf")

    def sent() -> Any:
        return [m for m in desk.sent_emails() if "lena@customer.example" in str(m["To"])
                and any(part.get_filename() == "contract.pdf" for part in m.iter_attachments())]

    mail = wait_for(sent, message="the reply with contract.pdf")[-1]
    assert "legal@customer.example" in str(mail["Cc"])
    attached = next(p for p in mail.iter_attachments() if p.get_filename() == "contract.pdf")
    assert attached.get_content() == PDF
    page.reload()
    expect(page.locator(".msg.outbound .delivery").last).not_to_have_text("")
    shot(page, "2-reply-sent")

    page.get_by_label("Status").select_option("pending")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#notice")).to_contain_text("status: open → pending")
    expect(page.locator(".ticket-head .facts .pill").first).to_have_text("pending")
    assert call(live_desk, "GET", f"/tickets/{ticket['id']}")[1]["status"] == "pending"
    shot(page, "3-status-changed")


def test_a_concurrent_edit_is_shown_and_nothing_the_agent_typed_is_lost(live_desk: Any, page: Page, shot: Any) -> None:
    live_desk.desk.receive_email(compose(sender="Omar Ali <omar@customer.example>", subject="Card charged twice",
                                         body="I was charged twice for order 9910."))
    ticket = settled(live_desk, ticket_from(live_desk, "omar@customer.example", "Card charged twice")["id"])

    sign_in_with_token(page, live_desk, hash_=f"#ticket/{ticket['id']}")
    expect(page.locator(".ticket h1")).to_contain_text("Card charged twice")
    page.get_by_label("Message").fill("Sorry about that, Omar: the second charge is refunded.")
    page.get_by_label("Priority").select_option("urgent")

    # Behind the page's back: another agent puts the ticket on hold (the page still holds the old version).
    status, changed = call(live_desk, "PATCH", f"/tickets/{ticket['id']}", {"status": "on_hold", "version": ticket["version"]})
    assert status == 200, changed

    page.get_by_role("button", name="Save changes").click()
    conflict = page.locator(".conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("status: open → on_hold")
    expect(conflict).to_contain_text("Ada Admin")  # who did it, from the audit trail
    expect(conflict).to_contain_text("priority → urgent")  # what this agent wanted, not applied
    expect(page.get_by_label("Priority")).to_have_value("urgent")  # …and still in the form
    expect(page.get_by_label("Status")).to_have_value("on_hold")  # the form shows the ticket as it is now
    expect(page.get_by_label("Message")).to_have_value("Sorry about that, Omar: the second charge is refunded.")
    shot(page, "1-conflict")

    page.get_by_role("button", name="Save changes").click()  # re-apply on the new version
    expect(page.locator("#notice")).to_contain_text("priority: normal → urgent")
    now = call(live_desk, "GET", f"/tickets/{ticket['id']}")[1]
    assert (now["status"], now["priority"]) == ("on_hold", "urgent")
    expect(page.get_by_label("Message")).to_have_value("Sorry about that, Omar: the second charge is refunded.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".composer .status")).to_have_text("Reply queued for sending.")
    expect(page.get_by_label("Message")).to_have_value("")
    shot(page, "2-resolved")


def test_a_throttled_request_is_sent_again_and_a_lasting_throttle_keeps_the_agents_text(
        live_desk: Any, page: Page, shot: Any) -> None:
    """API Gateway answers 429 {"message": "Too Many Requests"}, no Retry-After, above ApiRateLimit, before the desk
    sees the request: the console sends it again (1 s, then 2 s later), and when that fails too it says the desk is
    busy and keeps what the agent wrote."""
    live_desk.desk.receive_email(compose(sender="Ines Lund <ines@customer.example>", subject="Wrong colour delivered",
                                         body="I ordered the blue one and got the red one."))
    ticket = settled(live_desk, ticket_from(live_desk, "ines@customer.example", "Wrong colour delivered")["id"])
    sign_in_with_token(page, live_desk, hash_=f"#ticket/{ticket['id']}")
    expect(page.locator(".ticket h1")).to_contain_text("Wrong colour delivered")
    seen: list[str] = []

    def throttle(times: int) -> Any:
        def handler(route: Any) -> None:
            seen.append(route.request.method)
            if seen.count(route.request.method) <= times:
                route.fulfill(status=429, content_type="application/json", body='{"message":"Too Many Requests"}')
            else:
                route.continue_()
        return handler

    path = f"**/tickets/{ticket['id']}"
    page.route(path, throttle(2))  # the PATCH: twice throttled, then through
    page.get_by_label("Priority").select_option("high")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#notice")).to_contain_text("priority: normal → high", timeout=15_000)
    assert seen.count("PATCH") == 3
    assert call(live_desk, "GET", f"/tickets/{ticket['id']}")[1]["priority"] == "high"
    page.unroute(path)

    replies = f"**/tickets/{ticket['id']}/replies"
    seen.clear()
    page.route(replies, throttle(99))  # the reply: throttled on every try
    page.get_by_label("Message").fill("Sorry, Ines: the blue one is on its way.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".composer .status")).to_have_text(
        "Reply not sent (429): the desk is busy, please try again in a moment. Your text is kept.", timeout=15_000)
    assert seen == ["POST"] * 3
    expect(page.get_by_label("Message")).to_have_value("Sorry, Ines: the blue one is on its way.")
    assert [m for m in call(live_desk, "GET", f"/tickets/{ticket['id']}")[1]["messages"]
            if m["direction"] == "outbound" and m["kind"] == "agent"] == []
    shot(page, "busy")


def test_tags_an_internal_note_and_a_merge(live_desk: Any, page: Page, shot: Any) -> None:
    desk = live_desk.desk
    desk.receive_email(compose(sender="Ivar Dahl <ivar@customer.example>", subject="Printer jams on page 2",
                               body="The printer from order 3300 jams on every second page."))
    survivor = ticket_from(live_desk, "ivar@customer.example", "Printer jams on page 2")
    desk.receive_email(compose(sender="Ivar D <ivar.dahl@work.example>", subject="Still jamming!!",
                               body="Writing from work: it is still jamming."))
    duplicate = settled(live_desk, ticket_from(live_desk, "ivar.dahl@work.example", "Still jamming!!")["id"])

    sign_in_with_token(page, live_desk, hash_=f"#ticket/{duplicate['id']}")
    page.get_by_label("Add tag").fill("hardware")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".tags .chips")).to_contain_text("hardware")
    page.get_by_label("Add tag").fill("printer")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".tags .chips")).to_contain_text("printer")
    page.get_by_role("button", name="Remove tag hardware").click()
    expect(page.locator(".tags .chips")).not_to_contain_text("hardware")
    assert call(live_desk, "GET", f"/tickets/{duplicate['id']}")[1]["tags"] == ["printer"]

    page.get_by_label("Internal note").check()
    page.get_by_label("Message").fill("Same customer as #%d, writing from work." % survivor["number"])
    page.get_by_role("button", name="Add internal note").click()
    expect(page.locator(".msg.note")).to_contain_text("writing from work")
    assert not [m for m in desk.sent_emails() if "writing from work" in str(m.get_body(preferencelist=("plain",)))]
    shot(page, "1-tagged-and-noted")

    page.locator("details.merge summary").click()
    page.get_by_label("Survivor").fill(f"#{survivor['number']}")
    page.get_by_role("button", name="Merge…").click()
    expect(page.locator("details.merge")).to_contain_text("Printer jams on page 2")
    shot(page, "2-merge-confirm")
    page.get_by_role("button", name=f"Merge into #{survivor['number']}").click()
    expect(page).to_have_url(re.compile(f"#ticket/{survivor['id']}$"))
    expect(page.locator(".conversation")).to_contain_text("it is still jamming")  # the duplicate's conversation
    assert call(live_desk, "GET", f"/tickets/{duplicate['id']}")[1]["merged_into"] == survivor["id"]
    shot(page, "3-merged")


def test_sla_clocks_tick_without_a_reload(live_desk: Any, page: Page) -> None:
    live_desk.desk.receive_email(compose(sender="Tia <tia@customer.example>", subject="Clock check", body="Tick tock."))
    ticket = ticket_from(live_desk, "tia@customer.example", "Clock check")
    page.clock.install()
    sign_in_with_token(page, live_desk, hash_=f"#ticket/{ticket['id']}")
    badge = page.locator(".ticket-head .sla")
    expect(badge).to_contain_text("left")
    before = badge.inner_text()
    page.evaluate("window.relayNotReloaded = true")  # gone if the page were loaded again
    page.clock.fast_forward(3 * 60 * 60 * 1000)  # three hours later: the next 30-second tick redraws
    expect(badge).not_to_have_text(before)
    page.clock.fast_forward(4 * 24 * 60 * 60 * 1000)
    expect(badge).to_contain_text("overdue")
    expect(badge).to_have_class(re.compile("sla-breached"))
    # the agent sees the clock move from time left to overdue, on the same page, never reloaded
    assert "left" in before and "overdue" in badge.inner_text() and "left" not in badge.inner_text()
    assert page.evaluate("window.relayNotReloaded === true")


HOSTILE_HTML = """<html><head>
<meta http-equiv="refresh" content="0;url={evil}/refresh">
<link rel="stylesheet" href="{evil}/link.css">
<style>@import url({evil}/import.css); body {{ background: url({evil}/bg.png) }}</style>
<base href="{evil}/base/">
</head><body>
<p id="hello">Hello <b>agent</b></p>
<script>window.top.pwned = 1; parent.pwned = 1; fetch("{evil}/script");</script>
<img src="x" onerror="parent.pwned = 2; fetch('{evil}/onerror')">
<img src="{evil}/remote.png" alt="tracker">
<img srcset="{evil}/srcset.png 1x">
<a id="js" href="javascript:parent.pwned=3;fetch('{evil}/js')">click me</a>
<div style="background-image: url('{evil}/inline-style.png'); position: fixed; top: 0; left: 0; width: 100%; height: 100%">overlay</div>
<svg onload="parent.pwned = 4"><image href="{evil}/svg.png"/></svg>
<iframe src="{evil}/frame"></iframe>
<object data="{evil}/object"></object>
<form action="{evil}/form"><input name="q"><button id="go">go</button></form>
<video poster="{evil}/poster.png"></video>
</body></html>"""


def test_a_hostile_email_renders_inert(live_desk: Any, page: Page, shot: Any) -> None:
    with listener() as (evil, seen):
        # Control: the same markup in an unprotected page does reach the listener and run its script,
        # so silence below means the console stopped it, not that the bait was broken.
        # Without its meta refresh: navigating away at once raced the script's and the handler's requests
        # (a CI run saw none of them in 10 s); the console below gets the refresh too.
        control = page.context.new_page()
        bait = HOSTILE_HTML.format(evil=evil).replace(f'<meta http-equiv="refresh" content="0;url={evil}/refresh">', "")
        assert "/refresh" not in bait
        control.set_content(bait)
        wait_for(lambda: {"GET /script", "GET /remote.png", "GET /onerror"} <= set(seen), seconds=20,
                 message="the control page's script, image and handler requests")
        # Not waited for: a close that waited hung a CI run for the whole 180 s while the bait's meta refresh
        # kept the page navigating (Chromium never reported it closed); kept so, whatever the bait holds.
        control.close(run_before_unload=True)
        page.wait_for_timeout(500)  # let the control page's last requests land before listening afresh
        seen.clear()

        mail = EmailMessage()
        mail["From"] = "Mallory <mallory@evil.example>"
        mail["To"] = "support@example.com"
        mail["Subject"] = "<img src=x onerror=parent.pwned=9> Invoice"
        mail.set_content("Plain part <script>parent.pwned=5</script>")
        mail.add_alternative(HOSTILE_HTML.format(evil=evil), subtype="html")
        live_desk.desk.receive_email(mail.as_bytes())
        ticket = ticket_from(live_desk, "mallory@evil.example", "<img src=x onerror=parent.pwned=9> Invoice")

        # Every request that completed; one the CSP stops fails in the browser and never leaves it
        # (Chromium reports some as started, e.g. a <video poster>, then as failed).
        completed: list[str] = []
        blocked: list[str] = []
        page.on("requestfinished", lambda request: completed.append(request.url))
        page.on("requestfailed", lambda request: blocked.append(f"{request.url} {request.failure}"))
        sign_in_with_token(page, live_desk, hash_=f"#ticket/{ticket['id']}")
        # The subject is text, not markup.
        expect(page.locator(".ticket h1")).to_have_text(f"#{ticket['number']} <img src=x onerror=parent.pwned=9> Invoice")
        assert page.locator(".ticket h1 img").count() == 0
        frame_element = page.locator("iframe.mail-html").first
        expect(frame_element).to_be_visible()
        assert frame_element.get_attribute("sandbox") == ""  # no allow-scripts, no allow-same-origin
        assert frame_element.evaluate("f => f.srcdoc").startswith(
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
            "style-src 'unsafe-inline'\">")
        expect(page.locator(".msg.inbound .remote-note").first).to_contain_text("Remote images blocked")
        frame = frame_element.content_frame
        expect(frame.locator("body")).to_contain_text("Hello agent")
        if frame.locator("#js").count():
            frame.locator("#js").click()
        if frame.locator("#go").count():
            frame.locator("#go").click(no_wait_after=True)
        page.wait_for_timeout(1500)
        shot(page, "1-rendered")

        # The same again with the server's sanitiser out of the way: the frame alone must hold it.
        def raw(route: Any) -> None:
            response = route.fetch()
            detail = response.json()
            for message in detail["messages"]:
                if message.get("html"):
                    message["html"] = HOSTILE_HTML.format(evil=evil)
            route.fulfill(response=response, json=detail)

        page.route(re.compile(rf".*/tickets/{ticket['id']}$"), raw)
        page.reload()
        frame = page.locator("iframe.mail-html").first.content_frame
        expect(frame.locator("#hello")).to_contain_text("Hello agent")
        frame.locator("#js").click()
        frame.locator("#go").click(no_wait_after=True)
        page.wait_for_timeout(1500)
        shot(page, "2-raw-html-in-the-frame")

        assert page.evaluate("window.pwned") is None, "a script from the mail ran"
        assert seen == [], f"the mail reached out: {seen}"
        foreign = [url for url in completed if not url.startswith((live_desk.url + "/", "data:", "about:"))]
        assert foreign == [], f"requests left for other origins: {foreign}"
        # …and any that started were stopped by the CSP (Chromium says "csp" or net::ERR_BLOCKED_BY_CSP).
        assert all(re.search(r"csp|blocked", entry, re.IGNORECASE) for entry in blocked), blocked


def test_open_a_ticket_for_a_phone_call(live_desk: Any, page: Page, shot: Any) -> None:
    sign_in_with_token(page, live_desk, hash_="#new")
    expect(page.get_by_role("heading", name="Open a ticket")).to_be_visible()
    page.get_by_label("Identify by").select_option("phone")
    page.get_by_label("Email, phone (+47…) or customer id").fill("+4791234567")
    page.get_by_label("Name (optional)").fill("Kari Nordmann")
    page.get_by_label("Kind").select_option("call")
    page.get_by_label("Channel").select_option("phone")
    page.get_by_label("Subject").fill("Called about a broken charger")
    page.get_by_label("Message or call notes").fill("Charger from order 4410 stopped working; wants a replacement.")
    shot(page, "1-form")
    page.get_by_role("button", name="Open ticket").click()
    expect(page.locator(".ticket h1")).to_contain_text("Called about a broken charger")
    expect(page.locator(".side .customer")).to_contain_text("Kari Nordmann")
    expect(page.locator(".msg").first).to_contain_text("Charger from order 4410")
    shot(page, "2-opened")
    # what the team sees afterwards: a phone ticket for Kari, the call notes internal, nothing sent to her
    ticket_id = page.evaluate("location.hash").removeprefix("#ticket/")
    status, stored = call(live_desk, "GET", f"/tickets/{ticket_id}")
    assert status == 200 and stored["subject"] == "Called about a broken charger"
    assert stored["channel"] == "phone" and stored["requester_name"] == "Kari Nordmann"
    [logged] = stored["messages"]
    assert logged["kind"] == "call" and "order 4410" in logged["text"] and logged["direction"] != "outbound"
    assert not any(mail["Subject"] and "broken charger" in mail["Subject"] for mail in live_desk.desk.sent_emails())


def test_admin_creates_an_agent_a_macro_and_reads_the_kpis(live_desk: Any, page: Page, shot: Any) -> None:
    live_desk.desk.receive_email(compose(sender="Kim <kim@customer.example>", subject="Counted", body="For the report."))
    ticket_from(live_desk, "kim@customer.example", "Counted")  # at least one ticket in today's aggregates
    sign_in_with_token(page, live_desk, hash_="#admin/agents")
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()
    form = page.locator("form", has=page.get_by_role("heading", name="New agent"))
    form.get_by_label("Name").fill("Tove Tech")
    form.get_by_label("Email").fill("tove@example.com")
    form.get_by_label("Skills (queues)").fill("technical")
    form.get_by_label("Capacity").fill("5")
    form.get_by_role("button", name="Create agent").click()
    token = page.get_by_label("New agent's token")
    expect(token).to_have_value(re.compile(r"^rd_a-[0-9a-f]{12}_"))
    assert call(live_desk, "GET", "/auth/me", token=token.input_value())[1]["name"] == "Tove Tech"
    expect(page.locator("table.grid")).to_contain_text("tove@example.com")
    assert_every_control_labelled(page)
    shot(page, "1-agents")

    page.get_by_role("link", name="Macros").click()
    page.get_by_role("button", name="New macro").click()
    page.get_by_label("Id").fill("warranty-claim")
    page.get_by_label("Title").fill("Warranty claim received")
    page.get_by_label(re.compile("^Body")).fill("Hi {{ customer.name }}, we have your warranty claim for ticket {{ ticket.number }}.")
    page.get_by_label("Set status").select_option("pending")
    page.get_by_role("button", name="Save macro").click()
    expect(page.locator("table.grid")).to_contain_text("Warranty claim received")
    assert call(live_desk, "GET", "/macros/warranty-claim")[1]["actions"]["set_status"] == "pending"
    page.get_by_role("button", name="New macro").click()
    page.get_by_label("Id").fill("broken")
    page.get_by_label("Title").fill("Broken")
    page.get_by_label(re.compile("^Body")).fill("{{ customer.password }}")
    page.get_by_role("button", name="Save macro").click()
    expect(page.locator("form [role=status]")).to_contain_text("Not saved")
    shot(page, "2-macros")
    page.get_by_role("button", name="Cancel").click()
    row = page.locator("table.grid tr", has_text="Warranty claim received")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Really delete?").click()
    expect(page.locator("table.grid")).not_to_contain_text("Warranty claim received")
    assert call(live_desk, "GET", "/macros/warranty-claim")[0] == 404

    page.get_by_role("link", name="KPIs").click()
    expect(page.get_by_role("heading", name="KPI report")).to_be_visible()
    expect(page.locator("svg.chart rect.bar.volume").first).to_be_attached()
    expect(page.locator("table.grid")).to_contain_text("email")
    assert_every_control_labelled(page)
    shot(page, "3-kpis")


def test_the_inbox_pages_with_load_more(live_desk: Any, page: Page, shot: Any) -> None:
    def open_tickets() -> int:
        total, cursor = 0, ""
        while True:
            status, listed = call(live_desk, "GET", "/tickets?status=open&limit=100" + (f"&cursor={cursor}" if cursor else ""))
            total += len(listed["tickets"])
            if not listed["next_cursor"]:
                return total
            cursor = listed["next_cursor"]

    before = open_tickets()
    for n in range(26):
        live_desk.desk.receive_email(compose(sender=f"Buyer {n} <buyer{n}@shop.example>", subject=f"Order {8000 + n} question",
                                             body=f"Where is order {8000 + n}?"))

    wait_for(lambda: open_tickets() >= before + 26, seconds=40, message=f"{before + 26} open tickets")
    total = open_tickets()
    while True:  # the same count a second apart: nothing left in flight
        time.sleep(1)
        again = open_tickets()
        if again == total:
            break
        total = again
    sign_in_with_token(page, live_desk, hash_="#inbox/status/open")
    rows = page.locator("table.tickets tbody tr")
    expect(rows).to_have_count(25)
    more = page.get_by_role("button", name="Load more")
    while more.is_visible():
        shown = rows.count()
        more.click()
        expect(rows).not_to_have_count(shown)
    expect(rows).to_have_count(total)
    ids = rows.evaluate_all("rows => rows.map((r) => r.dataset.id)")
    assert len(set(ids)) == total  # every ticket once
    expect(page.locator(".list [role=status]")).to_contain_text(f"{total} tickets")
    shot(page, "all-pages")
