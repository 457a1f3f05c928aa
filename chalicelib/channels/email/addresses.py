"""Who sent the mail and to whom: sender selection, address-list parsing, RFC 5321 lengths.

The sender is who we answer, so a broken From header must still yield an
address when any header names one (From, else Sender, else Reply-To). Each
value is read by the strict header registry, then the legacy ``getaddresses``,
then a linear token search, and the first two only see bounded input.
"""
from __future__ import annotations

import re
from email.headerregistry import UnstructuredHeader
from email.utils import getaddresses

from chalicelib.channels.email.exceptions import MalformedEmail
from chalicelib.channels.email.headers import (
    HEADER_FACTORY,
    STRICT_HEADER_BUDGET,
    decode_unstructured,
    header_values,
)
from chalicelib.channels.email.charsets import with_whatwg_charsets
from chalicelib.channels.email.text import describe, display_text, repair_surrogates, shorten

__all__ = ["address_tokens", "header_addresses", "parse_address_list", "sender"]

# The stdlib's header value parsers are quadratic on hostile input: 8,000 double quotes
# in a To header take 1.5 s, 32 KB would take 25 s. Real headers stay far below these
# limits; longer ones are read leniently by our own linear code (the per-message
# budget is headers.STRICT_HEADER_BUDGET).
_MAX_STRICT_ADDRESS_HEADER = 2_048  # about 50 recipients; more go to the lenient reader
_MAX_ADDRESS_HEADERS = 10  # per name; more than a few To headers is already broken
#: RFC 5321 §4.5.3.1.1-3: local part 64 octets, domain 255, a path 256 including
#: the angle brackets, so an address of at most 254.
_MAX_LOCAL_PART = 64
_MAX_DOMAIN = 255
_MAX_ADDRESS = 254

# Linear by construction: the value is split on separators first (one pass), then
# each token of bounded length is matched by an anchored pattern with no nested
# quantifiers that can overlap. (The old single findall was cubic: 8 KB of "a@" took
# over 30 s.)
_ADDRESS_SEPARATORS = re.compile(r"[\s<>()\[\],;:\"']+")
_ADDR_TOKEN = re.compile(r"[^@]{1,%d}@[A-Za-z0-9\u0080-\uffff_-]+(?:\.[A-Za-z0-9\u0080-\uffff_-]+)+" % _MAX_LOCAL_PART)
_SENDER_HEADERS = ("from", "sender", "reply-to")  # RFC 5322 §3.6.2: who to answer, in order
# Most mail names one plain address: "Ann Smith <ann@example.com>" or "ann@example.com". For those
# the two stdlib parsers agree, find no defect and return exactly what this pattern captures, so
# they are skipped (they cost ~0.2 ms a header). Atoms only (RFC 5322 §3.2.3, without "." — an
# obsolete phrase the registry flags — and "=" "?", which could start an encoded word), single
# spaces, a dot-atom address whose domain has a dot: anything else takes the parsers.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]"
_DOT_ATOM_ADDRESS = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PLAIN_ADDRESS = re.compile(
    rf"(?:(?P<name>{_ATEXT}+(?: {_ATEXT}+)*) <(?P<angled>{_DOT_ATOM_ADDRESS})>|(?P<bare>{_DOT_ATOM_ADDRESS}))"
)
# Non-English names arrive as RFC 2047 encoded words: "=?utf-8?q?S=C3=B8ren_Lund?= <soren@example.dk>".
# Both parsers read those the same way too (the display name is then the unstructured decoding,
# as below): when decoding the words finds no defect, one decode replaces the three parses. Only
# base64/Q characters that getaddresses does not treat as specials, so it reads one word per word.
_ENCODED_WORD = r"=\?[A-Za-z0-9_-]{1,40}\?[bBqQ]\?[A-Za-z0-9+/=_-]+\?="
_ENCODED_NAME_ADDRESS = re.compile(
    rf"(?P<words>{_ENCODED_WORD}(?: {_ENCODED_WORD})*) <(?P<address>{_DOT_ATOM_ADDRESS})>"
)


def sender(raw_headers: list[tuple[str, str]], defects: list[str], budget: list[int]) -> tuple[str, str, str]:
    """(address, display name, header it came from): From, else Sender, else Reply-To.

    RFC 5322 §3.6.2 makes From mandatory, but a mail with only Sender or Reply-To
    still names someone to answer; parking it would leave a customer unanswered.
    """
    present = [name for name in _SENDER_HEADERS if header_values(raw_headers, name)]
    if not present:
        raise MalformedEmail("missing From header")
    overlong: list[str] = []
    for name in present:
        found = header_addresses(raw_headers, name, defects, budget, overlong)
        if found:
            if name != "from":
                missing = "has no usable address" if "from" in present else "is missing"
                defects.append(f"From header {missing}; the sender is taken from the {name.title()} header")
            display_name, address = found[0]
            return address, display_name, name
    if overlong:
        raise MalformedEmail(
            f"sender address is {len(overlong[0]):,} characters long (RFC 5321 allows {_MAX_ADDRESS}): "
            f"{shorten(overlong[0], 60)}"
        )
    shown = shorten(" / ".join(header_values(raw_headers, "from"))) or "(empty)"
    if "from" not in present:
        shown = shorten(" / ".join(v for name in present for v in header_values(raw_headers, name)))
        raise MalformedEmail(f"missing From header, and {'/'.join(n.title() for n in present)} has no address: {shown}")
    raise MalformedEmail(f"From header has no address: {shown}")


