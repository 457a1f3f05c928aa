"""Turn the raw bytes SES stored into one ``ParsedEmail`` a ticket can be built from.

Inbound mail is written by the sender, not by us: charsets lie, headers are
broken, base64 is truncated. The standard ``email`` package already copes with
most of that (``policy.default`` records defects instead of raising), so this
module only adds what a help desk needs on top:

* a charset fallback that never raises (declared, then UTF-8 if the bytes are
  mostly UTF-8, else Latin-1), and a readable note in ``defects`` each time;
* one walk over the MIME tree that splits body text from attachments;
* the *new* part of a reply (quoted history and signature removed), so agents
  and triage read what the customer just wrote;
* HTML that is safe to show in the agent UI.

Only :class:`MalformedEmail` leaves this module, and only when there is no
sender to answer (empty input, no header section, no usable From).
"""
from __future__ import annotations

import functools
import html as html_entities
import mimetypes
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import errors as email_errors
from email import policy
from email.generator import BytesGenerator, Generator
from email.headerregistry import UnstructuredHeader
from email.policy import EmailPolicy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from io import BytesIO, StringIO
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from chalicelib.channels.email.exceptions import MailTooLarge, MalformedEmail

__all__ = ["Attachment", "ParsedEmail", "parse_email"]

#: Languages whose "On ... wrote:" headers and sign-offs mailparser_reply knows.
#: It has no Norwegian; Danish covers most of what Norwegian clients write.
REPLY_LANGUAGES = ("en", "da", "de", "sv", "nl", "fr", "es")

_MAX_FILENAME_CHARS = 150
_MAX_NESTING = 64  # deeper MIME trees are hostile, not mail
_MAX_SIGNATURE_CANDIDATES = 20
# The stdlib's header value parsers are quadratic on hostile input: 8,000 double quotes
# in a To header take 1.5 s, 32 KB would take 25 s. Real headers stay far below these
# limits; longer ones are read leniently by our own linear code.
_MAX_STRICT_HEADER = 4_096  # unstructured headers with encoded words (Subject)
_MAX_STRICT_ADDRESS_HEADER = 2_048  # about 50 recipients; more go to the lenient reader
_STRICT_HEADER_BUDGET = 16_384  # characters per message handed to the stdlib value parsers
_MAX_ADDRESS_HEADERS = 10  # per name; more than a few To headers is already broken

# --- Input limits ---------------------------------------------------------------
# Each limit bounds the work of a parser whose worst case is superlinear. Text
# limits keep the mail with a defect note; structure limits refuse it with
# MailTooLarge, and the worker parks it for a person (the raw mail stays in S3).

#: SES receiving accepts at most 40 MB per mail, headers and encoding included.
_MAX_MESSAGE_BYTES = 40 * 1024 * 1024
#: Decoded attachments together. Decoding base64 only shrinks, so this only
#: trips on a decoding bug or a crafted nested message; it bounds what goes to S3.
_MAX_ATTACHMENT_BYTES = 40 * 1024 * 1024
#: Gmail, Outlook and Apple Mail have no count limit but a 20-25 MB size limit:
#: 250 files means 100 KB each. Each attachment is an S3 upload and a DynamoDB entry.
_MAX_ATTACHMENTS = 250
#: MIME parts (every node of the tree). A mail with 250 attachments has about 260.
#: The stdlib parses each part's Content-Type with its quadratic value parser.
_MAX_MIME_PARTS = 600
#: The stdlib feed parser tests every line against the boundary of every enclosing
#: multipart (~150 ns each): 590 nested multiparts over 10 million lines took
#: over 10 minutes. Lines times enclosing multiparts, estimated before parsing;
#: a 40 MB mail of 76-character base64 lines three levels deep needs about 2 million.
_MAX_BOUNDARY_CHECKS = 16_000_000
#: Lines per mail. The feed parser costs ~150 ns a line, the text steps as much
#: again; 40 MB of base64 is 540,000 lines, of prose (60 characters a line) 700,000.
_MAX_LINES = 4_000_000
#: Header fields per header section. Outlook 365 mail carries about 100 (Received,
#: ARC, DKIM, X-MS-*); Postfix refuses mail with more than 50 Received hops.
_MAX_HEADER_FIELDS = 1_000
#: Characters per unfolded header field; Postfix's header_size_limit is 100 KiB.
_MAX_HEADER_CHARS = 65_536
#: Characters of Content-Type / Content-Disposition the stdlib parser may see per
#: value; an RFC 2231 file name of 150 percent-encoded CJK characters needs ~1,400.
_MAX_MIME_HEADER_PARSE = 2_048
#: Characters of MIME header values the stdlib parser may see per message (the
#: rest is cut to 256). Bounds its quadratic cost at about a second in all.
_MIME_HEADER_PARSE_BUDGET = 65_536
#: HTML we sanitise (html_body). Newsletters are 50-150 KB; the rest is cut.
_MAX_HTML_CHARS = 2 * 1024 * 1024
#: html5ever (in nh3) and html2text are quadratic in nesting depth: 20,000 nested
#: lists take 4 s and 60 s. Real mail nests tables and quotes 10-50 deep.
_MAX_HTML_DEPTH = 256
#: html2text converts about 300 KB a second; larger HTML-only mail gets the linear
#: tag-stripping conversion instead.
_MAX_HTML2TEXT_CHARS = 256 * 1024
#: Text the quoted-reply stripper scans. mailparser_reply's quote-header patterns
#: are cubic in line length and quadratic in blank-line runs; the new reply sits
#: at the top, so a long head with no quote in it means everything is new text.
_REPLY_SCAN_CHARS = 32_768
#: Longest line the stripper sees. "On Mon, 3 Nov 2025 at 10:42, Ann Hansen
#: <ann.hansen@gmail.com> wrote:" is 75 characters; longer lines are never quote
#: headers and are hidden from it (and put back afterwards).
_REPLY_LINE_CHARS = 160
#: RFC 5321 §4.5.3.1.1-3: local part 64 octets, domain 255, a path 256 including
#: the angle brackets, so an address of at most 254.
_MAX_LOCAL_PART = 64
_MAX_DOMAIN = 255
_MAX_ADDRESS = 254


