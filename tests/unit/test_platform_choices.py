"""The bot's "did this solve it?" choices, as each platform's send API receives them.

The real senders (``chalicelib/outbound/platforms.py``) build and send real requests; ``responses``
stands in for the platforms at the HTTP layer, so each test reads the exact JSON (or form) a platform
would get. The shapes are the platforms' documented ones: Slack Block Kit ``section`` + ``actions`` with
``button`` elements, WhatsApp Cloud API ``type: interactive`` reply buttons, Messenger ``quick_replies``,
Telegram ``reply_markup.inline_keyboard`` with ``callback_data``.
"""
from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import bot
from chalicelib.outbound import platforms, portal_mail, worker
from chalicelib.outbound.http import PermanentDeliveryError
from tests import chat

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
JUST_NOW = NOW - timedelta(minutes=2)  # the customer's last message: inside every messaging window
CHOICES_DA = bot.choices_in("da")  # [{"value": "bot:yes", "label": "Ja, løst"}, {"value": "bot:no", ...}]
TEXT = "Sådan nulstiller du din adgangskode: tryk på «Glemt adgangskode» på log ind-siden.\n" \
       "Løste det dit problem?"

SLACK_URL = "https://slack.com/api/chat.postMessage"
WHATSAPP_URL = f"{chat.GRAPH}/106540352242922/messages"
MESSENGER_URL = f"{chat.GRAPH}/me/messages"
TELEGRAM_URL = f"https://api.telegram.org/bot{chat.TELEGRAM_BOT_TOKEN}/sendMessage"
TWILIO_URL = f"https://api.twilio.com/2010-04-01/Accounts/{chat.TWILIO_ACCOUNT_SID}/Messages.json"

ROUTES = {
    "slack": {"provider": "slack", "team": "T0001HELP", "channel": "D0HELPDM1", "thread_ts": "1795426140.000200"},
    "whatsapp": {"provider": "whatsapp", "phone_number_id": "106540352242922", "to": "16505551234"},
    "messenger": {"provider": "messenger", "page_id": "110000000000042", "recipient": "6543210987654321"},
    "telegram": {"provider": "telegram", "chat_id": "5012345678"},
    "sms": {"provider": "twilio", "to": "+4712345678", "from": "+4798765432"},
    "webchat": {"provider": "webchat", "session": "wc-1"},
}


@contextlib.contextmanager
def platform_apis() -> Iterator[responses.RequestsMock]:
    """Every platform's send API, answering as it does on success; nothing leaves the machine."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as apis:
        apis.post(SLACK_URL, json={"ok": True, "channel": "D0HELPDM1", "ts": "1795426150.000300"})
        apis.post(WHATSAPP_URL, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.SENT1"}]})
        apis.post(re.compile(re.escape(MESSENGER_URL) + r"\?.*"),
                  json={"recipient_id": "6543210987654321", "message_id": "m_SENT1"})
        apis.post(TELEGRAM_URL, json={"ok": True, "result": {"message_id": 1203}})
        apis.post(TWILIO_URL, json={"sid": "SM00000000000000000000000000000001"})
        yield apis


@pytest.fixture(autouse=True)
def platform_secrets(monkeypatch):
    for name, value in chat.SECRETS.items():
        monkeypatch.setenv(name, value)
    for name in ("META_GRAPH_VERSION", "WHATSAPP_REPLY_TEMPLATE", "SECRETS_SSM_PREFIX"):
        monkeypatch.delenv(name, raising=False)


def sent(route: dict, text: str = TEXT, choices=CHOICES_DA, *, last_inbound_at=JUST_NOW) -> tuple[str, list]:
    """Deliver one reply; the platform's id and the requests its API received."""
    with platform_apis() as apis:
        platform_id = platforms.deliver(route, text, NOW, last_inbound_at, choices)
        return platform_id, [call.request for call in apis.calls]


def only_json(route: dict, text: str = TEXT, choices=CHOICES_DA, **kwargs) -> dict:
    _, requests = sent(route, text, choices, **kwargs)
    assert len(requests) == 1, requests
    return json.loads(requests[0].body)


# --- each platform's own buttons ---------------------------------------------------------------


