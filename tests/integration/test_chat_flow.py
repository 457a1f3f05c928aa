"""Chat in → ticket → acknowledgement out, on every platform, through the real routes and queues.

Each test posts what the platform would post (signed with the platform's own SDK where one
exists, see ``tests/chat.py``) to the Chalice route, lets ``desk.pump()`` run both queues as
Lambda would, then looks at what a person sees: the HTTP answer the platform got, the ticket an
agent sees, and the exact request each platform's send API received (``desk.sent_chat_messages()``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
import responses
import time_machine
from slack_sdk.signature import SignatureVerifier

from tests import chat
from tests.api import call
from tests.files import download
from tests.mail import compose

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)  # WhatsApp: free-form replies only within it


@pytest.fixture
def environment():
    """The deployment's secrets; a test parametrizes ``environment`` to configure less or more."""
    return dict(chat.SECRETS)


def _only(items):
    assert len(items) == 1, items
    return items[0]


def _acknowledgement_message(ticket):
    return _only([m for m in ticket["messages"] if m["direction"] == "outbound" and m["kind"] == "acknowledgement"])


def _customer_messages(ticket):
    return [m for m in ticket["messages"] if m["direction"] == "inbound"]


def _assert_short_chat_acknowledgement(text, ticket_number):
    """A chat acknowledgement: one short line naming the ticket, no HTML, nothing from the email template."""
    assert f"#{ticket_number}" in text, text
    assert "\n" not in text and len(text) <= 320, text
    assert not re.search(r"</?[A-Za-z][^>]*>|&[A-Za-z]+;|&#\d+;", text), text
    for email_line in ("reply to this email", "subject:", "priority:", "automatic acknowledgement", "hello "):
        assert email_line not in text.lower(), text


# --- 1. Every platform: a signed message → the platform's answer → a ticket and an acknowledgement ---

SLACK_TEXT = "Order 1234 arrived broken & the box was open\nCan you send a replacement? <urgent>"  # unescaped
WHATSAPP_TEXT = "Does it come in another color?\nI need it by Friday."
MESSENGER_TEXT = "Hi, my parcel tracking has not updated in a week"
TELEGRAM_TEXT = "/start\nMy subscription renewal failed twice today"
SMS_TEXT = "Hi, my router keeps rebooting since the update.\nAccount 5566."
TWILIO_WHATSAPP_TEXT = "Photos of the leak under the sink"
WEBCHAT_TEXT = "Where can I download my invoice?"


def _answers_empty_200(response):
    assert response.status_code == 200, response.body


def _answers_empty_twiml(response):
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "text/xml"
    assert response.body.decode() == chat.EMPTY_TWIML


def _answers_accepted(response):
    assert response.status_code == 202, response.body
    assert json.loads(response.body) == {"accepted": True, "message_id": "msg-00000001"}


def _slack_request(sent, ack):
    assert chat.path_of(sent) == "https://slack.com/api/chat.postMessage"
    assert sent["request"]["headers"]["Authorization"] == f"Bearer {chat.SLACK_BOT_TOKEN}"
    # In the customer's thread: the message's own ts, since it was not in a thread yet.
    assert chat.request_json(sent) == {"channel": "D0HELPDM1", "text": ack, "thread_ts": "1795426140.000200"}


def _whatsapp_request(sent, ack):
    assert chat.path_of(sent) == f"{chat.GRAPH}/106540352242922/messages"
    assert sent["request"]["headers"]["Authorization"] == f"Bearer {chat.WHATSAPP_ACCESS_TOKEN}"
    assert chat.request_json(sent) == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
        "type": "text", "text": {"preview_url": False, "body": ack},
    }


def _messenger_request(sent, ack):
    assert chat.path_of(sent) == f"{chat.GRAPH}/me/messages"
    assert chat.query_of(sent) == {"access_token": chat.MESSENGER_PAGE_ACCESS_TOKEN}
    assert "Authorization" not in sent["request"]["headers"]
    assert chat.request_json(sent) == {
        "recipient": {"id": "6543210987654321"}, "message": {"text": ack}, "messaging_type": "RESPONSE",
    }


def _telegram_request(sent, ack):
    assert chat.path_of(sent) == f"https://api.telegram.org/bot{chat.TELEGRAM_BOT_TOKEN}/sendMessage"
    body = chat.request_json(sent)
    assert {**body, "chat_id": str(body["chat_id"])} == {"chat_id": "5012345678", "text": ack}  # int or string


def _twilio_request(to, sender):
    def check(sent, ack):
        url = f"https://api.twilio.com/2010-04-01/Accounts/{chat.TWILIO_ACCOUNT_SID}/Messages.json"
        assert chat.path_of(sent) == url
        assert sent["request"]["headers"]["Authorization"] == chat.basic_auth(chat.TWILIO_ACCOUNT_SID,
                                                                              chat.TWILIO_AUTH_TOKEN)
        assert sent["request"]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert chat.request_form(sent) == {"To": to, "From": sender, "Body": ack}
    return check


