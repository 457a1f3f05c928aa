"""WhatsApp Cloud API and Messenger adapters: Meta's handshake, X-Hub-Signature-256, payloads shaped like Meta's.

Meta publishes no official Python SDK for webhooks, so the tests sign bodies themselves with hmac,
exactly as Meta documents it: "sha256=" + hex HMAC-SHA256(app secret, raw body).
"""
import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.channels import meta
from chalicelib.domain import bot
from chalicelib.domain.messages import Identity, InboundMessage
from chalicelib.channels.webhook import MAX_BODY_BYTES, WebhookError, WebhookRequest
from tests.strategies import mutations

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
SECRETS = {
    "META_VERIFY_TOKEN": "relay-desk-verify-7f3a",
    "WHATSAPP_APP_SECRET": "whatsapp-app-secret-0c1d",
    "MESSENGER_APP_SECRET": "messenger-app-secret-9e8f",
}
FAST = settings(max_examples=150, deadline=None)
WHATSAPP = (meta.handle_whatsapp, "WHATSAPP_APP_SECRET")
MESSENGER = (meta.handle_messenger, "MESSENGER_APP_SECRET")


def fixture(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(body: bytes, secret_name: str, *, signature: str | None = None, headers: dict | None = None) -> WebhookRequest:
    signed = {"content-type": "application/json", "x-hub-signature-256": signature or sign(body, SECRETS[secret_name])}
    return WebhookRequest("POST", "https://desk.example/webhooks/meta", {**signed, **(headers or {})}, {}, body)


def whatsapp(path: str):
    return meta.handle_whatsapp(post(fixture(f"whatsapp/{path}"), "WHATSAPP_APP_SECRET"), SECRETS.get, NOW)


def messenger(path: str):
    return meta.handle_messenger(post(fixture(f"messenger/{path}"), "MESSENGER_APP_SECRET"), SECRETS.get, NOW)


def refused(handler, req: WebhookRequest, secrets=SECRETS.get) -> WebhookError:
    with pytest.raises(WebhookError) as raised:
        handler(req, secrets, NOW)
    return raised.value


def handshake(query: dict) -> WebhookRequest:
    return WebhookRequest("GET", "https://desk.example/webhooks/meta", {}, query, b"")


# --- subscription handshake -------------------------------------------------------------------


@pytest.mark.parametrize("handler", [meta.handle_whatsapp, meta.handle_messenger])
def test_handshake_with_our_verify_token_echoes_the_challenge_as_text(handler):
    query = {"hub.mode": "subscribe", "hub.verify_token": "relay-desk-verify-7f3a", "hub.challenge": "1158201444"}

    reply = handler(handshake(query), SECRETS.get, NOW)

    assert (reply.status, reply.body, reply.content_type) == (200, "1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "relay-desk-verify-7f3a", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
    ids=["wrong token", "wrong mode", "no token"],
)
def test_handshake_without_our_token_is_forbidden(query):
    assert refused(meta.handle_whatsapp, handshake(query)).status == 403


def test_handshake_without_a_configured_verify_token_is_not_configured():
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}

    assert refused(meta.handle_messenger, handshake(query), {}.get).status == 503


# --- WhatsApp -----------------------------------------------------------------------------------


def test_whatsapp_text_message():
    reply = whatsapp("text.json")

    assert reply.skipped == []
    [message] = reply.messages
    assert message.channel == "whatsapp"
    assert message.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.sender == Identity("phone", "+16505551234")
    assert message.sender_name == "Sheena Nelson"
    assert message.text == message.reply_text == "Does it come in another color?\nI need it by Friday."
    assert message.subject == "Does it come in another color?"
    assert message.received_at == datetime(2026, 11, 23, 9, 29, tzinfo=timezone.utc)
    assert message.conversation_key == "whatsapp:106540352242922:16505551234"
    assert message.reply_route == {"provider": "whatsapp", "phone_number_id": "106540352242922", "to": "16505551234"}
    assert message.media == []
    assert InboundMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message


@pytest.mark.parametrize(
    ("path", "text", "media"),
    [
        ("image.json", "The scratch on the lid",
         {"kind": "image", "ref": "1003383421387256", "content_type": "image/jpeg", "filename": ""}),
        ("audio_voice.json", "",
         {"kind": "audio", "ref": "1975311469901254", "content_type": "audio/ogg; codecs=opus", "filename": ""}),
        ("document.json", "Invoice INV-2026-0042",
         {"kind": "document", "ref": "1217883416640117", "content_type": "application/pdf",
          "filename": "INV-2026-0042.pdf"}),
    ],
)
def test_whatsapp_media_become_media_id_references_with_the_caption_as_text(path, text, media):
    [message] = whatsapp(path).messages

    assert message.text == text and message.media == [media]
    assert message.sender == Identity("phone", "+16505551234")