def test_slack_keeps_the_text_for_notifications_and_adds_a_section_and_buttons():
    platform_id, [request] = sent(ROUTES["slack"])

    assert platform_id == "1795426150.000300" and request.url == SLACK_URL
    assert json.loads(request.body) == {
        "channel": "D0HELPDM1",
        "thread_ts": "1795426140.000200",
        "text": TEXT,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": TEXT}},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Ja, løst"},
                 "value": "bot:yes", "action_id": "bot:yes"},
                {"type": "button", "text": {"type": "plain_text", "text": "Nej, brug for hjælp"},
                 "value": "bot:no", "action_id": "bot:no"},
            ]},
        ],
    }


def test_slack_text_longer_than_a_section_is_split_at_words_and_nothing_is_lost():
    words = " ".join(f"ord{n}" for n in range(1_500))  # 10,390 characters

    body = only_json(ROUTES["slack"], words)

    *sections, actions = body["blocks"]
    texts = [section["text"]["text"] for section in sections]
    assert body["text"] == words and len(sections) == 4 and actions["type"] == "actions"
    assert all(len(text) <= platforms.SLACK_SECTION_MAX for text in texts)
    assert " ".join(texts) == words  # cut between words, never inside one


def test_whatsapp_inside_the_window_sends_interactive_reply_buttons():
    platform_id, [request] = sent(ROUTES["whatsapp"])

    assert platform_id == "wamid.SENT1" and request.url == WHATSAPP_URL
    assert request.headers["Authorization"] == f"Bearer {chat.WHATSAPP_ACCESS_TOKEN}"
    assert json.loads(request.body) == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": TEXT},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "bot:yes", "title": "Ja, løst"}},
                {"type": "reply", "reply": {"id": "bot:no", "title": "Nej, brug for hjælp"}},
            ]},
        },
    }


def test_whatsapp_body_over_1024_characters_is_cut_at_a_word():
    long_text = "Gå til Konto og vælg Betaling. " * 60  # 1,860 characters

    body = only_json(ROUTES["whatsapp"], long_text)["interactive"]["body"]["text"]

    assert len(body) <= platforms.WHATSAPP_BODY_MAX and body.endswith("…")
    assert long_text.startswith(body[:-1]) and long_text[len(body) - 1] == " "  # the cut falls between words


def test_whatsapp_body_counts_an_emoji_as_two_so_it_fits_however_meta_counts():
    emoji = "😀" * 600  # 600 characters, 1,200 UTF-16 code units

    body = only_json(ROUTES["whatsapp"], emoji)["interactive"]["body"]["text"]

    assert body == "😀" * 511 + "…"  # 1,022 + 1 units: no word to cut at, so inside the one long "word"


def test_whatsapp_outside_the_window_sends_the_template_as_before(monkeypatch):
    monkeypatch.setenv("WHATSAPP_REPLY_TEMPLATE", "reply_waiting")

    body = only_json(ROUTES["whatsapp"], last_inbound_at=NOW - timedelta(hours=25))

    assert body == {"messaging_product": "whatsapp", "to": "16505551234", "type": "template",
                    "template": {"name": "reply_waiting", "language": {"code": "en"}}}


def test_messenger_sends_quick_replies():
    platform_id, [request] = sent(ROUTES["messenger"])

    assert platform_id == "m_SENT1"
    assert parse_qs(request.url.partition("?")[2]) == {"access_token": [chat.MESSENGER_PAGE_ACCESS_TOKEN]}
    assert json.loads(request.body) == {
        "recipient": {"id": "6543210987654321"},
        "messaging_type": "RESPONSE",
        "message": {"text": TEXT, "quick_replies": [
            {"content_type": "text", "title": "Ja, løst", "payload": "bot:yes"},
            {"content_type": "text", "title": "Nej, brug for hjælp", "payload": "bot:no"},
        ]},
    }


def test_telegram_sends_an_inline_keyboard_with_the_choices_as_callback_data():
    platform_id, [request] = sent(ROUTES["telegram"])

    assert platform_id == "1203" and request.url == TELEGRAM_URL
    assert json.loads(request.body) == {
        "chat_id": "5012345678",
        "text": TEXT,
        "reply_markup": {"inline_keyboard": [[
            {"text": "Ja, løst", "callback_data": "bot:yes"},
            {"text": "Nej, brug for hjælp", "callback_data": "bot:no"},
        ]]},
    }


