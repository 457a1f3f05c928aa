"""Meta Graph webhooks → ``InboundMessage``: WhatsApp Cloud API and Messenger, one verification for both.

Both products subscribe the same way: Meta first calls the URL with ``GET ?hub.mode=subscribe
&hub.verify_token=<ours>&hub.challenge=<n>`` and expects the challenge back as plain text; after that
every POST carries ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``.
Each product has its own app secret, so each has its own entry point.

WhatsApp: ``entry[].changes[].value`` holds ``messages`` (from customers) or ``statuses`` (receipts of
what we sent), https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
Messenger: ``entry[].messaging[]`` holds one event each: ``message`` (``is_echo`` when the Page sent it),
``delivery``, ``read``... https://developers.facebook.com/docs/messenger-platform/reference/webhook-events
Media are kept as references (WhatsApp media id, Messenger attachment URL); the pipeline fetches them.

A press on one of our buttons (``outbound/platforms.py``: the bot's "did this solve it?") is a message like
any other from the same person: WhatsApp sends ``type: interactive`` with ``button_reply {id, title}`` (a
template's quick-reply button: ``type: button`` with ``button {payload, text}``), Messenger a text message
with ``quick_reply.payload``. The id or payload becomes ``choice`` only when it is one of ``domain.bot.CHOICES``.

One POST can batch many events, so an event we cannot use is skipped (logged with its reason) and the
answer is still 200: Meta re-sends a batch answered otherwise with decreasing frequency for a long time
(Messenger: 36 hours; WhatsApp: up to 7 days), so refusing it for one unusable event would re-deliver every
good message beside it, and keep failing.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from chalicelib.domain import bot
from chalicelib.domain.messages import FieldTooLong, Identity, InboundMessage
from chalicelib.channels.payload import (
    as_dict as _dict,
    as_list as _list,
    as_str as _str,
    header as _header,
    json_object as _json_object,
    label as _label,
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

__all__ = ["handle_messenger", "handle_whatsapp"]

# WhatsApp message type → media kind. Voice notes are "audio" with "voice": true in Cloud API payloads.
_WHATSAPP_MEDIA = {"image": "image", "audio": "audio", "voice": "audio", "video": "video",
                   "document": "document", "sticker": "sticker"}
_MESSENGER_MEDIA = {"image": "image", "audio": "audio", "video": "video", "file": "file"}
_MESSENGER_EVENTS = ("delivery", "read", "postback", "reaction", "optin", "referral", "account_linking")

_Parser = Callable[[dict[str, Any], datetime, WebhookReply], None]


class _NotAMessage(Exception):
    """An authentic event that is not a customer message; its text is the logged reason."""


def handle_whatsapp(request: WebhookRequest, secrets: Secrets, now: datetime) -> WebhookReply:
    return _handle(request, secrets, now, "WHATSAPP_APP_SECRET", _read_whatsapp)


def handle_messenger(request: WebhookRequest, secrets: Secrets, now: datetime) -> WebhookReply:
    return _handle(request, secrets, now, "MESSENGER_APP_SECRET", _read_messenger)


def _handle(request: WebhookRequest, secrets: Secrets, now: datetime, secret_name: str, read: _Parser) -> WebhookReply:
    if request.method.upper() == "GET":
        return _subscription_handshake(request, require(secrets, "META_VERIFY_TOKEN"))
    app_secret = require(secrets, secret_name)
    if request.method.upper() != "POST":
        raise BadWebhook(f"method {request.method[:10]!r} is not used by Meta webhooks")
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body of {len(request.body)} bytes is over {MAX_BODY_BYTES}")
    if _header(request, "content-type").split(";", 1)[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("Meta webhooks are application/json")
    _verify_signature(request, app_secret)
    reply = WebhookReply()
    read(_json_object(request.body), now, reply)
    return reply


def _subscription_handshake(request: WebhookRequest, verify_token: str) -> WebhookReply:
    mode, token = _str(request.query.get("hub.mode")), _str(request.query.get("hub.verify_token"))
    challenge = _str(request.query.get("hub.challenge"))
    if mode != "subscribe" or not hmac.compare_digest(
        token.encode("utf-8", "replace"), verify_token.encode("utf-8", "replace")
    ):
        raise Forbidden("hub.verify_token does not match this deployment's verify token")
    if not challenge:
        raise BadWebhook("subscription handshake without hub.challenge")
    return WebhookReply(body=challenge, content_type="text/plain")


def _verify_signature(request: WebhookRequest, app_secret: str) -> None:
    signature = _header(request, "x-hub-signature-256")
    if not signature:
        raise Unauthenticated("missing X-Hub-Signature-256")
    expected = "sha256=" + hmac.new(app_secret.encode("utf-8"), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise Unauthenticated("X-Hub-Signature-256 does not match the body")


# --- WhatsApp Cloud API -------------------------------------------------------------------------


def _read_whatsapp(payload: dict[str, Any], now: datetime, reply: WebhookReply) -> None:
    if payload.get("object") != "whatsapp_business_account":
        reply.skipped.append(f"meta object {_label(payload.get('object'))} is not whatsapp_business_account")
        return
    for entry in _list(payload.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            change = _dict(change)
            if change.get("field") != "messages":  # template, quality and account updates
                reply.skipped.append(f"whatsapp change field {_label(change.get('field'))} is not handled")
                continue
            value = _dict(change.get("value"))
            for status in _list(value.get("statuses")):
                status = _dict(status)
                reply.skipped.append(
                    f"whatsapp status {_label(status.get('status'))} for message {_label(status.get('id'))}"
                )
            phone_number_id = _str(_dict(value.get("metadata")).get("phone_number_id"))
            contacts = [_dict(contact) for contact in _list(value.get("contacts"))]
            for message in _list(value.get("messages")):
                try:
                    reply.messages.append(_whatsapp_message(_dict(message), phone_number_id, contacts, now))
                except _NotAMessage as reason:
                    reply.skipped.append(str(reason))
                except FieldTooLong as error:  # an id no real message has: skipped like any unusable event
                    message_id = _label(_dict(message).get("id"))
                    reply.skipped.append(f"whatsapp message {message_id} cannot be stored: {error}")


def _whatsapp_message(
    message: dict[str, Any], phone_number_id: str, contacts: list[dict[str, Any]], now: datetime
) -> InboundMessage:
    message_id = _str(message.get("id"))
    if not message_id or not phone_number_id:
        raise _NotAMessage("whatsapp message without id or metadata.phone_number_id")
    text, media, choice = _whatsapp_content(message_id, message)
    from_number = _str(message.get("from"))
    contact = _contact_for(contacts, from_number)
    # The user's WhatsApp id and phone number "may not always match" (Meta's reference): the phone
    # number identifies the customer, the wa_id is where replies go. A user with a username may come
    # with neither, only a business-scoped user id (contacts[].user_id).
    wa_id = _str(contact.get("wa_id")) or from_number
    user_id = _str(contact.get("user_id"))
    phone = _e164(from_number) or _e164(wa_id)
    if phone:
        sender = Identity("phone", phone)
    elif user_id:
        sender = Identity("whatsapp", user_id)
    else:
        raise _NotAMessage(f"whatsapp message {message_id}: no sender phone number or user id")
    recipient = wa_id or user_id
    return InboundMessage(
        channel="whatsapp",
        external_id=message_id,
        received_at=_from_epoch(message.get("timestamp"), 1, now),
        sender=sender,
        sender_name=_str(_dict(contact.get("profile")).get("name")),
        subject=_subject(text),
        text=text,
        reply_text=text,
        conversation_key=f"whatsapp:{phone_number_id}:{recipient}",
        reply_route={"provider": "whatsapp", "phone_number_id": phone_number_id, "to": recipient},
        media=media,
        choice=choice,
    )


def _whatsapp_content(message_id: str, message: dict[str, Any]) -> tuple[str, list[dict[str, str]], str | None]:
    """The message's text, media references and pressed choice (None unless one of ``bot.CHOICES``)."""
    kind = _str(message.get("type"))
    if kind == "text":
        return _str(_dict(message.get("text")).get("body")), [], None
    if kind in _WHATSAPP_MEDIA:
        asset = _dict(message.get(kind))
        if not _str(asset.get("id")):
            raise _NotAMessage(f"whatsapp message {message_id}: {kind} without a media id")
        media = {
            "kind": _WHATSAPP_MEDIA[kind],
            "ref": _str(asset.get("id")),  # resolved to a download URL with GET /<media id>
            "content_type": _str(asset.get("mime_type")),
            "filename": _str(asset.get("filename")),
        }
        return _str(asset.get("caption")), [media], None
    if kind == "interactive":  # a tap on a reply button or a list row we sent
        interactive = _dict(message.get("interactive"))
        button = _dict(interactive.get("button_reply"))
        row = _dict(interactive.get("list_reply"))  # we send no lists: a row is only its words
        choice = _choice(button.get("id"))
        title = _str(button.get("title")) or _str(row.get("title"))
        if title or choice:
            return title or _english_label(choice), [], choice
    if kind == "button":  # a tap on a template's quick-reply button
        button = _dict(message.get("button"))
        choice = _choice(button.get("payload"))
        text = _str(button.get("text")) or _english_label(choice) or _str(button.get("payload"))
        if text:
            return text, [], choice
    raise _NotAMessage(f"whatsapp message {message_id}: type {_label(kind)} is not handled")


