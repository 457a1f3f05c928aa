"""In the customer's language, end to end: acknowledgements (email, chat), the pending reminder a rule sends,
and the web chat's status — chosen by the customer's stated preference (``PATCH /customers/{id}``, the
import), else the language of their message, else the desk's ``default_language``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import chat
from tests.api import call
from tests.mail import compose

ENGLISH = "Hello, my order has not arrived and I would like to know when it will come. Thanks"
DANISH = "Hej, jeg har ikke modtaget min pakke endnu. Hvad sker der? Venlig hilsen Ann"
NORWEGIAN = "Hei, jeg har ikke mottatt pakken min ennå. Hva skjer? Vennlig hilsen Ann"
GERMAN = "Guten Tag, mein Paket ist noch nicht angekommen. Wann kommt es? Mit freundlichen Grüßen"
ACK_OPENING = {"en": "Thank you for contacting us.", "da": "Tak for din henvendelse.",
               "no": "Takk for at du tok kontakt."}
TRACK_YOUR_ORDER = {"en": "Track your order", "da": "Følg din ordre", "no": "Spor bestillingen din"}


@pytest.fixture
def default_language() -> str:
    """The desk setting; a test parametrizes it (the desk reads its settings once, when it starts)."""
    return "en"


@pytest.fixture
def environment(tmp_path: Path, default_language: str) -> dict[str, str]:
    """The chat platforms' secrets, and the bundled desk settings with ``default_language``."""
    settings = json.loads((Path(__file__).resolve().parents[2] / "chalicelib" / "desk_settings.json").read_text())
    path = tmp_path / "desk_settings.json"
    path.write_text(json.dumps({**settings, "default_language": default_language}))
    return {**chat.SECRETS, "DESK_SETTINGS": str(path)}


def _text(mail: Any) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def _acknowledgement(desk: Any) -> str:
    (mail,) = [m for m in desk.sent_emails() if m["Auto-Submitted"] == "auto-replied"]
    return _text(mail)


def _import(desk: Any, admin_token: str, **record: Any) -> dict[str, Any]:
    status, result = call(desk, "post", "/customers/import", admin_token,
                          {"customers": [{"identities": ["email:ann@customer.example"], "name": "Ann", **record}]})
    assert status == 200, result
    return result


@pytest.mark.parametrize("code, body", [("en", ENGLISH), ("da", DANISH), ("no", NORWEGIAN)])
def test_the_email_acknowledgement_is_in_the_language_the_customer_wrote(desk, code, body):
    desk.receive_email(compose(body=body))
    desk.pump()
    text = _acknowledgement(desk)
    assert ACK_OPENING[code] in text and TRACK_YOUR_ORDER[code] in text, text


def test_a_norwegian_preference_beats_the_english_the_customer_wrote(desk, admin_token):
    assert _import(desk, admin_token, language="no")["created"] == 1
    desk.receive_email(compose(body=ENGLISH))
    desk.pump()
    text = _acknowledgement(desk)
    assert ACK_OPENING["no"] in text and TRACK_YOUR_ORDER["no"] in text, text
    (ticket,) = desk.tickets()
    assert ticket["language"] == "en"  # what they wrote still routes the ticket (agents' languages)


@pytest.mark.parametrize("default_language", ["da"])
def test_a_message_in_a_language_we_do_not_write_gets_the_desks_default(desk):
    desk.receive_email(compose(subject="Mein Paket", body=GERMAN))
    desk.pump()
    assert ACK_OPENING["da"] in _acknowledgement(desk)


def test_without_a_desk_default_an_unknown_language_is_answered_in_english(desk):
    desk.receive_email(compose(subject="Mein Paket", body=GERMAN))
    desk.pump()
    assert ACK_OPENING["en"] in _acknowledgement(desk)


@pytest.mark.parametrize("code, text, opening", [
    ("en", "Hello, my subscription renewal failed twice today. Could you please help?", "Thanks Ana! We got your message"),
    ("da", DANISH, "Tak, Ana! Vi har fået din besked"),
    ("no", NORWEGIAN, "Takk, Ana! Vi har fått meldingen din"),
])
def test_the_chat_acknowledgement_is_in_the_customers_language(desk, code, text, opening):
    assert chat.post_telegram(desk, chat.telegram_text(text=text)).status_code == 200
    desk.pump()
    (sent,) = desk.sent_chat_messages()
    assert sent["text"].startswith(opening), sent["text"]
    assert TRACK_YOUR_ORDER[code] in sent["text"]