@dataclass(frozen=True)
class Attachment:
    """A non-body MIME part, decoded, with a name that is safe as an S3 key part."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)  # may be 25 MB: keep it out of logs and test output
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, kw_only=True)
class ParsedEmail:
    """Everything the pipeline reads from one inbound email.

    Keyword-only with defaults, so tests and other channels can build one from
    the few fields they care about.
    """

    message_id: str | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_address: str
    from_name: str = ""
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date: datetime | None = None
    text_body: str = ""
    reply_text: str = ""
    html_body: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: Mapping[str, list[str]] = field(default_factory=dict)
    return_path: str | None = None
    defects: list[str] = field(default_factory=list)
    #: Which header the sender came from: "from", else "sender", else "reply-to" (RFC 5322 §3.6.2).
    sender_header: str = "from"


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one RFC 5322 / MIME message; raise ``MalformedEmail`` only when there is no sender.

    ``MailTooLarge`` (a ``MalformedEmail``) when the mail exceeds a structural
    limit: refused before anything is returned, so nothing of it is stored.
    """
    raw = bytes(raw)
    if not raw.strip():
        suffix = ", whitespace only" if raw else ""
        raise MalformedEmail(f"empty message ({len(raw)} bytes{suffix})")
    _check_raw_limits(raw)
    try:
        message = BytesParser(policy=_bounded_policy()).parsebytes(raw)
    except RecursionError:
        # The feed parser recurses once per nested multipart.
        raise MalformedEmail("MIME parts nested too deeply to parse") from None

    defects: list[str] = []
    raw_headers = _unfolded_headers(message, defects)
    if not raw_headers:
        raise MalformedEmail("no header section: the input does not look like an email")

    _check_part_count(message)
    envelope = _envelope(raw_headers, defects)
    content = _content(message, _line_ending(raw), defects)
    return ParsedEmail(**envelope, **content, defects=_unique(defects))


# --- Input limits --------------------------------------------------------------

def _check_raw_limits(raw: bytes) -> None:
    """Refuse mail whose size or part count would make the parsers slow, before they run."""
    if len(raw) > _MAX_MESSAGE_BYTES:
        raise MailTooLarge(
            f"message too large: {len(raw):,} bytes (limit {_MAX_MESSAGE_BYTES:,}, SES's maximum); the raw mail is kept"
        )
    lines = raw.count(b"\n")
    if lines > _MAX_LINES:
        raise MailTooLarge(f"too many lines: {lines:,} (limit {_MAX_LINES:,}); the raw mail is kept")
    # One lowercased copy with a leading newline: every pattern below then starts with a
    # literal ("\ncontent-type", "\n--"), which the regex engine finds at memchr speed.
    text = b"\n" + raw.lower()
    checks, deepest = _boundary_checks(text)
    if checks > _MAX_BOUNDARY_CHECKS:
        raise MailTooLarge(
            f"MIME parts nested {deepest:,} deep over {lines:,} lines: too much work to parse "
            f"({checks:,} boundary checks, limit {_MAX_BOUNDARY_CHECKS:,}); the raw mail is kept"
        )
    # Every MIME part the parser has to look at carries a Content-Type line; counting
    # them is linear and bounds the stdlib's per-part header parsing before it starts.
    declared = sum(1 for _ in _MIME_HEADER_LINE.finditer(text))
    if declared > _MAX_MIME_PARTS:
        raise MailTooLarge(
            f"too many MIME parts: {declared:,} Content-Type headers (limit {_MAX_MIME_PARTS:,}); the raw mail is kept"
        )


_MIME_HEADER_LINE = re.compile(rb"\ncontent-type[ \t]*:")
_MULTIPART_DECLARATION = re.compile(rb"\ncontent-type[ \t]*:[ \t]*multipart/")
_CLOSING_DELIMITER = re.compile(rb"\n--[^\r\n]{0,200}--[ \t]*\r?(?=\n|$)")


def _boundary_checks(text: bytes) -> tuple[int, int]:
    """An upper estimate of the feed parser's boundary tests (lines x enclosing multiparts), and the depth.

    ``text`` is the lowercased mail after a newline. One C-speed pass each:
    multipart declarations open a level, closing delimiters ("--boundary--",
    RFC 2046 §5.1.1) close one; lines between are counted with bytes.count.
    Unclosed multiparts stay open to the end, as in the parser.
    """
    events = sorted(
        [(match.start(), 1) for match in _MULTIPART_DECLARATION.finditer(text)]
        + [(match.start(), -1) for match in _CLOSING_DELIMITER.finditer(text)]
    )
    checks = depth = deepest = position = 0
    for start, step in events:
        checks += depth * text.count(b"\n", position, start)
        position = start
        depth = max(depth + step, 0)
        deepest = max(deepest, depth)
    checks += depth * text.count(b"\n", position)
    return checks, deepest


def _check_part_count(message: Message) -> None:
    count, stack = 0, [message]
    while stack:
        part = stack.pop()
        count += 1
        if count > _MAX_MIME_PARTS:
            raise MailTooLarge(f"too many MIME parts: more than {_MAX_MIME_PARTS:,}; the raw mail is kept")
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, Message))


class _BoundedPolicy(EmailPolicy):
    """policy.default, but the stdlib's quadratic value parser sees bounded header values.

    The feed parser itself parses every part's Content-Type (boundary, charset), so
    the bound has to live in the policy. Parsed values are memoised per message: the
    parser and we fetch the same header several times.
    """

    parse_state: dict[str, Any] | None = None

    def header_fetch_parse(self, name: str, value: str) -> Any:
        state = self.parse_state
        if state is None:
            return super().header_fetch_parse(name, value)
        key = (name.lower(), value)
        if key in state["memo"]:
            return state["memo"][key]
        limit = _MAX_MIME_HEADER_PARSE if state["budget"] > 0 else 256
        state["budget"] -= min(len(value), limit)
        try:
            parsed = super().header_fetch_parse(name, value[:limit])
        except RecursionError:
            # The value parser recurses once per "(" of a nested comment; comments carry
            # no MIME meaning (RFC 2045 §5.1), so read the value without them.
            parsed = super().header_fetch_parse(name, value[:limit].replace("(", " ").replace(")", " "))
        state["memo"][key] = parsed
        return parsed