def test_whatsapp_button_reply_is_the_button_title():
    [message] = whatsapp("interactive_button_reply.json").messages

    assert message.text == "Talk to an agent"
    assert message.choice is None  # "talk-to-agent" is no choice of ours: only its words count


# --- button presses (the bot's "did this solve it?") ------------------------------------------


def test_whatsapp_reply_button_press_is_the_same_customers_message_with_the_choice():
    [typed] = whatsapp("text.json").messages

    [pressed] = whatsapp("interactive_bot_choice.json").messages

    assert pressed.choice == bot.CHOICE_YES
    assert pressed.text == pressed.reply_text == "Ja, løst"  # the title the customer saw
    assert pressed.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBRCT1RDSE9JQ0VZRVMwMDAwMDAwMQA="
    assert (pressed.sender, pressed.conversation_key, pressed.reply_route) == (
        typed.sender, typed.conversation_key, typed.reply_route)
    assert InboundMessage.from_dict(json.loads(json.dumps(pressed.to_dict()))) == pressed


def test_whatsapp_template_quick_reply_press_carries_its_payload_as_the_choice():
    [typed] = whatsapp("text.json").messages

    [pressed] = whatsapp("template_quick_reply.json").messages

    assert (pressed.choice, pressed.text) == (bot.CHOICE_NO, "No, I need help")
    assert (pressed.sender, pressed.conversation_key) == (typed.sender, typed.conversation_key)


