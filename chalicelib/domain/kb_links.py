"""Tracked knowledge-base links: a signed token naming (ticket, article), and when a ticket counts as deflected.

An acknowledgement (or the bot) links a suggested article through ``/kb/go/<token>``
instead of the portal directly, so the desk learns which ticket's customer read which
article. The token is ``k1.`` followed by the unpadded base64url of::

    issued at (5 bytes, big-endian epoch seconds) | len(ticket id) (1 byte) | ticket id | article id | MAC

where the MAC is HMAC-SHA256 over a fixed context string and everything before it,
truncated to 128 bits (RFC 2104 §5). The context keeps a MAC made with the same key for
another purpose (survey links, reply addresses) from ever being a link token. A ticket id
of 22 characters and an article id of 19 (``reset-your-password``) make an 87-character
token. The token is opaque
(base64, not readable words) but not secret from its holder: it reveals nothing they
were not mailed.

``verify`` accepts only the canonical encoding (see ``survey_tokens``: unused bits in
the last base64 character would otherwise let a changed character decode to the same
token), so every single-character change of a valid token is refused. There is no
expiry beyond ``max_age``, which the caller sets (a year): a link in an old mail keeps
working for as long as anyone may reasonably read it.

Deflection (``may_deflect``, ``silent_due``): a ticket is deflected when self-service
answered it — the customer confirmed a suggested article solved their problem
("confirmed"), or opened one and then neither wrote again nor got a reply from the team
for ``window`` ("silent"). Only while the ticket still waits for the team's first human
answer: one an agent has answered was handled by the team, whatever else the customer read.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from chalicelib.domain.kb import SLUG
from chalicelib.domain.vocabulary import ACTIVE_STATUSES

__all__ = [
    "BAD_SIGNATURE",
    "CONFIRMED",
    "EXPIRED",
    "HOW",
    "MALFORMED",
    "SILENT",
    "InvalidLinkToken",
    "LinkClaim",
    "is_article_id",
    "issue",
    "may_deflect",
    "silent_due",
    "verify",
]

MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
EXPIRED = "expired"

CONFIRMED = "confirmed"  # the customer said the article solved it (portal button, bot's "yes")
SILENT = "silent"  # the customer opened an article, then the window passed without a word either way
HOW = (CONFIRMED, SILENT)

_PREFIX = "k1."
_CONTEXT = b"relay-desk kb link k1\x00"
_MAC_BYTES = 16
_ISSUED_BYTES = 5
_MAX_TICKET_BYTES = 255  # its length is one byte
_MIN_SECRET_BYTES = 16
_MIN_RAW = _ISSUED_BYTES + 1 + 1 + 1 + _MAC_BYTES  # a ticket id and an article id of one byte each
_MAX_TOKEN_CHARS = 512  # refuse before decoding: a path can be long
_TOKEN = re.compile(r"k1\.([A-Za-z0-9_-]+)")  # fullmatch: "$" would let a trailing newline through


class InvalidLinkToken(ValueError):
    """The token cannot be used; ``reason`` is one of MALFORMED, BAD_SIGNATURE, EXPIRED."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"knowledge-base link refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: the ticket whose customer was shown the article, and when it was issued."""

    ticket_id: str
    article_id: str
    issued_at: datetime


def issue(ticket_id: str, article_id: str, *, secret: bytes, now: datetime) -> str:
    """The link token for showing ``article_id`` (a KB slug) to ``ticket_id``'s customer, issued ``now``.

    Raises ``ValueError`` for arguments no token can carry (an empty or overlong ticket id,
    an article id that is not a slug, a weak secret, a naive ``now``).
    """
    _check_secret(secret)
    _require_aware(now)
    if not isinstance(ticket_id, str) or not ticket_id:
        raise ValueError(f"ticket_id must be a non-empty string, got {ticket_id!r}")
    ticket = ticket_id.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    if len(ticket) > _MAX_TICKET_BYTES:
        raise ValueError(f"ticket_id is {len(ticket)} bytes in UTF-8; a token carries at most {_MAX_TICKET_BYTES}")
    if not is_article_id(article_id):
        raise ValueError(f"article_id must be a knowledge-base slug, got {article_id!r}")
    issued = math.floor(now.timestamp())
    if not 0 <= issued < 2 ** (8 * _ISSUED_BYTES):
        raise ValueError(f"{now} is outside what a token can carry")
    payload = issued.to_bytes(_ISSUED_BYTES, "big") + bytes([len(ticket)]) + ticket + article_id.encode("ascii")
    return _PREFIX + _encode(payload + _mac(secret, payload))


def verify(token: object, *, secret: bytes, now: datetime, max_age: timedelta) -> LinkClaim:
    """The claim of a token we issued no longer than ``max_age`` ago.

    Raises ``InvalidLinkToken`` and nothing else for any value the caller passes:
    ``malformed`` (not a token of ours at all), ``bad_signature`` (altered, or signed with
    another secret), ``expired`` — in that order, so a forged token never learns its age.
    The signature is compared in constant time.
    """
    _check_secret(secret)
    _require_aware(now)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise InvalidLinkToken(MALFORMED)
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidLinkToken(MALFORMED)
    body = match[1]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidLinkToken(MALFORMED) from None
    if len(raw) < _MIN_RAW or _encode(raw) != body:  # non-canonical: unused bits set in the last character
        raise InvalidLinkToken(MALFORMED)
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidLinkToken(BAD_SIGNATURE)
    issued = int.from_bytes(payload[:_ISSUED_BYTES], "big")
    length = payload[_ISSUED_BYTES]
    ticket = payload[_ISSUED_BYTES + 1 : _ISSUED_BYTES + 1 + length]
    article = payload[_ISSUED_BYTES + 1 + length :]
    try:
        claim = LinkClaim(ticket.decode("utf-8"), article.decode("ascii"), datetime.fromtimestamp(issued, timezone.utc))
    except (UnicodeDecodeError, OverflowError, OSError, ValueError):
        raise InvalidLinkToken(MALFORMED) from None
    if not length or len(ticket) != length or not is_article_id(claim.article_id):
        raise InvalidLinkToken(MALFORMED)  # only reachable if the key signed something else
    if now - claim.issued_at > max_age:
        raise InvalidLinkToken(EXPIRED)
    return claim


def is_article_id(value: object) -> bool:
    """A knowledge-base article's id (its slug), exactly: ``SLUG`` alone would let a trailing newline through."""
    return isinstance(value, str) and SLUG.match(value) is not None and not value.endswith("\n")


