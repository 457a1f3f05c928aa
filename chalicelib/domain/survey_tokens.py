"""Satisfaction surveys: signed, expiring links and the strict check of what a customer submits.

A survey link carries a token instead of a bare ticket id, so nobody can rate a ticket
that is not theirs by editing a URL, and an old link stops working. The token is
``s1.`` followed by the unpadded base64url of::

    expiry (5 bytes, big-endian epoch seconds) | len(ticket id) (1 byte) | ticket id | nonce | MAC

where the MAC is HMAC-SHA256 over a fixed context string and everything before it,
truncated to 128 bits (enough against forgery: a guess succeeds with probability 2⁻¹²⁸;
RFC 2104 §5 allows truncation to half the hash length). The context string keeps a MAC
made with the same secret for another purpose (reply addresses) from being a survey
token. A ticket id of 22 characters and a 16-character nonce make a 83-character token.

``verify`` accepts only the canonical encoding: base64url leaves 2 or 4 unused bits in
the last character, and decoders ignore them, so without that rule a changed last
character could decode to the same token. With it, every single-character change of a
valid token (substitution, insertion or deletion) is refused.

Reuse is **not** detected here: a token verifies until it expires, however often it is
presented. The caller records the claim's nonce with a conditional write (attribute
must not exist) when it stores the response, and treats a failed condition as "already
answered".
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "BAD_SIGNATURE",
    "COMMENT_MAX_CHARS",
    "EXPIRED",
    "MALFORMED",
    "WRONG_TICKET",
    "InvalidSurveyResponse",
    "InvalidSurveyToken",
    "SurveyClaim",
    "SurveyResponse",
    "issue",
    "validate_response",
    "verify",
]

MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
EXPIRED = "expired"
WRONG_TICKET = "wrong_ticket"

_PREFIX = "s1."
_CONTEXT = b"relay-desk survey token s1\x00"
_MAC_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
_EXPIRY_BYTES = 5  # epoch seconds up to the year 36812
_MAX_TICKET_BYTES = 255  # its length is one byte
_MAX_NONCE_BYTES = 64
_MIN_SECRET_BYTES = 16
_MIN_RAW = _EXPIRY_BYTES + 1 + 1 + 1 + _MAC_BYTES  # a ticket id and a nonce of one byte each
_MAX_TOKEN_CHARS = 512  # refuse before decoding: a query string can be megabytes
_TOKEN = re.compile(r"s1\.([A-Za-z0-9_-]+)")  # used with fullmatch: "$" would let a trailing newline through

COMMENT_MAX_CHARS = 2000
_SCORES = {"rating": (1, 5), "nps": (0, 10), "ces": (1, 7)}  # CSAT 1–5, NPS 0–10, customer effort 1–7
_FIELDS = ("rating", "comment", "nps", "ces")


class InvalidSurveyToken(ValueError):
    """The token cannot be used; ``reason`` is one of MALFORMED, BAD_SIGNATURE, EXPIRED, WRONG_TICKET."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"survey token refused: {reason}")
        self.reason = reason


