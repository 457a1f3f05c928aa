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
from chalicelib.domain.survey_texts import WORDING as _SURVEY_WORDING

__all__ = ["LOOK_BACK", "STATUS_WORDING", "BadCursor", "Cursor", "DeskAvailability", "Transcript", "availability",
           "expected_reply", "read_cursor", "transcript", "visible_as"]

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
    if message.direction == "outbound" and message.kind in ("acknowledgement", "automated", "bot"):
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
        # The bot's "did this solve it?" buttons: the widget shows them until one is pressed or the visitor writes.
        "choices": [{"value": c["value"], "label": c["label"]} for c in (getattr(message, "choices", None) or [])],
    }


# --------------------------------------------------------------------------- is anyone there?


#: The widget's status wording per language (``vocabulary.LANGUAGES``; month names are the surveys').
#: ``here``/``away``/``waiting``: the whole status line, around ``{when}`` (an ``expected_reply`` or a time).
STATUS_WORDING: dict[str, dict[str, Any]] = {
    "en": {"shortly": "shortly", "minutes": "within {n} minutes", "hour": "within an hour",
           "hours": "within {n} hours", "day": "within a day", "days": "within {n} days",
           "no_agent": "as soon as an agent is available", "today": "today", "tomorrow": "tomorrow",
           "weekdays": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
           "date": "on {day} {month}", "from": "{day} from {time}",
           "here": "We're here. We usually reply {when}.",
           "away": "We're away right now — back {when}. Leave a message and we'll answer here.",
           "waiting": "Leave a message; we'll answer here {when}."},
    "da": {"shortly": "om lidt", "minutes": "inden for {n} minutter", "hour": "inden for en time",
           "hours": "inden for {n} timer", "day": "inden for en dag", "days": "inden for {n} dage",
           "no_agent": "så snart en medarbejder er ledig", "today": "i dag", "tomorrow": "i morgen",
           "weekdays": ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
           "date": "den {day}. {month}", "from": "{day} fra kl. {time}",
           "here": "Vi er her. Vi svarer som regel {when}.",
           "away": "Vi er her ikke lige nu — vi er tilbage {when}. Skriv en besked, så svarer vi dig her.",
           "waiting": "Skriv en besked, så svarer vi dig her {when}."},
    "no": {"shortly": "om kort tid", "minutes": "innen {n} minutter", "hour": "innen en time",
           "hours": "innen {n} timer", "day": "innen en dag", "days": "innen {n} dager",
           "no_agent": "så snart en medarbeider er ledig", "today": "i dag", "tomorrow": "i morgen",
           "weekdays": ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"),
           "date": "{day}. {month}", "from": "{day} fra kl. {time}",
           "here": "Vi er her. Vi svarer vanligvis {when}.",
           "away": "Vi er ikke til stede akkurat nå — tilbake {when}. Legg igjen en melding, så svarer vi "
                   "deg her.",
           "waiting": "Legg igjen en melding, så svarer vi deg her {when}."},
}


@dataclass(frozen=True)
class DeskAvailability:
    humans_available: bool
    next_human_at: datetime | None  # when the desk opens next (None: open now, or open with nobody on duty)
    expected_reply: str  # the promise in words ("within 30 minutes", "Monday from 08:00 CET")
    language: str = "en"  # of both texts (``language.for_customer`` chose it)
    message: str = ""  # the widget's whole status line, the promise in it

    def as_dict(self) -> dict[str, Any]:
        at = self.next_human_at
        return {"humans_available": self.humans_available,
                "next_human_at": at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if at else None,
                "expected_reply": self.expected_reply, "language": self.language, "message": self.message}


def availability(now: datetime, schedule: Schedule, *, agents_on_duty: int,
                 first_response_minutes: int | None, language: str = "en") -> DeskAvailability:
    """Whether a person can answer now, and if not when, from the chat SLA's schedule and who is on duty.

    Honest on purpose: "within 30 minutes" only while the desk is open *and* an agent can take the
    chat; outside the schedule the time the desk opens; open but nobody on duty, no promise.
    Worded in ``language`` (one of ``STATUS_WORDING``; another is English) as a whole sentence:
    a widget that glued its own English around a Danish promise would read as neither.
    """
    words = _wording(language)
    opens = next_open(now, schedule)
    if opens > now:
        zone = ZoneInfo(schedule.timezone)
        when = _from(opens.astimezone(zone), now.astimezone(zone), language)
        return DeskAvailability(False, opens, when, language, words["away"].format(when=when))
    if agents_on_duty <= 0:
        return DeskAvailability(False, None, words["no_agent"], language,
                                words["waiting"].format(when=words["no_agent"]))
    when = expected_reply(first_response_minutes, language)
    return DeskAvailability(True, None, when, language, words["here"].format(when=when))


def expected_reply(minutes: int | None, language: str = "en") -> str:
    """The first-response promise in words: "within 30 minutes", "within 2 hours", "within a day"."""
    words = _wording(language)
    if not minutes:
        return words["shortly"]
    if minutes < 60:
        return words["minutes"].format(n=minutes)
    hours = round(minutes / 60)
    if minutes < 24 * 60:
        return words["hour"] if hours == 1 else words["hours"].format(n=hours)
    days = round(minutes / (24 * 60))
    return words["day"] if days == 1 else words["days"].format(n=days)


def _wording(language: str) -> dict[str, Any]:
    return STATUS_WORDING.get(language, STATUS_WORDING["en"])


def _from(opens: datetime, local_now: datetime, language: str = "en") -> str:
    """"today from 08:00 CET", "tomorrow from 08:00 CET", "Monday from 08:00 CET", "on 2 January from 08:00 CET"
    (both instants in the desk's time zone); day and month names from our tables, never the process's locale."""
    words = _wording(language)
    days = (opens.date() - local_now.date()).days
    if days == 0:
        day = words["today"]
    elif days == 1:
        day = words["tomorrow"]
    elif days < 7:
        day = words["weekdays"][opens.weekday()]
    else:
        months = _SURVEY_WORDING[language if language in _SURVEY_WORDING else "en"]["months"]
        day = words["date"].format(day=opens.day, month=months[opens.month - 1])
    zone = opens.strftime("%Z")
    return words["from"].format(day=day, time=opens.strftime("%H:%M")) + (f" {zone}" if zone else "")
