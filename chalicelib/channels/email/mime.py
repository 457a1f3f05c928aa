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
import mimetypes
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import errors as email_errors
from email import policy
from email.generator import BytesGenerator, Generator
from email.headerregistry import UnstructuredHeader
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from io import BytesIO, StringIO
from types import MappingProxyType
from typing import Any

from chalicelib.channels.email.exceptions import MalformedEmail

__all__ = ["Attachment", "ParsedEmail", "parse_email"]

#: Languages whose "On ... wrote:" headers and sign-offs mailparser_reply knows.
#: It has no Norwegian; Danish covers most of what Norwegian clients write.
REPLY_LANGUAGES = ("en", "da", "de", "sv", "nl", "fr", "es")

_MAX_FILENAME_CHARS = 150
_MAX_NESTING = 64  # deeper MIME trees are hostile, not mail
_REPLY_SCAN_CHARS = 100_000  # the new reply sits at the top; the quoting regexes are not cheap
_MAX_SIGNATURE_CANDIDATES = 20
# The stdlib's header value parsers slow down quadratically (20,000 recipients
# in one To header take 15 s). Real headers stay far below this; longer ones
# are read leniently.
_MAX_STRICT_HEADER = 32_768
_STRICT_HEADER_BUDGET = 8 * _MAX_STRICT_HEADER
_MAX_ADDRESS_HEADERS = 10  # per name; more than a few To headers is already broken


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


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one RFC 5322 / MIME message; raise ``MalformedEmail`` only when there is no sender."""
    raw = bytes(raw)
    if not raw.strip():
        suffix = ", whitespace only" if raw else ""
        raise MalformedEmail(f"empty message ({len(raw)} bytes{suffix})")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError:
        # The feed parser recurses once per nested multipart.
        raise MalformedEmail("MIME parts nested too deeply to parse") from None

    raw_headers = _unfolded_headers(message)
    if not raw_headers:
        raise MalformedEmail("no header section: the input does not look like an email")

    defects: list[str] = []
    envelope = _envelope(raw_headers, defects)
    content = _content(message, _line_ending(raw), defects)
    return ParsedEmail(**envelope, **content, defects=_unique(defects))


def _envelope(raw_headers: list[tuple[str, str]], defects: list[str]) -> dict[str, Any]:
    """The ParsedEmail fields that come from the header section."""
    headers = _decoded_headers(raw_headers, defects)
    from_address, from_name = _sender(raw_headers, defects)
    return {
        "message_id": _first(_message_ids(_values(raw_headers, "message-id"), require_at=False)),
        "in_reply_to": _message_ids(_values(raw_headers, "in-reply-to")),
        "references": _message_ids(_values(raw_headers, "references")),
        "subject": _display_text(_first(headers.get("subject", [])) or ""),
        "from_address": from_address,
        "from_name": from_name,
        "reply_to": _first([address for _, address in _addresses(raw_headers, "reply-to", defects)]),
        "to": _unique(address for _, address in _addresses(raw_headers, "to", defects)),
        "cc": _unique(address for _, address in _addresses(raw_headers, "cc", defects)),
        "date": _date(raw_headers, defects),
        "headers": MappingProxyType(headers),
        "return_path": _return_path(headers),
    }


def _content(message: Message, linesep: str, defects: list[str]) -> dict[str, Any]:
    """The ParsedEmail fields that come from the MIME body."""
    visited: list[tuple[str, Message]] = []
    body = _walk(message, "", 0, visited, defects)
    text_body = _text_body(body)
    attachments = _attachments(body.attachments, linesep)
    # Decoding adds defects to the parts (bad base64 ...), so read them last.
    defects += [f"{where}: {_describe(defect)}" for where, part in visited for defect in part.defects]
    return {
        "text_body": text_body,
        "reply_text": _reply_text(text_body),
        "html_body": _sanitise_html("\n".join(body.html)).strip() if body.html else None,
        "attachments": attachments,
    }


# --- Headers -----------------------------------------------------------------

_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_SURROGATE_RUN = re.compile("[\udc80-\udcff]+")
_HEADER_FACTORY = policy.default.header_factory


def _unfolded_headers(message: Message) -> list[tuple[str, str]]:
    """(lowercased name, unfolded raw value) pairs; 8-bit bytes are still surrogate escapes."""
    pairs = []
    for name, value in message.raw_items():
        # RFC 5322 §2.2.3: unfolding removes the CRLF that precedes whitespace.
        value = _FOLD.sub("", str(value)).strip()
        pairs.append((name.strip().lower(), value))
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

_ADDR_SPEC_FALLBACK = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+\.[^\s<>()\[\],;:\"'.]+")


def _sender(raw_headers: list[tuple[str, str]], defects: list[str]) -> tuple[str, str]:
    if not _values(raw_headers, "from"):
        raise MalformedEmail("missing From header")
    found = _addresses(raw_headers, "from", defects)
    if not found:
        shown = _shorten(" / ".join(_values(raw_headers, "from"))) or "(empty)"
        raise MalformedEmail(f"From header has no address: {shown}")
    name, address = found[0]
    return address, name


def _addresses(raw_headers: list[tuple[str, str]], name: str, defects: list[str]) -> list[tuple[str, str]]:
    """(display name, lowercased addr-spec) pairs from every header called ``name``."""
    found: list[tuple[str, str]] = []
    values = _values(raw_headers, name)
    if len(values) > _MAX_ADDRESS_HEADERS:
        defects.append(f"{name.title()} header repeated {len(values)} times; read the first {_MAX_ADDRESS_HEADERS}")
    for value in values[:_MAX_ADDRESS_HEADERS]:
        label = name.title()
        found.extend(_parse_address_list(name, label, _repair_surrogates(value, f"{label} header", defects), defects))
    return found


def _parse_address_list(name: str, label: str, value: str, defects: list[str]) -> list[tuple[str, str]]:
    """Parse with the header registry first, then getaddresses, then a plain addr-spec search."""
    parsed, complete = _registry_addresses(name, label, value, defects)
    usable = [(n, a) for n, a in parsed if _is_usable_address(a)]
    legacy = [(n, a) for n, a in getaddresses([value]) if _is_usable_address(a)]
    if not complete or len(usable) < len(parsed):
        usable += legacy
    if not usable:
        usable = [("", found) for found in _ADDR_SPEC_FALLBACK.findall(value)]

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


def _registry_addresses(name: str, label: str, value: str, defects: list[str]) -> tuple[list[tuple[str, str]], bool]:
    """(display name, addr-spec) pairs from the strict RFC 5322 parser, and whether it was happy."""
    if len(value) > _MAX_STRICT_HEADER:
        defects.append(f"{label} header is {len(value)} characters long; parsed leniently")
        return [], False
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


def _text_body(body: _Body) -> str:
    plain = [piece for piece in body.plain if piece.strip()]
    if len(plain) == 1:
        return plain[0]
    if plain:
        # Apple Mail puts text, image, text in one multipart/mixed: keep the pieces in order.
        return "\n\n".join(piece.strip("\n") for piece in plain)
    if body.html:
        return _html_to_text(_sanitise_html("\n".join(body.html)))
    return ""


def _html_to_text(html: str) -> str:
    import html2text  # only HTML-only mail needs it

    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping: the UI wraps
    converter.ignore_images = True  # cid: references mean nothing in text
    converter.ignore_emphasis = True
    converter.unicode_snob = True  # keep æøå, do not transliterate
    return converter.handle(html).strip("\n") + "\n"


def _sanitise_html(html: str) -> str:
    """Remove script, style, event handlers and javascript: URLs; keep cid: images."""
    import nh3

    return nh3.clean(html, url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid"})


def _reply_text(text: str) -> str:
    """The new part of a reply: quoted history, reply headers and the signature removed."""
    if not text.strip():
        return ""
    head = text[:_REPLY_SCAN_CHARS]
    reply = _strip_history_and_signature(head)
    if len(text) > len(head) and reply == head.strip():
        return text.strip()  # nothing was quoted in the head, so the tail is new text too
    return reply or text.strip()


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


def _attachments(parts: list[Message], linesep: str) -> list[Attachment]:
    attachments = []
    for index, part in enumerate(parts, 1):
        content_type = part.get_content_type()
        content_id = _content_id(part)
        disposition = part.get_content_disposition()
        name = _filename(part) or _attached_message_name(part)
        attachments.append(
            Attachment(
                filename=_safe_filename(name, index, content_type),
                content_type=content_type,
                content=_part_bytes(part, linesep),
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
