"""Which language a customer wrote in (``detect``), and which one we answer them in (``for_customer``).

``detect`` serves skill-based routing and is the ticket's ``language``: en, da or no (or None).

A deliberately small, deterministic stop-word vote: the desk's customers write
English, Danish and Norwegian, which share vocabulary, so only words that tell
them apart count. An unsure vote returns None and routing ignores language.
"""
from __future__ import annotations

import re

from chalicelib.domain import accept
from chalicelib.domain.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["detect", "for_customer", "from_accept"]

# Accept-Language tags that mean one of ours (RFC 4647 basic prefixes): Norwegian is "no", "nb" or "nn".
_TAGS = {"en": "en", "da": "da", "no": "no", "nb": "no", "nn": "no"}

_WORDS = re.compile(r"[a-zæøåäöü]+")
_MARKERS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is are was have has not you your my our please thanks thank would could "
                    "this that with from order when what why".split()),
    "da": frozenset("jeg ikke det er og har min mit mine med til hvad hvorfor hvornår tak venlig hilsen "
                    "kan bestilling pakke modtaget endnu af nogen også bare meget efter".split()),
    "no": frozenset("jeg ikke det er og har min mitt mine med til hva hvorfor når takk vennlig hilsen "
                    "kan bestilling pakke mottatt ennå av noen også bare mye etter".split()),
}
_MIN_VOTES = 2


def detect(text: str) -> str | None:
    words = _WORDS.findall(text.lower()[:5000])
    votes = {language: sum(word in markers for word in words) for language, markers in _MARKERS.items()}
    # Danish and Norwegian share most markers: only the words that differ decide between them.
    nordic_shared = _MARKERS["da"] & _MARKERS["no"]
    distinct = {language: sum(word in _MARKERS[language] - nordic_shared for word in words)
                for language in ("da", "no")}
    if max(votes.values()) < _MIN_VOTES:
        return None
    if votes["en"] > max(votes["da"], votes["no"]):
        return "en"
    if distinct["da"] == distinct["no"]:
        return None  # Scandinavian, but nothing says which: let routing ignore language
    return "da" if distinct["da"] > distinct["no"] else "no"


def from_accept(header: str | None) -> str | None:
    """Our language a browser's ``Accept-Language`` weighs highest (the first listed on a tie), or None.

    What a visitor nobody knows yet states about themselves: ``for_customer`` takes it as the preference.
    """
    best, best_q = None, 0.0
    for tag, q in accept.weights(header).items():  # in the header's order
        language = _TAGS.get(tag.split("-")[0])
        if language is not None and language in LANGUAGES and q > best_q:
            best, best_q = language, q
    return best


def for_customer(preferred: str | None, detected: str | None, default: str | None = DEFAULT_LANGUAGE) -> str:
    """The language every text a customer reads is written in: the one place that decides it.

    The customer's stated preference (their record's ``language``) beats what we detected in
    their message (the ticket's ``language``), which beats the desk's ``default_language``:
    someone who asked for Norwegian but wrote two English lines still reads Norwegian. A
    value we have no texts for (a preference imported as "de", a default mistyped) is
    skipped, never rendered: English is the last resort.
    """
    for language in (preferred, detected, default):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE
