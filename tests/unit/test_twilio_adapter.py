"""Twilio messaging adapter: requests signed by twilio's own RequestValidator, fields as Twilio posts them."""
import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from chalicelib.channels import twilio
from chalicelib.domain.messages import Identity, InboundMessage
from chalicelib.channels.webhook import MAX_BODY_BYTES, WebhookError, WebhookRequest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks" / "twilio"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
AUTH_TOKEN = "12345678901234567890123456789012"
ACCOUNT_SID = "AC00112233445566778899aabbccddeeff"
URL = "https://desk.example/webhooks/twilio?tenant=acme&channel=sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FAST = settings(max_examples=150, deadline=None)


def secrets(**extra):
    return {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, **extra}.get


def fields(name: str) -> dict[str, str]:
    return json.loads((FIXTURES / name).read_bytes())


def post(params: dict, *, url: str = URL, signed_url: str | None = None, token: str = AUTH_TOKEN,
         headers: dict | None = None) -> WebhookRequest:
    """A request as Twilio sends it, signed by the twilio SDK's RequestValidator."""
    signature = RequestValidator(token).compute_signature(signed_url or url, params)
    base = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    return WebhookRequest("POST", url, {**base, **(headers or {})}, {}, urlencode(params).encode())


def refused(req: WebhookRequest, secrets_=None) -> WebhookError:
    with pytest.raises(WebhookError) as raised:
        twilio.handle(req, secrets_ or secrets(), NOW)
    return raised.value


def test_sms_becomes_one_message_and_the_answer_is_empty_twiml():
    reply = twilio.handle(post(fields("sms.json")), secrets(TWILIO_ACCOUNT_SID=ACCOUNT_SID), NOW)

    assert (reply.status, reply.body, reply.content_type) == (200, EMPTY_TWIML, "text/xml")
    assert twilio.EMPTY_TWIML == EMPTY_TWIML
    [message] = reply.messages
    assert message.channel == "sms"
    assert message.external_id == "SM1f0e2d3c4b5a69788796a5b4c3d2e1f0"
    assert message.sender == Identity("phone", "+14155550123")
    assert message.sender_name == ""
    assert message.text == message.reply_text == "Hi, my router keeps rebooting since the update.\nAccount 5566."
    assert message.subject == "Hi, my router keeps rebooting since the update."
    assert message.received_at == NOW
    assert message.conversation_key == "sms:+14155550100:+14155550123"
    assert message.reply_route == {"provider": "twilio", "from": "+14155550100", "to": "+14155550123"}
    assert message.media == []
    assert InboundMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message


def test_whatsapp_through_twilio_is_the_whatsapp_channel_and_the_same_phone_identity():
    [message] = twilio.handle(post(fields("whatsapp_media.json")), secrets(), NOW).messages

    assert message.channel == "whatsapp"
    assert message.sender == Identity("phone", "+16505551234")  # the same customer as on WhatsApp Cloud API
    assert message.sender_name == "Sheena Nelson"
    assert message.conversation_key == "whatsapp:+14155238886:+16505551234"
    assert message.reply_route == {"provider": "twilio", "from": "whatsapp:+14155238886", "to": "whatsapp:+16505551234"}
    media = ("https://api.twilio.com/2010-04-01/Accounts/AC00112233445566778899aabbccddeeff"
             "/Messages/MM6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d/Media/")
    assert message.media == [
        {"kind": "image", "ref": media + "ME0f1e2d3c4b5a69788796a5b4c3d2e1f0", "content_type": "image/jpeg",
         "filename": ""},
        {"kind": "file", "ref": media + "ME1f1e2d3c4b5a69788796a5b4c3d2e1f1", "content_type": "application/pdf",
         "filename": ""},
    ]