def test_a_preference_set_on_the_customer_chooses_the_pending_reminder(desk, admin_token):
    _, ann = desk.add_agent("Ann Agent", "agent@example.com")
    desk.receive_email(compose(subject="Where is my parcel", body=ENGLISH))
    desk.pump()
    (ticket,) = desk.tickets()
    status, customer = call(desk, "patch", f"/customers/{ticket['customer_id']}", admin_token, {"language": "da"})
    assert status == 200 and customer["language"] == "da", customer
    assert call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"status": "pending"})[0] == 200
    desk.advance(days=3, minutes=1)
    desk.run_schedules()
    desk.pump()
    (reminder,) = [m for m in desk.tickets()[0]["messages"] if m["kind"] == "automated"]
    assert reminder["full_text"].startswith("Hej Ann,") and "Vi mangler stadig dit svar" in reminder["full_text"]
    assert "»Where is my parcel«" in reminder["full_text"]


def test_a_preference_is_one_of_our_languages_and_null_removes_it(desk, admin_token):
    customer_id = _import(desk, admin_token, language="da")["records"][0]["customer_id"]
    status, refused = call(desk, "patch", f"/customers/{customer_id}", admin_token, {"language": "de"})
    assert status == 400 and "language" in json.dumps(refused), refused
    status, customer = call(desk, "patch", f"/customers/{customer_id}", admin_token, {"language": None})
    assert status == 200 and customer["language"] is None
    invalid = _import(desk, admin_token, language="sv")
    assert invalid["invalid"] == 1 and "language" in invalid["records"][0]["reason"], invalid


@pytest.mark.parametrize("header, code, words", [
    ("da-DK,da;q=0.9,en;q=0.5", "da", "Vi svarer som regel"), ("nb-NO", "no", "Vi svarer vanligvis"),
    ("de-DE", "en", "We usually reply"), (None, "en", "We usually reply"),
])
def test_the_web_chat_status_speaks_the_browsers_language(desk, header, code, words):
    desk.add_agent("Olga Online", "olga@example.com")
    import time_machine
    from datetime import datetime, timezone

    with time_machine.travel(datetime(2026, 12, 9, 9, 0, tzinfo=timezone.utc), tick=False):
        response = desk.http.get("/webchat/status", headers={"Accept-Language": header} if header else {})
    assert response.status_code == 200, response.body
    status = json.loads(response.body)
    assert status["language"] == code and words in status["message"], status
    assert "Accept-Language" in response.headers["Vary"] and "Origin" in response.headers["Vary"]


def test_an_agent_picking_a_macro_sends_its_translation_in_the_tickets_language(desk, admin_token):
    _, ann = desk.add_agent("Ann Agent", "agent@example.com")
    desk.receive_email(compose(subject="Pakken min", body=NORWEGIAN))
    desk.pump()
    (ticket,) = desk.tickets()
    status, sent = call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"macro_id": "pending-reminder"})
    assert status == 201, sent
    assert sent["text"].startswith("Hei Ann,") and "Vi venter fortsatt på svar fra deg" in sent["text"]
    # A macro an agent writes can carry its own translations, checked like its body.
    macro = {"id": "thanks-for-waiting", "title": "Thanks for waiting", "body": "Thanks for waiting!",
             "translations": {"da": "Tak, fordi du ventede!", "no": "Takk for at du ventet!"}}
    assert call(desk, "post", "/macros", admin_token, macro)[0] == 201
    status, sent = call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"macro_id": "thanks-for-waiting"})
    assert status == 201 and sent["text"] == "Takk for at du ventet!", sent
    broken = {**macro, "id": "broken", "translations": {"da": "Hej {{ custmer.name }}"}}
    status, refused = call(desk, "post", "/macros", admin_token, broken)
    assert status == 400 and "custmer" in json.dumps(refused), refused