def _bounded_policy() -> _BoundedPolicy:
    """A fresh policy per message: it carries that message's parse budget."""
    return _BoundedPolicy(parse_state={"budget": _MIME_HEADER_PARSE_BUDGET, "memo": {}})


def _envelope(raw_headers: list[tuple[str, str]], defects: list[str]) -> dict[str, Any]:
    """The ParsedEmail fields that come from the header section."""
    headers = _decoded_headers(raw_headers, defects)
    budget = [_STRICT_HEADER_BUDGET]  # shared by every address header of this message
    from_address, from_name, sender_header = _sender(raw_headers, defects, budget)
    return {
        "message_id": _first(_message_ids(_values(raw_headers, "message-id"), require_at=False)),
        "in_reply_to": _message_ids(_values(raw_headers, "in-reply-to")),
        "references": _message_ids(_values(raw_headers, "references")),
        "subject": _display_text(_first(headers.get("subject", [])) or ""),
        "from_address": from_address,
        "from_name": from_name,
        "sender_header": sender_header,
        "reply_to": _first([address for _, address in _addresses(raw_headers, "reply-to", defects, budget)]),
        "to": _unique(address for _, address in _addresses(raw_headers, "to", defects, budget)),
        "cc": _unique(address for _, address in _addresses(raw_headers, "cc", defects, budget)),
        "date": _date(raw_headers, defects),
        "headers": MappingProxyType(headers),
        "return_path": _return_path(headers),
    }


def _content(message: Message, linesep: str, defects: list[str]) -> dict[str, Any]:
    """The ParsedEmail fields that come from the MIME body."""
    visited: list[tuple[str, Message]] = []
    body = _walk(message, "", 0, visited, defects)
    if len(body.attachments) > _MAX_ATTACHMENTS:
        raise MailTooLarge(
            f"too many attachments: {len(body.attachments):,} (limit {_MAX_ATTACHMENTS:,}); the raw mail is kept"
        )
    html_body = _safe_html(body.html, defects) if body.html else None
    text_body = _text_body(body, html_body, defects)
    attachments = _attachments(body.attachments, linesep)
    # Decoding adds defects to the parts (bad base64 ...), so read them last.
    defects += [f"{where}: {_describe(defect)}" for where, part in visited for defect in part.defects]
    return {
        "text_body": text_body,
        "reply_text": _reply_text(text_body),
        "html_body": html_body,
        "attachments": attachments,
    }


# --- Headers -----------------------------------------------------------------

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_SURROGATE_RUN = re.compile("[\udc80-\udcff]+")
_HEADER_FACTORY = policy.default.header_factory


def _unfolded_headers(message: Message, defects: list[str] | None = None) -> list[tuple[str, str]]:
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


def _values(raw_headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in raw_headers if key == name]


def _decoded_headers(raw_headers: list[tuple[str, str]], defects: list[str]) -> dict[str, list[str]]:
    decoded: dict[str, list[str]] = {}
    budget = _STRICT_HEADER_BUDGET  # a thousand huge Subject headers must not cost minutes
    for name, value in raw_headers:
        decoded.setdefault(name, []).append(_decode_unstructured(name.title(), value, defects, budget > 0))
        if "=?" in value:
            budget -= len(value)
    return decoded


def _decode_unstructured(name: str, value: str, defects: list[str], strict: bool = True) -> str:
    """Decode RFC 2047 encoded words and raw 8-bit bytes (RFC 6532) in a header value.

    ``str(msg[name])`` would already decode, but it turns bytes an unknown or
    wrong charset cannot decode into U+FFFD. The value parser keeps them as
    surrogate escapes, so our own fallback can still read them as UTF-8 or Latin-1.
    """
    if "=?" not in value:
        return _repair_surrogates(value, f"{name} header", defects)  # no encoded words to decode
    if len(value) > _MAX_STRICT_HEADER or not strict:
        defects.append(f"{name} header: too much header text to decode; encoded words left as written")
        return _repair_surrogates(value, f"{name} header", defects)
    try:
        parse_tree = UnstructuredHeader.value_parser(value)
    except Exception:  # the header parser is not meant to raise; never lose the mail if it does
        defects.append(f"{name} header could not be parsed; kept as written")
        return _repair_surrogates(value, f"{name} header", defects)
    defects.extend(
        f"{name} header: {_describe(defect)}"
        for defect in parse_tree.all_defects
        if isinstance(defect, email_errors.CharsetError)
    )
    return _repair_surrogates(str(parse_tree), f"{name} header", defects)


def _repair_surrogates(text: str, where: str, defects: list[str]) -> str:
    """Decode runs of undecodable bytes (surrogate escapes) as UTF-8, else Latin-1.

    Raw UTF-8 in headers is allowed (RFC 6532) and needs no note; anything
    else is a legacy 8-bit charset we can only guess.
    """
    if text.isascii() or not _SURROGATE_RUN.search(text):
        return text

    def decode_run(match: re.Match[str]) -> str:
        data = match.group().encode("ascii", "surrogateescape")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            defects.append(f"{where}: bytes that are not UTF-8; decoded as latin-1")
            return data.decode("latin-1", errors="replace")

    return _SURROGATE_RUN.sub(decode_run, text)


def _display_text(text: str) -> str:
    """One line for people: whitespace runs collapsed, other control characters dropped."""
    if not text.isprintable():  # drop controls first, so none leaves a stray space behind
        text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(text.split())


_MSG_ID = re.compile(r"<([^<>]*)>")


def _message_ids(values: list[str], *, require_at: bool = True) -> list[str]:
    """Ids from Message-ID / In-Reply-To / References, without brackets, in order.

    RFC 5322 §3.6.4: msg-id is "<" id-left "@" id-right ">". Old clients put
    phrases around it ("your message of ...") or drop the brackets; take the
    bracketed ids when there are any, else bare tokens that look like ids.
    """
    ids: list[str] = []
    for value in values:
        value = _repair_surrogates(value, "message id", [])
        bracketed = ["".join(found.split()) for found in _MSG_ID.findall(value)]
        if any(bracketed):
            ids.extend(found for found in bracketed if found)
        else:
            ids.extend(token for token in value.strip("<> \t").split() if not require_at or "@" in token)
    return _unique(ids)


def _return_path(headers: Mapping[str, list[str]]) -> str | None:
    """The topmost Return-Path (RFC 5321 §4.4), brackets removed; "" for the null path <>."""
    value = _first(headers.get("return-path", []))
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def _date(raw_headers: list[tuple[str, str]], defects: list[str]) -> datetime | None:
    value = _first(_values(raw_headers, "date"))
    if not value:
        return None
    try:
        parsed = _HEADER_FACTORY("date", _repair_surrogates(value, "Date header", defects)).datetime
    except Exception:  # date parsing raises a zoo of types on hostile input
        parsed = None
    if parsed is None:
        defects.append(f"Date header is not a valid date: {_shorten(value)}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 §3.3: "-0000" means the time is UTC but the zone is unknown.
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


# --- Addresses ---------------------------------------------------------------

# Linear by construction: the value is split on separators first (one pass), then
# each token of bounded length is matched by an anchored pattern with no nested
# quantifiers that can overlap. (The old single findall was cubic: 8 KB of "a@" took
# over 30 s.)
_ADDRESS_SEPARATORS = re.compile(r"[\s<>()\[\],;:\"']+")
_ADDR_TOKEN = re.compile(r"[^@]{1,%d}@[A-Za-z0-9\u0080-\uffff_-]+(?:\.[A-Za-z0-9\u0080-\uffff_-]+)+" % _MAX_LOCAL_PART)
_SENDER_HEADERS = ("from", "sender", "reply-to")  # RFC 5322 §3.6.2: who to answer, in order


def _sender(raw_headers: list[tuple[str, str]], defects: list[str], budget: list[int]) -> tuple[str, str, str]:
    """(address, display name, header it came from): From, else Sender, else Reply-To.

    RFC 5322 §3.6.2 makes From mandatory, but a mail with only Sender or Reply-To
    still names someone to answer; parking it would leave a customer unanswered.
    """
    present = [name for name in _SENDER_HEADERS if _values(raw_headers, name)]
    if not present:
        raise MalformedEmail("missing From header")
    overlong: list[str] = []
    for name in present:
        found = _addresses(raw_headers, name, defects, budget, overlong)
        if found:
            if name != "from":
                missing = "has no usable address" if "from" in present else "is missing"
                defects.append(f"From header {missing}; the sender is taken from the {name.title()} header")
            display_name, address = found[0]
            return address, display_name, name
    if overlong:
        raise MalformedEmail(
            f"sender address is {len(overlong[0]):,} characters long (RFC 5321 allows {_MAX_ADDRESS}): "
            f"{_shorten(overlong[0], 60)}"
        )
    shown = _shorten(" / ".join(_values(raw_headers, "from"))) or "(empty)"
    if "from" not in present:
        shown = _shorten(" / ".join(v for name in present for v in _values(raw_headers, name)))
        raise MalformedEmail(f"missing From header, and {'/'.join(n.title() for n in present)} has no address: {shown}")
    raise MalformedEmail(f"From header has no address: {shown}")


def _addresses(
    raw_headers: list[tuple[str, str]],
    name: str,
    defects: list[str],
    budget: list[int] | None = None,
    overlong: list[str] | None = None,
) -> list[tuple[str, str]]:
    """(display name, lowercased addr-spec) pairs from every header called ``name``.

    Addresses longer than RFC 5321 allows are dropped with a defect (and collected
    in ``overlong``): they cannot be answered and would not fit a DynamoDB key.
    """
    budget = [_STRICT_HEADER_BUDGET] if budget is None else budget
    found: list[tuple[str, str]] = []
    values = _values(raw_headers, name)
    if len(values) > _MAX_ADDRESS_HEADERS:
        defects.append(f"{name.title()} header repeated {len(values)} times; read the first {_MAX_ADDRESS_HEADERS}")
    for value in values[:_MAX_ADDRESS_HEADERS]:
        label = name.title()
        parsed = _parse_address_list(name, label, _repair_surrogates(value, f"{label} header", defects), defects, budget)
        for display_name, address in parsed:
            if _address_too_long(address):
                defects.append(f"{label} header: address of {len(address):,} characters dropped (RFC 5321 §4.5.3.1)")
                if overlong is not None:
                    overlong.append(address)
            else:
                found.append((display_name, address))
    return found


def _address_too_long(address: str) -> bool:
    """RFC 5321 §4.5.3.1: local part ≤ 64 octets, domain ≤ 255, the whole path ≤ 256 with brackets."""
    local, _, domain = address.rpartition("@")
    octets = len(address.encode("utf-8", "surrogatepass"))
    return octets > _MAX_ADDRESS or len(local.encode("utf-8", "surrogatepass")) > _MAX_LOCAL_PART or len(domain) > _MAX_DOMAIN


def _parse_address_list(
    name: str, label: str, value: str, defects: list[str], budget: list[int] | None = None
) -> list[tuple[str, str]]:
    """Parse with the header registry first, then getaddresses, then a plain addr-spec search.

    The two stdlib parsers only see values up to ``_MAX_STRICT_ADDRESS_HEADER`` (and
    a per-message budget): on longer values only the linear token search runs.
    """
    budget = [_STRICT_HEADER_BUDGET] if budget is None else budget
    strict = len(value) <= _MAX_STRICT_ADDRESS_HEADER and budget[0] > 0
    if strict:
        budget[0] -= len(value)
        parsed, complete = _registry_addresses(name, label, value, defects)
        usable = [(n, a) for n, a in parsed if _is_usable_address(a)]
        legacy = [(n, a) for n, a in _legacy_addresses(value, label, defects) if _is_usable_address(a)]
    else:
        defects.append(f"{label} header is {len(value):,} characters long; parsed leniently")
        parsed, complete, usable, legacy = [], False, [], []
    if not complete or len(usable) < len(parsed):
        usable += legacy
    if not usable:
        usable = [("", found) for found in _address_tokens(value)]

    legacy_names = {a.lower(): n for n, a in legacy if n}
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for display_name, address in usable:
        address = address.lower()
        if address in seen:
            continue
        seen.add(address)
        legacy_name = legacy_names.get(address, "")
        if "=?" in legacy_name:
            # RFC 2047 §6.2: whitespace between adjacent encoded words is not text, but the
            # header registry keeps it inside display names; the unstructured parser drops it.
            display_name = _decode_unstructured(label, legacy_name, defects)
        elif not display_name:
            # RFC 822's "addr (Name)" form (MAILER-DAEMON still uses it): a comment to
            # the header registry, the display name to getaddresses.
            display_name = legacy_name
        result.append((_display_text(_repair_surrogates(display_name, f"{label} header", defects)), address))
    return result


def _legacy_addresses(value: str, label: str, defects: list[str]) -> list[tuple[str, str]]:
    """getaddresses, which recurses once per "(" of a nested comment and then raises RecursionError."""
    try:
        return getaddresses([value])
    except (RecursionError, ValueError, IndexError):
        defects.append(f"{label} header could not be read by the legacy parser")
        return []


def _address_tokens(value: str) -> list[str]:
    """Bare addr-specs in a value no parser understood; linear in its length.

    Overlong tokens are kept (not matched) when they look like an address, so the
    caller can say "too long" instead of "no address".
    """
    found = []
    for token in _ADDRESS_SEPARATORS.split(value):
        if "@" not in token:
            continue
        if len(token) > _MAX_ADDRESS:
            local, _, domain = token.rpartition("@")
            if local and "." in domain and "@" not in local:
                found.append(token)  # one long address, not "a@a@a@..."
            continue
        if _ADDR_TOKEN.fullmatch(token):
            found.append(token)
    return found


def _registry_addresses(name: str, label: str, value: str, defects: list[str]) -> tuple[list[tuple[str, str]], bool]:
    """(display name, addr-spec) pairs from the strict RFC 5322 parser, and whether it was happy."""
    try:
        header = _HEADER_FACTORY(name, value)
        parsed = [(address.display_name, address.addr_spec) for address in header.addresses]
    except Exception:  # the address parser has raised on hostile input before
        defects.append(f"{label} header could not be parsed: {_shorten(value)}")
        return [], False
    defects.extend(f"{label} header: {_describe(defect)}" for defect in header.defects)
    return parsed, not header.defects


def _is_usable_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or "." not in domain.strip("."):
        return False
    return not any(ch.isspace() or ch in '<>(),;:"[]\\' for ch in domain) and "<" not in local


# --- The MIME tree -----------------------------------------------------------

_BODY_TYPES = ("text/plain", "text/html")


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Message] = field(default_factory=list)

    def extend(self, other: "_Body") -> None:
        self.plain += other.plain
        self.html += other.html
        self.attachments += other.attachments


def _walk(
    part: Message, section: str, depth: int, visited: list[tuple[str, Message]], defects: list[str]
) -> _Body:
    """Split a MIME (sub)tree into body text, body HTML and attachment parts, in order.

    ``visited`` collects (location, part) so the caller can report each part's defects.
    """
    content_type = part.get_content_type()
    where = "message" if depth == 0 else f"part {section} ({content_type})"
    visited.append((where, part))
    body = _Body()

    if part.is_multipart() and content_type.startswith("multipart/"):
        children = list(part.iter_parts())
        if depth >= _MAX_NESTING:
            defects.append(f"{where}: nested more than {_MAX_NESTING} levels; inner parts skipped")
            return body
        results = [
            _walk(child, f"{section}.{i}" if section else str(i), depth + 1, visited, defects)
            for i, child in enumerate(children, 1)
        ]
        if content_type == "multipart/alternative":
            # RFC 2046 §5.1.4: same content, increasingly faithful. Take the
            # plainest plain text and the richest HTML; keep every attachment.
            body.plain = next((r.plain for r in results if r.plain), [])
            body.html = next((r.html for r in reversed(results) if r.html), [])
            for result in results:
                body.attachments += result.attachments
        elif content_type == "multipart/related" and results:
            # RFC 2387: only the root carries the body; the rest (images, CSS) it refers to.
            root = _related_root(part, children)
            for index, (child, result) in enumerate(zip(children, results)):
                if index == root:
                    body.extend(result)
                else:
                    body.attachments += _leaves(child)
        else:
            for result in results:
                body.extend(result)
        return body

    if content_type.startswith("multipart/"):
        # A multipart without boundary: RFC 2046 cannot split it; its text is all there is.
        body.plain.append(_decode_part(part, where, defects))
    elif content_type in _BODY_TYPES and _is_body_part(part):
        target = body.plain if content_type == "text/plain" else body.html
        target.append(_decode_part(part, where, defects))
    else:
        body.attachments.append(part)
    return body


def _related_root(part: Message, children: list[Message]) -> int:
    start = part.get_param("start")
    if isinstance(start, str) and start.strip():
        wanted = start.strip().strip("<>")
        for index, child in enumerate(children):
            if (_content_id(child) or "") == wanted:
                return index
    return 0


def _leaves(part: Message) -> list[Message]:
    """Every non-multipart part below ``part``, in order (iterative: the tree may be deep)."""
    leaves, stack = [], [part]
    while stack:
        current = stack.pop()
        if current.is_multipart() and current.get_content_type().startswith("multipart/"):
            stack.extend(reversed(list(current.iter_parts())))
        else:
            leaves.append(current)
    return leaves