def _send_webchat(desk):
    token = chat.start_webchat(desk, name="Wendy Web")
    return chat.post_webchat(desk, token, WEBCHAT_TEXT)


PLATFORMS = {  # name: (send, the HTTP answer the platform expects, ticket channel, customer text, send API check)
    "slack": (lambda desk: chat.post_slack(desk, chat.slack_message()), _answers_empty_200, "slack",
              SLACK_TEXT, _slack_request),
    "whatsapp": (lambda desk: chat.post_meta(desk, "whatsapp", chat.whatsapp_text()), _answers_empty_200,
                 "whatsapp", WHATSAPP_TEXT, _whatsapp_request),
    "messenger": (lambda desk: chat.post_meta(desk, "messenger", chat.messenger_text()), _answers_empty_200,
                  "messenger", MESSENGER_TEXT, _messenger_request),
    "telegram": (lambda desk: chat.post_telegram(desk, chat.telegram_text()), _answers_empty_200, "telegram",
                 TELEGRAM_TEXT, _telegram_request),
    "twilio sms": (lambda desk: chat.post_twilio(desk, chat.twilio_sms()), _answers_empty_twiml, "sms", SMS_TEXT,
                   _twilio_request(to="+14155550123", sender="+14155550100")),
    "twilio whatsapp": (lambda desk: chat.post_twilio(desk, chat.twilio_whatsapp()), _answers_empty_twiml,
                        "whatsapp", TWILIO_WHATSAPP_TEXT,
                        _twilio_request(to="whatsapp:+16505551234", sender="whatsapp:+14155238886")),
    "webchat": (_send_webchat, _answers_accepted, "webchat", WEBCHAT_TEXT, None),  # the widget reads the ticket
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_signed_message_becomes_a_ticket_and_the_platform_receives_a_short_acknowledgement(desk, platform):
    send, expected_answer, channel, customer_text, check_request = PLATFORMS[platform]

    expected_answer(send(desk))
    desk.pump()

    ticket = _only(desk.tickets())
    assert ticket["channel"] == channel and ticket["channels"] == [channel] and ticket["status"] == "open"
    customer_message = _only(_customer_messages(ticket))
    assert customer_message["kind"] == "customer" and customer_message["full_text"] == customer_text
    assert ticket["acknowledgement"]["status"] == "sent"
    stored = _acknowledgement_message(ticket)
    assert stored["channel"] == channel
    _assert_short_chat_acknowledgement(stored["full_text"], ticket["number"])

    sent = desk.sent_chat_messages()
    if check_request is None:
        assert sent == []  # web chat: storing the reply on the ticket is the delivery
        return
    delivered = _only(sent)
    assert delivered["text"] == stored["full_text"]
    check_request(delivered, stored["full_text"])


# --- 2, 3. Set-up handshakes; retries and repeated deliveries are one message ---------------------


def test_set_up_handshakes_answer_the_challenge_only_when_asked_by_the_platform(desk):
    challenge = "1158201444"
    for product in ("whatsapp", "messenger"):
        right = desk.http.get(f"/webhooks/{product}?hub.mode=subscribe&hub.verify_token={chat.META_VERIFY_TOKEN}"
                              f"&hub.challenge={challenge}")
        assert right.status_code == 200, (product, right.body)
        assert right.headers["Content-Type"] == "text/plain" and right.body.decode() == challenge
        wrong = desk.http.get(f"/webhooks/{product}?hub.mode=subscribe&hub.verify_token=guess"
                              f"&hub.challenge={challenge}")
        assert challenge not in chat.error_body(wrong, 403)["reason"]

    url_check = chat.fixture("slack/url_verification.json")
    response = chat.post_slack(desk, url_check)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {"challenge": url_check["challenge"]}
    assert desk.pump() == 0 and desk.tickets() == []


REPEATED = {  # channel: one delivery of the same platform message, as the platform repeats it
    "slack": lambda desk, attempt: chat.post_slack(
        desk, chat.slack_message(),
        headers={"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"} if attempt else None),
    "whatsapp": lambda desk, attempt: chat.post_meta(desk, "whatsapp", chat.whatsapp_text()),
    "telegram": lambda desk, attempt: chat.post_telegram(desk, chat.telegram_text()),
}


def test_repeated_deliveries_of_one_message_are_one_message_in_one_ticket_with_one_acknowledgement(desk):
    for attempt in range(3):
        for channel, deliver in REPEATED.items():
            assert deliver(desk, attempt).status_code == 200, channel
    desk.pump()
    # Past SQS FIFO's 5-minute deduplication window: the pipeline's own dedup must hold.
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=6)):
        for channel, deliver in REPEATED.items():
            assert deliver(desk, 3).status_code == 200, channel
        desk.pump()

    tickets = desk.tickets()
    assert sorted(t["channel"] for t in tickets) == sorted(REPEATED)
    for ticket in tickets:
        assert ticket["message_count"] == 1 and len(_customer_messages(ticket)) == 1, ticket["channel"]
        _acknowledgement_message(ticket)
    assert sorted(sent["platform"] for sent in desk.sent_chat_messages()) == sorted(REPEATED)


