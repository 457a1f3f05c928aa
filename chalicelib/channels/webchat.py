"""The web-chat widget: signed, expiring session tokens instead of platform signatures.

``POST /webchat/sessions`` issues a token (HMAC-SHA256 over the session
claims with ``WEBCHAT_SECRET``); every message carries it.

An email typed into a widget proves nothing: trusting it would let anyone read
along in that customer's tickets. So a visitor becomes the customer behind an
address only when the site vouches for it — ``email_hash`` = hex
HMAC-SHA256(``WEBCHAT_IDENTITY_SECRET``, email), computed by the site's backend
for its logged-in user (the identity-verification scheme chat widgets use).
Otherwise the session is its own identity and the address only a hint.

Anyone can open an anonymous session, and each can open a ticket, so the route
passes ``admit_anonymous``: it counts anonymous sessions per client address and
refuses (429) past the desk's ``webchat_session_limit``. Vouched-for sessions
are not counted: the site's backend answers for its logged-in users, and many
of them may share one office or carrier address.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets as token_source
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import bot
from chalicelib.domain.messages import AttachmentRef, FieldTooLong, Identity, InboundMessage
from chalicelib.channels.payload import json_object as _json_object
from chalicelib.channels.webhook import (
    BadWebhook,
    Secrets,
    Unauthenticated,
    UnsupportedMediaType,
    WebhookReply,
    WebhookRequest,
    require,
)

SESSION_HOURS = 24
MAX_TEXT_CHARS = 4_000
MAX_EMAIL_CHARS = 254  # RFC 5321 §4.5.3.1.3 (a path of 256 octets, brackets included); it becomes an identity key
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _admit_all() -> None:
    return None


def issue_session(body: bytes, secrets: Secrets, now: datetime, *,
                  admit_anonymous: Callable[[], None] = _admit_all) -> dict[str, Any]:
    """A new chat session for a visitor, with an optional name and email.

    ``admit_anonymous`` runs once the request is valid, for sessions nobody vouched for, and raises a
    ``WebhookError`` (e.g. 429) to refuse one; invalid requests are refused before they count.
    """
    secret = require(secrets, "WEBCHAT_SECRET").encode()
    document = _json_object(body or b"{}")
    unknown = set(document) - {"name", "email", "email_hash"}
    if unknown:
        raise BadWebhook(f"unknown field(s): {', '.join(sorted(unknown))}")
    name, email = document.get("name") or "", document.get("email") or ""
    email_hash = document.get("email_hash") or ""
    if not isinstance(name, str) or len(name) > 120:
        raise BadWebhook("name must be a string of at most 120 characters")
    if not isinstance(email, str) or (email and not _EMAIL.match(email)):
        raise BadWebhook("email is not a valid address")
    if len(email) > MAX_EMAIL_CHARS:
        raise BadWebhook(f"email is longer than {MAX_EMAIL_CHARS} characters, the most an address can have")
    if not isinstance(email_hash, str):
        raise BadWebhook("email_hash must be a string")
    verified = bool(email and email_hash) and _email_vouched(email.lower(), email_hash, secrets)
    if email_hash and not verified:
        raise Unauthenticated("email_hash does not match email (or WEBCHAT_IDENTITY_SECRET is not configured)")
    if not verified:
        admit_anonymous()
    expires = now + timedelta(hours=SESSION_HOURS)
    claims = {"sid": "ws-" + token_source.token_hex(10), "name": name, "email": email.lower(),
              "verified": verified, "exp": int(expires.timestamp())}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return {"session_token": f"{payload}.{signature}", "session_id": claims["sid"], "email_verified": verified,
            "expires_at": expires.isoformat()}


def _email_vouched(email: str, email_hash: str, secrets: Secrets) -> bool:
    key = secrets("WEBCHAT_IDENTITY_SECRET")
    if not key or not email_hash.isascii():
        return False
    expected = hmac.new(key.encode(), email.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, email_hash.lower())


def verify_session(token: str, secret: bytes, now: datetime) -> dict[str, Any]:
    if not token or not token.isascii():  # real tokens are base64url
        raise Unauthenticated("session token is missing or forged")
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise Unauthenticated("session token is missing or forged")
    claims = json.loads(_unb64(payload))
    if int(claims["exp"]) < now.timestamp():
        raise Unauthenticated("session token has expired; start a new session")
    return claims


#: Claims the visitor's uploads for a message: (session id, upload ids) → the stored attachments. The route
#: injects it (``service.uploads``: S3 calls); without one, a message naming files is refused.
Claim = Callable[[str, list[str]], list[AttachmentRef]]
MAX_ATTACHMENTS = 10


def _no_files(session_id: str, upload_ids: list[str]) -> list[AttachmentRef]:
    raise BadWebhook("this endpoint takes no attachments")


def handle(request: WebhookRequest, secrets: Secrets, now: datetime, *, claim: Claim = _no_files) -> WebhookReply:
    """A visitor's message; ``attachments`` names uploads (``POST /webchat/sessions/{id}/uploads``), claimed
    last, once everything else about the message is valid. With files, ``text`` may be empty. ``choice``: the
    bot's button the visitor pressed (its label is the ``text``)."""
    secret = require(secrets, "WEBCHAT_SECRET").encode()
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        raise UnsupportedMediaType("web chat messages are application/json")
    document = _json_object(request.body)
    claims = verify_session(str(document.get("session_token") or _bearer(request)), secret, now)
    text, message_id = document.get("text"), document.get("message_id")
    upload_ids = document.get("attachments") or []
    if not isinstance(upload_ids, list) or len(upload_ids) > MAX_ATTACHMENTS or \
            not all(isinstance(item, str) and 0 < len(item) <= 400 for item in upload_ids):
        raise BadWebhook(f"attachments must be a list of at most {MAX_ATTACHMENTS} upload ids")
    if not isinstance(text, str) or not (text.strip() or upload_ids):
        raise BadWebhook("text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise BadWebhook(f"text is longer than {MAX_TEXT_CHARS} characters")
    if not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id):
        raise BadWebhook("message_id must be 8-64 characters of [A-Za-z0-9._:-], unique per message")
    choice = document.get("choice")
    if choice is not None and choice not in bot.CHOICES:  # the bot's buttons (domain/bot.py), and only those
        raise BadWebhook(f"choice must be one of {', '.join(bot.CHOICES)}")
    try:
        message = _message(claims, text, message_id, now)
        message.choice = choice
    except FieldTooLong as error:  # a session issued before MAX_EMAIL_CHARS capped the address
        raise BadWebhook(f"this chat session cannot be stored: {error}; start a new session") from None
    if upload_ids:
        message.attachments = claim(claims["sid"], list(upload_ids))
        if not text.strip():
            message.subject = ("Sent " + ", ".join(a.filename for a in message.attachments))[:80]
    return WebhookReply(status=202, body=json.dumps({"accepted": True, "message_id": message_id}), messages=[message])


def _message(claims: dict[str, Any], text: str, message_id: str, now: datetime) -> InboundMessage:
    session = claims["sid"]
    verified_email = claims.get("email") if claims.get("verified") else None
    sender = Identity("email", verified_email) if verified_email else Identity("webchat", session)
    return InboundMessage(
        channel="webchat",
        external_id=f"{session}:{message_id}",
        received_at=now,
        sender=sender,
        sender_name=claims.get("name") or "",
        subject=(text.strip().splitlines() or [""])[0][:80],
        text=text,
        reply_text=text,
        conversation_key=f"webchat:{session}",
        reply_route={"provider": "webchat", "session": session,
                     **({"claimed_email": claims["email"]} if claims.get("email") and not verified_email else {})},
    )


def _bearer(request: WebhookRequest) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else ""