def test_sms_has_no_buttons_so_the_labels_follow_on_one_line_to_type_back():
    _, [request] = sent(ROUTES["sms"], "Se vores guide: https://help.example/da/adgangskode\nLøste det dit problem?")

    form = {name: values[0] for name, values in parse_qs(request.body).items()}
    assert form == {"To": "+4712345678", "From": "+4798765432",
                    "Body": "Se vores guide: https://help.example/da/adgangskode\nLøste det dit problem?\n"
                            "Ja, løst / Nej, brug for hjælp"}
    assert {bot.understand(label) for label in form["Body"].splitlines()[-1].split(" / ")} == {"yes", "no"}


def test_portal_mail_gets_the_same_typed_line(monkeypatch):
    mailed = []
    monkeypatch.setattr(portal_mail, "send_portal", lambda route, text, since: mailed.append(text) or "ses-1")

    platform_id, requests = sent({"provider": "portal", "to": "ann@example.com"}, "Prøv dette.", bot.choices_in("en"))

    assert (platform_id, requests, mailed) == ("ses-1", [], ["Prøv dette.\nYes, solved / No, I need help"])


def test_webchat_sends_nothing_the_widget_shows_the_choices_itself():
    assert sent(ROUTES["webchat"]) == ("", [])


# --- without choices, nothing changes -----------------------------------------------------------


@pytest.mark.parametrize("provider, unchanged", [
    ("slack", {"channel": "D0HELPDM1", "text": "Hej", "thread_ts": "1795426140.000200"}),
    ("whatsapp", {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                  "type": "text", "text": {"preview_url": False, "body": "Hej"}}),
    ("messenger", {"recipient": {"id": "6543210987654321"}, "message": {"text": "Hej"}, "messaging_type": "RESPONSE"}),
    ("telegram", {"chat_id": "5012345678", "text": "Hej"}),
])
@pytest.mark.parametrize("choices", [(), [], None], ids=["empty tuple", "empty list", "none"])
def test_a_reply_without_choices_is_sent_exactly_as_before(provider, unchanged, choices):
    assert only_json(ROUTES[provider], "Hej", choices) == unchanged


def test_an_sms_without_choices_is_only_its_text():
    _, [request] = sent(ROUTES["sms"], "Hej", ())

    assert parse_qs(request.body)["Body"] == ["Hej"]


# --- properties ----------------------------------------------------------------------------------


TEXTS = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "So")), max_size=2_500) \
    | st.lists(st.sampled_from(["ord", "længere-ord", "😀", "a" * 40, " ", "\n"]), max_size=600).map("".join)


@settings(max_examples=60, deadline=None)
@given(text=TEXTS)
def test_whatsapp_body_always_fits_and_is_the_texts_own_beginning(text):
    body = only_json(ROUTES["whatsapp"], text)
    if not text.strip():  # reply buttons need a body: a blank text goes as plain text, without buttons
        assert body["type"] == "text"
        return
    shown = body["interactive"]["body"]["text"]
    assert len(shown.encode("utf-16-le")) // 2 <= platforms.WHATSAPP_BODY_MAX  # Meta's limit, however it counts
    if len(text.strip().encode("utf-16-le")) // 2 <= platforms.WHATSAPP_BODY_MAX:
        assert shown == text.strip()
    else:
        assert shown.endswith("…") and text.strip().startswith(shown[:-1]) and len(shown) > 1


@settings(max_examples=40, deadline=None)
@given(text=TEXTS)
def test_slack_sections_always_fit_and_hold_the_whole_text(text):
    body = only_json(ROUTES["slack"], text)
    *sections, actions = body["blocks"]
    texts = [section["text"]["text"] for section in sections]

    assert body["text"] == text and actions["elements"][0]["value"] == "bot:yes"
    assert all(0 < len(part) <= platforms.SLACK_SECTION_MAX for part in texts)
    assert "".join("".join(texts).split()) == "".join(text.split())  # only whitespace at the cuts is dropped


# --- the worker checks what it passes on --------------------------------------------------------


GOOD = [{"value": "bot:yes", "label": "Yes, solved"}, {"value": "bot:no", "label": "No, I need help"}]


