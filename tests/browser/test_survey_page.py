"""The satisfaction survey as a customer answers it: the link from the survey mail, a page, a button.

The desk runs over HTTP (``live_desk``); a customer's mail becomes a ticket, an agent
answers and solves it, an hour later the schedule sends the survey, and the test opens
the link LocalDesk recorded in that mail (``desk.sent_emails()``), exactly as a mail
client would. Opening it records nothing; the rating from the link is pre-selected; the
customer picks NPS and CES, writes a comment (with markup in it, which stays text) and
confirms. The page carries the desk's Content-Security-Policy, uses no script and its
own style sheet, and works in a browser with JavaScript switched off.
"""
from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from chalicelib.api import static
from tests.browser.console_helpers import wait_for
from tests.mail import compose

ACCENT = "rgb(31, 95, 191)"  # survey.css's --accent: the button is styled, so the style sheet loaded under the CSP


def _api(live_desk: Any, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(live_desk.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {live_desk.admin_token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _surveyed(live_desk: Any, subject: str, body: str) -> tuple[str, dict[int, str]]:
    """A solved ticket whose survey mail went out: its id and the mail's link for each rating."""
    desk = live_desk.desk
    desk.receive_email(compose(sender="Ann Customer <ann@customer.example>", subject=subject, body=body))
    ticket = wait_for(lambda: next((t for t in desk.tickets() if t["subject"] == subject), None),
                      message=f"the ticket {subject!r}")
    _api(live_desk, "POST", f"/tickets/{ticket['id']}/replies", {"text": "A new one is on its way."})
    _api(live_desk, "PATCH", f"/tickets/{ticket['id']}", {"status": "solved"})
    desk.advance(minutes=61)
    desk.run_schedules()  # the csat-survey timer: solved for an hour

    def survey_mail() -> str | None:
        for mail in desk.sent_emails():
            text = mail.get_body(preferencelist=("plain",)).get_content()
            if f"#{ticket['number']}" in text and "/surveys/" in text:
                return text
        return None

    text = wait_for(survey_mail, message="the survey mail")
    links = {int(rating): url for url, rating in re.findall(r"(https?://\S+/surveys/s1\.[\w-]+\?rating=([1-5]))", text)}
    assert sorted(links) == [1, 2, 3, 4, 5] and all(url.startswith(live_desk.url) for url in links.values()), text
    return ticket["id"], links


def _stored_survey(ticket_id: str) -> dict[str, Any]:
    from chalicelib.storage import repository

    return repository.get_ticket(ticket_id).survey


@pytest.fixture
def console_errors(page: Page) -> Iterator[list[str]]:
    """Every console error (a CSP violation is one) the page logs during the test; asserted empty at the end."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield errors
    assert errors == [], errors


def test_a_customer_opens_the_link_from_the_mail_and_answers_rating_nps_ces_and_a_comment(
        live_desk, page: Page, console_errors: list[str], shot):
    ticket_id, links = _surveyed(live_desk, "Parcel never arrived", "Hello, my order 1234 has not arrived. Can you help?")

    opened = page.goto(links[4])
    assert opened is not None and opened.status == 200
    assert opened.headers["content-security-policy"] == static.content_security_policy(form_action="'self'")
    assert opened.headers["referrer-policy"] == "no-referrer" and opened.headers["cache-control"] == "no-store"
    expect(page.get_by_role("heading", name="How did we do?")).to_be_visible()
    expect(page.get_by_role("radio", name="4 Satisfied")).to_be_checked()
    expect(page.get_by_role("button", name="Send my answer")).to_have_css("background-color", ACCENT)
    assert page.locator("script").count() == 0
    shot(page, "1-opened-with-rating-4")
    assert "answered_at" not in _stored_survey(ticket_id)  # opening the link recorded nothing

    page.locator("fieldset.nps").get_by_role("radio", name="9", exact=True).check()
    page.get_by_role("radio", name="6 Agree").check()
    shot(page, "2-nps-and-ces-picked")
    comment = "Quick and kind. <script>alert('x')</script> <b>Thanks!</b>"
    page.locator("#comment").fill(comment)
    shot(page, "3-comment-written", full_page=True)

    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Send my answer").click()
    answered = navigation.value
    assert answered is not None and answered.status == 200
    assert answered.headers["content-security-policy"] == static.content_security_policy(form_action="'self'")
    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    expect(page.locator(".answer")).to_contain_text("4 – Satisfied")
    expect(page.locator(".answer")).to_contain_text("6 – Agree")
    expect(page.locator(".comment-text")).to_have_text(comment)  # shown as text: the markup is not markup
    assert page.locator(".answer b").count() == 0 and page.locator("script").count() == 0
    shot(page, "4-thank-you")
    assert {"rating": 4, "nps": 9, "ces": 6, "comment": comment}.items() <= _stored_survey(ticket_id).items()

    assert console_errors == []

    again = page.goto(links[1])  # a second click later: the first answer stands
    assert again is not None and again.status == 409
    expect(page.get_by_role("heading", name="Already answered")).to_be_visible()
    shot(page, "5-already-answered")
    assert _stored_survey(ticket_id)["rating"] == 4
    # Chromium logs a page answered with an error status; that 409 is the point of this step.
    assert [error for error in console_errors if "409" not in error] == []
    console_errors.clear()


def test_the_page_works_without_javascript_in_the_customers_language(live_desk, browser: Browser, shot):
    ticket_id, links = _surveyed(live_desk, "Pakken mangler",
                                 "Hej, jeg har ikke modtaget min pakke endnu. Hvad sker der? Venlig hilsen Ann")
    context = browser.new_context(java_script_enabled=False, locale="da-DK", viewport={"width": 420, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        assert page.goto(links[2]).status == 200
        assert page.locator("html").get_attribute("lang") == "da"
        expect(page.get_by_role("radio", name="2 Utilfreds")).to_be_checked()
        page.get_by_role("radio", name="1 Meget utilfreds").check()
        page.locator("#comment").fill("Ingen svarede på min første mail.")
        shot(page, "da-no-javascript", full_page=True)
        with page.expect_navigation():
            page.get_by_role("button", name="Send mit svar").click()
        expect(page.get_by_role("heading", name="Tak!")).to_be_visible()
        expect(page.locator(".message")).to_contain_text("din sag er sendt tilbage til vores team")
        shot(page, "da-thank-you")
        assert errors == []
    finally:
        context.close()
    survey = _stored_survey(ticket_id)
    assert (survey["rating"], survey["nps"], survey["ces"]) == (1, None, None)
