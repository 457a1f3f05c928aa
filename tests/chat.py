"""Chat webhooks as the platforms send them, signed with the platforms' own SDKs where they publish one.

Each ``post_*`` function sends one request through the real route (``desk.http``) and returns
Chalice's test response. The payloads are the adapter tests' fixtures, so the shapes are the
platforms' own; tests change only what they need (an id, a text, a sender).
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
PUBLIC_BASE_URL = "https://desk.example"

SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_BOT_TOKEN = "xoxb-1111-2222-relaydesk"
META_VERIFY_TOKEN = "relay-desk-verify-7f3a"
WHATSAPP_APP_SECRET = "whatsapp-app-secret-0c1d"
WHATSAPP_ACCESS_TOKEN = "EAAGwhatsappaccesstoken"
MESSENGER_APP_SECRET = "messenger-app-secret-9e8f"
MESSENGER_PAGE_ACCESS_TOKEN = "EAAGmessengerpagetoken"
TELEGRAM_SECRET_TOKEN = "relay-desk_webhook-Secret-42"
TELEGRAM_BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TWILIO_ACCOUNT_SID = "AC00112233445566778899aabbccddeeff"  # the fixtures' AccountSid
TWILIO_AUTH_TOKEN = "12345678901234567890123456789012"
WEBCHAT_SECRET = "webchat-secret-for-tests-5d2c"

WEBCHAT_IDENTITY_SECRET = "site-backend-identity-secret"
SECRETS = {
    "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
    "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
    "META_VERIFY_TOKEN": META_VERIFY_TOKEN,
    "WHATSAPP_APP_SECRET": WHATSAPP_APP_SECRET,
    "WHATSAPP_ACCESS_TOKEN": WHATSAPP_ACCESS_TOKEN,
    "MESSENGER_APP_SECRET": MESSENGER_APP_SECRET,
    "MESSENGER_PAGE_ACCESS_TOKEN": MESSENGER_PAGE_ACCESS_TOKEN,
    "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET_TOKEN,
    "TELEGRAM_BOT_TOKEN": TELEGRAM_BOT_TOKEN,
    "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    "WEBCHAT_SECRET": WEBCHAT_SECRET,
    "WEBCHAT_IDENTITY_SECRET": WEBCHAT_IDENTITY_SECRET,
}

GRAPH = "https://graph.facebook.com/v21.0"  # META_GRAPH_VERSION's default
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# --- payloads ---------------------------------------------------------------------------------


def fixture(path: str) -> Any:
    """A webhook fixture, parsed: ``fixture("slack/message_im.json")``."""
    return json.loads((FIXTURES / path).read_text())


def slack_message(*, event_id: str = "Ev0HELP0001", text: str | None = None, ts: str | None = None,
                  thread_ts: str | None = None) -> dict[str, Any]:
    """``ts`` is Slack's message id and time ("1795426140.000200")."""
    envelope = fixture("slack/message_im.json")
    envelope["event_id"] = event_id
    if text is not None:
        envelope["event"]["text"] = text
    if ts is not None:
        envelope["event"]["ts"] = envelope["event"]["event_ts"] = ts
    if thread_ts is not None:
        envelope["event"]["thread_ts"] = thread_ts
    return envelope


def whatsapp_text(*, message_id: str | None = None, text: str | None = None, phone: str | None = None,
                  at: int | None = None) -> dict[str, Any]:
    """``at``: the message's Unix time (WhatsApp sends seconds, as a string)."""
    payload = fixture("whatsapp/text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    if at is not None:
        message["timestamp"] = str(at)
    if message_id is not None:
        message["id"] = message_id
    if text is not None:
        message["text"]["body"] = text
    if phone is not None:
        message["from"] = value["contacts"][0]["wa_id"] = phone
    return payload


def messenger_text(*, mid: str | None = None, text: str | None = None, at: int | None = None) -> dict[str, Any]:
    """``at``: the event's Unix time (Messenger sends milliseconds)."""
    payload = fixture("messenger/text.json")
    event = payload["entry"][0]["messaging"][0]
    message = event["message"]
    if at is not None:
        event["timestamp"] = at * 1000
    if mid is not None:
        message["mid"] = mid
    if text is not None:
        message["text"] = text
    return payload


def telegram_text(*, update_id: int | None = None, text: str | None = None, at: int | None = None) -> dict[str, Any]:
    """``at``: the message's Unix time (Telegram's ``date``)."""
    update = fixture("telegram/text.json")
    if at is not None:
        update["message"]["date"] = at
    if update_id is not None:
        update["update_id"] = update_id
    if text is not None:
        update["message"]["text"] = text
    return update


def twilio_sms(**changes: str) -> dict[str, str]:
    fields = fixture("twilio/sms.json")
    fields.update(changes)
    return fields


def twilio_whatsapp(**changes: str) -> dict[str, str]:
    """A WhatsApp message through Twilio, the fixture without its media."""
    fields = {k: v for k, v in fixture("twilio/whatsapp_media.json").items() if not k.startswith("Media")}
    fields.update(NumMedia="0", MessageType="text", **changes)
    return fields


# --- signed requests through the routes -------------------------------------------------------


def _body(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload).encode()


def post_slack(desk: Any, payload: Any, *, secret: str = SLACK_SIGNING_SECRET, timestamp: int | None = None,
               headers: dict[str, str] | None = None) -> Any:
    body = _body(payload)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    signed = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
    return desk.http.post("/webhooks/slack", headers={**signed, **(headers or {})}, body=body)


def meta_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_meta(desk: Any, product: str, payload: Any, *, secret: str | None = None,
              headers: dict[str, str] | None = None) -> Any:
    """``product`` is "whatsapp" or "messenger": each has its own route and app secret."""
    body = _body(payload)
    secret = secret or {"whatsapp": WHATSAPP_APP_SECRET, "messenger": MESSENGER_APP_SECRET}[product]
    signed = {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body, secret)}
    return desk.http.post(f"/webhooks/{product}", headers={**signed, **(headers or {})}, body=body)


