"""The two ``email`` policies the desk uses: one to read mail, one to write it.

Both are ``policy.default`` underneath (RFC 5322 parsing, defects recorded,
RFC 2047 encoded words); they only skip work the stdlib repeats:

* ``HEADER_FACTORY`` builds each header class once per process. The stdlib's
  ``HeaderRegistry.__getitem__`` builds a new class with ``type()`` for every
  header it parses or creates (CPython ``email/headerregistry.py``), about
  10 µs each and some 40 times per inbound mail and acknowledgement. The
  combined class depends only on the registered class, a finite set, so the
  cache stays bounded whatever header names a sender invents.
* ``SENDING`` stores a header value we generate as the plain string it is
  (the way the parser stores received headers, ``Message.set_raw``) when
  parsing and refolding it would give back the very same line: printable
  ASCII, single spaces, no encoded-word marker, short enough not to fold, and
  for structured headers a shape whose parse is the identity (a dot-atom
  address with an atom display name, a bracketed dot-atom Message-ID, a Date
  as ``format_datetime`` writes it). Every
  other value (non-ASCII names and subjects that need RFC 2047, long
  References that fold, quoted display names, Content-Type) takes the
  stdlib's parse-and-fold path as before, so the bytes on the wire are the
  same either way. Reading a header back still parses it (``header_fetch_parse``).
"""
from __future__ import annotations

import functools
import re
from email import headerregistry
from email.headerregistry import Address, HeaderRegistry
from email.policy import EmailPolicy
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

__all__ = ["HEADER_FACTORY", "READING", "SENDING", "CachedHeaderRegistry"]


class CachedHeaderRegistry(HeaderRegistry):
    """``HeaderRegistry`` whose combined header classes are made once per registered class."""

    def __init__(self) -> None:
        super().__init__()
        self._combined: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        specialised = self.registry.get(name.lower(), self.default_class)
        combined = self._combined.get(specialised)
        if combined is None:
            combined = type("_" + specialised.__name__, (specialised, self.base_class), {})
            self._combined[specialised] = combined
        return combined


# RFC 5322 §3.2.3 atext without "=" and "?" (no encoded-word lookalikes) and without ".",
# which the stdlib flags as an obsolete phrase; dot-atom addresses (§3.4.1) and msg-ids (§3.6.4).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_ADDR_SPEC = rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII words, single spaces
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)* <{_ADDR_SPEC}>|{_ADDR_SPEC}")
_PLAIN_MSG_ID = re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>")
_MAX_LINE = 78  # policy.default.max_line_length: longer lines are folded


def _same_after_refold(name: str, value: str) -> bool:
    """Whether parsing and folding ``value`` as policy.default does would write ``name: value`` unchanged."""
    if len(name) + 2 + len(value) > _MAX_LINE or "=?" in value or _PLAIN_VALUE.fullmatch(value) is None:
        return False
    kind = HEADER_FACTORY.registry.get(name.lower(), HEADER_FACTORY.default_class)
    if issubclass(kind, headerregistry.UnstructuredHeader):
        return True
    if issubclass(kind, headerregistry.AddressHeader):
        return _PLAIN_ADDRESS.fullmatch(value) is not None
    if issubclass(kind, headerregistry.MessageIDHeader):
        return _PLAIN_MSG_ID.fullmatch(value) is not None
    if issubclass(kind, (headerregistry.MIMEVersionHeader, headerregistry.ContentTransferEncodingHeader)):
        return " " not in value
    if issubclass(kind, headerregistry.DateHeader):  # the stdlib writes format_datetime(the date it parsed)
        return _round_trips_as_date(value)
    return False  # parameterised headers (Content-Type) are rewritten by the stdlib: parse them


def _round_trips_as_date(value: str) -> bool:
    try:
        return format_datetime(parsedate_to_datetime(value)) == value
    except (ValueError, TypeError, OverflowError):
        return False


class _SendingPolicy(EmailPolicy):
    """policy.default that stores our own plain header values verbatim (see the module docstring)."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        text = value if isinstance(value, str) else str(value) if isinstance(value, Address) else None
        if text is not None and _same_after_refold(name, text):
            return (name, text)
        if isinstance(value, str) and name.lower() == "content-type" and "boundary" not in value:
            return (name, _content_type(name, value))
        return super().header_store_parse(name, value)


@functools.lru_cache(maxsize=32)
def _content_type(name: str, value: str) -> Any:
    """Content-Type values ``set_content`` writes ("text/plain", then with its charset), parsed once per process.

    Header objects are immutable (``set_param`` stores a new one), so every message can share them.
    Values with a boundary are unique per mail and are not kept.
    """
    return HEADER_FACTORY(name, value)


#: Parses header values as policy.default does (dates, address lists, encoded words).
HEADER_FACTORY = CachedHeaderRegistry()
#: policy.default with the cached header classes: for parsing inbound mail.
READING = EmailPolicy(header_factory=HEADER_FACTORY)
#: policy.default for the mail we build: same bytes, without re-parsing our own plain values.
SENDING = _SendingPolicy(header_factory=HEADER_FACTORY)
