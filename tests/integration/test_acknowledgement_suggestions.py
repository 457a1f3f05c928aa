"""Acknowledgements link the knowledge-base articles that answer the ticket's own words, in the customer's
language (issue 14), and fall back to the desk's fixed ``self_help_links`` when nothing matches well enough or
the search fails: the acknowledgement itself always goes out."""
from __future__ import annotations

from typing import Any

import pytest

from tests import chat
from tests.mail import compose


TRACKED = "/kb/go/"  # after the desk's PUBLIC_BASE_URL: a tracked link (service/kb_tracking.py)
FALLBACK = "https://help.example.com/articles/"


@pytest.fixture
def environment() -> dict[str, str]:
    return dict(chat.SECRETS)



def _acknowledgement(desk: Any) -> str:
    (mail,) = [m for m in desk.sent_emails() if m["Auto-Submitted"] == "auto-replied"]
    return mail.get_body(preferencelist=("plain",)).get_content()


def _linked(text: str, desk: Any) -> list[str]:
    """The articles ``text`` links, by following each tracked link to the portal article it opens."""
    articles = []
    for word in text.split():
        if TRACKED in word:
            opened = desk.http.get(TRACKED + word.split(TRACKED, 1)[1].rstrip(".,)"))
            assert opened.status_code == 302, opened.body
            articles.append(opened.headers["Location"].split("#article/", 1)[1])
    return articles


def test_a_danish_login_question_gets_the_danish_password_article(desk, imported):
    desk.receive_email(compose(subject="Kan ikke logge ind",
                               body="Hej, jeg kan ikke logge ind på min konto, og jeg har glemt min adgangskode. "
                                    "Hvad skal jeg gøre? Venlig hilsen Ann"))
    desk.pump()
    text = _acknowledgement(desk)
    linked = _linked(text, desk)
    assert linked[0] == "glemt-adgangskode", text
    assert 1 <= len(linked) <= 3 and FALLBACK not in text
    assert "Tak for din henvendelse." in text


def test_an_english_delivery_question_gets_the_delivery_article(desk, imported):
    desk.receive_email(compose(subject="Delivery time",
                               body="Hello, how long does delivery take to Norway, and what does shipping cost? Thanks"))
    desk.pump()
    text = _acknowledgement(desk)
    assert "delivery-times-and-shipping" in _linked(text, desk), text
    assert all(not article.endswith(("-no", "fragt", "frakt")) for article in _linked(text, desk))  # English only


def test_the_chat_acknowledgement_links_the_best_article(desk, imported):
    # Asking for a person skips the chat bot (tests/integration/test_chat_bot.py): the acknowledgement goes out.
    message = ("Hej, kan jeg tale med et menneske? Jeg kan ikke logge ind på min konto, og jeg har glemt min "
               "adgangskode. Hvad skal jeg gøre?")
    assert chat.post_telegram(desk, chat.telegram_text(text=message)).status_code == 200
    desk.pump()
    (sent,) = desk.sent_chat_messages()
    assert _linked(sent["text"], desk)[0] == "glemt-adgangskode", sent["text"]


def test_gibberish_gets_the_fixed_links(desk, imported):
    desk.receive_email(compose(subject="qwxz", body="zxqv plmkj wqpfh xkcdq"))
    desk.pump()
    text = _acknowledgement(desk)
    assert not _linked(text, desk) and f"{FALLBACK}track-order" in text, text


def test_an_empty_knowledge_base_gets_the_fixed_links(desk):
    desk.receive_email(compose(subject="Forgot my password", body="I forgot my password and cannot log in."))
    desk.pump()
    text = _acknowledgement(desk)
    assert not _linked(text, desk) and f"{FALLBACK}password-reset" in text, text


def test_a_failing_search_still_sends_the_acknowledgement_with_the_fixed_links(desk, imported, monkeypatch, caplog):
    from chalicelib.service import kb

    def broken(*_: Any, **__: Any) -> list[Any]:
        raise RuntimeError("index unreadable")

    monkeypatch.setattr(kb, "search", broken)
    desk.receive_email(compose(subject="Forgot my password", body="I forgot my password and cannot log in."))
    desk.pump()
    text = _acknowledgement(desk)
    assert not _linked(text, desk) and f"{FALLBACK}password-reset" in text, text
    assert "knowledge-base suggestions failed" in caplog.text
    (ticket,) = desk.tickets()
    assert ticket["acknowledgement"]["status"] == "sent", ticket["acknowledgement"]


def test_a_long_mail_is_searched_by_its_opening(desk, imported):
    body = "I forgot my password and cannot log in. " + "Some more details about my day. " * 60
    desk.receive_email(compose(subject="Password", body=body))
    desk.pump()
    assert "reset-your-password" in _linked(_acknowledgement(desk), desk)


def test_the_ticket_remembers_which_articles_its_customer_was_shown(desk, imported):
    desk.receive_email(compose(subject="Forgot my password", body="I forgot my password and cannot log in."))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["kb_suggested"] and set(ticket["kb_suggested"]) == set(_linked(_acknowledgement(desk), desk))