class InvalidSurveyResponse(ValueError):
    """The submitted survey is not acceptable; ``reason`` says why in words a form can show."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class SurveyClaim:
    """What a valid token says: the ticket it rates, its one-time nonce, and when it stops working."""

    ticket_id: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class SurveyResponse:
    """A validated survey answer: CSAT rating 1–5, and optionally a comment, NPS 0–10 and CES 1–7."""

    rating: int
    comment: str | None = None
    nps: int | None = None
    ces: int | None = None


def issue(ticket_id: str, *, secret: bytes, now: datetime, ttl: timedelta, nonce: str) -> str:
    """A survey token for ``ticket_id`` valid from ``now`` for ``ttl`` (to the whole second, at least 1 s).

    ``nonce`` should be random (``secrets.token_urlsafe(12)``): it is what the caller
    records to refuse a second answer. Raises ``ValueError`` for arguments no token can
    carry (empty or overlong ids and nonces, a weak secret, a naive ``now``).
    """
    _check_secret(secret)
    _require_aware(now)
    if ttl < timedelta(seconds=1):
        raise ValueError(f"ttl must be at least one second, got {ttl}")
    ticket = _text_bytes("ticket_id", ticket_id, _MAX_TICKET_BYTES)
    nonce_bytes = _text_bytes("nonce", nonce, _MAX_NONCE_BYTES)
    expiry = math.floor((now + ttl).timestamp())
    if not 0 <= expiry < 2 ** (8 * _EXPIRY_BYTES):
        raise ValueError(f"expiry {now + ttl} is outside what a token can carry")
    payload = expiry.to_bytes(_EXPIRY_BYTES, "big") + bytes([len(ticket)]) + ticket + nonce_bytes
    return _PREFIX + _encode(payload + _mac(secret, payload))


def verify(token: str, *, secret: bytes, now: datetime, ticket_id: str | None = None) -> SurveyClaim:
    """The claim of a token we issued that has not expired (and is for ``ticket_id``, when given).

    Raises ``InvalidSurveyToken`` and nothing else for any string (or None) the caller
    passes: ``malformed`` (not a token of ours at all), ``bad_signature`` (altered, or
    signed with another secret), ``wrong_ticket``, ``expired`` — checked in that order,
    so a forged token never learns whether it expired. The signature is compared in
    constant time. Does not detect reuse: see the module docstring.
    """
    _check_secret(secret)
    _require_aware(now)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise InvalidSurveyToken(MALFORMED)
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidSurveyToken(MALFORMED)
    body = match[1]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSurveyToken(MALFORMED) from None
    if _encode(raw) != body or len(raw) < _MIN_RAW:  # non-canonical: unused bits set in the last character
        raise InvalidSurveyToken(MALFORMED)
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidSurveyToken(BAD_SIGNATURE)
    expiry = int.from_bytes(payload[:_EXPIRY_BYTES], "big")
    ticket_length = payload[_EXPIRY_BYTES]
    ticket_bytes = payload[_EXPIRY_BYTES + 1 : _EXPIRY_BYTES + 1 + ticket_length]
    nonce_bytes = payload[_EXPIRY_BYTES + 1 + ticket_length :]
    if not ticket_length or len(ticket_bytes) != ticket_length or not nonce_bytes:
        raise InvalidSurveyToken(MALFORMED)  # only reachable if the secret signed something else
    try:
        claim = SurveyClaim(
            ticket_id=ticket_bytes.decode("utf-8"),
            nonce=nonce_bytes.decode("utf-8"),
            expires_at=datetime.fromtimestamp(expiry, timezone.utc),
        )
    except (UnicodeDecodeError, OverflowError, OSError, ValueError):
        raise InvalidSurveyToken(MALFORMED) from None
    if ticket_id is not None and claim.ticket_id != ticket_id:
        raise InvalidSurveyToken(WRONG_TICKET)
    if now >= claim.expires_at:
        raise InvalidSurveyToken(EXPIRED)
    return claim


def validate_response(payload: Mapping[str, Any]) -> SurveyResponse:
    """The survey answer in ``payload`` (a parsed JSON body), or ``InvalidSurveyResponse`` saying what is wrong.

    Strict on purpose, the form is ours: unknown fields are refused (a typo like
    ``"raiting"`` must not become a response without a rating), and scores must be JSON
    integers — not ``true`` (Python's bool is an int), not ``4.5``, not ``"4"``. Optional
    fields may be absent or null; a comment is trimmed and an empty one counts as none.
    """
    if not isinstance(payload, Mapping):
        raise InvalidSurveyResponse("the survey response must be a JSON object")
    unknown = sorted(repr(key) if not isinstance(key, str) else key for key in payload if key not in _FIELDS)
    if unknown:
        raise InvalidSurveyResponse(
            f"unknown field(s) {', '.join(unknown)}: a response has only {', '.join(_FIELDS)}", field=unknown[0]
        )
    if payload.get("rating") is None:
        raise InvalidSurveyResponse("rating is required (a whole number from 1 to 5)", field="rating")
    scores = {name: _score(name, payload.get(name)) for name in _SCORES}
    return SurveyResponse(
        rating=scores["rating"], comment=_comment(payload.get("comment")), nps=scores["nps"], ces=scores["ces"]
    )


def _score(name: str, value: Any) -> int | None:
    if value is None:
        return None
    low, high = _SCORES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSurveyResponse(f"{name} must be a whole number from {low} to {high}, got {value!r}", field=name)
    return int(value)


def _comment(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSurveyResponse(f"comment must be text, got {type(value).__name__}", field="comment")
    text = value.strip()
    if len(text) > COMMENT_MAX_CHARS:
        raise InvalidSurveyResponse(
            f"comment is {len(text)} characters; the most we keep is {COMMENT_MAX_CHARS}", field="comment"
        )
    return text or None


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _text_bytes(name: str, value: str, limit: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    encoded = value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    if len(encoded) > limit:
        raise ValueError(f"{name} is {len(encoded)} bytes in UTF-8; a token carries at most {limit}")
    return encoded


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(f"the survey secret must be at least {_MIN_SECRET_BYTES} bytes (use random bytes)")


def _require_aware(now: datetime) -> None:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
