"""Chat media (images, voice notes, files): fetch what the platform lets us fetch, into S3.

Runs behind the queue, never in the webhook. Each platform hides content
behind its own API (WhatsApp and Telegram resolve a media id to a URL first).
When a fetch fails the message keeps the reference, so nothing is lost and an
agent can still see that a photo was sent.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from chalicelib import secrets
from chalicelib.domain.messages import AttachmentRef, InboundMessage
from chalicelib.observability import logger

MAX_MEDIA_BYTES = 25 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _get(url: str, platform: str, **kwargs) -> bytes:
    from chalicelib.outbound.http import request

    result = request("GET", url, platform=platform, raw=True, attempts=1, **kwargs)  # keep the ref rather than wait
    return result.body


def _whatsapp(ref: str) -> bytes:
    token = secrets.get("WHATSAPP_ACCESS_TOKEN")
    if not token:
        raise LookupError("WHATSAPP_ACCESS_TOKEN is not configured")
    from chalicelib.outbound.http import request

    version = secrets.get("META_GRAPH_VERSION") or "v21.0"
    headers = {"Authorization": f"Bearer {token}"}
    meta = request("GET", f"https://graph.facebook.com/{version}/{ref}", platform="whatsapp", headers=headers).body
    return _get(meta["url"], "whatsapp", headers=headers)


def _telegram(ref: str) -> bytes:
    token = secrets.get("TELEGRAM_BOT_TOKEN")
    if not token:
        raise LookupError("TELEGRAM_BOT_TOKEN is not configured")
    from chalicelib.outbound.http import request

    found = request("GET", f"https://api.telegram.org/bot{token}/getFile", platform="telegram",
                    params={"file_id": ref}).body
    return _get(f"https://api.telegram.org/file/bot{token}/{found['result']['file_path']}", "telegram")


def _twilio(ref: str) -> bytes:
    account, token = secrets.get("TWILIO_ACCOUNT_SID"), secrets.get("TWILIO_AUTH_TOKEN")
    return _get(ref, "twilio", auth=(account, token) if account and token else None)


def _slack(ref: str) -> bytes:
    token = secrets.get("SLACK_BOT_TOKEN")
    if not token:
        raise LookupError("SLACK_BOT_TOKEN is not configured")
    return _get(ref, "slack", headers={"Authorization": f"Bearer {token}"})


def _public_url(ref: str) -> bytes:
    if not ref.startswith("https://"):
        raise LookupError("not a fetchable URL")
    return _get(ref, "messenger")


FETCHERS: dict[str, Callable[[str], bytes]] = {
    "whatsapp": _whatsapp,
    "telegram": _telegram,
    "sms": _twilio,
    "slack": _slack,
    "messenger": _public_url,
}


def store_media(message: InboundMessage) -> None:
    """Turn ``message.media`` references into attachments, content in S3 where it could be fetched."""
    from chalicelib.storage import blobs

    fetch = FETCHERS.get(message.channel)
    if message.reply_route.get("provider") == "twilio":
        fetch = _twilio
    digest = hashlib.sha256(message.dedup_key.encode()).hexdigest()[:24]
    for index, item in enumerate(message.media, start=1):
        ref = item.get("ref", "")
        filename = _UNSAFE.sub("_", item.get("filename") or f"{item.get('kind', 'file')}-{index}")[:150]
        content_type = item.get("content_type") or "application/octet-stream"
        s3_key, size = "", 0
        try:
            if fetch is None:
                raise LookupError(f"{message.channel} media cannot be fetched")
            content = fetch(ref)
            if len(content) > MAX_MEDIA_BYTES:
                raise LookupError(f"media larger than {MAX_MEDIA_BYTES} bytes")
            s3_key = blobs.put(f"attachments/{digest}/{index}-{filename}", content, content_type)
            size = len(content)
        except Exception as err:  # keep the reference; the message must not be lost for a photo
            logger.warning("media kept as reference only", extra={"channel": message.channel, "reason": repr(err)})
        message.attachments.append(AttachmentRef(filename, content_type, size, s3_key, ref))
    message.media = []
