"""Slack Events API → ``InboundMessage``: verify Slack's signature, answer the URL check, keep user messages.

Slack signs every request with the app's signing secret
(https://docs.slack.dev/authentication/verifying-requests-from-slack/):
``X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body))``.
A timestamp more than five minutes from our clock is refused, so a captured request cannot be replayed.

When Slack thinks a delivery failed it sends the same event again with ``X-Slack-Retry-Num``; we parse it
like the first one: the ``event_id`` becomes ``external_id`` and the downstream dedup makes N deliveries one.
An event we can never store is refused with ``X-Slack-No-Retry: 1``, so Slack does not send it again.

The same URL can be the app's Interactivity Request URL: a press on one of our Block Kit buttons (the bot's
"did this solve it?", ``outbound/platforms.py``) arrives signed the same way, as
``application/x-www-form-urlencoded`` with one field, ``payload``, holding a ``block_actions`` JSON object
(https://docs.slack.dev/reference/interaction-payloads/block_actions-payload). It becomes the presser's
message in the conversation and thread the buttons were in, with ``choice`` set; Slack expects a 200 within
3 seconds, and an empty body changes nothing on the user's screen.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from chalicelib.domain import bot
from chalicelib.domain.messages import FieldTooLong, Identity, InboundMessage
from chalicelib.channels.payload import (
    as_dict as _dict,
    as_list as _list,
    as_str as _str,
    header as _header,
    json_object as _json_object,
    label as _label,
    media_type as _media_type,
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

__all__ = ["MAX_CLOCK_SKEW_SECONDS", "NO_RETRY", "handle"]

MAX_CLOCK_SKEW_SECONDS = 5 * 60  # Slack's own verifiers refuse requests older (or newer) than this
# Slack retries a failed delivery (non-2xx, or no answer in 3 s) three times: at once, after 1 minute and
# after 5, unless the answer carries this header (https://docs.slack.dev/apis/events-api/, "Retries").
NO_RETRY = {"X-Slack-No-Retry": "1"}
_USER_MESSAGE_SUBTYPES = (None, "file_share")  # others are edits, deletions, joins, bot posts...
_FORM = "application/x-www-form-urlencoded"  # interactivity payloads
_MAX_FORM_FIELDS = 10  # Slack sends one ("payload"); parse_qs refuses more than this
_MAX_BUTTON_TEXT = 75  # a Block Kit button's text is at most 75 characters


class _NotAMessage(Exception):
    """An authentic event that is not a customer message; its text is the logged reason."""


def handle(request: WebhookRequest, secrets: Secrets, now: datetime) -> WebhookReply:
    signing_secret = require(secrets, "SLACK_SIGNING_SECRET")
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body of {len(request.body)} bytes is over {MAX_BODY_BYTES}")
    media_type = _media_type(request)
    if media_type not in ("application/json", _FORM):
        raise UnsupportedMediaType("Slack requests are application/json (events) or a form (interactivity)")
    _verify_signature(request, signing_secret, now)  # over the raw body, whichever it is
    if media_type == _FORM:
        return _interaction(_form_payload(request.body), secrets, now)
    envelope = _json_object(request.body)

    kind = envelope.get("type")
    if kind == "url_verification":  # sent once when the Request URL is saved in the app settings
        challenge = envelope.get("challenge")
        if not isinstance(challenge, str):
            raise BadWebhook("url_verification without a challenge")
        return WebhookReply(body=json.dumps({"challenge": challenge}))
    if kind != "event_callback":
        return WebhookReply(skipped=[f"slack request type {_label(kind)} is not handled"])
    try:
        message = _to_message(envelope, _own_bot_users(envelope, secrets), now)
    except _NotAMessage as reason:
        return WebhookReply(skipped=[str(reason)])
    except FieldTooLong as error:
        # One event per request, so refusing it refuses nothing else. A 400 with the reason says what is
        # wrong; NO_RETRY spares three retries that would fail the same way (and count as more failures
        # in Slack's delivery health). A 200 would hide the refusal from whoever looks at Slack's side.
        raise BadWebhook(f"slack event {_label(envelope.get('event_id'))} cannot be stored: {error}",
                         headers=NO_RETRY) from None
    return WebhookReply(messages=[message])


def _verify_signature(request: WebhookRequest, signing_secret: str, now: datetime) -> None:
    timestamp = _header(request, "x-slack-request-timestamp")
    signature = _header(request, "x-slack-signature")
    if not timestamp or not signature:
        raise Unauthenticated("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Unauthenticated("X-Slack-Request-Timestamp is not a Unix time")
    if abs(now.timestamp() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise Unauthenticated("X-Slack-Request-Timestamp is more than five minutes from now")
    base = b"v0:" + timestamp.encode("ascii") + b":" + request.body
    expected = "v0=" + hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise Unauthenticated("X-Slack-Signature does not match the body")


def _own_bot_users(envelope: dict[str, Any], secrets: Secrets) -> set[str]:
    """Our bot's user ids: its own posts come back as message events and must not open tickets."""
    users = {secrets("SLACK_BOT_USER_ID") or ""}
    for authorization in _list(envelope.get("authorizations")):
        authorization = _dict(authorization)
        if authorization.get("is_bot", True) is not False:  # a human installer's messages still count
            users.add(_str(authorization.get("user_id")))
    users.discard("")
    return users


