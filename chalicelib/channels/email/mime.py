"""Turn the raw bytes SES stored into one ``ParsedEmail`` a ticket can be built from.

Inbound mail is written by the sender, not by us: charsets lie, headers are
broken, base64 is truncated. The standard ``email`` package already copes with
most of that (``policy.default`` records defects instead of raising), so the
parser only adds what a help desk needs on top. This module is its entry point:
input limits, one walk over the MIME tree that splits body text from
attachments, and a charset fallback that never raises (declared, then UTF-8 if
the bytes are mostly UTF-8, else windows-1252), with a readable note in ``defects``
each time. Charset labels are read as browsers read them (``charsets``: the
WHATWG label table, so "gb2312" text with GBK characters reads right). The other concerns have a module each:

* ``headers`` — unfolding and decoding header values, message ids, Date;
* ``addresses`` — the sender (From, else Sender, else Reply-To) and recipients;
* ``html`` — HTML that is safe to show in the agent UI, and HTML as text;
* ``quotes`` — the reply text: every line the customer wrote, quoted history
  and machine footers removed (``reply_markers`` recognises the lines);
* ``attachments`` — decoded attachments with safe file names;
* ``dsn`` — delivery-status notifications: the bounce and the bounced message's ids;
* ``text`` — the small decoding and display helpers they share.

Only :class:`MalformedEmail` leaves the parser, and only when there is no
sender to answer (empty input, no header section, no usable From).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from types import MappingProxyType
from typing import Any

from chalicelib.channels.email import charsets
from chalicelib.channels.email.addresses import header_addresses, sender
from chalicelib.channels.email.attachments import Attachment, extract_attachments, part_content_id, part_filename
from chalicelib.channels.email.dsn import BounceReport, bounce_report
from chalicelib.channels.email.exceptions import MailTooLarge, MalformedEmail
from chalicelib.channels.email.headers import (
    STRICT_HEADER_BUDGET,
    decoded_headers,
    header_date,
    header_values,
    message_ids,
    return_path,
    unfolded_headers,
)
from chalicelib.channels.email.html import html_text, safe_html
from chalicelib.channels.email.quotes import reply_text
from chalicelib.channels.email.text import describe, display_text, first, unique
from chalicelib.domain.mail_policies import HEADER_FACTORY

__all__ = ["Attachment", "ParsedEmail", "parse_email"]

# --- Input limits ---------------------------------------------------------------
# Each limit bounds the work of a parser whose worst case is superlinear. Text
# limits keep the mail with a defect note; structure limits refuse it with
# MailTooLarge, and the worker parks it for a person (the raw mail stays in S3).
# The limits of one step live next to it: headers, addresses, html, quotes, attachments.

#: SES receiving accepts at most 40 MB per mail, headers and encoding included.
_MAX_MESSAGE_BYTES = 40 * 1024 * 1024
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
#: Characters of Content-Type / Content-Disposition the stdlib parser may see per
#: value; an RFC 2231 file name of 150 percent-encoded CJK characters needs ~1,400.
_MAX_MIME_HEADER_PARSE = 2_048
#: Characters of MIME header values the stdlib parser may see per message (the
#: rest is cut to 256). Bounds its quadratic cost at about a second in all.
_MIME_HEADER_PARSE_BUDGET = 65_536


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
    #: Set when the mail is a delivery-status notification (``dsn``): the bounce and the bounced message's ids.
    bounce: BounceReport | None = None


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
        message = BytesParser(policy=bounded_policy()).parsebytes(raw)
    except RecursionError:
        # The feed parser recurses once per nested multipart.
        raise MalformedEmail("MIME parts nested too deeply to parse") from None

    defects: list[str] = []
    raw_headers = unfolded_headers(message, defects)
    if not raw_headers:
        raise MalformedEmail("no header section: the input does not look like an email")

    _check_part_count(message)
    envelope = _envelope(raw_headers, defects)
    content = _content(message, _line_ending(raw), defects)
    try:
        bounce = bounce_report(message, envelope["from_address"], envelope["subject"], content["text_body"],
                               envelope["return_path"])
    except Exception:  # a broken report must not lose the mail; it is still machine mail (daemon_sender)
        bounce = None
        defects.append("delivery-status report could not be read")
    return ParsedEmail(**envelope, **content, bounce=bounce, defects=unique(defects))


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


def bounded_policy() -> _BoundedPolicy:
    """A fresh policy per message: it carries that message's parse budget (header classes are shared)."""
    return _BoundedPolicy(parse_state={"budget": _MIME_HEADER_PARSE_BUDGET, "memo": {}}, header_factory=HEADER_FACTORY)


def _envelope(raw_headers: list[tuple[str, str]], defects: list[str]) -> dict[str, Any]:
    """The ParsedEmail fields that come from the header section."""
    headers = decoded_headers(raw_headers, defects)
    budget = [STRICT_HEADER_BUDGET]  # shared by every address header of this message
    from_address, from_name, sender_header = sender(raw_headers, defects, budget)
    return {
        "message_id": first(message_ids(header_values(raw_headers, "message-id"), require_at=False)),
        "in_reply_to": message_ids(header_values(raw_headers, "in-reply-to")),
        "references": message_ids(header_values(raw_headers, "references")),
        "subject": display_text(first(headers.get("subject", [])) or ""),
        "from_address": from_address,
        "from_name": from_name,
        "sender_header": sender_header,
        "reply_to": first([address for _, address in header_addresses(raw_headers, "reply-to", defects, budget)]),
        "to": unique(address for _, address in header_addresses(raw_headers, "to", defects, budget)),
        "cc": unique(address for _, address in header_addresses(raw_headers, "cc", defects, budget)),
        "date": header_date(raw_headers, defects),
        "headers": MappingProxyType(headers),
        "return_path": return_path(headers),
    }


def _content(message: Message, linesep: str, defects: list[str]) -> dict[str, Any]:
    """The ParsedEmail fields that come from the MIME body."""
    visited: list[tuple[str, Message]] = []
    body = _walk(message, "", 0, visited, defects)
    if len(body.attachments) > _MAX_ATTACHMENTS:
        raise MailTooLarge(
            f"too many attachments: {len(body.attachments):,} (limit {_MAX_ATTACHMENTS:,}); the raw mail is kept"
        )
    html_body = safe_html(body.html, defects) if body.html else None
    text_body = _text_body(body, html_body, defects)
    attachments = extract_attachments(body.attachments, linesep)
    # Decoding adds defects to the parts (bad base64 ...), so read them last.
    defects += [f"{where}: {describe(defect)}" for where, part in visited for defect in part.defects]
    return {
        "text_body": text_body,
        "reply_text": reply_text(text_body),
        "html_body": html_body,
        "attachments": attachments,
    }


# --- The MIME tree -----------------------------------------------------------

_BODY_TYPES = ("text/plain", "text/html")
_MAX_NESTING = 64  # deeper MIME trees are hostile, not mail


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
            if (part_content_id(child) or "") == wanted:
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
    return not part_filename(part)


def _decode_part(part: Message, where: str, defects: list[str]) -> str:
    payload = part.get_payload(decode=True) or b""
    text = _decode_bytes(payload, part.get_content_charset(), where, defects)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_bytes(data: bytes, charset: str | None, where: str, defects: list[str]) -> str:
    """Declared charset read as browsers read it (``charsets``), then UTF-8, then windows-1252; note each fallback."""
    if charset is None or (charsets.is_ascii_label(charset) and not data.isascii()):
        try:
            return data.decode("ascii")  # RFC 2045 §5.2: the default charset
        except UnicodeError:
            problem = f"8-bit text labelled {charset!r}" if charset else "8-bit text without a declared charset"
    else:
        try:
            return charsets.decode(data, charset)
        except LookupError:  # also raised for bytes-to-bytes codecs such as "base64"
            problem = f"unknown charset {charset!r}"
        except (UnicodeError, ValueError, TypeError):
            problem = f"text is not valid {charset!r}"
    text, used = _utf8_or_windows_1252(data)
    defects.append(f"{where}: {problem}; decoded as {used}")
    return text


def _utf8_or_windows_1252(data: bytes) -> tuple[str, str]:
    """UTF-8 when the bytes are mostly UTF-8 (stray bad bytes become U+FFFD), else windows-1252.

    One broken byte in a UTF-8 mail must not turn every ü and ø into mojibake;
    legacy 8-bit text, where no UTF-8 sequence is valid, reads right as
    windows-1252 (what the WHATWG standard reads "latin-1" as: Latin-1 plus € and curly quotes).
    """
    text = data.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd")
    if not replaced:
        return text, "utf-8"
    decoded = sum(1 for ch in text if ord(ch) > 0x7F) - replaced
    if decoded > replaced:
        return text, "utf-8 (invalid bytes replaced)"
    return charsets.decode(data, "windows-1252"), "windows-1252"


# --- Body text ---------------------------------------------------------------


def _text_body(body: _Body, html_body: str | None, defects: list[str]) -> str:
    plain = [piece for piece in body.plain if piece.strip()]
    if len(plain) == 1:
        return plain[0]
    if plain:
        # Apple Mail puts text, image, text in one multipart/mixed: keep the pieces in order.
        return "\n\n".join(piece.strip("\n") for piece in plain)
    return html_text(html_body, body.html, defects)


def _line_ending(raw: bytes) -> str:
    first_newline = raw.find(b"\n")
    return "\r\n" if first_newline > 0 and raw[first_newline - 1 : first_newline] == b"\r" else "\n"