@pytest.mark.parametrize("choices", [None, [], GOOD, bot.choices_in("no"), GOOD[:1] + [{"value": "x", "label": "y"}]])
def test_the_worker_passes_on_what_every_platform_can_show(choices):
    assert worker._choices({"choices": choices} if choices is not None else {}) == (choices or [])


@pytest.mark.parametrize("choices, reason", [
    ("bot:yes", "not a list of at most 3"),
    ({"value": "bot:yes", "label": "Yes"}, "not a list of at most 3"),
    (GOOD + GOOD[:1] + [{"value": "bot:maybe", "label": "Maybe"}], "not a list of at most 3"),
    ([{"value": "bot:yes"}], "{value, label} objects"),
    ([{"value": "bot:yes", "label": "Yes", "url": "https://evil.example"}], "{value, label} objects"),
    (["bot:yes", "bot:no"], "{value, label} objects"),
    ([{"value": 1, "label": "Yes"}], "choice value 1 is not"),
    ([{"value": "", "label": "Yes"}], "choice value '' is not"),
    ([{"value": " bot:yes", "label": "Yes"}], "without surrounding spaces"),
    ([{"value": "v" * 65, "label": "Yes"}], "is not 1-64 bytes"),
    ([{"value": "ø" * 33, "label": "Yes"}], "is not 1-64 bytes"),  # 66 bytes in 33 characters
    ([{"value": "bot:yes", "label": "Yes, that solved it!!"}], "is not one line of 1-20 characters"),
    ([{"value": "bot:yes", "label": "  "}], "is not one line"),
    ([{"value": "bot:yes", "label": "Yes\nsolved"}], "is not one line"),
    ([{"value": "bot:yes", "label": None}], "is not one line"),
    ([GOOD[0], {"value": "bot:yes", "label": "Also yes"}], "repeat a value"),
], ids=lambda value: repr(value)[:40])
def test_the_worker_refuses_choices_no_platform_could_show_with_a_reason(choices, reason):
    with pytest.raises(PermanentDeliveryError) as refused:
        worker._choices({"choices": choices})

    assert reason in refused.value.reason and len(refused.value.reason) < 400


@pytest.fixture
def one_ticket(monkeypatch):
    """A ticket with a Telegram route, stored nowhere: what ``worker.deliver`` reads and records."""
    from chalicelib.storage import deliveries, repository, send_claims

    recorded, claimed = [], set()
    ticket = SimpleNamespace(ticket_id="T-1", acknowledgement=None,
                             reply_routes={"telegram": {**ROUTES["telegram"], "last_inbound_at": JUST_NOW.isoformat()}})
    monkeypatch.setattr(repository, "get_ticket", lambda ticket_id: ticket if ticket_id == "T-1" else None)
    monkeypatch.setattr(deliveries, "record_sent_message", lambda *args, **kwargs: recorded.append(kwargs))
    # the send claim (storage/send_claims.py), kept in memory: the first claim of a key wins
    monkeypatch.setattr(send_claims, "claim", lambda key, **_: not (key in claimed or claimed.add(key)))
    return recorded


def _bot_reply(**changes) -> dict:
    return {"kind": "reply", "ticket_id": "T-1", "channel": "telegram", "purpose": "bot", "text": TEXT,
            "key": "bot:T-1:1", "choices": CHOICES_DA, **changes}


def test_the_worker_delivers_a_bots_reply_with_its_buttons(one_ticket):
    with platform_apis() as apis:
        worker.deliver(_bot_reply())
        requests = [call.request for call in apis.calls]

    [request] = requests
    assert json.loads(request.body)["reply_markup"]["inline_keyboard"] == [[
        {"text": "Ja, løst", "callback_data": "bot:yes"}, {"text": "Nej, brug for hjælp", "callback_data": "bot:no"}]]
    assert [sent["provider_message_id"] for sent in one_ticket] == ["1203"]


def test_the_worker_sends_nothing_when_the_choices_are_unusable(one_ticket):
    with platform_apis() as apis:
        with pytest.raises(PermanentDeliveryError) as refused:
            worker.deliver(_bot_reply(choices=[{"value": "bot:yes", "label": "x" * 21}]))
        requests = [call.request for call in apis.calls]

    assert requests == [] and one_ticket == []
    assert "is not one line of 1-20 characters" in refused.value.reason