@pytest.mark.parametrize(
    ("sender", "channel", "identity"),
    [
        ("+447700900123", "sms", Identity("phone", "+447700900123")),
        ("rcs:+447700900123", "rcs", Identity("phone", "+447700900123")),
        ("messenger:6543210987654321", "messenger", Identity("messenger", "6543210987654321")),
    ],
)
def test_the_address_prefix_names_the_channel(sender, channel, identity):
    [message] = twilio.handle(post({**fields("sms.json"), "From": sender}), secrets(), NOW).messages

    assert (message.channel, message.sender) == (channel, identity)
    assert message.reply_route["to"] == sender


def test_the_signature_covers_the_query_string():
    signed_for_other_tenant = post(fields("sms.json"), signed_url=URL.replace("acme", "globex"))

    assert refused(signed_for_other_tenant).status == 401


def test_the_url_with_or_without_default_port_verifies_as_twilio_sdk_allows():
    with_port = "https://desk.example:443/webhooks/twilio?tenant=acme&channel=sms"
    req = post(fields("sms.json"), signed_url=with_port)

    assert RequestValidator(AUTH_TOKEN).validate(URL, fields("sms.json"), req.headers["x-twilio-signature"])
    assert len(twilio.handle(req, secrets(), NOW).messages) == 1


def test_repeated_fields_are_signed_the_way_twilio_sdk_signs_them():
    class MultiDict(dict):  # what Flask hands the SDK for repeated fields
        def getall(self, name):
            return self[name]

    params = [("MessageSid", "SM1"), ("From", "+14155550123"), ("To", "+14155550100"),
              ("Tag", "b"), ("Tag", "a"), ("Tag", "b")]
    multi = MultiDict()
    for name, value in params:
        multi.setdefault(name, []).append(value)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(URL, multi)
    req = WebhookRequest("POST", URL, {"content-type": "application/x-www-form-urlencoded",
                                       "x-twilio-signature": signature}, {}, urlencode(params).encode())

    assert [m.external_id for m in twilio.handle(req, secrets(), NOW).messages] == ["SM1"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda req: {**req.headers, "x-twilio-signature": ""},
        lambda req: {**req.headers, "x-twilio-signature": req.headers["x-twilio-signature"][::-1]},
    ],
    ids=["missing", "forged"],
)
def test_missing_or_forged_signature_is_refused(tamper):
    req = post(fields("sms.json"))

    assert refused(WebhookRequest(req.method, req.url, tamper(req), req.query, req.body)).status == 401


def test_changed_body_or_another_token_is_refused():
    req = post(fields("sms.json"))
    changed = WebhookRequest(req.method, req.url, req.headers, req.query, req.body.replace(b"5566", b"5567"))

    assert refused(changed).status == 401
    assert refused(post(fields("sms.json"), token="another-accounts-auth-token-0000")).status == 401


def test_another_account_is_forbidden_when_ours_is_configured():
    other_account = {**fields("sms.json"), "AccountSid": "AC99999999999999999999999999999999"}

    assert refused(post(other_account), secrets(TWILIO_ACCOUNT_SID=ACCOUNT_SID)).status == 403
    assert len(twilio.handle(post(other_account), secrets(), NOW).messages) == 1  # not checked when not configured


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_signed_requests_without_required_fields_are_bad(missing):
    params = {name: value for name, value in fields("sms.json").items() if name != missing}

    assert refused(post(params)).status == 400


@pytest.mark.parametrize("field, value, named", [
    ("MessageSid", "SM" + "0" * 3_000, "external_id"),
    ("From", "+1" + "5" * 3_000, "sender.value"),
    ("From", "messenger:" + "7" * 3_000, "sender.value"),
    ("To", "+1" + "4" * 3_000, "conversation_key"),
])
def test_message_whose_ids_cannot_be_stored_is_refused_with_the_reason(field, value, named):
    """One message per request and no retry on an HTTP answer by default: a 400 Twilio's Debugger shows."""
    error = refused(post({**fields("sms.json"), field: value}))

    assert (error.status, error.code) == (400, "bad_request")
    assert f"{named} is " in error.reason and len(error.reason) < 300


