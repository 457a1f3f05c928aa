"""Small text helpers every part of the mail parser uses: decoding leftovers, display, defect notes.

They live here, below every other parser module, so each can import them
without an import cycle.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["describe", "display_text", "first", "repair_surrogates", "shorten", "unique"]

_SURROGATE_RUN = re.compile("[\udc80-\udcff]+")


def repair_surrogates(text: str, where: str, defects: list[str]) -> str:
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


def display_text(text: str) -> str:
    """One line for people: whitespace runs collapsed, other control characters dropped."""
    if not text.isprintable():  # drop controls first, so none leaves a stray space behind
        text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(text.split())


def describe(defect: Exception) -> str:
    """A defect as a sentence: its message, or its class's docstring when it has none."""
    doc_lines = (type(defect).__doc__ or "").strip().splitlines()
    detail = str(defect) or (doc_lines[0] if doc_lines else "")
    name = type(defect).__name__
    return f"{name}: {detail}" if detail else name


def shorten(value: str, limit: int = 120) -> str:
    """The value on one line and at most ``limit`` characters, for quoting it in a defect note."""
    value = " ".join(repair_surrogates(value, "", []).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def first(values: Iterable[str]) -> str | None:
    """The first value, or None: a missing header is normal, not an error."""
    return next(iter(values), None)


def unique(values: Iterable[str]) -> list[str]:
    """The values without repeats, first occurrence kept: order matters (threading, recipients)."""
    return list(dict.fromkeys(values))
