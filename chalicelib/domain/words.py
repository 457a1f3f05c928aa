"""Whole words and phrases in customers' text: one definition for every rule file (triage, automation).

Text is compatibility-normalised and case-folded once ("ÆRGERLIGT", "ærgerligt"
and a decomposed "a\u030a" from macOS mail compare equal); a word or phrase
matches whole words only, a trailing ``*`` matches any ending ("advokat*":
advokaten, advokater), and a rule's words become one alternation searched in
subject and text.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["FoldedText", "alternation", "compile_words", "fold", "phrase_pattern"]


def fold(text: str) -> str:
    """Compatibility-normalised, case-folded text: "ÆRGERLIGT", "ærgerligt" and a
    decomposed "a\u030a" (macOS mail) all compare as equal."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def phrase_pattern(phrase: str) -> str:
    """Regex source for one word or phrase, already folded; raises ValueError if unusable."""
    tokens = phrase.split()
    if not tokens:
        raise ValueError("empty word or phrase")
    parts = []
    for token in tokens:
        stem, star = (token[:-1], True) if token.endswith("*") else (token, False)
        if "*" in stem:
            raise ValueError(f"{phrase!r}: '*' is only allowed at the end of a word")
        if not any(ch.isalnum() for ch in stem):
            raise ValueError(f"{phrase!r}: each word needs a letter or digit")
        if star and len(stem) < 3:
            raise ValueError(f"{phrase!r}: a word ending in '*' needs at least 3 letters before it")
        parts.append(re.escape(stem) + (r"\w*" if star else ""))
    # Lookarounds rather than \b so a word ending in punctuation ("c++", "24/7") still works.
    return r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)"


def compile_words(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """A rule file's words, folded and checked (``ValueError`` names the one that cannot match)."""
    folded = tuple(fold(p).strip() for p in phrases)
    for original, phrase in zip(phrases, folded):
        if not phrase:
            raise ValueError(f"empty word or phrase ({original!r})")
        phrase_pattern(phrase)  # validates
    return folded


def alternation(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern matching any of ``words`` (folded, checked)."""
    return re.compile("|".join(phrase_pattern(w) for w in words))


class FoldedText:
    """Subject and text, folded once per ticket however many rules ask."""

    def __init__(self, subject: str, text: str) -> None:
        self.fields = (fold(subject), fold(text))

    def search(self, pattern: re.Pattern[str]) -> str | None:
        """The first match in subject, then text; None if neither matches."""
        for field in self.fields:
            match = pattern.search(field)
            if match:
                return match.group(0)
        return None
