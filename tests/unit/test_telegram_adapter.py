"""Telegram adapter: the setWebhook secret token, and Update objects shaped like the Bot API's."""
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.channels import telegram
from chalicelib.domain import bot
from chalicelib.domain.messages import Identity, InboundMessage
from chalicelib.channels.webhook import MAX_BODY_BYTES, WebhookError, WebhookRequest
from tests.strategies import mutations

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks" / "telegram"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
TOKEN = "relay-desk_webhook-Secret-42"  # setWebhook allows A-Z, a-z, 0-9, _ and -
BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
FAST = settings(max_examples=150, deadline=None)
CHOICES = bot.CHOICES  # the property test below names a local "bot"


def secrets(**extra):
    return {"TELEGRAM_SECRET_TOKEN": TOKEN, **extra}.get


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def update(body: bytes, *, token: str | None = TOKEN, content_type: str = "application/json") -> WebhookRequest:
    headers = {"content-type": content_type}
    if token is not None:
        headers["x-telegram-bot-api-secret-token"] = token
    return WebhookRequest("POST", "https://desk.example/webhooks/telegram", headers, {}, body)


def refused(req: WebhookRequest, secrets_=None) -> WebhookError:
    with pytest.raises(WebhookError) as raised:
        telegram.handle(req, secrets_ or secrets(), NOW)
    return raised.value


def test_text_message():
    reply = telegram.handle(update(fixture("text.json")), secrets(), NOW)

    assert reply.skipped == []
    [message] = reply.messages
    assert message.channel == "telegram"
    assert message.external_id == "918273645"
    assert message.sender == Identity("telegram", "5012345678")
    assert message.sender_name == "Ana Lima"
    assert message.text == message.reply_text == "/start\nMy subscription renewal failed twice today"
    assert message.subject == "/start"
    assert message.received_at == datetime(2026, 11, 23, 9, 29, tzinfo=timezone.utc)
    assert message.conversation_key == "telegram:5012345678"
    assert message.reply_route == {"provider": "telegram", "chat_id": "5012345678"}
    assert message.media == []
    assert InboundMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message


def test_update_id_is_prefixed_with_the_bot_id_so_two_bots_never_collide():
    [message] = telegram.handle(update(fixture("text.json")), secrets(TELEGRAM_BOT_TOKEN=BOT_TOKEN), NOW).messages

    assert message.external_id == "7012345678:918273645"
    assert message.reply_route == {"provider": "telegram", "chat_id": "5012345678", "bot_id": "7012345678"}


def test_a_malformed_bot_token_never_leaks_into_ids():
    no_bot_id = secrets(TELEGRAM_BOT_TOKEN="AAHdqTcvCH1vGWJx")

    [message] = telegram.handle(update(fixture("text.json")), no_bot_id, NOW).messages

    assert message.external_id == "918273645" and "bot_id" not in message.reply_route


def test_photo_keeps_the_largest_size_and_the_caption():
    [message] = telegram.handle(update(fixture("photo.json")), secrets(), NOW).messages

    assert message.text == "The error screen I get"
    assert message.sender_name == "Ana"
    assert message.media == [{"kind": "image", "ref": "AgACAgQAAxkBAAIEsmXlarge", "content_type": "", "filename": ""}]


def test_voice_note_is_audio():
    [message] = telegram.handle(update(fixture("voice.json")), secrets(), NOW).messages

    assert message.text == "" and message.subject == ""
    assert message.media == [
        {"kind": "audio", "ref": "AwACAgQAAxkBAAIEs2Xvoice", "content_type": "audio/ogg", "filename": ""}
    ]


def test_document_in_a_group_is_one_conversation_per_chat():
    [message] = telegram.handle(update(fixture("document.json")), secrets(), NOW).messages

    assert message.text == "Charged twice, see lines 3 and 4"
    assert message.media == [{"kind": "document", "ref": "BQACAgQAAxkBAAIEtGXdocument",
                              "content_type": "application/pdf", "filename": "bank-statement.pdf"}]
    assert message.conversation_key == "telegram:-1001987654321"
    assert message.sender == Identity("telegram", "5012345678")


def test_animation_is_one_video_not_also_a_document():
    payload = json.loads(fixture("document.json"))
    gif = {"file_id": "CgACAgQAAxkBanimation", "file_unique_id": "AgADanim", "mime_type": "video/mp4",
           "file_name": "oops.mp4", "width": 320, "height": 240, "duration": 3}
    payload["message"].update(animation=gif, document={**gif})

    [message] = telegram.handle(update(json.dumps(payload).encode()), secrets(), NOW).messages

    assert message.media == [{"kind": "video", "ref": "CgACAgQAAxkBanimation", "content_type": "video/mp4",
                              "filename": "oops.mp4"}]


def test_edited_messages_and_other_updates_are_skipped():
    edited = telegram.handle(update(fixture("edited_message.json")), secrets(), NOW)
    poll = telegram.handle(update(b'{"update_id": 7, "poll": {"id": "1"}}'), secrets(), NOW)

    assert edited.messages == [] and edited.skipped == ["telegram update 918273649: edited_message is not handled"]
    assert poll.messages == [] and poll.skipped == ["telegram update 7: poll is not handled"]


# --- button presses (the bot's "did this solve it?") ------------------------------------------


def test_a_button_press_is_the_same_customers_message_in_the_same_chat_with_the_choice():
    typed = telegram.handle(update(fixture("text.json")), secrets(TELEGRAM_BOT_TOKEN=BOT_TOKEN), NOW).messages[0]

    reply = telegram.handle(update(fixture("callback_query.json")), secrets(TELEGRAM_BOT_TOKEN=BOT_TOKEN), NOW)

    [pressed] = reply.messages
    assert reply.skipped == [] and reply.status == 200
    assert pressed.choice == bot.CHOICE_NO
    assert pressed.text == pressed.reply_text == pressed.subject == "No, I need help"  # the button as shown
    assert pressed.external_id == "7012345678:918273650"
    assert (pressed.sender, pressed.conversation_key, pressed.reply_route) == (
        typed.sender, typed.conversation_key, typed.reply_route)
    assert pressed.sender_name == typed.sender_name == "Ana Lima"
    assert pressed.received_at == NOW  # the press has no date; message.date is when the question was sent
    assert InboundMessage.from_dict(json.loads(json.dumps(pressed.to_dict()))) == pressed  # survives the queue


