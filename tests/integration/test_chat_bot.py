"""The 24/7 chat bot (issue 14): it answers a chat question with the article that matches it confidently and asks
whether that solved it; yes solves the ticket, anything else (no, a request for a person, a new question) hands
the conversation to a person, who then gets it in their queue. Bot messages never count as a first response.

Driven through the real webhooks (Telegram here; each platform's buttons are tested with its adapter and sender),
the pipeline and the outbound worker, on a desk with the demo articles.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests import chat

from chalicelib import clock
from chalicelib.admin import DEMO_ARTICLES

PASSWORD_QUESTION = "I forgot my password, how do I reset it?"
DANISH_PASSWORD_QUESTION = "Hej, jeg har glemt min adgangskode og kan ikke logge ind. Hvad gør jeg?"
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


@pytest.fixture
def environment() -> dict[str, str]:
    return dict(chat.SECRETS)



@pytest.fixture
def agent(desk: Any) -> str:
    return desk.add_agent("Kari Nordmann", "kari@example.com")[0]


class Conversation:
    """One Telegram customer writing to the desk; each ``say`` is a new update through the webhook."""

    def __init__(self, desk: Any) -> None:
        self.desk = desk
        self.update_id = 9000

    def say(self, text: str) -> None:
        self.update_id += 1
        response = chat.post_telegram(self.desk, chat.telegram_text(update_id=self.update_id, text=text))
        assert response.status_code == 200, response.body
        self.desk.pump()

    def ticket(self) -> dict[str, Any]:
        (ticket,) = self.desk.tickets()
        return ticket

    def sent(self) -> list[str]:
        return [message["text"] for message in self.desk.sent_chat_messages()]


@pytest.fixture
def customer(desk: Any) -> Conversation:
    return Conversation(desk)


def _business_hours(desk: Any) -> None:
    """Move the desk's clock to the next weekday 10:00 in Copenhagen (the chat SLA's calendar is open)."""
    local = clock.now().astimezone(COPENHAGEN)
    target = local.replace(hour=10, minute=0, second=0, microsecond=0)
    while target <= local or target.weekday() >= 5 or (target.month, target.day) in ((12, 24), (12, 25), (12, 26),
                                                                                     (1, 1)):
        target += timedelta(days=1)
    desk.advance(minutes=(target - local).total_seconds() / 60)


def _saturday_noon(desk: Any) -> datetime:
    local = clock.now().astimezone(COPENHAGEN)
    target = local.replace(hour=12, minute=0, second=0, microsecond=0)
    while target <= local or target.weekday() != 5:
        target += timedelta(days=1)
    desk.advance(minutes=(target - local).total_seconds() / 60)
    return target


def test_a_confident_match_is_answered_with_the_article_and_waits_for_the_customer(desk, imported, agent, customer):
    _business_hours(desk)
    customer.say(PASSWORD_QUESTION)

    (answer,) = customer.sent()
    assert "Reset your password" in answer and "Did this solve it?" in answer
    (link,) = [word for word in answer.split() if "/kb/go/" in word]  # tracked: opening it counts
    opened = desk.http.get(link[link.index("/kb/go/"):])
    assert opened.status_code == 302 and opened.headers["Location"].endswith("#article/reset-your-password")
    ticket = customer.ticket()
    assert ticket["status"] == "pending" and ticket["assignee_id"] is None  # nobody's queue yet
    assert ticket["bot"]["state"] == "asked" and ticket["bot"]["article_id"] == "reset-your-password"
    assert ticket["acknowledgement"]["status"] == "suppressed"  # the bot's answer is the acknowledgement
    assert ticket["kb_suggested"] == ["reset-your-password"]  # what deflection is measured against


def test_yes_solves_the_ticket_without_an_agent_and_without_a_first_response(desk, imported, agent, customer):
    _business_hours(desk)
    customer.say(PASSWORD_QUESTION)
    customer.say("yes thanks")

    ticket = customer.ticket()
    assert ticket["status"] == "solved" and ticket["assignee_id"] is None
    assert ticket["bot"]["state"] == "solved"
    assert ticket["last_agent_reply_at"] is None  # bot messages are not a first response
    assert "glad that solved it" in customer.sent()[-1]
    kinds = [m["kind"] for m in ticket["messages"] if m["direction"] == "outbound"]
    assert kinds == ["bot", "bot"]


@pytest.mark.parametrize("answer, reason", [
    ("no", "the article did not solve it"),
    ("That didn't help, the reset mail never arrives", "the article did not solve it"),
    ("Can I talk to a human please", "asked for a person"),
    ("And where is my parcel?", "the customer wrote something else"),
])
def test_anything_but_yes_hands_over_to_a_person_with_the_whole_conversation(desk, imported, agent, customer,
                                                                                answer, reason):
    _business_hours(desk)
    customer.say(PASSWORD_QUESTION)
    customer.say(answer)

    ticket = customer.ticket()
    assert ticket["status"] == "open" and ticket["assignee_id"] == agent  # in the queue, and taken
    assert ticket["bot"] == {"state": "handed_off", "article_id": "reset-your-password", "at": ticket["bot"]["at"],
                             "reason": reason}
    handoff = customer.sent()[-1]
    assert f"#{ticket['number']}" in handoff and "within 30 business minutes" in handoff, handoff
    texts = [m["text"] for m in ticket["messages"]]
    assert texts[0] == PASSWORD_QUESTION and answer in texts  # the agent sees the whole conversation


def test_a_customer_saying_no_five_times_gets_one_handoff_and_then_only_people(desk, imported, agent, customer):
    _business_hours(desk)
    customer.say(PASSWORD_QUESTION)
    for _ in range(5):
        customer.say("no")

    assert len(customer.sent()) == 2  # the answer and one hand-off; the rest is for the agent to answer
    ticket = customer.ticket()
    assert ticket["status"] == "open" and ticket["assignee_id"] == agent and ticket["bot"]["state"] == "handed_off"
    assert desk.dead_letters() == []


@pytest.mark.parametrize("question", ["I want to speak to a human about my password",
                                      "Kan jeg tale med et menneske om min adgangskode?",
                                      "Kan jeg snakke med en person? Jeg har glemt passordet"])
def test_asking_for_a_person_in_any_language_skips_the_bot(desk, imported, agent, customer, question):
    _business_hours(desk)
    customer.say(question)

    ticket = customer.ticket()
    assert ticket.get("bot") is None and ticket["status"] == "open" and ticket["assignee_id"] == agent
    assert ticket["acknowledgement"]["status"] == "sent"


def test_a_question_no_article_answers_well_goes_straight_to_a_person(desk, imported, agent, customer):
    _business_hours(desk)
    customer.say("The blender I got yesterday smells of burnt plastic when I switch it on")

    ticket = customer.ticket()
    assert ticket.get("bot") is None and ticket["assignee_id"] == agent
    (acknowledgement,) = customer.sent()
    assert "within 30 business minutes" in acknowledgement


def test_the_bot_answers_in_the_customers_language(desk, imported, agent, customer):
    _business_hours(desk)
    customer.say(DANISH_PASSWORD_QUESTION)
    customer.say("nej")

    answer, handoff = customer.sent()
    assert "Glemt adgangskode" in answer and "Løste det dit problem?" in answer
    assert "jeg giver din besked videre til en person" in handoff and "inden for 30 arbejdsminutter" in handoff


def test_outside_business_hours_the_handoff_says_when_a_person_will_answer(desk, imported, agent, customer):
    _saturday_noon(desk)
    customer.say(PASSWORD_QUESTION)
    customer.say("no")

    handoff = customer.sent()[-1]
    assert "We're away right now; a person will answer here Monday from 08:00" in handoff, handoff


def test_outside_business_hours_the_chat_acknowledgement_says_when_too(desk, imported, agent, customer):
    _saturday_noon(desk)
    customer.say("The blender I got yesterday smells of burnt plastic when I switch it on")

    (acknowledgement,) = customer.sent()
    assert "a person will reply here Monday from 08:00" in acknowledgement, acknowledgement


def test_a_redelivered_answer_is_said_once(desk, imported, agent, customer):
    _business_hours(desk)
    update = chat.telegram_text(update_id=4242, text=PASSWORD_QUESTION)
    for _ in range(3):
        assert chat.post_telegram(desk, update).status_code == 200
    desk.pump()
    assert len(customer.sent()) == 1 and len(desk.tickets()) == 1


def test_with_the_bot_off_every_chat_gets_the_acknowledgement(tmp_path):
    from chalicelib.local.desk import LocalDesk
    from chalicelib.service import kb

    settings = json.loads((Path(__file__).parents[2] / "chalicelib" / "desk_settings.json").read_text())
    path = tmp_path / "desk_settings.json"
    path.write_text(json.dumps({**settings, "bot_enabled": False}))
    with LocalDesk(environment=dict(chat.SECRETS), settings_path=path) as desk:
        assert not kb.import_folder(DEMO_ARTICLES).refused
        agent = desk.add_agent("Kari Nordmann", "kari@example.com")[0]
        customer = Conversation(desk)
        _business_hours(desk)
        customer.say(PASSWORD_QUESTION)

        ticket = customer.ticket()
        assert ticket.get("bot") is None and ticket["assignee_id"] == agent
        assert "Someone from our team will reply here" in customer.sent()[0]


def test_by_sms_the_customer_reads_the_answers_and_types_yes(desk, imported, agent):
    _business_hours(desk)
    question = chat.twilio_sms(Body=PASSWORD_QUESTION, MessageSid="SM" + "a" * 32)
    assert chat.post_twilio(desk, question).status_code == 200
    desk.pump()
    (answer,) = desk.sent_chat_messages()
    assert "Reset your password" in answer["text"] and "Yes, solved" in answer["text"]  # no buttons: typed

    assert chat.post_twilio(desk, chat.twilio_sms(Body="Yes, solved", MessageSid="SM" + "b" * 32)).status_code == 200
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["status"] == "solved" and ticket["channel"] == "sms" and ticket["assignee_id"] is None


def test_a_huge_noisy_chat_message_is_handed_to_a_person_not_held(desk, imported, agent, customer):
    _business_hours(desk)
    noise = " ".join(f"zq{n}xv" for n in range(900))[:4000]  # Telegram's message limit is 4,096 characters
    customer.say(noise)

    ticket = customer.ticket()
    assert ticket.get("bot") is None and ticket["assignee_id"] == agent and desk.dead_letters() == []


def _crash_once(monkeypatch, name: str) -> list[int]:
    """Make ``pipeline.bot_replies.<name>`` fail on its first call, as a function killed after its write would."""
    from chalicelib.pipeline import bot_replies

    real, calls = getattr(bot_replies, name), []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("killed after the write")
        return real(*args, **kwargs)

    monkeypatch.setattr(bot_replies, name, flaky)
    return calls


def test_a_crash_after_the_write_still_gets_the_answer_out_on_redelivery(desk, imported, agent, customer,
                                                                           monkeypatch):
    _business_hours(desk)
    calls = _crash_once(monkeypatch, "answer")
    customer.say(PASSWORD_QUESTION)

    assert len(calls) == 2  # failed once; the redelivered message found the ticket and said what was owed
    (answer,) = customer.sent()
    assert "Reset your password" in answer and customer.ticket()["bot"]["state"] == "asked"
    assert desk.dead_letters() == []


def test_a_crash_after_yes_still_solves_on_redelivery(desk, imported, agent, customer, monkeypatch):
    _business_hours(desk)
    customer.say(PASSWORD_QUESTION)
    calls = _crash_once(monkeypatch, "solved")
    customer.say("yes")

    assert len(calls) == 2
    ticket = customer.ticket()
    assert ticket["status"] == "solved" and ticket["bot"]["state"] == "solved"
    assert len(customer.sent()) == 2