def _whatsapp_message(path: str, **changes) -> dict:
    payload = json.loads(fixture(f"whatsapp/{path}"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0].update(changes)
    return payload


def _whatsapp(payload: dict):
    return meta.handle_whatsapp(post(json.dumps(payload).encode(), "WHATSAPP_APP_SECRET"), SECRETS.get, NOW)


@pytest.mark.parametrize("button_id", ["bot:maybe", "BOT:YES", " bot:yes", "", None, 7, ["bot:yes"]], ids=repr)
def test_whatsapp_press_with_a_forged_id_is_only_its_title(button_id):
    payload = _whatsapp_message("interactive_bot_choice.json", interactive={
        "type": "button_reply", "button_reply": {"id": button_id, "title": "Ja, løst"}})

    [message] = _whatsapp(payload).messages

    assert (message.choice, message.text) == (None, "Ja, løst")


def test_whatsapp_press_without_a_title_reads_as_the_english_label_and_without_either_is_skipped():
    no_title = _whatsapp_message("interactive_bot_choice.json",
                                 interactive={"type": "button_reply", "button_reply": {"id": "bot:no"}})
    nothing = _whatsapp_message("interactive_bot_choice.json",
                                interactive={"type": "button_reply", "button_reply": {"id": "other"}})
    template_payload_only = _whatsapp_message("template_quick_reply.json", button={"payload": "bot:yes"})

    [pressed] = _whatsapp(no_title).messages
    skipped = _whatsapp(nothing)
    [template] = _whatsapp(template_payload_only).messages

    assert (pressed.choice, pressed.text) == (bot.CHOICE_NO, "No, I need help")
    assert skipped.messages == [] and skipped.skipped[0].endswith("type 'interactive' is not handled")
    assert (template.choice, template.text) == (bot.CHOICE_YES, "Yes, solved")


def test_whatsapp_list_reply_is_its_words_never_a_choice():
    payload = _whatsapp_message("interactive_bot_choice.json", interactive={
        "type": "list_reply", "list_reply": {"id": "bot:yes", "title": "Delivery", "description": "Where is it?"}})

    [message] = _whatsapp(payload).messages

    assert (message.choice, message.text) == (None, "Delivery")


def test_whatsapp_template_button_with_a_foreign_payload_is_a_plain_message():
    payload = _whatsapp_message("template_quick_reply.json", button={"payload": "STOP promotions", "text": "Stop"})

    [message] = _whatsapp(payload).messages

    assert (message.choice, message.text) == (None, "Stop")


def test_whatsapp_statuses_are_skipped_not_messages():
    reply = whatsapp("statuses.json")

    assert reply.messages == [] and reply.status == 200
    assert reply.skipped == [
        "whatsapp status 'delivered' for message 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA'",
        "whatsapp status 'read' for message 'wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA'",
    ]


def test_whatsapp_user_without_phone_number_is_known_by_business_scoped_id():
    payload = json.loads(fixture("whatsapp/text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "Sheena", "username": "@sheena"}, "user_id": "US.13491208655302741918"}]
    del value["messages"][0]["from"]
    body = json.dumps(payload).encode()

    [message] = meta.handle_whatsapp(post(body, "WHATSAPP_APP_SECRET"), SECRETS.get, NOW).messages

    assert message.sender == Identity("whatsapp", "US.13491208655302741918")
    assert message.reply_route["to"] == "US.13491208655302741918"


def test_unsupported_whatsapp_types_are_skipped():
    payload = json.loads(fixture("whatsapp/text.json"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0].update(type="reaction", reaction={"emoji": "👍"})

    reply = meta.handle_whatsapp(post(json.dumps(payload).encode(), "WHATSAPP_APP_SECRET"), SECRETS.get, NOW)

    assert reply.messages == [] and reply.skipped == [
        "whatsapp message wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=: "
        "type 'reaction' is not handled"
    ]


# --- Messenger ----------------------------------------------------------------------------------


def test_messenger_text_message():
    [message] = messenger("text.json").messages

    assert message.channel == "messenger"
    assert message.external_id == "m_1457764197618:41d102a3e1ae206a38"
    assert message.sender == Identity("messenger", "6543210987654321")
    assert message.text == message.reply_text == message.subject == "Hi, my parcel tracking has not updated in a week"
    assert message.received_at == datetime(2026, 11, 23, 9, 29, 0, 123000, tzinfo=timezone.utc)
    assert message.conversation_key == "messenger:110000000000042:6543210987654321"
    assert message.reply_route == {
        "provider": "messenger", "page_id": "110000000000042", "recipient": "6543210987654321",
    }


def test_messenger_quick_reply_is_the_same_customers_message_with_the_choice():
    [typed] = messenger("text.json").messages

    [pressed] = messenger("quick_reply.json").messages

    assert (pressed.choice, pressed.text) == (bot.CHOICE_NO, "Nej, brug for hjælp")  # the tapped title
    assert pressed.external_id == "m_1457764197618:41d102a3e1ae206a40"
    assert (pressed.sender, pressed.conversation_key, pressed.reply_route) == (
        typed.sender, typed.conversation_key, typed.reply_route)
    assert typed.choice is None


def _messenger_message(**message) -> dict:
    payload = json.loads(fixture("messenger/quick_reply.json"))
    payload["entry"][0]["messaging"][0]["message"].update(message)
    return payload


@pytest.mark.parametrize("quick_reply", [{"payload": "bot:later"}, {"payload": 1}, {}, "bot:yes", None,
                                         {"payload": "bot:yes" * 1_000}], ids=repr)
def test_messenger_forged_quick_reply_payload_is_only_the_text(quick_reply):
    body = json.dumps(_messenger_message(quick_reply=quick_reply)).encode()

    [message] = meta.handle_messenger(post(body, "MESSENGER_APP_SECRET"), SECRETS.get, NOW).messages

    assert (message.choice, message.text) == (None, "Nej, brug for hjælp")


def test_messenger_quick_reply_without_text_reads_as_the_english_label():
    payload = _messenger_message(quick_reply={"payload": "bot:yes"})
    del payload["entry"][0]["messaging"][0]["message"]["text"]
    body = json.dumps(payload).encode()

    [message] = meta.handle_messenger(post(body, "MESSENGER_APP_SECRET"), SECRETS.get, NOW).messages

    assert (message.choice, message.text, message.subject) == (bot.CHOICE_YES, "Yes, solved", "Yes, solved")


def test_a_press_forged_without_the_app_secret_is_refused():
    body = fixture("messenger/quick_reply.json")

    forged = post(body, "MESSENGER_APP_SECRET", signature=sign(body, "guess"))

    assert refused(meta.handle_messenger, forged).status == 401


def test_messenger_attachments_become_url_references():
    [message] = messenger("attachments.json").messages

    assert message.text == ""
    assert message.media == [
        {"kind": "image", "ref": "https://scontent.xx.fbcdn.net/v/t1.15752-9/receipt.jpg?_nc_cat=1&oh=00_AfA",
         "content_type": "", "filename": ""},
        {"kind": "file", "ref": "https://cdn.fbsbx.com/v/t59.2708-21/order-1234.pdf?_nc_cat=2&oh=00_AfB",
         "content_type": "", "filename": ""},
    ]


def test_messenger_echoes_deliveries_and_reads_are_skipped():
    echo, receipts = messenger("echo.json"), messenger("delivery_read.json")

    assert echo.messages == [] and receipts.messages == []
    assert echo.skipped == ["messenger message 'm_1457764197618:41d102a3e1ae206a39' is an echo of our own"]
    assert receipts.skipped == ["messenger delivery event is not a message", "messenger read event is not a message"]


# --- refusals -----------------------------------------------------------------------------------


def test_whatsapp_message_whose_ids_cannot_be_stored_is_skipped_and_the_rest_of_the_batch_kept():
    """Meta re-sends a whole batch answered with an error, so one unusable message must not refuse it."""
    payload = json.loads(fixture("whatsapp/text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    good = value["messages"][0]
    value["messages"] = [{**good, "id": "wamid." + "A" * 3_000}, good]

    reply = meta.handle_whatsapp(post(json.dumps(payload).encode(), "WHATSAPP_APP_SECRET"), SECRETS.get, NOW)

    assert reply.status == 200
    assert [m.external_id for m in reply.messages] == [good["id"]]
    [reason] = reply.skipped
    assert reason.startswith("whatsapp message 'wamid.AAA") and len(reason) < 300, reason
    assert reason.endswith("cannot be stored: external_id is 3,006 bytes long; at most 256 fit in a storage key")


def test_messenger_message_whose_ids_cannot_be_stored_is_skipped():
    payload = json.loads(fixture("messenger/text.json"))
    payload["entry"][0]["messaging"][0]["sender"]["id"] = "9" * 3_000

    reply = meta.handle_messenger(post(json.dumps(payload).encode(), "MESSENGER_APP_SECRET"), SECRETS.get, NOW)

    assert reply.status == 200 and reply.messages == []
    [reason] = reply.skipped
    assert reason.startswith("messenger message 'm_") and "sender.value is 3,000 bytes long" in reason


@pytest.mark.parametrize(("handler", "secret_name"), [WHATSAPP, MESSENGER], ids=["whatsapp", "messenger"])
def test_missing_or_forged_signatures_are_refused(handler, secret_name):
    body = fixture("whatsapp/text.json")
    other = "MESSENGER_APP_SECRET" if secret_name == "WHATSAPP_APP_SECRET" else "WHATSAPP_APP_SECRET"

    missing = post(body, secret_name, headers={"x-hub-signature-256": ""})
    tampered = post(body, secret_name, signature=sign(body.replace(b"color", b"colour"), SECRETS[secret_name]))
    other_product = post(body, secret_name, signature=sign(body, SECRETS[other]))
    sha1 = hmac.new(SECRETS[secret_name].encode(), body, hashlib.sha1).hexdigest()
    sha1_style = post(body, secret_name, signature=f"sha1={sha1}")  # the older X-Hub-Signature scheme

    for req in (missing, tampered, other_product, sha1_style):
        assert refused(handler, req).status == 401


def test_unconfigured_app_secret_is_checked_before_anything_else():
    unsigned_and_oversized = WebhookRequest("POST", "https://desk.example/", {}, {}, b"x" * (MAX_BODY_BYTES + 1))
    only_verify_token = {"META_VERIFY_TOKEN": "relay-desk-verify-7f3a"}.get

    assert refused(meta.handle_whatsapp, unsigned_and_oversized, only_verify_token).status == 503
    assert refused(meta.handle_messenger, unsigned_and_oversized, only_verify_token).status == 503


def test_oversized_body_wrong_content_type_and_bad_json_are_refused():
    name = "WHATSAPP_APP_SECRET"
    big = b" " * (MAX_BODY_BYTES + 1)

    assert refused(meta.handle_whatsapp, post(big, name)).status == 413
    assert refused(meta.handle_whatsapp, post(b"{}", name, headers={"content-type": "text/plain"})).status == 415
    truncated = b'{"object": "whatsapp_business_account", "entry": ['
    assert refused(meta.handle_whatsapp, post(truncated, name)).status == 400
    assert refused(meta.handle_whatsapp, post(b"\xff\xfe{}", name)).status == 400


# --- properties -------------------------------------------------------------------------------


def _payloads(folder: str):
    paths = sorted((FIXTURES / folder).glob("*.json"))
    return st.sampled_from(paths).flatmap(lambda path: mutations(json.loads(path.read_bytes())))


def _assert_complete(message: InboundMessage, channel: str) -> None:
    assert message.channel == channel and message.external_id and message.sender.value
    assert message.received_at.tzinfo is not None and len(message.subject) <= 80
    assert message.conversation_key.startswith(f"{channel}:")
    assert set(message.reply_route) >= {"provider"} and all(isinstance(v, str) for v in message.reply_route.values())
    assert all(set(ref) == {"kind", "ref", "content_type", "filename"} for ref in message.media)
    assert all(isinstance(v, str) and ref["ref"] for ref in message.media for v in ref.values())
    assert message.choice is None or message.choice in bot.CHOICES  # never a value a payload made up
    json.dumps(message.to_dict())


@FAST
@given(payload=_payloads("whatsapp"))
def test_any_signed_whatsapp_payload_gives_a_reply_or_a_webhook_error(payload):
    try:
        reply = meta.handle_whatsapp(post(json.dumps(payload).encode(), "WHATSAPP_APP_SECRET"), SECRETS.get, NOW)
    except WebhookError as error:
        assert error.status == 400
        return
    for message in reply.messages:
        _assert_complete(message, "whatsapp")
        assert message.sender.kind in ("phone", "whatsapp")


@FAST
@given(payload=_payloads("messenger"))
def test_any_signed_messenger_payload_gives_a_reply_or_a_webhook_error(payload):
    try:
        reply = meta.handle_messenger(post(json.dumps(payload).encode(), "MESSENGER_APP_SECRET"), SECRETS.get, NOW)
    except WebhookError as error:
        assert error.status == 400
        return
    for message in reply.messages:
        _assert_complete(message, "messenger")
        assert message.reply_route["recipient"] != message.reply_route["page_id"]


@FAST
@given(value=st.one_of(st.sampled_from(bot.CHOICES), st.text(max_size=20), st.integers(), st.none()),
       title=st.text(max_size=20), shape=st.sampled_from(["button_reply", "template", "quick_reply"]))
def test_a_press_is_a_choice_exactly_when_its_value_is_one_of_ours(value, title, shape):
    if shape == "button_reply":
        reply = _whatsapp(_whatsapp_message("interactive_bot_choice.json", interactive={
            "type": "button_reply", "button_reply": {"id": value, "title": title}}))
    elif shape == "template":
        reply = _whatsapp(_whatsapp_message("template_quick_reply.json", button={"payload": value, "text": title}))
    else:
        body = json.dumps(_messenger_message(quick_reply={"payload": value}, text=title)).encode()
        reply = meta.handle_messenger(post(body, "MESSENGER_APP_SECRET"), SECRETS.get, NOW)
    ours = value if isinstance(value, str) and value in bot.CHOICES else None
    # The title as shown, else (a press of ours) the English label; a template button's payload is words too.
    words = title or (bot.CHOICE_LABELS["en"][ours] if ours else "")
    if shape == "template" and not words and isinstance(value, str):
        words = value
    if not words and shape != "quick_reply":  # a WhatsApp press with nothing to read is skipped
        assert reply.messages == [] and len(reply.skipped) == 1
        return
    [message] = reply.messages
    assert (message.choice, message.text) == (ours, words)


@FAST
@given(body=st.binary(max_size=300), handler=st.sampled_from([WHATSAPP, MESSENGER]))
def test_a_body_signed_with_the_app_secret_always_authenticates(body, handler):
    function, secret_name = handler
    try:
        function(post(body, secret_name), SECRETS.get, NOW)
    except WebhookError as error:
        assert error.status == 400  # authentic, but not a JSON object


@FAST
@given(
    body=st.binary(max_size=300),
    signature=st.one_of(st.text(max_size=80), st.binary(min_size=32, max_size=32).map(lambda b: "sha256=" + b.hex())),
    handler=st.sampled_from([WHATSAPP, MESSENGER]),
    method=st.sampled_from(["POST", "PUT", "GET"]),
    query=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]), st.text(max_size=30)),
)
def test_arbitrary_requests_are_refused_with_webhook_errors_only(body, signature, handler, method, query):
    function, _ = handler
    req = WebhookRequest(method, "https://desk.example/", {"content-type": "application/json",
                                                           "x-hub-signature-256": signature}, query, body)
    try:
        reply = function(req, SECRETS.get, NOW)
    except WebhookError as error:
        assert error.status in (400, 401, 403)
    else:  # only the handshake with our token can succeed without a valid signature
        assert method == "GET" and query["hub.verify_token"] == SECRETS["META_VERIFY_TOKEN"]
        assert reply.body == query["hub.challenge"]
