"""Telegram Bot API webhook → ``InboundMessage``: check the secret token, keep new messages.

Telegram does not sign updates; ``setWebhook(secret_token=...)`` makes it send that token back in
``X-Telegram-Bot-Api-Secret-Token`` on every request (https://core.telegram.org/bots/api#setwebhook),
which we compare in constant time. One request carries one ``Update``; its ``update_id`` is the
platform's id for dedup ("handy ... to ignore repeated updates", https://core.telegram.org/bots/api#update).
Update ids are per bot, so with ``TELEGRAM_BOT_TOKEN`` configured the bot id (the token's part before
":") prefixes the external id and two bots' updates never collide.

Telegram repeats any update answered with a status other than 2xx "and give[s] up after a reasonable
amount of attempts" (setWebhook), with no way to ask it not to. So an authentic update we can never use
(ids no Telegram object has, a message we cannot store) is answered 200 and logged as skipped: a 4xx
would only bring it back, and hold the bot's webhook in error while it does.

A press on one of our inline-keyboard buttons (``outbound/platforms.py``: the bot's "did this solve it?")
arrives as a ``callback_query`` update: the pressing user (``from``), the message it was on (its ``chat``)
and the button's ``callback_data``. It becomes the same customer's message in the same chat, with
``choice`` set. Telegram shows the button as loading until the query is answered; the webhook's own answer
can be that call ("Making requests when getting updates", https://core.telegram.org/bots/api): a JSON body
``{"method": "answerCallbackQuery", "callback_query_id": ...}``, so no second request is needed.
"""
from __future__ import annotations

import hmac
import json
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
    PayloadTooLarge,
    Secrets,
    Unauthenticated,
    UnsupportedMediaType,
    WebhookReply,
    WebhookRequest,
    require,
)

__all__ = ["handle"]

# "[Identifiers have] at most 52 significant bits, so a signed 64-bit integer ... is safe for storing"
# (https://core.telegram.org/bots/api, e.g. User.id, Chat.id); anything larger is not a Telegram id.
_MAX_ID = 2**63 - 1
# Bounds on what a callback query echoes back: an inline keyboard holds at most 100 buttons, and our button
# texts are our choice labels (``domain.bot.CHOICE_LABELS``, at most 20 characters); a query id is a short string.
_MAX_KEYBOARD = 100  # rows, and buttons in a row
_MAX_BUTTON_TEXT = 100
_MAX_QUERY_ID_CHARS = 256

# Message fields that carry one file, in the order we look for them, with their media kind.
# An animation also fills "document" for backward compatibility, so it must be seen first.
_FILE_FIELDS = (
    ("animation", "video"),
    ("video", "video"),
    ("video_note", "video"),
    ("voice", "audio"),
    ("audio", "audio"),
    ("document", "document"),
    ("sticker", "sticker"),
)


class _NotAMessage(Exception):
    """An authentic update that is not a customer message; its text is the logged reason."""