def post_telegram(desk: Any, payload: Any, *, token: str | None = TELEGRAM_SECRET_TOKEN,
                  headers: dict[str, str] | None = None) -> Any:
    base = {"Content-Type": "application/json"}
    if token is not None:
        base["X-Telegram-Bot-Api-Secret-Token"] = token
    return desk.http.post("/webhooks/telegram", headers={**base, **(headers or {})}, body=_body(payload))


def post_twilio(desk: Any, fields: dict[str, str], *, token: str = TWILIO_AUTH_TOKEN,
                url: str = PUBLIC_BASE_URL + "/webhooks/twilio", headers: dict[str, str] | None = None) -> Any:
    signature = RequestValidator(token).compute_signature(url, fields)
    base = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return desk.http.post("/webhooks/twilio", headers={**base, **(headers or {})}, body=urlencode(fields).encode())


@contextlib.contextmanager
def from_address(source_ip: str | None) -> Iterator[None]:
    """Requests made inside come from ``source_ip`` (API Gateway's ``requestContext.identity.sourceIp``).

    Both local front ends put the same address on every request, 127.0.0.1: the HTTP API's
    (``chalicelib/local/gateway.py``) and Chalice's test client (``LambdaEventConverter.LOCAL_SOURCE_IP``).
    ``None`` sends a request without one, as some other front ends do.
    """
    from chalice.local import LambdaEventConverter

    from chalicelib.local import gateway

    with mock.patch.object(LambdaEventConverter, "LOCAL_SOURCE_IP", source_ip), \
            mock.patch.object(gateway, "SOURCE_IP", source_ip):
        yield


def open_webchat_session(desk: Any, *, source_ip: str | None = "127.0.0.1", **visitor: str) -> Any:
    """``POST /webchat/sessions`` from ``source_ip``; returns the response, whatever its status."""
    with from_address(source_ip):
        return desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json"},
                              body=json.dumps(visitor).encode())


def start_webchat(desk: Any, **visitor: str) -> str:
    """A web-chat session for a visitor (optional ``name``, ``email``, ``email_hash``); returns its token."""
    response = desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json"},
                              body=json.dumps(visitor).encode())
    assert response.status_code == 201, response.body
    return json.loads(response.body)["session_token"]


def post_webchat(desk: Any, session_token: str, text: str, *, message_id: str = "msg-00000001") -> Any:
    body = {"session_token": session_token, "text": text, "message_id": message_id}
    return desk.http.post("/webhooks/webchat", headers={"Content-Type": "application/json"},
                          body=json.dumps(body).encode())


# --- reading what the platforms received -------------------------------------------------------


def request_json(sent: dict[str, Any]) -> dict[str, Any]:
    body = sent["request"]["body"]
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def request_form(sent: dict[str, Any]) -> dict[str, str]:
    body = sent["request"]["body"]
    form = parse_qs(body.decode() if isinstance(body, bytes) else body, keep_blank_values=True)
    return {name: values[0] for name, values in form.items()}


def query_of(sent: dict[str, Any]) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(sent["request"]["url"]).query).items()}


def path_of(sent: dict[str, Any]) -> str:
    parts = urlsplit(sent["request"]["url"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def vouch_for(email: str, secret: str) -> str:
    """What the site's backend computes for its logged-in user: hex HMAC-SHA256(secret, email)."""
    import hashlib
    import hmac

    return hmac.new(secret.encode(), email.lower().encode(), hashlib.sha256).hexdigest()


def error_body(response: Any, status: int) -> dict[str, Any]:
    """The edge's one error shape: the status asked for and a JSON body with a reason."""
    assert response.status_code == status, (response.status_code, response.body)
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert body["error"] and body["reason"], body
    return body