def header_addresses(
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
    budget = [STRICT_HEADER_BUDGET] if budget is None else budget
    found: list[tuple[str, str]] = []
    values = header_values(raw_headers, name)
    if len(values) > _MAX_ADDRESS_HEADERS:
        defects.append(f"{name.title()} header repeated {len(values)} times; read the first {_MAX_ADDRESS_HEADERS}")
    for value in values[:_MAX_ADDRESS_HEADERS]:
        label = name.title()
        value = with_whatwg_charsets(repair_surrogates(value, f"{label} header", defects))  # "=?gb2312?..." names
        parsed = parse_address_list(name, label, value, defects, budget)
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


def parse_address_list(
    name: str, label: str, value: str, defects: list[str], budget: list[int] | None = None
) -> list[tuple[str, str]]:
    """Parse with the header registry first, then getaddresses, then a plain addr-spec search.

    The two stdlib parsers only see values up to ``_MAX_STRICT_ADDRESS_HEADER`` (and
    a per-message budget): on longer values only the linear token search runs.
    """
    budget = [STRICT_HEADER_BUDGET] if budget is None else budget
    strict = len(value) <= _MAX_STRICT_ADDRESS_HEADER and budget[0] > 0
    if strict:
        budget[0] -= len(value)
        plain = _plain_address(label, value, defects)
        if plain is not None:
            return [plain]
        parsed, complete = _registry_addresses(name, label, value, defects)
        usable = [(n, a) for n, a in parsed if _is_usable_address(a)]
        legacy = [(n, a) for n, a in _legacy_addresses(value, label, defects) if _is_usable_address(a)]
    else:
        defects.append(f"{label} header is {len(value):,} characters long; parsed leniently")
        parsed, complete, usable, legacy = [], False, [], []
    if not complete or len(usable) < len(parsed):
        usable += legacy
    if not usable:
        usable = [("", found) for found in address_tokens(value)]

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
            display_name = decode_unstructured(label, legacy_name, defects)
        elif not display_name:
            # RFC 822's "addr (Name)" form (MAILER-DAEMON still uses it): a comment to
            # the header registry, the display name to getaddresses.
            display_name = legacy_name
        result.append((display_text(repair_surrogates(display_name, f"{label} header", defects)), address))
    return result


def _plain_address(label: str, value: str, defects: list[str]) -> tuple[str, str] | None:
    """What the parsers below return for one plain address (see ``_PLAIN_ADDRESS``), or None to run them."""
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain is not None:
        return plain["name"] or "", (plain["angled"] or plain["bare"]).lower()
    encoded = _ENCODED_NAME_ADDRESS.fullmatch(value)
    if encoded is None:
        return None
    try:
        parse_tree = UnstructuredHeader.value_parser(encoded["words"])
    except Exception:  # the header parser is not meant to raise; let the full path note it
        return None
    if parse_tree.all_defects:
        return None  # a charset or padding problem: the full path notes it
    display_name = repair_surrogates(str(parse_tree), f"{label} header", defects)  # = decode_unstructured's
    return display_text(repair_surrogates(display_name, f"{label} header", defects)), encoded["address"].lower()


def _legacy_addresses(value: str, label: str, defects: list[str]) -> list[tuple[str, str]]:
    """getaddresses, which recurses once per "(" of a nested comment and then raises RecursionError."""
    try:
        return getaddresses([value])
    except (RecursionError, ValueError, IndexError):
        defects.append(f"{label} header could not be read by the legacy parser")
        return []


def address_tokens(value: str) -> list[str]:
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
        header = HEADER_FACTORY(name, value)
        parsed = [(address.display_name, address.addr_spec) for address in header.addresses]
    except Exception:  # the address parser has raised on hostile input before
        defects.append(f"{label} header could not be parsed: {shorten(value)}")
        return [], False
    defects.extend(f"{label} header: {describe(defect)}" for defect in header.defects)
    return parsed, not header.defects


def _is_usable_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or "." not in domain.strip("."):
        return False
    return not any(ch.isspace() or ch in '<>(),;:"[]\\' for ch in domain) and "<" not in local
