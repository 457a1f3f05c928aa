"""Slack Events API adapter: requests signed by slack_sdk's SignatureVerifier, payloads shaped like Slack's."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from chalicelib.channels import slack
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
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert refused(request(fixture("message_im.json"), headers=form)).status == 415
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
