"""What a web-chat visitor sees: their conversation as a transcript, a resumable cursor, the desk's hours.

Plain Python over stored messages (any object with the message item's attribute
names): no AWS, no configuration. ``service/visitor_chat.py`` reads, this decides.

**Who sees what.** The visitor sees their own chat messages, the agents' replies on
the chat and the desk's chat acknowledgements — never internal notes, messages of
other channels (an email the agent sent elsewhere), other sessions' messages, nor
an agent's id or address: only the name the agent signs with.

**The cursor.** Message sort keys start with the time the message was *stamped*,
which is not the order they are *stored* in: a visitor's message is stamped when the
webhook received it and stored by the pipeline a second or more later, and an agent's
reply stamped meanwhile may be stored first. A cursor that were only "the newest
sort key seen" would skip the late one forever. So the cursor is a watermark plus
the ids seen in the ``LOOK_BACK`` before it; the next read starts ``LOOK_BACK``
before the watermark and drops what was already seen. A message stored more than
``LOOK_BACK`` after its stamp is missed by live polling (a reload shows it).
The cursor is opaque to the widget (base64url JSON) and not signed: a visitor who
edits theirs can only change what they themselves are shown again.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from chalicelib.domain.business_time import Schedule, next_open

__all__ = ["LOOK_BACK", "BadCursor", "Cursor", "DeskAvailability", "Transcript", "availability", "expected_reply",
           "read_cursor", "transcript", "visible_as"]

LOOK_BACK = timedelta(seconds=60)
_MAX_SEEN = 200  # ids a cursor carries (a chat of more than this in a minute is not a person)
_MAX_CURSOR_CHARS = 8_000
Author = Literal["visitor", "agent", "desk"]


class BadCursor(ValueError):
    """The cursor is not one this API gave out."""


@dataclass(frozen=True)
class Cursor:
    watermark: str | None  # the newest sort key shown, None before any message
    seen: frozenset[str]  # ids of shown messages stamped within LOOK_BACK of the watermark

    def floor(self) -> str | None:
        """The sort key the next read starts after: LOOK_BACK before the watermark."""
        if self.watermark is None:
            return None
        stamp = self.watermark.partition("#")[0]
        try:
            moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return self.watermark
        return (moment - LOOK_BACK).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def encode(self) -> str:
        document = {"w": self.watermark, "s": sorted(self.seen)}
        return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode().rstrip("=")


def read_cursor(text: str | None) -> Cursor:
    """The cursor a previous answer gave (``None`` or empty: from the start); ``BadCursor`` otherwise."""
    if not text:
        return Cursor(None, frozenset())
    if len(text) > _MAX_CURSOR_CHARS or not text.isascii():
        raise BadCursor("cursor is not one this API gave out")
    try:
        document = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise BadCursor("cursor is not one this API gave out") from None
    if not isinstance(document, dict) or set(document) != {"w", "s"}:
        raise BadCursor("cursor is not one this API gave out")
    watermark, seen = document["w"], document["s"]
    if not (watermark is None or (isinstance(watermark, str) and 0 < len(watermark) <= 200)) or \
            not isinstance(seen, list) or len(seen) > _MAX_SEEN or \
            not all(isinstance(item, str) and 0 < len(item) <= 80 for item in seen):
        raise BadCursor("cursor is not one this API gave out")
    return Cursor(watermark, frozenset(seen))


def visible_as(message: Any, session_id: str) -> Author | None:
    """Who the visitor of ``session_id`` sees as the author of a stored message, or None to hide it."""
    if message.channel != "webchat":  # notes are "internal"; other channels are other conversations
        return None
    if message.direction == "inbound" and message.kind == "customer":
        return "visitor" if _own_key(message.message_key or "", session_id) is not None else None
    if message.direction == "outbound" and message.kind == "agent":
        return "agent"
    if message.direction == "outbound" and message.kind in ("acknowledgement", "automated"):
        return "desk"
    return None


def _own_key(message_key: str, session_id: str) -> str | None:
    """The widget's own message_id of a visitor's message of this session (``in:webchat:<sid>:<id>``)."""
    prefix = f"in:webchat:{session_id}:"
    return message_key[len(prefix):] if message_key.startswith(prefix) else None


def _message_id(message: Any, session_id: str) -> str:
    own = _own_key(message.message_key or "", session_id)
    if own is not None:
        return own  # the id the widget sent: it recognises its own message
    return "m-" + hashlib.sha256(f"{message.ticket_id}|{message.sk}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Transcript:
    messages: list[dict[str, Any]]
    cursor: Cursor


def transcript(stored: Iterable[Any], session_id: str, cursor: Cursor, *, desk_name: str) -> Transcript:
    """The messages the visitor has not been shown yet, oldest first, and the cursor after them.

    ``stored``: messages of the conversation's tickets read from ``cursor.floor()`` on.
    """
    shown: list[dict[str, Any]] = []
    watermark = cursor.watermark
    visible: list[tuple[str, str]] = []  # (sort key, id) of everything visible read, for the next cursor
    for message in sorted(stored, key=lambda m: (m.sk, m.ticket_id)):
        author = visible_as(message, session_id)
        if author is None:
            continue
        message_id = _message_id(message, session_id)
        visible.append((message.sk, message_id))
        if watermark is None or message.sk > watermark:
            watermark = message.sk
        if message_id not in cursor.seen:
            shown.append(_public(message, author, message_id, desk_name))
    floor = Cursor(watermark, frozenset()).floor() or ""
    keep = sorted(message_id for sk, message_id in visible if sk > floor)[-_MAX_SEEN:]
    return Transcript(shown, Cursor(watermark, frozenset(keep)))


def _public(message: Any, author: Author, message_id: str, desk_name: str) -> dict[str, Any]:
    if author == "agent":
        name = message.sender_name or "Support"
    elif author == "desk":
        name = desk_name
    else:
        name = message.sender_name or ""
    text = message.reply_text if author == "visitor" and message.reply_text else message.text
    return {
        "id": message_id,
        "from": author,
        "author_name": name,
        "text": text or "",
        "at": message.created_at,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": int(a.size)}
                        for a in (message.attachments or [])],
    }


# --------------------------------------------------------------------------- is anyone there?


@dataclass(frozen=True)
class DeskAvailability:
    humans_available: bool
    next_human_at: datetime | None  # when the desk opens next (None: open now, or open with nobody on duty)
    expected_reply: str  # what the widget tells the visitor, in words

    def as_dict(self) -> dict[str, Any]:
        at = self.next_human_at
        return {"humans_available": self.humans_available,
                "next_human_at": at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if at else None,
                "expected_reply": self.expected_reply}


def availability(now: datetime, schedule: Schedule, *, agents_on_duty: int,
                 first_response_minutes: int | None) -> DeskAvailability:
    """Whether a person can answer now, and if not when, from the chat SLA's schedule and who is on duty.

    Honest on purpose: "within 30 minutes" only while the desk is open *and* an agent can take the
    chat; outside the schedule the time the desk opens; open but nobody on duty, no promise.
    """
    opens = next_open(now, schedule)
    if opens > now:
        zone = ZoneInfo(schedule.timezone)
        return DeskAvailability(False, opens, _from(opens.astimezone(zone), now.astimezone(zone)))
    if agents_on_duty <= 0:
        return DeskAvailability(False, None, "as soon as an agent is available")
    return DeskAvailability(True, None, expected_reply(first_response_minutes))


def expected_reply(minutes: int | None) -> str:
    """The first-response promise in words: "within 30 minutes", "within 2 hours", "within a day"."""
    if not minutes:
        return "shortly"
    if minutes < 60:
        return f"within {minutes} minutes"
    hours = round(minutes / 60)
    if minutes < 24 * 60:
        return "within an hour" if hours == 1 else f"within {hours} hours"
    days = round(minutes / (24 * 60))
    return "within a day" if days == 1 else f"within {days} days"


def _from(opens: datetime, local_now: datetime) -> str:
    """"today from 08:00 CET", "tomorrow from 08:00 CET", "Monday from 08:00 CET", "on 2 January from 08:00 CET"
    (both instants in the desk's time zone)."""
    days = (opens.date() - local_now.date()).days
    if days == 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif days < 7:
        day = opens.strftime("%A")
    else:
        day = f"on {opens.day} {opens.strftime('%B')}"
    zone = opens.strftime("%Z")
    return f"{day} from {opens.strftime('%H:%M')}" + (f" {zone}" if zone else "")
