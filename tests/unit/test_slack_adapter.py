"""Slack Events API adapter: requests signed by slack_sdk's SignatureVerifier, payloads shaped like Slack's."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from chalicelib.channels import slack
from chalicelib.domain import bot
from chalicelib.domain.messages import Identity, InboundMessage
from chalicelib.channels.webhook import MAX_BODY_BYTES, WebhookError, WebhookRequest
from tests.strategies import mutations

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks" / "slack"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
FAST = settings(max_examples=150, deadline=None)


def secrets(**extra):
    return {"SLACK_SIGNING_SECRET": SECRET, **extra}.get


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def request(body: bytes, *, secret: str = SECRET, at: datetime = NOW, headers: dict | None = None) -> WebhookRequest:
    """A request as Slack sends it, signed by the official SDK's signature code."""
    timestamp = str(int(at.timestamp()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    signed = {
        "content-type": "application/json",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }
    return WebhookRequest("POST", "https://desk.example/webhooks/slack", {**signed, **(headers or {})}, {}, body)


def refused(req: WebhookRequest, secrets_=None) -> WebhookError:
    with pytest.raises(WebhookError) as raised:
        slack.handle(req, secrets_ or secrets(), NOW)
    return raised.value


def test_customer_message_becomes_one_inbound_message():
    reply = slack.handle(request(fixture("message_im.json")), secrets(), NOW)

    assert reply.status == 200 and reply.skipped == []
    [message] = reply.messages
    assert message.channel == "slack"
    assert message.external_id == "Ev0HELP0001"
    assert message.sender == Identity("slack", "T0001HELP:U0ANNCUST")
    assert message.sender_name == "ann"
    assert message.text == message.reply_text == (
        "Order 1234 arrived broken & the box was open\nCan you send a replacement? <urgent>"
    )
    assert message.subject == "Order 1234 arrived broken & the box was open"
    assert message.received_at == datetime(2026, 11, 23, 9, 29, 0, 200, tzinfo=timezone.utc)
    assert message.conversation_key == "slack:T0001HELP:D0HELPDM1"
    assert message.reply_route == {
        "provider": "slack", "team": "T0001HELP", "channel": "D0HELPDM1", "thread_ts": "1795426140.000200",
    }
    assert message.media == []
    assert InboundMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message  # survives the queue


def test_shared_files_become_media_references():
    [message] = slack.handle(request(fixture("file_share.json")), secrets(), NOW).messages

    assert message.text == "Here is a photo of the damage"
    assert message.reply_route["thread_ts"] == "1795426140.000200"  # the reply stays in the thread
    assert message.media == [
        {"kind": "image", "ref": "https://files.slack.com/files-pri/T0001HELP-F0PHOTO001/damage.jpg",
         "content_type": "image/jpeg", "filename": "damage.jpg"},
        # Slack Connect: no URL until files.info is asked, so the file id is the reference
        {"kind": "file", "ref": "F0CONNECT2", "content_type": "", "filename": ""},
    ]


def test_url_verification_echoes_the_challenge_once_signed():
    body = fixture("url_verification.json")

    reply = slack.handle(request(body), secrets(), NOW)

    assert reply.status == 200 and reply.content_type == "application/json"
    assert json.loads(reply.body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert refused(request(body, secret="someone-else")).status == 401


def test_retried_delivery_is_the_same_message_for_downstream_dedup():
    body = fixture("message_im.json")
    first = slack.handle(request(body), secrets(), NOW).messages
    retry_headers = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    later = NOW + timedelta(minutes=1)
    retry = slack.handle(request(body, at=later, headers=retry_headers), secrets(), later).messages

    assert [m.dedup_key for m in retry] == [m.dedup_key for m in first] == ["in:slack:Ev0HELP0001"]


@pytest.mark.parametrize(
    "secrets_",
    [secrets(), secrets(SLACK_BOT_USER_ID="U0DESKBOT")],
    ids=["bot_id", "bot user from secret"],
)
def test_bot_posts_are_skipped(secrets_):
    reply = slack.handle(request(fixture("bot_message.json")), secrets_, NOW)

    assert reply.messages == [] and reply.status == 200
    assert reply.skipped == ["slack event Ev0HELP0003: posted by a bot"]


def _as_user(user: str, **envelope) -> bytes:
    payload = json.loads(fixture("message_im.json"))
    payload["event"]["user"] = user
    payload.update(envelope)
    return json.dumps(payload).encode()


def test_messages_of_our_own_bot_user_are_skipped():
    by_authorization = slack.handle(request(_as_user("U0DESKBOT")), secrets(), NOW)
    by_secret = slack.handle(
        request(_as_user("U0OTHERBOT", authorizations=[])), secrets(SLACK_BOT_USER_ID="U0OTHERBOT"), NOW
    )
    human_installer = slack.handle(
        request(_as_user("U0ADMIN", authorizations=[{"team_id": "T0001HELP", "user_id": "U0ADMIN", "is_bot": False}])),
        secrets(),
        NOW,
    )

    assert by_authorization.messages == [] and by_secret.messages == []
    assert by_authorization.skipped == ["slack event Ev0HELP0001: posted by our own bot user"]
    assert [m.sender for m in human_installer.messages] == [Identity("slack", "T0001HELP:U0ADMIN")]


def test_edits_and_other_events_are_skipped_not_refused():
    edited = slack.handle(request(fixture("message_changed.json")), secrets(), NOW)
    payload = json.loads(fixture("message_im.json"))
    payload["event"]["type"] = "reaction_added"
    reaction = slack.handle(request(json.dumps(payload).encode()), secrets(), NOW)

    assert edited.messages == [] and edited.skipped == [
        "slack event Ev0HELP0004: message subtype 'message_changed' is not handled"
    ]
    assert reaction.messages == [] and reaction.skipped == [
        "slack event Ev0HELP0001: type 'reaction_added' is not handled"
    ]


def test_forged_body_is_refused():
    req = request(fixture("message_im.json"))
    forged = WebhookRequest(req.method, req.url, req.headers, req.query, req.body.replace(b"1234", b"9999"))

    assert refused(forged).status == 401


@pytest.mark.parametrize("header", ["x-slack-signature", "x-slack-request-timestamp"])
def test_missing_signature_headers_are_refused(header):
    req = request(fixture("message_im.json"))
    headers = {name: value for name, value in req.headers.items() if name != header}

    error = refused(WebhookRequest(req.method, req.url, headers, req.query, req.body))

    assert error.status == 401 and error.code == "unauthorized"


@pytest.mark.parametrize(
    "signed_at", [NOW - timedelta(minutes=6), NOW + timedelta(minutes=6)], ids=["stale", "future"]
)
def test_requests_signed_more_than_five_minutes_away_are_refused(signed_at):
    assert refused(request(fixture("message_im.json"), at=signed_at)).status == 401


def test_five_minutes_exactly_is_still_accepted_as_slack_sdk_does():
    at = NOW - timedelta(minutes=5)
    sdk = SignatureVerifier(SECRET, clock=_Clock(NOW))
    req = request(fixture("message_im.json"), at=at)

    assert sdk.is_valid_request(req.body, dict(req.headers))
    assert len(slack.handle(req, secrets(), NOW).messages) == 1


def test_signature_made_with_another_secret_is_refused():
    assert refused(request(fixture("message_im.json"), secret="not-our-signing-secret")).status == 401


def test_unconfigured_secret_is_checked_before_anything_else():
    oversized_and_unsigned = WebhookRequest("POST", "https://desk.example/", {}, {}, b"x" * (MAX_BODY_BYTES + 1))

    assert refused(oversized_and_unsigned, {}.get).status == 503


def test_oversized_body_wrong_content_type_and_bad_json_are_refused():
    assert refused(request(b" " * (MAX_BODY_BYTES + 1))).status == 413
    assert refused(request(fixture("message_im.json"), headers={"content-type": "text/plain"})).status == 415
    assert refused(request(fixture("message_im.json"), headers={"content-type": "multipart/form-data"})).status == 415
    assert refused(request(fixture("message_im.json"), headers=FORM)).status == 400  # a form without a payload
    assert refused(request(b'{"type": "event_callback", "event": ')).status == 400  # truncated
    assert refused(request(b'["not", "an", "object"]')).status == 400


@pytest.mark.parametrize("field, named", [("event_id", "external_id"), ("user", "sender.value"),
                                           ("team_id", "sender.value"), ("channel", "conversation_key")])
def test_event_whose_ids_cannot_be_stored_is_refused_without_a_retry(field, named):
    """Ids no key can hold (DynamoDB: 2,048 bytes): a 400 with the reason, and Slack told not to retry."""
    payload = json.loads(fixture("message_im.json"))
    target = payload if field in ("event_id", "team_id") else payload["event"]
    target[field] = "X" * 3_000
    if field == "team_id":
        payload["event"].pop("team", None)
        payload["event"].pop("user_team", None)

    error = refused(request(json.dumps(payload).encode()))

    assert (error.status, error.code) == (400, "bad_request")
    assert f"{named} is " in error.reason and "bytes long" in error.reason
    assert len(error.reason) < 300  # the reason, not the id
    assert error.headers == {"X-Slack-No-Retry": "1"}


# --- button presses: interactivity payloads (the bot's "did this solve it?") -----------------


FORM = {"content-type": "application/x-www-form-urlencoded"}


def block_actions(**changes) -> dict:
    payload = json.loads((FIXTURES / "interactivity" / "block_actions.json").read_bytes())
    payload.update(changes)
    return payload


def pressed(payload: dict, *, headers: dict | None = None, **kwargs) -> WebhookRequest:
    """An interactivity request as Slack sends it: one form field, ``payload``, signed like any request."""
    return request(urlencode({"payload": json.dumps(payload)}).encode(), headers={**FORM, **(headers or {})},
                   **kwargs)


def test_a_button_press_is_the_same_customers_message_in_the_same_thread_with_the_choice():
    [typed] = slack.handle(request(fixture("message_im.json")), secrets(), NOW).messages

    reply = slack.handle(pressed(block_actions()), secrets(), NOW)

    assert (reply.status, reply.body, reply.skipped) == (200, "", [])  # an empty 200 leaves the message as it is
    [press] = reply.messages
    assert press.choice == bot.CHOICE_YES
    assert press.text == press.reply_text == press.subject == "Yes, solved"  # the button as shown
    assert (press.sender, press.conversation_key, press.reply_route) == (
        typed.sender, typed.conversation_key, typed.reply_route)  # thread: the customer's first message
    assert press.external_id == "action:T0001HELP:U0ANNCUST:1795426155.123456"
    assert press.received_at == datetime.fromtimestamp(1795426155.123456, tz=timezone.utc)
    assert press.sender_name == ""  # only a handle here: it must not replace the customer's display name
    assert InboundMessage.from_dict(json.loads(json.dumps(press.to_dict()))) == press


def test_a_retried_press_is_the_same_message_and_another_press_is_a_new_one():
    first = slack.handle(pressed(block_actions()), secrets(), NOW).messages
    later = NOW + timedelta(seconds=30)
    again = slack.handle(pressed(block_actions(), at=later, headers={"x-slack-retry-num": "1"}),
                         secrets(), later).messages
    payload = block_actions()
    payload["actions"][0].update(action_ts="1795426170.000001", value="bot:no", action_id="bot:no")
    second = slack.handle(pressed(payload), secrets(), NOW).messages

    assert [m.dedup_key for m in again] == [m.dedup_key for m in first]
    assert second[0].dedup_key != first[0].dedup_key and second[0].choice == bot.CHOICE_NO


@pytest.mark.parametrize("where, thread", [
    ("container", "1795426140.000200"),
    ("message", "1795426140.000200"),
    ("neither", "1795426150.000300"),  # buttons on a top-level message: its replies thread under it
], ids=["container.thread_ts", "message.thread_ts", "message.ts"])
def test_the_reply_goes_to_the_thread_the_buttons_were_in(where, thread):
    payload = block_actions()
    if where != "container":
        del payload["container"]["thread_ts"]
    if where != "message":
        del payload["message"]["thread_ts"]

    [press] = slack.handle(pressed(payload), secrets(), NOW).messages

    assert press.reply_route["thread_ts"] == thread


def test_a_guest_from_another_workspace_keeps_their_own_team_in_their_identity():
    payload = block_actions()
    payload["user"]["team_id"] = "T0GUESTCO"

    [press] = slack.handle(pressed(payload), secrets(), NOW).messages

    assert press.sender == Identity("slack", "T0GUESTCO:U0ANNCUST")
    assert press.conversation_key == "slack:T0001HELP:D0HELPDM1"


@pytest.mark.parametrize("value", ["bot:maybe", "BOT:YES", "", None, 3, {"v": "bot:yes"}], ids=repr)
def test_a_forged_or_foreign_button_value_is_skipped_with_a_200(value):
    payload = block_actions()
    payload["actions"][0]["value"] = value

    reply = slack.handle(pressed(payload), secrets(), NOW)

    assert (reply.status, reply.messages) == (200, [])
    [reason] = reply.skipped
    assert reason.startswith("slack block action value ") and len(reason) < 200


def test_a_press_label_longer_than_any_slack_button_is_cut():
    payload = block_actions()
    payload["actions"][0]["text"]["text"] = "Y" * 5_000

    [press] = slack.handle(pressed(payload), secrets(), NOW).messages

    assert press.text == "Y" * 75 and press.choice == bot.CHOICE_YES


def test_a_press_without_its_label_reads_as_the_english_label():
    payload = block_actions()
    del payload["actions"][0]["text"]
    payload["actions"][0]["value"] = "bot:no"

    [press] = slack.handle(pressed(payload), secrets(), NOW).messages

    assert (press.choice, press.text) == (bot.CHOICE_NO, "No, I need help")


@pytest.mark.parametrize("change", [
    lambda p: p.pop("user"), lambda p: p.pop("channel") and p["container"].pop("channel_id"),
    lambda p: p["actions"][0].pop("action_ts"), lambda p: p.update(actions=[]), lambda p: p.update(actions="x"),
    lambda p: p.update(message={}, container={"type": "view", "view_id": "V1"}),
], ids=["no user", "no channel", "no action_ts", "no actions", "actions not a list", "in a modal"])
def test_presses_that_name_no_customer_or_place_are_skipped(change):
    payload = block_actions()
    change(payload)

    reply = slack.handle(pressed(payload), secrets(), NOW)

    assert (reply.status, reply.messages, len(reply.skipped)) == (200, [], 1)


def test_a_press_by_our_own_bot_user_is_skipped():
    reply = slack.handle(pressed(block_actions()), secrets(SLACK_BOT_USER_ID="U0ANNCUST"), NOW)

    assert reply.messages == [] and reply.skipped == ["slack block action by our own bot user"]


def test_other_interactions_are_skipped():
    reply = slack.handle(pressed({"type": "view_submission", "view": {"id": "V1"}}), secrets(), NOW)

    assert reply.messages == [] and reply.skipped == ["slack interaction type 'view_submission' is not handled"]


def test_a_press_is_authenticated_over_the_raw_form_body():
    req = pressed(block_actions())
    forged_value = req.body.replace(b"bot%3Ayes", b"bot%3Ano")
    assert forged_value != req.body

    assert refused(WebhookRequest(req.method, req.url, req.headers, req.query, forged_value)).status == 401
    assert refused(pressed(block_actions(), secret="someone-else")).status == 401
    assert refused(pressed(block_actions(), at=NOW - timedelta(minutes=6))).status == 401
    assert SignatureVerifier(SECRET, clock=_Clock(NOW)).is_valid_request(req.body, dict(req.headers))


@pytest.mark.parametrize("body", [
    b"payload=%7B",  # truncated JSON
    b"payload=%5B%5D",  # JSON, not an object
    b"payload=1&payload=2",  # two payloads
    b"token=abc&command=%2Fhelp",  # a slash command: no payload
    "payload=%7B%7D&note=é".encode(),  # raw UTF-8: Slack percent-encodes every field
    # a usable payload among more fields than Slack ever sends: parsing stops at the bound
    (urlencode({"payload": json.dumps(block_actions())}) + "".join(f"&f{i}=1" for i in range(10))).encode(),
], ids=["truncated", "not an object", "two payloads", "slash command", "not ascii", "many fields"])
def test_a_signed_form_that_is_no_interactivity_payload_is_refused(body):
    assert refused(request(body, headers=FORM)).status == 400


def test_an_oversized_form_is_refused_before_it_is_read():
    payload = block_actions()
    payload["message"]["text"] = "x" * MAX_BODY_BYTES

    assert refused(pressed(payload)).status == 413


def test_a_press_whose_ids_cannot_be_stored_is_refused_without_a_retry():
    payload = block_actions()
    payload["user"]["id"] = "U" * 3_000

    error = refused(pressed(payload))

    assert (error.status, error.headers) == (400, {"X-Slack-No-Retry": "1"})
    assert "bytes long" in error.reason and len(error.reason) < 300


# --- properties -------------------------------------------------------------------------------


class _Clock:
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> float:
        return self.at.timestamp()


ENVELOPES = st.sampled_from(sorted(FIXTURES.glob("*.json"))).flatmap(
    lambda path: mutations(json.loads(path.read_bytes()))
)


@FAST
@given(
    body=st.binary(max_size=300),
    timestamp=st.one_of(st.none(), st.text(max_size=14), st.integers(-(2**40), 2**40).map(str)),
    signature=st.one_of(st.none(), st.text(max_size=70)),
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_arbitrary_requests_only_ever_raise_webhook_errors(body, timestamp, signature, content_type):
    headers = {"content-type": content_type}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    if signature is not None:
        headers["x-slack-signature"] = signature
    try:
        reply = slack.handle(WebhookRequest("POST", "https://desk.example/", headers, {}, body), secrets(), NOW)
    except WebhookError as error:
        assert error.status in (400, 401, 415)
    else:  # only possible with a valid signature, which random input does not make
        pytest.fail(f"unsigned request accepted: {reply}")


@FAST
@given(body=st.text(max_size=400), offset=st.integers(-(10**4), 10**4))
def test_we_accept_exactly_what_slack_sdk_accepts(body, offset):
    req = request(body.encode(), at=NOW + timedelta(seconds=offset))
    sdk_accepts = SignatureVerifier(SECRET, clock=_Clock(NOW)).is_valid_request(req.body, dict(req.headers))
    try:
        slack.handle(req, secrets(), NOW)
        accepted = True
    except WebhookError as error:
        accepted = error.status != 401  # authenticated, then refused for its content (not JSON, ...)
    assert accepted == sdk_accepts == (abs(offset) <= 300)


@FAST
@given(envelope=ENVELOPES, bot_user=st.sampled_from([None, "U0DESKBOT", "U0ANNCUST"]))
def test_any_signed_payload_gives_a_reply_or_a_webhook_error_and_messages_are_complete(envelope, bot_user):
    req = request(json.dumps(envelope).encode())
    try:
        reply = slack.handle(req, secrets(SLACK_BOT_USER_ID=bot_user), NOW)
    except WebhookError as error:
        assert error.status == 400
        return
    assert len(reply.messages) + len(reply.skipped) + (reply.body != "") == 1  # one event, one outcome
    for message in reply.messages:
        assert message.external_id and message.sender.value and message.received_at.tzinfo is not None
        assert message.conversation_key.startswith("slack:") and len(message.subject) <= 80
        assert all(isinstance(v, str) for v in message.reply_route.values())
        assert all(isinstance(v, str) for ref in message.media for v in ref.values())
        assert message.sender.value.split(":")[-1] != bot_user
        json.dumps(message.to_dict())


PRESSES = mutations(json.loads((FIXTURES / "interactivity" / "block_actions.json").read_bytes()))


@FAST
@given(payload=PRESSES, value=st.one_of(st.sampled_from(bot.CHOICES), st.text(max_size=12), st.none()))
def test_any_signed_press_gives_a_reply_or_a_webhook_error_and_a_choice_only_of_ours(payload, value):
    if isinstance(payload, dict) and isinstance(payload.get("actions"), list) and payload["actions"] \
            and isinstance(payload["actions"][0], dict):
        payload["actions"][0]["value"] = value
    try:
        reply = slack.handle(pressed(payload), secrets(), NOW)
    except WebhookError as error:
        assert error.status == 400
        return
    assert reply.status == 200 and reply.body == ""
    assert len(reply.messages) + len(reply.skipped) == 1  # one press, one outcome
    for message in reply.messages:
        assert message.choice == value and value in bot.CHOICES
        assert message.text and message.sender.value and message.external_id.startswith("action:")
        assert message.conversation_key.startswith("slack:") and message.received_at.tzinfo is not None
        assert set(message.reply_route) == {"provider", "team", "channel", "thread_ts"}
        assert all(isinstance(v, str) and v for v in message.reply_route.values())
        json.dumps(message.to_dict())