def _is_body_part(part: Message) -> bool:
    """A text part is body text unless it says it is a file (RFC 2183 attachment or a name)."""
    if part.get_content_disposition() == "attachment":
        return False
    return not _filename(part)


def _decode_part(part: Message, where: str, defects: list[str]) -> str:
    payload = part.get_payload(decode=True) or b""
    text = _decode_bytes(payload, part.get_content_charset(), where, defects)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_bytes(data: bytes, charset: str | None, where: str, defects: list[str]) -> str:
    """Declared charset, then UTF-8, then Latin-1 (which cannot fail); note each fallback."""
    try:
        return data.decode(charset or "us-ascii")  # RFC 2045 §5.2: the default charset
    except LookupError:  # also raised for bytes-to-bytes codecs such as "base64"
        problem = f"unknown charset {charset!r}"
    except (UnicodeError, ValueError, TypeError):
        problem = f"text is not valid {charset!r}" if charset else "8-bit text without a declared charset"
    text, used = _utf8_or_latin1(data)
    defects.append(f"{where}: {problem}; decoded as {used}")
    return text


def _utf8_or_latin1(data: bytes) -> tuple[str, str]:
    """UTF-8 when the bytes are mostly UTF-8 (stray bad bytes become U+FFFD), else Latin-1.

    One broken byte in a UTF-8 mail must not turn every ü and ø into mojibake;
    legacy 8-bit text, where no UTF-8 sequence is valid, reads right as Latin-1.
    """
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    if not replaced:
        return text, "utf-8"
    decoded = sum(1 for ch in text if ord(ch) > 0x7F) - replaced
    if decoded > replaced:
        return text, "utf-8 (invalid bytes replaced)"
    return data.decode("latin-1", errors="replace"), "latin-1"


# --- Body text ---------------------------------------------------------------


def _text_body(body: _Body, html_body: str | None, defects: list[str]) -> str:
    plain = [piece for piece in body.plain if piece.strip()]
    if len(plain) == 1:
        return plain[0]
    if plain:
        # Apple Mail puts text, image, text in one multipart/mixed: keep the pieces in order.
        return "\n\n".join(piece.strip("\n") for piece in plain)
    if html_body is not None and len(html_body) <= _MAX_HTML2TEXT_CHARS:
        return _html_to_text(html_body)
    if body.html:
        # Too large or too deep for html2text: keep every word, lose the layout.
        defects.append("HTML too large or too deeply nested for formatted text; tags stripped instead")
        source = html_body if html_body is not None else "\n".join(body.html)[:_MAX_HTML_CHARS]
        return _html_to_plain_text(source)
    return ""


def _html_to_text(html: str) -> str:
    import html2text  # only HTML-only mail needs it

    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the UI wraps
    converter.ignore_images = True  # cid: references mean nothing in text
    converter.ignore_emphasis = True
    converter.unicode_snob = True  # keep æøå, do not transliterate
    return converter.handle(html).strip("\n") + "\n"


# Linear by construction: "[^<>]*" stops at the next "<", so "<<<<" costs one pass, and
# the possessive name (Python 3.11) cannot trade characters with it ("<a" + 1 MB of letters).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*+)[^<>]*>|<!--|<[^<>]*>")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption footer form h1 h2 h3 h4 h5 h6 header hr "
    "li main nav ol p pre section table td th tr ul".split()
)
_CONTENT_DROPPED_TAGS = ("script", "style", "head", "title", "template", "noscript", "textarea", "xmp", "iframe", "noembed")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _html_to_plain_text(html: str) -> str:
    """Text of any HTML in one linear pass: block tags become line breaks, other tags vanish.

    The fallback for HTML html2text (and html5ever, in nh3) would need quadratic
    time for. Script and style content is dropped, entities are decoded.
    """
    out: list[str] = []
    position = 0
    lowered = html.lower()
    for match in _TAG.finditer(html):
        if match.start() < position:
            continue  # inside a comment or a dropped element we already skipped
        out.append(html[position : match.start()])
        position = match.end()
        token = match.group()
        if token == "<!--":
            end = html.find("-->", position)
            position = len(html) if end == -1 else end + 3
            continue
        name = (match.group(2) or "").lower()
        if not match.group(1) and name in _CONTENT_DROPPED_TAGS:
            end = lowered.find(f"</{name}", position)
            position = len(html) if end == -1 else end
        elif name in _BLOCK_TAGS:
            out.append("\n")
    out.append(html[position:])
    text = html_entities.unescape("".join(out))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# End tags HTML lets authors leave out (WHATWG §13.1.2.4); they do not nest.
_OPTIONAL_END_TAGS = frozenset("p li dt dd tr td th option optgroup thead tbody tfoot colgroup rb rt rp rtc".split())


