"""A tracked article link in headless Chromium (issue 14): the customer follows the link from their acknowledgement,
reads the article in the portal, answers "did this answer your question?" — and the ticket is solved by
self-service and counted in the KPI report. A visit without a person behind it (a mail scanner that runs the
page's scripts) records nothing; a "no" leaves the ticket with the team. The question is in the customer's language.

One desk over HTTP (``live_desk``), the demo articles imported, the event pump in its thread; screenshots land in
``tests/browser/artifacts/``; the ``page`` fixture fails the test on any uncaught page error.
"""
from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console_helpers import call, ticket_from, wait_for
from tests.mail import compose


@pytest.fixture(scope="module")
def articles(live_desk: Any) -> Any:
    from chalicelib.admin import DEMO_ARTICLES
    from chalicelib.service import kb

    report = kb.import_folder(DEMO_ARTICLES)
    assert not report.refused, report.refused
    return report


def _ticket(live: Any, sender: str, subject: str, body: str) -> dict[str, Any]:
    live.desk.receive_email(compose(sender=sender, subject=subject, body=body))
    return ticket_from(live, sender.split("<")[1].rstrip(">"), subject)


def _stored(live: Any, ticket_id: str) -> dict[str, Any]:
    status, ticket = call(live, "GET", f"/tickets/{ticket_id}")
    assert status == 200, ticket
    return ticket


def _deflected_today(live: Any) -> int:
    """The report's deflected tickets today, once the stream's changes are handed over (the live desk's HTTP
    routes are not Lambda invocations, so nothing hands them over after a route wrote)."""
    from chalicelib import clock

    live.desk.deliver_streams()
    day = clock.now().date().isoformat()
    status, report = call(live, "GET", f"/reports/kpis?from={day}&to={day}&group_by=channel")
    assert status == 200, report
    return report["totals"]["deflected"]


def test_following_a_tracked_link_and_answering_yes_solves_the_ticket_and_counts_it(live_desk, articles, page: Page,
                                                                                    shot):
    from chalicelib.service import kb_tracking

    ticket = _ticket(live_desk, "Ann Customer <ann@customer.example>", "Forgot my password",
                     "I forgot my password and cannot log in.")
    url = kb_tracking.tracked_url(ticket["id"], "reset-your-password")
    assert url.startswith(live_desk.url + "/kb/go/k1.")
    before = _deflected_today(live_desk)

    page.goto(url)  # 302 to the portal's article; the page keeps the link and drops it from the address bar
    expect(page).to_have_url(re.compile(r"/portal#article/reset-your-password$"))
    expect(page.locator("article h1")).to_have_text("Reset your password")
    feedback = page.locator("#kb-feedback")
    expect(feedback).to_contain_text("Did this answer your question?")
    shot(page, "1-article-with-question")
    time.sleep(1.0)  # what a scanner that runs scripts would do: load, wait, leave — no gesture
    assert _stored(live_desk, ticket["id"])["kb_links"] is None, "the open was recorded without a person"

    page.mouse.move(300, 300)  # the reader's first gesture records the open
    wait_for(lambda: (_stored(live_desk, ticket["id"])["kb_links"] or {}).get("opened") == ["reset-your-password"],
             message="the open recorded")
    page.get_by_role("button", name="Yes").click()
    expect(page.locator("#kb-answer")).to_contain_text("Glad it helped! We have marked your request as solved.")
    shot(page, "2-answered-yes")

    solved = wait_for(lambda: (lambda t: t if t["status"] == "solved" else None)(_stored(live_desk, ticket["id"])),
                      message="the ticket solved")
    assert solved["deflection"]["how"] == "confirmed" and solved["deflection"]["via"] == "portal"
    assert solved["audit"][-1]["action"] == "deflected"
    wait_for(lambda: _deflected_today(live_desk) == before + 1, message="the deflection counted in the report")


def test_the_question_is_in_the_customers_language_and_no_leaves_the_ticket_with_the_team(live_desk, articles,
                                                                                          page: Page, shot):
    from chalicelib.service import kb_tracking

    page.add_init_script("Object.defineProperty(navigator, 'languages', {get: () => ['en-GB', 'en']})")
    ticket = _ticket(live_desk, "Bent Kunde <bent@kunde.example>", "Glemt adgangskode",
                     "Hej, jeg har glemt min adgangskode og kan ikke logge ind. Hvad gør jeg?")
    before = _deflected_today(live_desk)

    page.goto(kb_tracking.tracked_url(ticket["id"], "glemt-adgangskode"))
    feedback = page.locator("#kb-feedback")
    expect(feedback).to_contain_text("Besvarede dette dit spørgsmål?")  # the article's (and customer's) language
    page.get_by_role("button", name="Nej").click()
    expect(page.locator("#kb-answer")).to_contain_text("Din henvendelse ligger stadig hos vores team")
    shot(page, "1-answered-no-in-danish")

    answered = wait_for(lambda: (lambda t: t if (t["kb_links"] or {}).get("answers") else None)(
        _stored(live_desk, ticket["id"])), message="the answer recorded")
    assert answered["kb_links"]["answers"]["glemt-adgangskode"]["answer"] == "not_solved"
    assert answered["status"] == "open" and answered["deflection"] is None
    assert _deflected_today(live_desk) == before

    # Without the tracked link, the same article asks nothing (nothing to record it against).
    page.goto(live_desk.url + "/portal#article/reset-your-password")
    expect(page.locator("article h1")).to_have_text("Reset your password")
    expect(page.locator("#kb-feedback")).to_have_count(0)