# --- 4. Forged, missing or stale credentials; secrets not configured ---------------------------


def _slack_signed_for_another_body(desk):
    stamp = str(int(time.time()))
    signed = json.dumps(chat.slack_message()).encode()
    signature = SignatureVerifier(chat.SLACK_SIGNING_SECRET).generate_signature(timestamp=stamp, body=signed)
    sent = signed.replace(b"Order 1234", b"Order 9999")
    return desk.http.post("/webhooks/slack", body=sent, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})


def _webchat_token_with_changed_claims(desk):
    payload, _, signature = chat.start_webchat(desk, email="ann@customer.example").partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "ceo@shop.example"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return chat.post_webchat(desk, f"{forged}.{signature}", "let me in")


def _webchat_expired_session(desk):
    with time_machine.travel(datetime.now(timezone.utc) - timedelta(hours=25)):
        token = chat.start_webchat(desk, name="Old Visitor")
    return chat.post_webchat(desk, token, "still there?")


def test_forged_missing_or_stale_credentials_are_refused_with_a_reason_and_nothing_is_enqueued(desk):
    json_headers = {"Content-Type": "application/json"}
    slack_body = json.dumps(chat.slack_message()).encode()
    whatsapp, messenger = chat.whatsapp_text(), chat.messenger_text()
    now = int(time.time())
    cases = {  # name: (request, status)
        "slack: another secret": (lambda: chat.post_slack(desk, slack_body, secret="not-our-secret"), 401),
        "slack: no signature headers": (lambda: desk.http.post("/webhooks/slack", headers=json_headers,
                                                               body=slack_body), 401),
        "slack: six minutes old": (lambda: chat.post_slack(desk, slack_body, timestamp=now - 6 * 60), 401),
        "slack: six minutes ahead": (lambda: chat.post_slack(desk, slack_body, timestamp=now + 6 * 60), 401),
        "slack: body changed after signing": (lambda: _slack_signed_for_another_body(desk), 401),
        "whatsapp: another secret": (lambda: chat.post_meta(desk, "whatsapp", whatsapp, secret="guess"), 401),
        "whatsapp: no signature": (lambda: desk.http.post("/webhooks/whatsapp", headers=json_headers,
                                                          body=json.dumps(whatsapp).encode()), 401),
        "whatsapp: legacy sha1 header only": (lambda: desk.http.post(
            "/webhooks/whatsapp", body=json.dumps(whatsapp).encode(),
            headers={**json_headers, "X-Hub-Signature": "sha1=" + hmac.new(
                chat.WHATSAPP_APP_SECRET.encode(), json.dumps(whatsapp).encode(), hashlib.sha1).hexdigest()}), 401),
        "messenger: signed with the whatsapp secret": (lambda: chat.post_meta(
            desk, "messenger", messenger, secret=chat.WHATSAPP_APP_SECRET), 401),
        "telegram: wrong secret token": (lambda: chat.post_telegram(desk, chat.telegram_text(), token="guess"), 401),
        "telegram: no secret token": (lambda: chat.post_telegram(desk, chat.telegram_text(), token=None), 401),
        "twilio: another auth token": (lambda: chat.post_twilio(desk, chat.twilio_sms(), token="0" * 32), 401),
        "twilio: signed for another URL": (lambda: chat.post_twilio(
            desk, chat.twilio_sms(), url="https://evil.example/webhooks/twilio"), 401),
        "twilio: no signature": (lambda: desk.http.post(
            "/webhooks/twilio", headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(chat.twilio_sms()).encode()), 401),
        "twilio: another account": (lambda: chat.post_twilio(
            desk, chat.twilio_sms(AccountSid="AC99999999999999999999999999999999")), 403),
        "webchat: claims changed": (lambda: _webchat_token_with_changed_claims(desk), 401),
        "webchat: session expired": (lambda: _webchat_expired_session(desk), 401),
        "webchat: no session token": (lambda: desk.http.post("/webhooks/webchat", headers=json_headers, body=json.dumps(
            {"text": "hello", "message_id": "msg-00000009"}).encode()), 401),
    }
    answers = {name: request() for name, (request, _) in cases.items()}

    wrong = {name: (answer.status_code, answer.body) for name, answer in answers.items()
             if answer.status_code != cases[name][1]}
    assert wrong == {}
    for name, answer in answers.items():
        chat.error_body(answer, cases[name][1])
    assert desk.pump() == 0 and desk.tickets() == []


@pytest.mark.parametrize("environment", [{"PUBLIC_BASE_URL": chat.PUBLIC_BASE_URL}], ids=["no platform secrets"])
def test_a_platform_whose_secret_is_not_configured_is_refused_with_503_naming_it(desk):
    answers = {
        "SLACK_SIGNING_SECRET": chat.post_slack(desk, chat.slack_message()),
        "WHATSAPP_APP_SECRET": chat.post_meta(desk, "whatsapp", chat.whatsapp_text()),
        "MESSENGER_APP_SECRET": chat.post_meta(desk, "messenger", chat.messenger_text()),
        "META_VERIFY_TOKEN": desk.http.get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"),
        "TELEGRAM_SECRET_TOKEN": chat.post_telegram(desk, chat.telegram_text()),
        "TWILIO_AUTH_TOKEN": chat.post_twilio(desk, chat.twilio_sms()),
        "WEBCHAT_SECRET": desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json"}, body=b"{}"),
    }
    for secret_name, answer in answers.items():
        body = chat.error_body(answer, 503)
        assert body["error"] == "not_configured" and secret_name in body["reason"], (secret_name, body)
    assert desk.pump() == 0 and desk.tickets() == []