# --------------------------------------------------------------------------- deflection


def may_deflect(*, status: str, merged_into: str | None, deflected: bool, agent_replied: bool) -> bool:
    """Whether self-service can still be credited with this ticket: it is active (open, pending, on hold),
    not merged away, not deflected already, and no person of the team has answered it."""
    return status in ACTIVE_STATUSES and not merged_into and not deflected and not agent_replied


def silent_due(*, opened_at: datetime | None, window: timedelta, last_customer_message_at: datetime | None,
               last_agent_reply_at: datetime | None, status: str, merged_into: str | None,
               deflected: bool) -> datetime | None:
    """When the ticket counts as silently deflected, or None if it cannot (any more).

    ``opened_at``: the first time its customer opened a suggested article. The window
    starts there; a message from the customer or an agent's reply after it (or an agent's
    reply at all: ``may_deflect``) ends the chance. ``window`` of zero turns it off. The
    due time may be in the past: the sweep settles it on its next run.
    """
    if opened_at is None or window <= timedelta(0):
        return None
    if not may_deflect(status=status, merged_into=merged_into, deflected=deflected,
                       agent_replied=last_agent_reply_at is not None):
        return None
    if last_customer_message_at is not None and last_customer_message_at > opened_at:
        return None
    return opened_at + window


# --------------------------------------------------------------------------- helpers


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"the link secret must be at least {_MIN_SECRET_BYTES} bytes (use random bytes)")


def _require_aware(now: datetime) -> None:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