def _to_message(envelope: dict[str, Any], own_bot_users: set[str], now: datetime) -> InboundMessage:
    event_id = _str(envelope.get("event_id"))
    event = _dict(envelope.get("event"))
    event_type = event.get("type")
    if not event_id:
        raise _NotAMessage("slack event_callback without event_id")
    if event_type != "message":
        raise _NotAMessage(f"slack event {event_id}: type {_label(event_type)} is not handled")
    subtype = event.get("subtype")
    if event.get("bot_id") or subtype == "bot_message":
        raise _NotAMessage(f"slack event {event_id}: posted by a bot")
    if subtype not in _USER_MESSAGE_SUBTYPES:
        raise _NotAMessage(f"slack event {event_id}: message subtype {_label(subtype)} is not handled")
    user, channel, ts = _str(event.get("user")), _str(event.get("channel")), _str(event.get("ts"))
    team = _str(envelope.get("team_id")) or _str(event.get("team"))
    if user in own_bot_users:
        raise _NotAMessage(f"slack event {event_id}: posted by our own bot user")
    if not (user and channel and team):
        raise _NotAMessage(f"slack event {event_id}: message without user, channel or team")
    # Slack Connect: a guest from another workspace carries its own team in user_team.
    user_team = _str(event.get("user_team")) or _str(event.get("team")) or team
    text = _unescape(_str(event.get("text")))
    return InboundMessage(
        channel="slack",
        external_id=event_id,
        received_at=_from_epoch(ts, now) if ts else _from_epoch(envelope.get("event_time"), now),
        sender=Identity("slack", f"{user_team}:{user}"),
        sender_name=_display_name(event),
        subject=_subject(text),
        text=text,
        reply_text=text,
        conversation_key=f"slack:{team}:{channel}",
        reply_route={
            "provider": "slack",
            "team": team,
            "channel": channel,
            "thread_ts": _str(event.get("thread_ts")) or ts,  # answer in the message's thread
        },
        media=[_file_ref(_dict(file)) for file in _list(event.get("files")) if _dict(file)],
    )


def _form_payload(body: bytes) -> dict[str, Any]:
    """The JSON object in an interactivity request's one ``payload`` field."""
    try:
        form = parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):  # a form is URL-encoded ASCII; ValueError: too many fields
        raise BadWebhook("body is not a URL-encoded form of at most "
                         f"{_MAX_FORM_FIELDS} fields") from None
    payloads = form.get("payload", [])
    if len(payloads) != 1:
        raise BadWebhook("Slack interactivity form without exactly one payload field")
    return _json_object(payloads[0].encode("utf-8", "surrogatepass"))