# --- 5. Conversations: one open ticket per conversation ----------------------------------------

SAY = {  # ticket channel: the customer's n-th message in one conversation, n seconds after ``start``
    "slack": lambda desk, start, n, text: chat.post_slack(
        desk, chat.slack_message(event_id=f"Ev0CONV{n:04d}", text=text, ts=f"{start + n}.000200")),
    "whatsapp": lambda desk, start, n, text: chat.post_meta(
        desk, "whatsapp", chat.whatsapp_text(message_id=f"wamid.CONV{n:04d}", text=text, at=start + n)),
    "messenger": lambda desk, start, n, text: chat.post_meta(
        desk, "messenger", chat.messenger_text(mid=f"m_CONV{n:04d}", text=text, at=start + n)),
    "telegram": lambda desk, start, n, text: chat.post_telegram(
        desk, chat.telegram_text(update_id=918270000 + n, text=text, at=start + n)),
    "sms": lambda desk, start, n, text: chat.post_twilio(desk, chat.twilio_sms(MessageSid=f"SM{n:032x}", Body=text)),
}


def _by_channel(tickets):
    found = {}
    for ticket in tickets:
        found.setdefault(ticket["channel"], []).append(ticket)
    return found


def test_each_conversation_continues_its_open_ticket_and_opens_a_new_one_once_solved(desk):
    from chalicelib.storage.models import TicketModel

    start = int(time.time()) - 60

    def everyone_says(n, text):
        for channel, say in SAY.items():
            assert say(desk, start, n, text).status_code == 200, channel
        desk.pump()

    everyone_says(1, "My card was charged twice")
    everyone_says(2, "The second charge is from Monday")

    first = {channel: _only(tickets) for channel, tickets in _by_channel(desk.tickets()).items()}
    assert sorted(first) == sorted(SAY)
    for channel, ticket in first.items():
        texts = [m["full_text"] for m in _customer_messages(ticket)]
        assert texts == ["My card was charged twice", "The second charge is from Monday"], channel
        assert _customer_messages(ticket)[1]["joined_by"] == "conversation", channel
        assert ticket["message_count"] == 2, channel
    assert len(desk.sent_chat_messages()) == len(SAY)  # one acknowledgement per ticket, not per message

    for ticket in first.values():
        TicketModel.get(ticket["id"]).update(actions=[TicketModel.status.set("solved")])
    everyone_says(3, "Now my password reset does not work")

    for channel, (solved, second) in _by_channel(desk.tickets()).items():
        assert solved["id"] == first[channel]["id"] and solved["status"] == "solved", channel
        assert solved["message_count"] == 2, channel
        assert second["status"] == "open", channel
        assert [m["full_text"] for m in _customer_messages(second)] == ["Now my password reset does not work"]
        ack = _acknowledgement_message(second)["full_text"]
        assert f"#{second['number']}" in ack and ack in [sent["text"] for sent in desk.sent_chat_messages()], channel
    assert len(desk.sent_chat_messages()) == 2 * len(SAY)


# --- 6. Identity across channels -----------------------------------------------------------------


