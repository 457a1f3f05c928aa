"""The header section: unfolded raw fields, decoded values, message ids, Return-Path and Date.

Header values are written by the sender: 8-bit bytes in any charset, broken
encoded words, thousands of fields. Everything here keeps the mail and notes a
defect instead of raising; address headers are read by ``addresses``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email import errors as email_errors
from email.headerregistry import UnstructuredHeader
from email.message import Message
from email.utils import parsedate_to_datetime

from chalicelib.channels.email.charsets import with_whatwg_charsets
from chalicelib.channels.email.text import describe, first, repair_surrogates, shorten, unique
from chalicelib.domain import mail_policies

__all__ = [
    "HEADER_FACTORY",
    "STRICT_HEADER_BUDGET",
    "decode_unstructured",
    "decoded_headers",
    "header_date",
    "header_values",
    "message_ids",
    "return_path",
    "unfolded_headers",
]

# The stdlib's header value parsers are quadratic on hostile input: 8,000 double quotes
# in a To header take 1.5 s, 32 KB would take 25 s. Real headers stay far below these
# limits; longer ones are read leniently by our own linear code.
_MAX_STRICT_HEADER = 4_096  # unstructured headers with encoded words (Subject)
STRICT_HEADER_BUDGET = 16_384  # characters per message handed to the stdlib value parsers
#: Header fields per header section. Outlook 365 mail carries about 100 (Received,
#: ARC, DKIM, X-MS-*); Postfix refuses mail with more than 50 Received hops.
_MAX_HEADER_FIELDS = 1_000
#: Characters per unfolded header field; Postfix's header_size_limit is 100 KiB.
_MAX_HEADER_CHARS = 65_536

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
#: policy.default's structured header parsers (dates, address lists), called on unfolded values;
#: each header class built once per process (``mail_policies``).
HEADER_FACTORY = mail_policies.HEADER_FACTORY


def unfolded_headers(message: Message, defects: list[str] | None = None) -> list[tuple[str, str]]:
    """(lowercased name, unfolded raw value) pairs; 8-bit bytes are still surrogate escapes.

    At most ``_MAX_HEADER_FIELDS`` fields of at most ``_MAX_HEADER_CHARS`` each, so
    no regex or header parser after this sees more.
    """
    notes = [] if defects is None else defects
    items = message.raw_items()
    pairs = []
    for index, (name, value) in enumerate(items):
        if index == _MAX_HEADER_FIELDS:
            notes.append(f"more than {_MAX_HEADER_FIELDS:,} header fields; the rest were ignored")
            break
        value = str(value)
        if len(value) > _MAX_HEADER_CHARS:
            notes.append(f"{name.strip().title()} header longer than {_MAX_HEADER_CHARS:,} characters; cut")
            value = value[:_MAX_HEADER_CHARS]
        # RFC 5322 §2.2.3: unfolding removes the CRLF that precedes whitespace.
        if "\n" in value or "\r" in value:  # the pattern has no literal prefix: skip it when it cannot match
            value = _FOLD.sub("", value)
        value = value.strip()
        pairs.append((name.strip().lower()[:200], value))
    return pairs


def header_values(raw_headers: list[tuple[str, str]], name: str) -> list[str]:
    """Every raw value of the (lowercased) header ``name``, in order: many headers may repeat."""
    return [value for key, value in raw_headers if key == name]


def decoded_headers(raw_headers: list[tuple[str, str]], defects: list[str]) -> dict[str, list[str]]:
    """Every header decoded for people and rules to read, within one strict-parsing budget per message."""
    decoded: dict[str, list[str]] = {}
    budget = STRICT_HEADER_BUDGET  # a thousand huge Subject headers must not cost minutes
    for name, value in raw_headers:
        decoded.setdefault(name, []).append(decode_unstructured(name.title(), value, defects, budget > 0))
        if "=?" in value:
            budget -= len(value)
    return decoded


def decode_unstructured(name: str, value: str, defects: list[str], strict: bool = True) -> str:
    """Decode RFC 2047 encoded words and raw 8-bit bytes (RFC 6532) in a header value.

    ``str(msg[name])`` would already decode, but it turns bytes an unknown or
    wrong charset cannot decode into U+FFFD. The value parser keeps them as
    surrogate escapes, so our own fallback can still read them as UTF-8 or Latin-1.
    """
    if "=?" not in value:
        return repair_surrogates(value, f"{name} header", defects)  # no encoded words to decode
    if len(value) > _MAX_STRICT_HEADER or not strict:
        defects.append(f"{name} header: too much header text to decode; encoded words left as written")
        return repair_surrogates(value, f"{name} header", defects)
    try:
        parse_tree = UnstructuredHeader.value_parser(with_whatwg_charsets(value))
    except Exception:  # the header parser is not meant to raise; never lose the mail if it does
        defects.append(f"{name} header could not be parsed; kept as written")
        return repair_surrogates(value, f"{name} header", defects)
    defects.extend(
        f"{name} header: {describe(defect)}"
        for defect in parse_tree.all_defects
        if isinstance(defect, email_errors.CharsetError)
    )
    return repair_surrogates(str(parse_tree), f"{name} header", defects)


_MSG_ID = re.compile(r"<([^<>]*)>")


def message_ids(values: list[str], *, require_at: bool = True) -> list[str]:
    """Ids from Message-ID / In-Reply-To / References, without brackets, in order.

    RFC 5322 §3.6.4: msg-id is "<" id-left "@" id-right ">". Old clients put
    phrases around it ("your message of ...") or drop the brackets; take the
    bracketed ids when there are any, else bare tokens that look like ids.
    """
    ids: list[str] = []
    for value in values:
        # Python's own generator (and mailers built on it) folds an id longer than a line into
        # RFC 2047 encoded words; SES's ids are that long. Decoded, bounded like any header.
        value = decode_unstructured("message id", value, []) if "=?" in value else \
            repair_surrogates(value, "message id", [])
        bracketed = ["".join(found.split()) for found in _MSG_ID.findall(value)]
        if any(bracketed):
            ids.extend(found for found in bracketed if found)
        else:
            ids.extend(token for token in value.strip("<> \t").split() if not require_at or "@" in token)
    return unique(ids)


def return_path(headers: Mapping[str, list[str]]) -> str | None:
    """The topmost Return-Path (RFC 5321 §4.4), brackets removed; "" for the null path <>."""
    value = first(headers.get("return-path", []))
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def header_date(raw_headers: list[tuple[str, str]], defects: list[str]) -> datetime | None:
    """The Date header as an aware datetime, or None (with a defect) when it is not a date."""
    value = first(header_values(raw_headers, "date"))
    if not value:
        return None
    try:
        # What policy.default's Date header reads (``DateHeader.parse``), without building the header.
        parsed = parsedate_to_datetime(repair_surrogates(value, "Date header", defects))
    except Exception:  # date parsing raises a zoo of types on hostile input
        parsed = None
    if parsed is None:
        defects.append(f"Date header is not a valid date: {shorten(value)}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 §3.3: "-0000" means the time is UTC but the zone is unknown.
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed
