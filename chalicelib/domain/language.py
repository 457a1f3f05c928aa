"""Which language a customer wrote in, for skill-based routing: en, da or no (or None).

A deliberately small, deterministic stop-word vote: the desk's customers write
English, Danish and Norwegian, which share vocabulary, so only words that tell
them apart count. An unsure vote returns None and routing ignores language.
"""
from __future__ import annotations

import re

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