def test_the_same_phone_on_whatsapp_and_sms_is_one_customer_with_both_tickets(desk):
    _, token = desk.add_agent("Sam Agent", "sam@example.com")
    chat.post_meta(desk, "whatsapp", chat.whatsapp_text(phone="16505551234"))
    chat.post_twilio(desk, chat.twilio_sms(From="+16505551234"))
    desk.pump()

    whatsapp, sms = desk.tickets()
    assert (whatsapp["channel"], sms["channel"]) == ("whatsapp", "sms")
    assert whatsapp["customer_id"] == sms["customer_id"]
    response = desk.http.get(f"/tickets/{sms['id']}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    detail = json.loads(response.body)
    assert detail["customer"]["ticket_count"] == 2
    assert detail["customer"]["identities"] == ["phone:+16505551234"]
    assert [t["id"] for t in detail["customer_tickets"]] == [whatsapp["id"]]


def test_an_email_from_a_web_chat_visitors_address_continues_the_chat_ticket(desk):
    email = "Ann@Customer.example"  # vouched for by the site's backend, as a logged-in user
    token = chat.start_webchat(desk, name="Ann Customer", email=email,
                               email_hash=chat.vouch_for(email, chat.WEBCHAT_IDENTITY_SECRET))
    assert chat.post_webchat(desk, token, "Is my order shipped?").status_code == 202
    desk.pump()
    desk.receive_email(compose(sender="Ann Customer <ann@customer.example>", subject="Order 1234",
                               body="Here is the order confirmation you asked for."))
    desk.pump()

    ticket = _only(desk.tickets())
    assert ticket["channel"] == "webchat" and ticket["channels"] == ["email", "webchat"]
    assert [m["channel"] for m in _customer_messages(ticket)] == ["webchat", "email"]
    assert ticket["customer"]["identities"] == ["email:ann@customer.example"]
    assert desk.sent_emails() == []  # the chat already acknowledged this ticket


# --- 7. Outbound failures --------------------------------------------------------------------------


def _platform_answers_first(desk, url_part, *answers):
    """The platform answers ``answers`` ((status, headers, body) each) first, then as its stub does.

    Returns the list of requests the platform got, failed ones included.
    """
    mock = desk.platform_responses
    stub = _only([r for r in mock.registered() if url_part in r.url.pattern])
    pending, requests_seen = list(answers), []

    def callback(request):
        requests_seen.append(request)
        return pending.pop(0) if pending else stub.callback(request)

    mock.replace(responses.CallbackResponse(responses.POST, stub.url, callback=callback))
    return requests_seen


def test_a_permanent_platform_refusal_is_dead_lettered_and_recorded_on_the_ticket(desk):
    from chalicelib.storage.models import TicketModel

    chat_not_found = json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    tried = _platform_answers_first(desk, "telegram", (400, {"Content-Type": "application/json"}, chat_not_found))
    chat.post_telegram(desk, chat.telegram_text())
    desk.pump()

    assert len(tried) == 1 and desk.sent_chat_messages() == []  # a 400 is not retried
    letter = _only(desk.dead_letters())
    assert letter["source"] == "send_outbound" and "chat not found" in letter["reason"]
    ticket = _only(desk.tickets())
    assert [m["direction"] for m in ticket["messages"]] == ["inbound"]
    failure = _only(TicketModel.get(ticket["id"]).delivery_failures)
    assert failure["channel"] == "telegram" and "chat not found" in failure["reason"]


def test_a_429_is_retried_after_the_platforms_retry_after_and_delivered_once(desk, monkeypatch):
    from chalicelib.outbound import http

    waits = []
    monkeypatch.setattr(http, "sleep", waits.append)
    too_many = json.dumps({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                           "parameters": {"retry_after": 7}})
    tried = _platform_answers_first(desk, "telegram", (429, {"Retry-After": "7"}, too_many))
    chat.post_telegram(desk, chat.telegram_text())
    desk.pump()

    assert waits == [7.0] and len(tried) == 2
    delivered = _only(desk.sent_chat_messages())
    ticket = _only(desk.tickets())
    assert ticket["acknowledgement"]["status"] == "sent"
    assert _acknowledgement_message(ticket)["full_text"] == delivered["text"]
    assert desk.dead_letters() == []


@pytest.fixture
def outbound_runs_a_day_later(desk, monkeypatch):
    """The outbound sender runs 25 hours after the pipeline stored the customer's message."""
    with time_machine.travel(datetime.now(timezone.utc), tick=True) as traveller:
        invoke, shifted = desk.invoke, []

        def invoke_later(function_name, event):
            if function_name == "send_outbound" and not shifted:
                traveller.shift(CUSTOMER_SERVICE_WINDOW + timedelta(hours=1))
                shifted.append(True)
            return invoke(function_name, event)

        monkeypatch.setattr(desk, "invoke", invoke_later)
        yield shifted


def test_whatsapp_outside_the_24_hour_window_without_a_template_is_not_sent_and_says_why(desk,
                                                                                        outbound_runs_a_day_later):
    from chalicelib.storage.models import TicketModel

    chat.post_meta(desk, "whatsapp", chat.whatsapp_text())
    desk.pump()

    assert outbound_runs_a_day_later and desk.sent_chat_messages() == []
    letter = _only(desk.dead_letters())
    assert "24-hour" in letter["reason"] and "WHATSAPP_REPLY_TEMPLATE" in letter["reason"]
    ticket = _only(desk.tickets())
    assert ticket["acknowledgement"]["status"] != "sent"
    failure = _only(TicketModel.get(ticket["id"]).delivery_failures)
    assert failure["channel"] == "whatsapp" and failure["reason"] == letter["reason"]


@pytest.mark.parametrize("environment", [{**chat.SECRETS, "WHATSAPP_REPLY_TEMPLATE": "ticket_update"}],
                         ids=["WHATSAPP_REPLY_TEMPLATE set"])
def test_whatsapp_outside_the_24_hour_window_sends_the_configured_template(desk, outbound_runs_a_day_later):
    chat.post_meta(desk, "whatsapp", chat.whatsapp_text())
    desk.pump()

    sent = _only(desk.sent_chat_messages())
    assert chat.path_of(sent) == f"{chat.GRAPH}/106540352242922/messages"
    assert sent["request"]["headers"]["Authorization"] == f"Bearer {chat.WHATSAPP_ACCESS_TOKEN}"
    assert chat.request_json(sent) == {
        "messaging_product": "whatsapp", "to": "16505551234", "type": "template",
        "template": {"name": "ticket_update", "language": {"code": "en"}},
    }
    assert _only(desk.tickets())["acknowledgement"]["status"] == "sent"
    assert desk.dead_letters() == []


# --- 8. Media ---------------------------------------------------------------------------------------

WHATSAPP_MEDIA_ID = "1003383421387256"  # whatsapp/image.json
MEDIA_URL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/scratch-1003383421387256"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40 + b"\xff\xd9"


def _stub_whatsapp_media(desk, *, download_status=200):
    desk.platform_responses.add(responses.GET, f"{chat.GRAPH}/{WHATSAPP_MEDIA_ID}",
                                json={"url": MEDIA_URL, "mime_type": "image/jpeg", "id": WHATSAPP_MEDIA_ID,
                                      "messaging_product": "whatsapp"})
    if download_status == 200:
        desk.platform_responses.add(responses.GET, MEDIA_URL, body=JPEG, content_type="image/jpeg")
    else:
        desk.platform_responses.add(responses.GET, MEDIA_URL, status=download_status,
                                    json={"error": {"message": "Media not found", "code": 100}})


def _media_requests(desk):
    return [call.request for call in desk.platform_responses.calls if call.request.method == "GET"]


def test_a_whatsapp_image_is_fetched_into_s3_with_identical_bytes(desk, admin_token):
    _stub_whatsapp_media(desk)
    chat.post_meta(desk, "whatsapp", chat.fixture("whatsapp/image.json"))
    desk.pump()

    ticket = _only(desk.tickets())
    message = _only(_customer_messages(ticket))
    assert message["full_text"] == "The scratch on the lid"
    attachment = _only(message["attachments"])
    assert attachment["content_type"] == "image/jpeg" and attachment["size"] == len(JPEG)
    assert attachment["ref"] == WHATSAPP_MEDIA_ID
    assert download(desk, admin_token, ticket["id"], attachment) == JPEG
    for request in _media_requests(desk):  # both the lookup and the download carry the access token
        assert request.headers["Authorization"] == f"Bearer {chat.WHATSAPP_ACCESS_TOKEN}"
    assert [r.url for r in _media_requests(desk)] == [f"{chat.GRAPH}/{WHATSAPP_MEDIA_ID}", MEDIA_URL]


def test_a_media_download_that_fails_keeps_the_reference_and_the_ticket_is_still_created(desk, admin_token):
    _stub_whatsapp_media(desk, download_status=404)
    chat.post_meta(desk, "whatsapp", chat.fixture("whatsapp/image.json"))
    desk.pump()

    ticket = _only(desk.tickets())
    attachment = _only(_only(_customer_messages(ticket))["attachments"])
    assert attachment["ref"] == WHATSAPP_MEDIA_ID and attachment["size"] == 0
    status, body = call(desk, "get", f"/tickets/{ticket['id']}/attachments/{attachment['id']}", admin_token)
    assert status == 404 and "no stored file" in body["reason"]  # nothing fetched, nothing to download
    assert ticket["acknowledgement"]["status"] == "sent"
    assert desk.dead_letters() == []


# --- 9. Bad input at the webhooks ---------------------------------------------------------------------

ONE_MEGABYTE = 1024 * 1024


def _slack_raw(desk, body, content_type="application/json"):
    """Slack-signed without slack_sdk, which cannot sign a body that is not UTF-8."""
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(chat.SLACK_SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    return desk.http.post("/webhooks/slack", body=body, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})


def _meta_raw(desk, product, body, content_type="application/json"):
    secret = {"whatsapp": chat.WHATSAPP_APP_SECRET, "messenger": chat.MESSENGER_APP_SECRET}[product]
    return desk.http.post(f"/webhooks/{product}", body=body, headers={
        "Content-Type": content_type, "X-Hub-Signature-256": chat.meta_signature(body, secret)})


def _telegram_raw(desk, body, content_type="application/json"):
    return desk.http.post("/webhooks/telegram", body=body, headers={
        "Content-Type": content_type, "X-Telegram-Bot-Api-Secret-Token": chat.TELEGRAM_SECRET_TOKEN})


def _twilio_raw(desk, body, content_type="application/x-www-form-urlencoded"):
    # Unsigned: these bodies are refused while parsing, before the signature is checked.
    return desk.http.post("/webhooks/twilio", body=body, headers={"Content-Type": content_type,
                                                                  "X-Twilio-Signature": "unused"})


def _webchat_raw(desk, body, content_type="application/json"):
    return desk.http.post("/webhooks/webchat", body=body, headers={"Content-Type": content_type})


def _sessions_raw(desk, body, content_type="application/json"):
    return desk.http.post("/webchat/sessions", body=body, headers={"Content-Type": content_type})


def test_malformed_requests_get_a_4xx_json_reason_never_a_500_and_nothing_is_enqueued(desk):
    slack = json.dumps(chat.slack_message()).encode()
    whatsapp = json.dumps(chat.whatsapp_text()).encode()
    messenger = json.dumps(chat.messenger_text()).encode()
    telegram = json.dumps(chat.telegram_text()).encode()
    token = chat.start_webchat(desk)
    webchat = json.dumps({"session_token": token, "text": "hi", "message_id": "msg-00000001"}).encode()
    huge = b'{"padding": "' + b"x" * ONE_MEGABYTE + b'"}'
    cases = {  # name: (request, status)
        "slack as text/plain": (lambda: _slack_raw(desk, slack, "text/plain"), 415),
        "whatsapp as a form": (lambda: _meta_raw(desk, "whatsapp", whatsapp, "application/x-www-form-urlencoded"),
                               415),
        "messenger as text/plain": (lambda: _meta_raw(desk, "messenger", messenger, "text/plain"), 415),
        "telegram as text/plain": (lambda: _telegram_raw(desk, telegram, "text/plain"), 415),
        "twilio as JSON": (lambda: _twilio_raw(desk, b'{"Body": "hi"}', "application/json"), 415),
        "webchat as text/plain": (lambda: _webchat_raw(desk, webchat, "text/plain"), 415),
        "truncated slack JSON": (lambda: _slack_raw(desk, slack[: len(slack) // 2]), 400),
        "truncated whatsapp JSON": (lambda: _meta_raw(desk, "whatsapp", whatsapp[:-7]), 400),
        "truncated messenger JSON": (lambda: _meta_raw(desk, "messenger", messenger[:40]), 400),
        "truncated telegram JSON": (lambda: _telegram_raw(desk, telegram[:-1]), 400),
        "truncated webchat JSON": (lambda: _webchat_raw(desk, webchat[:-2]), 400),
        "truncated session JSON": (lambda: _sessions_raw(desk, b'{"name": "Ann'), 400),
        "slack JSON array": (lambda: _slack_raw(desk, b"[1, 2]"), 400),
        "whatsapp JSON string": (lambda: _meta_raw(desk, "whatsapp", b'"entry"'), 400),
        "telegram update without update_id": (lambda: _telegram_raw(desk, b'{"message": {"text": "hi"}}'), 400),
        "slack body not UTF-8": (lambda: _slack_raw(desk, b'{"type": "\xff\xfe"}'), 400),
        "whatsapp body not UTF-8": (lambda: _meta_raw(desk, "whatsapp", b'{"object": "\xc3\x28"}'), 400),
        "telegram body not UTF-8": (lambda: _telegram_raw(desk, b'{"update_id": 1, "x": "\xff"}'), 400),
        "webchat body not UTF-8": (lambda: _webchat_raw(desk, b'{"text": "\xff"}'), 400),
        "twilio form not UTF-8": (lambda: _twilio_raw(
            desk, b"MessageSid=SM1&From=%2B14155550123&To=%2B14155550100&Body=%FF%FE"), 400),
        "twilio form without From": (lambda: chat.post_twilio(desk, {
            k: v for k, v in chat.twilio_sms().items() if k != "From"}), 400),
        "twilio form without MessageSid and To": (lambda: chat.post_twilio(desk, {
            "AccountSid": chat.TWILIO_ACCOUNT_SID, "From": "+14155550123", "Body": "hi"}), 400),
        "webchat without message_id": (lambda: _webchat_raw(desk, json.dumps(
            {"session_token": token, "text": "hi"}).encode()), 400),
        "webchat with empty text": (lambda: _webchat_raw(desk, json.dumps(
            {"session_token": token, "text": "  ", "message_id": "msg-00000002"}).encode()), 400),
        "1 MB to slack": (lambda: _slack_raw(desk, huge), 413),
        "1 MB to whatsapp": (lambda: _meta_raw(desk, "whatsapp", huge), 413),
        "1 MB to messenger": (lambda: _meta_raw(desk, "messenger", huge), 413),
        "1 MB to telegram": (lambda: _telegram_raw(desk, huge), 413),
        "1 MB to twilio": (lambda: _twilio_raw(desk, b"Body=" + b"x" * ONE_MEGABYTE), 413),
        "1 MB to webchat": (lambda: _webchat_raw(desk, huge), 413),
        "1 MB to webchat sessions": (lambda: _sessions_raw(desk, huge), 413),
    }
    for route in ("slack", "whatsapp", "messenger", "telegram", "twilio", "webchat"):  # refused by the route itself
        cases[f"application/xml to {route}"] = (lambda route=route: desk.http.post(
            f"/webhooks/{route}", headers={"Content-Type": "application/xml"}, body=b"<message/>"), 415)
    answers = {name: request() for name, (request, _) in cases.items()}

    wrong = {name: (answer.status_code, answer.body[:200]) for name, answer in answers.items()
             if answer.status_code != cases[name][1]}
    assert wrong == {}
    for name, answer in answers.items():
        if name.startswith("application/xml"):  # Chalice's own answer: JSON, in its own shape
            assert json.loads(answer.body)["Message"], name
        else:
            chat.error_body(answer, cases[name][1])
    assert desk.pump() == 0 and desk.tickets() == []


def test_authentic_events_that_are_not_customer_messages_are_answered_200_and_skipped(desk):
    reaction = chat.slack_message(event_id="Ev0REACT01")
    reaction["event"] = {"type": "reaction_added", "user": "U0ANNCUST", "reaction": "thumbsup",
                         "item": {"type": "message", "channel": "D0HELPDM1", "ts": "1795426140.000200"},
                         "event_ts": "1795426150.000300"}
    answers = {
        "slack reaction_added": chat.post_slack(desk, reaction),
        "slack app_rate_limited": chat.post_slack(desk, {"token": "x", "type": "app_rate_limited",
                                                         "team_id": "T0001HELP", "api_app_id": "A0001DESK",
                                                         "minute_rate_limited": 1518467820}),
        "slack message_changed": chat.post_slack(desk, chat.fixture("slack/message_changed.json")),
        "slack our own bot": chat.post_slack(desk, chat.fixture("slack/bot_message.json")),
        "whatsapp statuses": chat.post_meta(desk, "whatsapp", chat.fixture("whatsapp/statuses.json")),
        "messenger delivery and read": chat.post_meta(desk, "messenger",
                                                      chat.fixture("messenger/delivery_read.json")),
        "messenger echo": chat.post_meta(desk, "messenger", chat.fixture("messenger/echo.json")),
        "telegram edited_message": chat.post_telegram(desk, chat.fixture("telegram/edited_message.json")),
        "twilio status callback": chat.post_twilio(desk, chat.twilio_sms(MessageStatus="delivered")),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {name: 200 for name in answers}
    assert answers["twilio status callback"].body.decode() == chat.EMPTY_TWIML
    assert desk.pump() == 0 and desk.tickets() == []


ODD_TEXT = ("zero\u200bwidth, RTL \u202eevil\u202c, NUL\x00byte, BOM\ufeff, e\u0301 combining, "
            "\U0001f44d\U0001f3fd skin tone, \U0001f468\u200d\U0001f469\u200d\U0001f467 family, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢")


def test_unicode_oddities_arrive_intact_on_every_channel(desk):
    chat.post_slack(desk, chat.slack_message(text=ODD_TEXT))
    chat.post_meta(desk, "whatsapp", chat.whatsapp_text(text=ODD_TEXT))
    chat.post_meta(desk, "messenger", chat.messenger_text(text=ODD_TEXT))
    chat.post_telegram(desk, chat.telegram_text(text=ODD_TEXT))
    chat.post_twilio(desk, chat.twilio_sms(Body=ODD_TEXT))
    chat.post_webchat(desk, chat.start_webchat(desk, name="\u202eevil name"), ODD_TEXT)
    desk.pump()

    tickets = desk.tickets()
    assert sorted(t["channel"] for t in tickets) == ["messenger", "slack", "sms", "telegram", "webchat", "whatsapp"]
    for ticket in tickets:
        assert _only(_customer_messages(ticket))["full_text"] == ODD_TEXT, ticket["channel"]
        assert ticket["acknowledgement"]["status"] == "sent", ticket["channel"]
    assert desk.dead_letters() == []


def test_a_lone_surrogate_in_a_chat_text_is_refused_or_kept_never_accepted_then_lost(desk):
    # JSON allows a lone "\ud83d"; JavaScript's JSON.stringify writes one for a string cut inside an emoji.
    body = json.dumps(chat.whatsapp_text(text="my order \ud83d is late")).encode()
    response = chat.post_meta(desk, "whatsapp", body)
    assert response.status_code < 500
    desk.pump()
    if response.status_code >= 400:
        assert desk.tickets() == []
        return
    assert desk.dead_letters() == []
    ticket = _only(desk.tickets())
    assert _only(_customer_messages(ticket))["full_text"].startswith("my order ")


def test_a_web_chat_token_that_is_not_text_is_a_401_not_a_500(desk):
    body = json.dumps({"session_token": "\ud800.signature", "text": "hi", "message_id": "msg-00000001"}).encode()
    assert chat.error_body(_webchat_raw(desk, body), 401)["error"] == "unauthorized"


def test_an_email_typed_into_the_widget_does_not_take_over_that_customers_mail(desk):
    token = chat.start_webchat(desk, name="Mallory", email="ann@customer.example")  # nobody vouched
    assert chat.post_webchat(desk, token, "what is the status of my account?").status_code == 202
    desk.pump()
    desk.receive_email(compose(sender="Ann Customer <ann@customer.example>", subject="Charged twice"))
    desk.pump()
    chat_ticket, email_ticket = desk.tickets()
    assert chat_ticket["channels"] == ["webchat"] and chat_ticket["customer"]["identities"][0].startswith("webchat:")
    assert email_ticket["channels"] == ["email"] and email_ticket["customer"]["identities"] == [
        "email:ann@customer.example"]
    assert len(desk.sent_emails()) == 1  # Ann's own acknowledgement


def test_a_forged_email_hash_is_refused(desk):
    response = desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json"},
                              body=json.dumps({"email": "ann@customer.example", "email_hash": "0" * 64}).encode())
    assert chat.error_body(response, 401)["reason"].startswith("email_hash does not match")
