"""The 24/7 bot in the web-chat widget, in a real browser: the visitor's question is answered with an article and
"did this solve it?" as two buttons; pressing one answers it (the buttons go), and the ticket follows: solved as
deflected on yes, handed to a person on no. Same shop page and allow-list as ``test_widget.py``."""
from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_widget import _webchat_ticket, allowed, shop  # noqa: F401 (fixtures)

from chalicelib.admin import DEMO_ARTICLES


@pytest.fixture(scope="module", autouse=True)
def articles(live_desk) -> None:
    from chalicelib.service import kb

    assert not kb.import_folder(DEMO_ARTICLES).refused


def _stored(live_desk, ticket_id: str, check, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticket = next(t for t in live_desk.desk.tickets() if t["id"] == ticket_id)
        if check(ticket):
            return ticket
        time.sleep(0.2)
    raise AssertionError(f"ticket {ticket_id} never reached the expected state: {ticket}")


def _ask(page: Page, allowed_origin: str, question: str) -> None:
    page.goto(allowed_origin + "/")
    page.locator("[data-part=launcher]").click()
    page.locator("[data-part=input]").fill(question)
    page.locator("[data-part=send]").click()


def test_the_visitor_presses_yes_and_the_ticket_is_solved_by_the_article(live_desk, allowed, page: Page, shot):
    question = "I forgot my password, how do I reset it?"
    _ask(page, allowed, question)
    answer = page.locator("[data-from=desk]").first
    expect(answer).to_contain_text("Reset your password", timeout=20_000)
    expect(answer).to_contain_text("Did this solve it?")
    link = answer.locator("a[data-part=link]")
    expect(link).to_have_attribute("href", live_desk.url + "/kb/go/" + link.get_attribute("href").rsplit("/", 1)[1])
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    buttons = answer.locator("[data-part=choice]")
    expect(buttons).to_have_text(["Yes, solved", "No, I need help"])
    shot(page, "bot-answer")

    buttons.first.click()
    expect(page.locator("[data-from=visitor]").last).to_contain_text("Yes, solved")
    expect(page.locator("[data-part=choices]")).to_have_count(0)  # answered: the buttons go
    expect(page.locator("[data-from=desk]").last).to_contain_text("glad that solved it", timeout=20_000)
    shot(page, "bot-solved")

    ticket = _webchat_ticket(live_desk, question)
    solved = _stored(live_desk, ticket["id"], lambda t: t["status"] == "solved")
    assert solved["bot"]["state"] == "solved" and solved["assignee_id"] is None
    assert solved["deflection"] and solved["last_agent_reply_at"] is None

    page.reload()  # the conversation comes back without buttons to press again
    page.locator("[data-part=launcher]").click()
    expect(page.locator("[data-part=message]")).to_have_count(4)
    expect(page.locator("[data-part=choices]")).to_have_count(0)

    from tests.browser.console_helpers import sign_in_with_token

    console = page.context.new_page()  # the agent sees it was solved by the article, without them
    sign_in_with_token(console, live_desk, hash_=f"#ticket/{ticket['id']}")
    expect(console.locator("[data-bot=solved]")).to_contain_text("Solved by the chat bot (article reset-your-password)")
    expect(console.locator("[data-self-service]")).to_contain_text("deflected (confirmed via bot)")
    shot(console, "console-bot-solved")


def test_the_visitor_presses_no_and_a_person_takes_over(live_desk, allowed, page: Page, shot):
    question = "How do I return my shoes?"
    _ask(page, allowed, question)
    answer = page.locator("[data-from=desk]").first
    expect(answer).to_contain_text("Return an item", timeout=20_000)
    answer.locator("[data-part=choice][data-value='bot:no']").click()
    expect(page.locator("[data-from=desk]").last).to_contain_text("passing this to a person", timeout=20_000)
    shot(page, "bot-handoff")

    ticket = _webchat_ticket(live_desk, question)
    handed = _stored(live_desk, ticket["id"], lambda t: t["status"] == "open")
    assert handed["bot"]["state"] == "handed_off" and handed["bot"]["reason"] == "the article did not solve it"

    # The agent who gets it sees what the bot did, and its messages marked as the bot's.
    from tests.browser.console_helpers import sign_in_with_token

    console = page.context.new_page()
    sign_in_with_token(console, live_desk, hash_=f"#ticket/{ticket['id']}")
    expect(console.locator("[data-bot=handed_off]")).to_contain_text("handed this over (article return-an-item)")
    expect(console.locator(".msg.outbound .meta strong", has_text="Chat bot")).to_have_count(2)
    shot(console, "console-bot-handoff")