def test_the_webhook_answer_is_answer_callback_query_so_the_button_stops_loading():
    reply = telegram.handle(update(fixture("callback_query.json")), secrets(), NOW)

    assert reply.content_type == "application/json"
    assert json.loads(reply.body) == {"method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}


def test_a_typed_message_is_answered_with_an_empty_body_as_before():
    reply = telegram.handle(update(fixture("text.json")), secrets(), NOW)

    assert (reply.body, reply.messages[0].choice) == ("", None)


def _pressed(**changes) -> dict:
    payload = json.loads(fixture("callback_query.json"))
    payload["callback_query"].update(changes)
    return payload


def _handle(payload: dict):
    return telegram.handle(update(json.dumps(payload).encode()), secrets(), NOW)


@pytest.mark.parametrize("data", ["bot:maybe", "BOT:YES", "bot:yes ", "", None, 1, ["bot:yes"], {"v": "bot:no"}],
                         ids=repr)
def test_forged_or_foreign_callback_data_is_skipped_yet_still_answered(data):
    payload = _pressed(data=data)

    reply = _handle(payload)

    assert reply.status == 200 and reply.messages == []
    [reason] = reply.skipped
    assert reason.startswith("telegram update 918273650: callback_query data ") and len(reason) < 200
    assert json.loads(reply.body)["callback_query_id"] == "4382bfdwdsb323b2d9"


def test_a_press_without_the_keyboard_reads_as_the_english_label():
    payload = _pressed(data="bot:yes")
    del payload["callback_query"]["message"]["reply_markup"]

    [pressed] = _handle(payload).messages

    assert (pressed.choice, pressed.text) == (bot.CHOICE_YES, "Yes, solved")


def test_the_text_is_the_pressed_buttons_own_label_in_the_customers_language():
    payload = _pressed(data="bot:yes")
    payload["callback_query"]["message"]["reply_markup"] = {"inline_keyboard": [[
        {"text": label, "callback_data": value} for value, label in bot.CHOICE_LABELS["da"].items()]]}

    [pressed] = _handle(payload).messages

    assert (pressed.choice, pressed.text) == (bot.CHOICE_YES, "Ja, løst")


def _keyboard(rows: list) -> dict:
    payload = _pressed(data="bot:no")
    payload["callback_query"]["message"]["reply_markup"] = {"inline_keyboard": rows}
    return payload


def test_an_oversized_button_text_is_cut_and_a_keyboard_read_no_further_than_telegram_allows():
    """An inline keyboard holds at most 100 buttons: a label past that is not looked for."""
    other, ours = {"text": "x", "callback_data": "other"}, {"text": "N" * 5_000, "callback_data": "bot:no"}

    [near] = _handle(_keyboard([[other], [ours]])).messages
    [below] = _handle(_keyboard([[other]] * 100 + [[ours]])).messages
    [beside] = _handle(_keyboard([[other] * 100 + [ours]])).messages

    assert near.text == "N" * 100 and near.choice == bot.CHOICE_NO
    assert below.text == beside.text == "No, I need help" and below.choice == beside.choice == bot.CHOICE_NO


@pytest.mark.parametrize("change, reason", [
    (lambda q: q.pop("message"), "message without chat.id"),  # a button on an inline-mode message
    (lambda q: q["from"].update(is_bot=True), "message sent by a bot"),
    (lambda q: q.pop("from"), "message without a sending user"),
    (lambda q: q["from"].update(id=10 ** 30), "message without a sending user"),
], ids=["inline message", "from a bot", "no user", "id out of range"])
def test_presses_that_name_no_customer_or_chat_are_skipped_and_still_answered(change, reason):
    payload = _pressed(data="bot:yes")
    change(payload["callback_query"])

    reply = _handle(payload)

    assert reply.messages == [] and reply.skipped == [f"telegram update 918273650: {reason}"]
    assert json.loads(reply.body)["method"] == "answerCallbackQuery"


@pytest.mark.parametrize("query_id", [None, "", 42, "q" * 257], ids=["none", "empty", "number", "oversized"])
def test_a_query_id_telegram_never_sends_is_not_echoed(query_id):
    reply = _handle(_pressed(id=query_id))

    assert reply.body == "" and [m.choice for m in reply.messages] == [bot.CHOICE_NO]


def test_a_forged_press_without_our_secret_token_is_refused():
    assert refused(update(fixture("callback_query.json"), token="guessed")).status == 401


def test_messages_from_bots_and_channels_are_skipped():
    from_bot = json.loads(fixture("text.json"))
    from_bot["message"]["from"]["is_bot"] = True
    channel_post = json.loads(fixture("text.json"))
    del channel_post["message"]["from"]

    assert telegram.handle(update(json.dumps(from_bot).encode()), secrets(), NOW).skipped == [
        "telegram update 918273645: message sent by a bot"
    ]
    assert telegram.handle(update(json.dumps(channel_post).encode()), secrets(), NOW).skipped == [
        "telegram update 918273645: message without a sending user"
    ]


def test_updates_with_ids_no_telegram_object_has_are_skipped_with_a_short_reason():
    """Telegram repeats any update not answered 2xx, so these are answered (200) and logged, never refused."""
    huge_update = json.loads(fixture("text.json"))
    huge_update["update_id"] = int("9" * 4_000)
    huge_user = json.loads(fixture("text.json"))
    huge_user["message"]["from"]["id"] = 10 ** 3_000
    huge_chat = json.loads(fixture("text.json"))
    huge_chat["message"]["chat"]["id"] = -(2 ** 64)

    replies = [telegram.handle(update(json.dumps(u).encode()), secrets(TELEGRAM_BOT_TOKEN=BOT_TOKEN), NOW)
               for u in (huge_update, huge_user, huge_chat)]

    assert [(reply.status, reply.messages) for reply in replies] == [(200, [])] * 3
    assert replies[0].skipped == ["telegram update_id of 4,000 digits is not a Telegram id"]
    assert replies[1].skipped == ["telegram update 7012345678:918273645: message without a sending user"]
    assert replies[2].skipped == ["telegram update 7012345678:918273645: message without chat.id"]


def test_the_largest_64_bit_ids_are_still_messages():
    big = json.loads(fixture("text.json"))
    big["update_id"] = big["message"]["from"]["id"] = 2 ** 63 - 1
    big["message"]["chat"]["id"] = -(2 ** 63 - 1)

    [message] = telegram.handle(update(json.dumps(big).encode()), secrets(), NOW).messages

    assert message.external_id == str(2 ** 63 - 1)
    assert message.sender == Identity("telegram", str(2 ** 63 - 1))
    assert message.conversation_key == f"telegram:{-(2 ** 63 - 1)}"


@pytest.mark.parametrize("token", [None, "", "relay-desk_webhook-Secret-43", TOKEN + " ", TOKEN.lower()])
def test_missing_or_wrong_secret_token_is_refused(token):
    assert refused(update(fixture("text.json"), token=token)).status == 401


def test_unconfigured_secret_token_is_checked_before_anything_else():
    unsigned_and_oversized = update(b"x" * (MAX_BODY_BYTES + 1), token=None, content_type="text/plain")

    assert refused(unsigned_and_oversized, {"TELEGRAM_BOT_TOKEN": BOT_TOKEN}.get).status == 503


def test_oversized_wrong_type_bad_json_and_non_updates_are_refused():
    assert refused(update(b" " * (MAX_BODY_BYTES + 1))).status == 413
    assert refused(update(fixture("text.json"), content_type="multipart/form-data")).status == 415
    assert refused(update(b'{"update_id": 918273645, "message": {')).status == 400
    assert refused(update(b'{"message": {"text": "no update id"}}')).status == 400
    assert refused(update(b'{"update_id": true}')).status == 400


# --- properties -------------------------------------------------------------------------------


UPDATES = st.sampled_from(sorted(FIXTURES.glob("*.json"))).flatmap(
    lambda path: mutations(json.loads(path.read_bytes()))
)


@FAST
@given(payload=UPDATES, bot_token=st.sampled_from([None, BOT_TOKEN, "garbage"]))
def test_any_authentic_update_gives_a_reply_or_a_webhook_error(payload, bot_token):
    try:
        reply = telegram.handle(update(json.dumps(payload).encode()), secrets(TELEGRAM_BOT_TOKEN=bot_token), NOW)
    except WebhookError as error:
        assert error.status == 400
        return
    assert len(reply.messages) + len(reply.skipped) == 1  # one update, one outcome
    for message in reply.messages:
        assert message.external_id.split(":")[-1] == str(payload["update_id"])
        assert message.sender.kind == "telegram" and message.sender.value
        assert message.received_at.tzinfo is not None and len(message.subject) <= 80
        bot, chat = message.reply_route.get("bot_id"), message.reply_route["chat_id"]
        assert message.conversation_key == (f"telegram:{bot}:{chat}" if bot else f"telegram:{chat}")
        assert all(isinstance(v, str) for v in message.reply_route.values())
        assert all(isinstance(v, str) and ref["ref"] for ref in message.media for v in ref.values())
        assert "AAHdqTcv" not in json.dumps(message.to_dict())  # the bot token's secret part
        assert message.choice is None if "callback_query" not in payload else message.choice in CHOICES
    if reply.body:  # only a callback query is answered, and only with its own id
        assert json.loads(reply.body) == {"method": "answerCallbackQuery",
                                          "callback_query_id": payload["callback_query"]["id"]}


@FAST
@given(token=st.text(max_size=80), body=st.binary(max_size=200))
def test_only_the_exact_secret_token_is_accepted(token, body):
    try:
        telegram.handle(update(body, token=token), secrets(), NOW)
    except WebhookError as error:
        assert error.status == (400 if token == TOKEN else 401)
    else:
        assert token == TOKEN