def _interaction(payload: dict[str, Any], secrets: Secrets, now: datetime) -> WebhookReply:
    kind = payload.get("type")
    if kind != "block_actions":  # view_submission, shortcut, message_action...: nothing we offer
        return WebhookReply(skipped=[f"slack interaction type {_label(kind)} is not handled"])
    try:
        return WebhookReply(messages=[_pressed(payload, {secrets("SLACK_BOT_USER_ID") or ""} - {""}, now)])
    except _NotAMessage as reason:
        return WebhookReply(skipped=[str(reason)])
    except FieldTooLong as error:  # one press per request: refuse it, and Slack retries nothing
        raise BadWebhook(f"slack button press cannot be stored: {error}", headers=NO_RETRY) from None


def _pressed(payload: dict[str, Any], own_bot_users: set[str], now: datetime) -> InboundMessage:
    """A press on one of our buttons: the presser's message in the channel and thread the buttons were in."""
    action = _dict(next(iter(_list(payload.get("actions"))), None))
    choice = _str(action.get("value"))
    if choice not in bot.CHOICES:  # a button we did not send, or another element (select, overflow...)
        raise _NotAMessage(f"slack block action value {_label(action.get('value'))[:40]} is not one of our choices")
    user, team_of = _dict(payload.get("user")), _dict(payload.get("team"))
    container, message = _dict(payload.get("container")), _dict(payload.get("message"))
    user_id, action_ts = _str(user.get("id")), _str(action.get("action_ts"))
    team = _str(team_of.get("id")) or _str(user.get("team_id"))
    channel = _str(_dict(payload.get("channel")).get("id")) or _str(container.get("channel_id"))
    thread = (_str(container.get("thread_ts")) or _str(message.get("thread_ts")) or _str(message.get("ts"))
              or _str(container.get("message_ts")))
    if not (user_id and team and channel and thread and action_ts):
        raise _NotAMessage("slack block action without user, team, channel, message or action_ts")
    if user_id in own_bot_users:
        raise _NotAMessage("slack block action by our own bot user")
    # Slack Connect: a guest from another workspace carries its own team, as a typed message's user_team does.
    user_team = _str(user.get("team_id")) or team
    text = _str(_dict(action.get("text")).get("text"))[:_MAX_BUTTON_TEXT] or bot.CHOICE_LABELS["en"][choice]
    return InboundMessage(
        channel="slack",
        # One per press (a user cannot press twice in the same microsecond), the same on any re-delivery.
        external_id=f"action:{team}:{user_id}:{action_ts}",
        received_at=_from_epoch(action_ts, now),
        sender=Identity("slack", f"{user_team}:{user_id}"),
        # No sender_name: the payload names the user by handle only, which would replace the display name a
        # typed message gave the customer.
        subject=_subject(text),
        text=text,
        reply_text=text,
        conversation_key=f"slack:{team}:{channel}",
        reply_route={"provider": "slack", "team": team, "channel": channel, "thread_ts": thread},
        choice=choice,
    )


def _file_ref(file: dict[str, Any]) -> dict[str, str]:
    # Slack Connect files can arrive as {"file_access": "check_file_info"} without URLs:
    # the id is then the reference, to look up with files.info.
    content_type = _str(file.get("mimetype"))
    return {
        "kind": _kind(content_type),
        "ref": _str(file.get("url_private")) or _str(file.get("url_private_download")) or _str(file.get("id")),
        "content_type": content_type,
        "filename": _str(file.get("name")),
    }


def _display_name(event: dict[str, Any]) -> str:
    profile = _dict(event.get("user_profile"))  # present on many user messages, not all
    for key in ("display_name", "real_name", "name"):
        if _str(profile.get(key)):
            return _str(profile.get(key))
    return ""


def _unescape(text: str) -> str:
    # Slack escapes only &, < and > in message text (https://api.slack.com/reference/surfaces/formatting#escaping);
    # &amp; last, so "&amp;lt;" (a literal "&lt;" typed by the user) stays "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0].lower()
    return major if major in ("image", "audio", "video") else "file"


def _from_epoch(value: Any, now: datetime) -> datetime:
    """A Slack time ("1670631527.874149" or 1670631527) as UTC; ``now`` when absent or absurd."""
    try:
        seconds = float(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        if seconds is not None:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    return now.astimezone(timezone.utc)