def _html_depth(html: str) -> int:
    """An upper estimate of the element nesting depth, in one linear pass over the tags."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        name = (match.group(2) or "").lower()
        if not name or name in _VOID_TAGS or name in _OPTIONAL_END_TAGS or match.group().endswith("/>"):
            continue
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _safe_html(pieces: list[str], defects: list[str]) -> str | None:
    """The HTML body sanitised for the agent UI, or None when it is too deep to sanitise in bounded time."""
    html = "\n".join(pieces)
    if len(html) > _MAX_HTML_CHARS:
        defects.append(f"HTML body longer than {_MAX_HTML_CHARS:,} characters; cut")
        html = html[:_MAX_HTML_CHARS]
    depth = _html_depth(html)
    if depth > _MAX_HTML_DEPTH:
        defects.append(f"HTML nested {depth:,} levels deep (limit {_MAX_HTML_DEPTH}); only its text is kept")
        return None
    return _sanitise_html(html).strip()


_INLINE_IMAGE = re.compile(r"data:image/[a-z0-9.+-]+[;,]", re.IGNORECASE)
# nh3's defaults minus cite= (a URL no browser fetches, but nothing an agent needs either).
_NO_URL_ATTRIBUTES = ("cite",)


def _sanitise_html(html: str) -> str:
    """Remove script, style, event handlers and every remote resource; keep cid: and data: images.

    Showing a mail must not tell a tracker it was read: remote image sources become
    an inline placeholder naming the host (the original is only in the raw mail),
    relative and protocol-relative URLs are refused, and style attributes, <link>,
    background=, srcset and poster never pass nh3's allow-lists. Links stay (a
    click is consent) with rel="noopener noreferrer".
    """
    import nh3

    attributes = {
        tag: {name for name in names if name not in _NO_URL_ATTRIBUTES}
        for tag, names in nh3.ALLOWED_ATTRIBUTES.items()
    }
    return nh3.clean(
        html,
        attributes=attributes,
        attribute_filter=_filter_attribute,
        url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid", "data"},
        url_relative="deny",
        link_rel="noopener noreferrer",
    )


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """nh3 calls this after its own URL checks; what it returns is not checked again."""
    if tag == "img" and name == "src":
        scheme = value.split(":", 1)[0].strip().lower()
        if scheme == "cid" or (scheme == "data" and _INLINE_IMAGE.match(value.strip())):
            return value
        return _remote_image_placeholder(value)
    if name in ("href", "src") and value.split(":", 1)[0].strip().lower() in ("data", "cid"):
        return None  # data: and cid: are for images only
    return value


def _remote_image_placeholder(url: str) -> str:
    """An inline SVG saying which host the image came from; nothing is fetched."""
    host = url.split("//", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0][:100]
    label = html_entities.escape(f"[remote image removed: {host}]", quote=True)
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' width='320' height='24'>"
        f"<text x='4' y='16' font-family='sans-serif' font-size='12' fill='#666'>{label}</text></svg>"
    )
    return "data:image/svg+xml;charset=utf-8," + quote(svg, safe=" =/:;,'[]()")


def _reply_text(text: str) -> str:
    """The new part of a reply: quoted history, reply headers and the signature removed.

    The stripper's patterns are cubic in line length and quadratic in blank-line
    runs, so it sees at most ``_REPLY_SCAN_CHARS`` of the head, with lines over
    ``_REPLY_LINE_CHARS`` and long blank runs hidden behind placeholders that are
    put back afterwards.
    """
    if not text.strip():
        return ""
    head = text[:_REPLY_SCAN_CHARS]
    if len(text) > len(head) and "\n" in head:
        head = head[: head.rfind("\n")]  # whole lines only
    masked, restore = _mask_for_stripper(head)
    reply = restore(_strip_history_and_signature(masked)).strip()
    if len(text) > len(head) and reply == _normalised_lines(head):
        return text.strip()  # nothing was quoted in the head, so the tail is new text too
    return reply or text.strip()


def _normalised_lines(text: str) -> str:
    """The text as mailparser_reply returns it when it cuts nothing: lines stripped."""
    return "\n".join(line.strip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def _mask_for_stripper(text: str) -> tuple[str, Callable[[str], str]]:
    """Hide overlong lines and blank runs behind one-token lines; return the text and an undo.

    A placeholder is a private-use character the text does not contain plus a number,
    so it matches no quote-header or signature pattern and cannot collide.
    """
    marker = next((chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text), None)
    if marker is None:
        return text, lambda reply: reply
    hidden: list[str] = []
    lines: list[str] = []
    blank_run = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            blank_run += 1
            if blank_run <= 2:
                lines.append("")
            elif blank_run == 3:
                hidden.append("")
                lines[-1:] = [f"{marker}{len(hidden) - 1}{marker}", ""]
            else:
                hidden[-1] += "\n"
            continue
        blank_run = 0
        if len(stripped) > _REPLY_LINE_CHARS:
            hidden.append(stripped)
            lines.append(f"{marker}{len(hidden) - 1}{marker}")
        else:
            lines.append(line)
    if not hidden:
        return text, lambda reply: reply
    placeholder = re.compile(f"{marker}(\\d+){marker}")

    def restore(reply: str) -> str:
        return placeholder.sub(lambda found: hidden[int(found.group(1))], reply)

    return "\n".join(lines), restore


def _strip_history_and_signature(text: str) -> str:
    from mailparser_reply.parser import EmailMessage as ReplyMessage

    # keep_hyphen_lists: its default treats any line starting with "- " as a
    # signature, which cuts every bulleted list a customer writes.
    message = ReplyMessage(text=text, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).read()
    if not message.replies:
        return text.strip()
    latest = message.replies[0].content.strip()
    return _strip_signature(latest, message.SIGNATURE_REGEX)


@functools.cache
def _sign_off_pattern() -> re.Pattern[str]:
    """A line that is only a sign-off, a signature separator or a "Sent from my ..." line."""
    from mailparser_reply.constants import MAIL_LANGUAGES

    languages = [MAIL_LANGUAGES.get(language, {}) for language in REPLY_LANGUAGES]
    phrases = [
        phrase
        for language in languages
        for phrase in language.get("signatures", [])
        if not phrase.startswith("/")  # Swedish "/Name" would match every "/path" line
    ]
    sent_from = [language["sent_from"] for language in languages if language.get("sent_from")]
    return re.compile(
        # RFC 3676 §4.3: "-- " is the signature separator (stripped to "--" by the parser).
        r"--|__|[_-]{32,}"
        rf"|(?:{'|'.join(phrases)})[\s,.!:;-]*"
        rf"|(?:{'|'.join(sent_from)})\b.*",
        re.IGNORECASE,
    )


def _strip_signature(text: str, signature_regex: re.Pattern[str]) -> str:
    """Cut the signature only where its first line is nothing but a sign-off.

    mailparser_reply's sign-off patterns have no word boundary and run to the
    end of the text: Danish "Tak" cuts "Tak for svaret. Det virker nu." and
    everything after it. Accept its match only when the matched line is a bare
    sign-off ("Med venlig hilsen", "Thanks,", "--"), else look further down.
    """
    position = 0
    for _ in range(_MAX_SIGNATURE_CANDIDATES):
        match = signature_regex.search(text, position)
        first_char = _NON_SPACE.search(text, match.start()) if match else None
        if first_char is None:
            return text
        start = text.rfind("\n", 0, first_char.start()) + 1
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        line = text[start:end].lstrip("> ").strip()
        if _sign_off_pattern().fullmatch(line):
            return text[:start].strip() or text
        position = end + 1
    return text


_NON_SPACE = re.compile(r"\S")


# --- Attachments -------------------------------------------------------------

_PATH_SEPARATORS = re.compile(r"[\\/]")
_RESERVED_FILENAME_CHARS = re.compile(r'[:*?"<>|]')  # reserved on Windows, awkward in S3 keys
_EXTENSION_OVERRIDES = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/calendar": ".ics",
    "image/jpeg": ".jpg",
}


def _attachments(parts: list[Message], linesep: str, limit: int | None = None) -> list[Attachment]:
    """Decoded attachments; MailTooLarge once their total passes ``limit`` (default _MAX_ATTACHMENT_BYTES)."""
    limit = _MAX_ATTACHMENT_BYTES if limit is None else limit
    attachments = []
    total = 0
    for index, part in enumerate(parts, 1):
        content = _part_bytes(part, linesep)
        total += len(content)
        if total > limit:
            raise MailTooLarge(
                f"attachments too large: more than {limit:,} bytes decoded (limit {limit:,}); the raw mail is kept"
            )
        content_type = part.get_content_type()
        content_id = _content_id(part)
        disposition = part.get_content_disposition()
        name = _filename(part) or _attached_message_name(part)
        attachments.append(
            Attachment(
                filename=_safe_filename(name, index, content_type),
                content_type=content_type,
                content=content,
                content_id=content_id,
                inline=disposition == "inline" or (disposition is None and content_id is not None),
            )
        )
    return attachments


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # RFC 2231 parameters in the wild break the param parser
        return None
    if not isinstance(name, str) or not name.strip():
        return None
    return _repair_surrogates(name, "attachment filename", [])


def _content_id(part: Message) -> str | None:
    for name, value in part.raw_items():
        if name.lower() == "content-id":
            content_id = "".join(str(value).split()).strip("<>")
            return content_id or None
    return None


def _attached_message_name(part: Message) -> str | None:
    """An attached email without a filename is named after its subject, like mail clients do."""
    payload = part.get_payload()
    if part.get_content_maintype() != "message" or not isinstance(payload, list) or not payload:
        return None
    subject = _first(_values(_unfolded_headers(payload[0]), "subject"))
    return f"{_decode_unstructured('Subject', subject, [])}.eml" if subject else None


def _part_bytes(part: Message, linesep: str) -> bytes:
    """The decoded content; an attached message is serialised back to an .eml file."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return part.get_payload(decode=True) or b""
    return b"".join(_serialise(message, linesep) for message in payload if isinstance(message, Message))