def test_a_from_address_that_is_only_a_channel_prefix_is_refused():
    """Without it every such message would be one customer, ``whatsapp:`` with no number, and unanswerable."""
    error = refused(post({**fields("sms.json"), "From": "whatsapp:"}))

    assert (error.status, error.reason) == (400, "From has no address after its channel prefix")


def test_status_callbacks_are_skipped_with_twiml():
    status = {"MessageSid": "SM1", "MessageStatus": "delivered", "SmsStatus": "delivered",
              "AccountSid": ACCOUNT_SID, "From": "+14155550100", "To": "+14155550123", "ApiVersion": "2010-04-01"}

    reply = twilio.handle(post(status), secrets(), NOW)

    assert reply.messages == [] and reply.body == EMPTY_TWIML
    assert reply.skipped == ["twilio status 'delivered' for message 'SM1'"]


def test_unconfigured_auth_token_is_checked_before_anything_else():
    oversized = b"x" * (MAX_BODY_BYTES + 1)
    unsigned_and_oversized = WebhookRequest("POST", URL, {"content-type": "text/plain"}, {}, oversized)

    assert refused(unsigned_and_oversized, {"TWILIO_ACCOUNT_SID": ACCOUNT_SID}.get).status == 503


def test_oversized_json_and_undecodable_bodies_are_refused():
    req = post(fields("sms.json"))

    assert refused(WebhookRequest("POST", URL, req.headers, {}, b"a=" + b"x" * MAX_BODY_BYTES)).status == 413
    assert refused(post(fields("sms.json"), headers={"content-type": "application/json"})).status == 415
    assert refused(WebhookRequest("POST", URL, req.headers, {}, b"Body=%FF%FE&From=x")).status == 400


def test_charset_parameter_on_the_content_type_is_accepted():
    req = post(fields("sms.json"), headers={"content-type": "application/x-www-form-urlencoded; charset=UTF-8"})

    assert len(twilio.handle(req, secrets(), NOW).messages) == 1


# --- properties -------------------------------------------------------------------------------


params = st.dictionaries(
    st.sampled_from(["MessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
                     "ProfileName", "WaId", "AccountSid", "MessageStatus"]) | st.text(max_size=10),
    st.text(max_size=40),
    max_size=10,
)


@FAST
@given(params=params, url=st.sampled_from([URL, "https://desk.example/webhooks/twilio", "http://[::1]:8000/t?x=1"]))
def test_any_request_signed_by_twilio_sdk_authenticates(params, url):
    try:
        reply = twilio.handle(post(params, url=url), secrets(), NOW)
    except WebhookError as error:
        assert error.status == 400  # authentic, but a required field is missing, or From is a bare prefix
        from_address = params.get("From", "").partition(":")
        bare_prefix = from_address[1] and from_address[0].isalpha() and not from_address[2]
        assert not all(params.get(name) for name in ("MessageSid", "From", "To")) or bare_prefix
        return
    assert reply.body == EMPTY_TWIML and len(reply.messages) + len(reply.skipped) == 1
    for message in reply.messages:
        assert message.external_id == params["MessageSid"] and message.sender.value
        assert message.reply_route == {"provider": "twilio", "from": params["To"], "to": params["From"]}
        assert len(message.subject) <= 80 and len(message.media) <= 10
        assert all(isinstance(v, str) for ref in message.media for v in ref.values())
        json.dumps(message.to_dict())


@FAST
@given(
    body=st.binary(max_size=300),
    signature=st.text(max_size=40),
    url=st.text(max_size=60),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""]),
)
def test_arbitrary_requests_are_refused_with_webhook_errors_only(body, signature, url, content_type):
    req = WebhookRequest("POST", url, {"content-type": content_type, "x-twilio-signature": signature}, {}, body)
    with pytest.raises(WebhookError) as raised:
        twilio.handle(req, secrets(), NOW)
    assert raised.value.status in (400, 401, 415)