def handle(request: WebhookRequest, secrets: Secrets, now: datetime) -> WebhookReply:
    secret_token = require(secrets, "TELEGRAM_SECRET_TOKEN")
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body of {len(request.body)} bytes is over {MAX_BODY_BYTES}")
    if _header(request, "content-type").split(";", 1)[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("Telegram webhook updates are application/json")
    given = _header(request, "x-telegram-bot-api-secret-token")
    if not given or not hmac.compare_digest(given.encode("utf-8", "replace"), secret_token.encode("utf-8")):
        raise Unauthenticated("X-Telegram-Bot-Api-Secret-Token is missing or wrong")
    update = _json_object(request.body)
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadWebhook("body is not a Telegram Update: no integer update_id")
    if abs(update_id) > _MAX_ID:  # see the module docstring: 200 and a logged reason, never a retry
        digits = len(str(abs(update_id)))
        return WebhookReply(skipped=[f"telegram update_id of {digits:,} digits is not a Telegram id"])

    bot_id = _bot_id(secrets("TELEGRAM_BOT_TOKEN") or "")
    external_id = f"{bot_id}:{update_id}" if bot_id else str(update_id)
    message, callback_query = update.get("message"), update.get("callback_query")
    reply = _answered(callback_query) if isinstance(callback_query, dict) else WebhookReply()
    try:
        if isinstance(message, dict):
            reply.messages.append(_to_message(message, external_id, bot_id, now))
        elif isinstance(callback_query, dict):
            reply.messages.append(_pressed(callback_query, external_id, bot_id, now))
        else:  # edited_message, channel_post, ...: not yet
            kind = next((key for key in update if key != "update_id"), "nothing")
            reply.skipped.append(f"telegram update {external_id}: {kind[:40]} is not handled")
    except _NotAMessage as reason:
        reply.skipped.append(f"telegram update {external_id}: {reason}")
    except FieldTooLong as error:  # see the module docstring: 200 and a logged reason, never a retry
        reply.skipped.append(f"telegram update {_label(external_id)} cannot be stored: {error}")
    return reply


def _bot_id(bot_token: str) -> str:
    """The numeric bot id that starts a bot token ("123456:ABC..."); never any of the secret part."""
    bot_id, separator, _ = bot_token.partition(":")
    return bot_id if separator and bot_id.isascii() and bot_id.isdigit() else ""


def _to_message(message: dict[str, Any], external_id: str, bot_id: str, now: datetime) -> InboundMessage:
    text = _str(message.get("text")) or _str(message.get("caption"))
    return _from_user(_dict(message.get("from")), message, external_id, bot_id, text=text,
                      received_at=_from_epoch(message.get("date"), now), media=_media(message))


def _pressed(query: dict[str, Any], external_id: str, bot_id: str, now: datetime) -> InboundMessage:
    """A press on one of our inline-keyboard buttons: the presser's message in the chat the buttons were in."""
    choice = _str(query.get("data"))
    if choice not in bot.CHOICES:  # a button we did not send, or another bot feature's: nothing to read
        raise _NotAMessage(f"callback_query data {_label(query.get('data'))[:40]} is not one of our choices")
    message = _dict(query.get("message"))  # absent for buttons on inline-mode messages (inline_message_id)
    text = _button_text(message, choice) or bot.CHOICE_LABELS["en"][choice]
    # The press has no date of its own (message.date is when our question was sent): it happened now.
    return _from_user(_dict(query.get("from")), message, external_id, bot_id, text=text, received_at=now,
                      media=[], choice=choice)


def _from_user(sender: dict[str, Any], message: dict[str, Any], external_id: str, bot_id: str, *, text: str,
               received_at: datetime, media: list[dict[str, str]], choice: str | None = None) -> InboundMessage:
    """What ``sender`` said in ``message``'s chat: one customer, one conversation per chat, typed or pressed."""
    chat_id = _id(_dict(message.get("chat")).get("id"))
    user_id = _id(sender.get("id"))
    if not chat_id:
        raise _NotAMessage("message without chat.id")
    if not user_id:  # a channel post or an anonymous group admin speaking as the group
        raise _NotAMessage("message without a sending user")
    if sender.get("is_bot") is True:
        raise _NotAMessage("message sent by a bot")
    route = {"provider": "telegram", "chat_id": chat_id}
    if bot_id:
        route["bot_id"] = bot_id  # which bot's token answers
    return InboundMessage(
        channel="telegram",
        external_id=external_id,
        received_at=received_at,
        sender=Identity("telegram", user_id),
        sender_name=_name(sender),
        subject=_subject(text),
        text=text,
        reply_text=text,
        conversation_key=f"telegram:{bot_id}:{chat_id}" if bot_id else f"telegram:{chat_id}",
        reply_route=route,
        media=media,
        choice=choice,
    )


def _answered(query: dict[str, Any]) -> WebhookReply:
    """The webhook's answer: answerCallbackQuery, so the pressed button stops showing as loading."""
    query_id = _str(query.get("id"))
    if not query_id or len(query_id) > _MAX_QUERY_ID_CHARS:  # not a query Telegram could have sent
        return WebhookReply()
    return WebhookReply(body=json.dumps({"method": "answerCallbackQuery", "callback_query_id": query_id}),
                        content_type="application/json")


def _button_text(message: dict[str, Any], choice: str) -> str:
    """The visible text of the pressed button: Telegram sends the message's keyboard with the query."""
    rows = _list(_dict(message.get("reply_markup")).get("inline_keyboard"))
    for row in rows[:_MAX_KEYBOARD]:
        for button in map(_dict, _list(row)[:_MAX_KEYBOARD]):
            if _str(button.get("callback_data")) == choice:
                return _str(button.get("text")).strip()[:_MAX_BUTTON_TEXT]
    return ""


def _media(message: dict[str, Any]) -> list[dict[str, str]]:
    media = []
    sizes = [size for size in map(_dict, _list(message.get("photo"))) if _str(size.get("file_id"))]
    if sizes:  # the same photo in several sizes: keep the largest
        largest = max(sizes, key=lambda size: (_int(size.get("width")) * _int(size.get("height")),
                                               _int(size.get("file_size"))))
        media.append({"kind": "image", "ref": _str(largest.get("file_id")), "content_type": "", "filename": ""})
    for field, kind in _FILE_FIELDS:
        file = _dict(message.get(field))
        if _str(file.get("file_id")):
            media.append({
                "kind": kind,
                "ref": _str(file.get("file_id")),  # resolved to a download path with getFile
                "content_type": _str(file.get("mime_type")),
                "filename": _str(file.get("file_name")),
            })
            break  # a message carries at most one of these
    return media


def _name(user: dict[str, Any]) -> str:
    full_name = " ".join(part for part in (_str(user.get("first_name")), _str(user.get("last_name"))) if part)
    return full_name or _str(user.get("username"))


def _from_epoch(value: Any, now: datetime) -> datetime:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
    return now.astimezone(timezone.utc)


def _id(value: Any) -> str:
    """Telegram ids are integers (up to 52 bits); as text for keys and routes, "" when not one."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_ID:
        return str(value)
    return ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


