"""Twilio Messaging webhook (SMS, and WhatsApp through Twilio) → ``InboundMessage``.

Twilio posts ``application/x-www-form-urlencoded`` fields (MessageSid, AccountSid, From, To, Body,
NumMedia, MediaUrl0..., ProfileName, WaId, ...) and signs them
(https://www.twilio.com/docs/usage/webhooks/webhooks-security):
``X-Twilio-Signature = base64(HMAC-SHA1(auth token, full URL + every POST field's name and value,
sorted by name))``. The URL is the public one Twilio called, query string included, so the route must
pass it exactly. Twilio adds fields without notice, so we sign over whatever fields arrive.
The answer is empty TwiML: acknowledgements go out through the pipeline, not this response.
A message we can never use is refused with a 4xx and its reason: one request carries one message, and
by default Twilio retries a webhook only when it could not connect, not on an HTTP answer (more only if
the URL asks with ``#rp=...``, https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides),
so the refusal happens once and shows, with our reason, in the Console's Debugger (error 11200).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from chalicelib.domain.messages import FieldTooLong, Identity, InboundMessage
from chalicelib.channels.payload import (
    header as _header,
    subject as _subject,
)
from chalicelib.channels.webhook import (
    MAX_BODY_BYTES,
    BadWebhook,
    Forbidden,
    PayloadTooLarge,
    Secrets,
    Unauthenticated,
    UnsupportedMediaType,
    WebhookReply,
    WebhookRequest,
    require,
)

__all__ = ["EMPTY_TWIML", "handle"]

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_REQUIRED_FIELDS = ("MessageSid", "From", "To")
_MAX_MEDIA = 10  # Twilio's limit per message; NumMedia above it is not trusted to size a loop
# Twilio prefixes non-SMS addresses with their channel ("whatsapp:+14155550100"). Behind these
# prefixes is a phone number; other prefixes ("messenger:<psid>") name the identity kind themselves.
_PHONE_PREFIXES = ("whatsapp", "rcs")

_Fields = dict[str, list[str]]


def handle(request: WebhookRequest, secrets: Secrets, now: datetime) -> WebhookReply:
    auth_token = require(secrets, "TWILIO_AUTH_TOKEN")
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body of {len(request.body)} bytes is over {MAX_BODY_BYTES}")
    if _header(request, "content-type").split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Twilio messaging webhooks are application/x-www-form-urlencoded")
    fields = _form_fields(request.body)
    _verify_signature(request, fields, auth_token)
    account_sid = secrets("TWILIO_ACCOUNT_SID")
    if account_sid and _first(fields, "AccountSid") != account_sid:
        raise Forbidden("AccountSid is not this deployment's Twilio account")
    status = _first(fields, "MessageStatus")
    if status and status != "received":  # a status callback (sent, delivered, ...) pointed at this URL
        return _twiml(skipped=[f"twilio status {status[:20]!r} for message {_first(fields, 'MessageSid')[:40]!r}"])
    missing = [name for name in _REQUIRED_FIELDS if not _first(fields, name)]
    if missing:
        raise BadWebhook(f"missing form fields: {', '.join(missing)}")
    if not _address(_first(fields, "From")):  # "whatsapp:" and nothing after: no customer to know or answer
        raise BadWebhook("From has no address after its channel prefix")
    try:
        return _twiml(messages=[_to_message(fields, now)])
    except FieldTooLong as error:
        raise BadWebhook(f"message {_first(fields, 'MessageSid')[:40]!r} cannot be stored: {error}") from None


def _expected_signature(url: str, fields: _Fields, auth_token: str) -> str:
    """What Twilio puts in X-Twilio-Signature for these fields posted to ``url``."""
    # Sorted by name, then by value, each distinct value once: as twilio-python's RequestValidator does.
    signed = url + "".join(name + value for name in sorted(fields) for value in sorted(set(fields[name])))
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8", "surrogatepass"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _verify_signature(request: WebhookRequest, fields: _Fields, auth_token: str) -> None:
    given = _header(request, "x-twilio-signature").strip().encode("utf-8", "replace")
    if not given:
        raise Unauthenticated("missing X-Twilio-Signature")
    for url in _signed_url_forms(request.url):
        if hmac.compare_digest(_expected_signature(url, fields, auth_token).encode("ascii"), given):
            return
    raise Unauthenticated("X-Twilio-Signature does not match the URL and fields")


def _signed_url_forms(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port when it has none:
    Twilio has signed some webhooks with the port (":443") and some without, so its SDKs accept both."""
    forms = [url]
    try:
        parts = urlsplit(url)
        port, host = parts.port, parts.hostname
    except ValueError:  # not a URL we can take apart: only the exact string can match
        return forms
    if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return forms
    default_port = 443 if parts.scheme == "https" else 80
    bare = parts.netloc.rsplit(":", 1)[0] if port else parts.netloc
    forms.append(parts._replace(netloc=bare).geturl())
    forms.append(parts._replace(netloc=f"{bare}:{port or default_port}").geturl())
    return list(dict.fromkeys(forms))


def _to_message(fields: _Fields, now: datetime) -> InboundMessage:
    customer, our_address = _first(fields, "From"), _first(fields, "To")
    channel, identity = _channel_and_identity(customer)
    text = _first(fields, "Body")
    return InboundMessage(
        channel=channel,
        external_id=_first(fields, "MessageSid"),
        received_at=now.astimezone(timezone.utc),  # Twilio sends no timestamp with the message
        sender=identity,
        sender_name=_first(fields, "ProfileName"),  # WhatsApp profile name; absent for SMS
        subject=_subject(text),
        text=text,
        reply_text=text,
        conversation_key=f"{channel}:{_address(our_address)}:{_address(customer)}",
        # Raw addresses, prefix included: Twilio's Messages API wants "whatsapp:+1..." back.
        reply_route={"provider": "twilio", "from": our_address, "to": customer},
        media=_media(fields),
    )


def _channel_and_identity(address: str) -> tuple[str, Identity]:
    prefix, separator, rest = address.partition(":")
    if not separator or not prefix.isalpha():  # a plain phone number (or short code): SMS
        return "sms", Identity("phone", address)
    prefix = prefix.lower()
    return prefix, Identity("phone" if prefix in _PHONE_PREFIXES else prefix, rest)


def _address(address: str) -> str:
    """An address without its channel prefix, for conversation keys."""
    prefix, separator, rest = address.partition(":")
    return rest if separator and prefix.isalpha() else address


def _media(fields: _Fields) -> list[dict[str, str]]:
    try:
        count = int(_first(fields, "NumMedia") or "0")
    except ValueError:
        count = 0
    media = []
    for index in range(max(0, min(count, _MAX_MEDIA))):
        url = _first(fields, f"MediaUrl{index}")
        if url:
            content_type = _first(fields, f"MediaContentType{index}")
            media.append({"kind": _kind(content_type), "ref": url, "content_type": content_type, "filename": ""})
    return media


def _kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0].lower()
    return major if major in ("image", "audio", "video") else "file"


def _form_fields(body: bytes) -> _Fields:
    try:
        text = body.decode("utf-8")  # Twilio percent-encodes; raw bytes must still be UTF-8
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadWebhook("body is not a UTF-8 form") from None
    fields: _Fields = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def _first(fields: _Fields, name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def _twiml(*, messages: list[InboundMessage] | None = None, skipped: list[str] | None = None) -> WebhookReply:
    return WebhookReply(body=EMPTY_TWIML, content_type="text/xml", messages=messages or [], skipped=skipped or [])