def _contact_for(contacts: list[dict[str, Any]], from_number: str) -> dict[str, Any]:
    for contact in contacts:
        if from_number and _str(contact.get("wa_id")) == from_number:
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _e164(number: str) -> str:
    digits = number.removeprefix("+")
    return f"+{digits}" if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15 else ""


# --- Messenger ----------------------------------------------------------------------------------


def _read_messenger(payload: dict[str, Any], now: datetime, reply: WebhookReply) -> None:
    if payload.get("object") != "page":
        reply.skipped.append(f"meta object {_label(payload.get('object'))} is not page")
        return
    for entry in _list(payload.get("entry")):
        entry = _dict(entry)
        if _list(entry.get("standby")):  # handover protocol: another app owns the thread
            reply.skipped.append(f"messenger standby events for page {_label(entry.get('id'))}")
        for event in _list(entry.get("messaging")):
            try:
                reply.messages.append(_messenger_message(_dict(event), _str(entry.get("id")), now))
            except _NotAMessage as reason:
                reply.skipped.append(str(reason))
            except FieldTooLong as error:  # an id no real message has: skipped like any unusable event
                mid = _dict(_dict(event).get("message")).get("mid")
                reply.skipped.append(f"messenger message {_label(mid)} cannot be stored: {error}")


def _messenger_message(event: dict[str, Any], entry_page_id: str, now: datetime) -> InboundMessage:
    if "message" not in event:
        kind = next((name for name in _MESSENGER_EVENTS if name in event), "unknown")
        raise _NotAMessage(f"messenger {kind} event is not a message")
    message = _dict(event.get("message"))
    mid = _str(message.get("mid"))
    if message.get("is_echo"):  # what our Page sent, echoed back
        raise _NotAMessage(f"messenger message {_label(mid)} is an echo of our own")
    psid = _str(_dict(event.get("sender")).get("id"))
    page_id = _str(_dict(event.get("recipient")).get("id")) or entry_page_id
    if not (mid and psid and page_id):
        raise _NotAMessage("messenger message without mid, sender or recipient")
    if psid == page_id:
        raise _NotAMessage(f"messenger message {mid} was sent by the page itself")
    choice = _choice(_dict(message.get("quick_reply")).get("payload"))
    text = _str(message.get("text")) or _english_label(choice)  # a tapped quick reply's text is its title
    return InboundMessage(
        channel="messenger",
        external_id=mid,
        received_at=_from_epoch(event.get("timestamp"), 1000, now),  # milliseconds
        sender=Identity("messenger", psid),
        subject=_subject(text),
        text=text,
        reply_text=text,
        conversation_key=f"messenger:{page_id}:{psid}",
        reply_route={"provider": "messenger", "page_id": page_id, "recipient": psid},
        media=[ref for ref in map(_messenger_attachment, _list(message.get("attachments"))) if ref],
        choice=choice,
    )


def _messenger_attachment(attachment: Any) -> dict[str, str] | None:
    attachment = _dict(attachment)
    payload = _dict(attachment.get("payload"))
    url = _str(payload.get("url"))
    if not url:  # a "fallback" share without payload, or a location: nothing to fetch
        return None
    kind = _MESSENGER_MEDIA.get(_str(attachment.get("type")), "file")
    if kind == "image" and payload.get("sticker_id") is not None:
        kind = "sticker"
    return {"kind": kind, "ref": url, "content_type": "", "filename": ""}


# --- shared parsing -----------------------------------------------------------------------------


def _choice(value: Any) -> str | None:
    """A pressed button's id or payload as ``InboundMessage.choice``: only our own choices, else None."""
    return value if isinstance(value, str) and value in bot.CHOICES else None


def _english_label(choice: str | None) -> str:
    """The text of a press that came without its title."""
    return bot.CHOICE_LABELS["en"][choice] if choice else ""


def _from_epoch(value: Any, per_second: int, now: datetime) -> datetime:
    """A platform time (seconds as a string on WhatsApp, ms on Messenger) as UTC; ``now`` when absent or absurd."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value) / per_second, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
    return now.astimezone(timezone.utc)