def _serialise(message: Message, linesep: str) -> bytes:
    buffer = BytesIO()
    # refold_source="none": write headers as received; refolding can raise on broken ones.
    out_policy = policy.default.clone(refold_source="none", linesep=linesep)
    try:
        BytesGenerator(buffer, policy=out_policy).flatten(message)
        return buffer.getvalue()
    except (UnicodeError, LookupError, ValueError, TypeError, AttributeError):
        # BytesGenerator writes a multipart whose boundary never appears through
        # get_payload(), which has already turned its 8-bit bytes into U+FFFD,
        # then fails to encode that as ASCII. The text generator has no such step.
        text = StringIO()
        Generator(text, policy=policy.compat32.clone(linesep=linesep)).flatten(message)
        return text.getvalue().encode("utf-8", "surrogateescape")


def _safe_filename(name: str | None, index: int, content_type: str) -> str:
    """A download name that cannot escape its S3 prefix or spoof its extension."""
    if name:
        name = unicodedata.normalize("NFC", name)
        name = _PATH_SEPARATORS.split(name)[-1]  # no path parts
        # Cc: controls; Cf: bidi overrides ("gpj.exe" shown as "exe.jpg"); Cs: lone surrogates.
        name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
        name = _RESERVED_FILENAME_CHARS.sub("_", name)
        name = " ".join(name.split()).strip(" .")  # no hidden files, no "..", no trailing dot
        name = _truncate_filename(name)
    return name or f"attachment-{index}{_guess_extension(content_type)}"


def _truncate_filename(name: str) -> str:
    if len(name) <= _MAX_FILENAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= 16:
        keep = _MAX_FILENAME_CHARS - len(extension) - 1
        return f"{stem[:keep].rstrip(' .')}.{extension}"
    return name[:_MAX_FILENAME_CHARS].rstrip(" .")


def _guess_extension(content_type: str) -> str:
    if content_type in _EXTENSION_OVERRIDES:
        return _EXTENSION_OVERRIDES[content_type]
    return _mime_types().guess_extension(content_type) or ".bin"


@functools.cache
def _mime_types() -> mimetypes.MimeTypes:
    # Python's built-in table only: /etc/mime.types differs between a laptop and Lambda.
    return mimetypes.MimeTypes()


# --- Small helpers -----------------------------------------------------------


def _describe(defect: Exception) -> str:
    """A defect as a sentence: its message, or its class's docstring when it has none."""
    doc_lines = (type(defect).__doc__ or "").strip().splitlines()
    detail = str(defect) or (doc_lines[0] if doc_lines else "")
    name = type(defect).__name__
    return f"{name}: {detail}" if detail else name


def _shorten(value: str, limit: int = 120) -> str:
    value = " ".join(_repair_surrogates(value, "", []).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _first(values: Iterable[str]) -> str | None:
    return next(iter(values), None)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _line_ending(raw: bytes) -> str:
    first_newline = raw.find(b"\n")
    return "\r\n" if first_newline > 0 and raw[first_newline - 1 : first_newline] == b"\r" else "\n"
