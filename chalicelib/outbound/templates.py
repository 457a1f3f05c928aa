"""Jinja2 rendering for customer-facing text, HTML autoescaped, undefined names fatal.

A customer-facing template exists once per language of ``vocabulary.LANGUAGES``: the
English one under its plain name (``acknowledgement.chat.j2``), every other with the
language after the stem (``acknowledgement.da.chat.j2``); ``template_in`` picks it for
the language ``domain.language.for_customer`` chose, and
``tests/unit/test_language_registry.py`` fails for a language whose file is missing.

The Danish and Norwegian acknowledgements (``acknowledgement.da.*.j2``,
``acknowledgement.no.*.j2``) show the priority and the promised response time,
which the desk computes in English ("normal", "9 business hours"): the ``localized``
filter words them in the template's language.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from chalicelib.domain.vocabulary import LANGUAGES

__all__ = ["CUSTOMER_TEMPLATES", "in_language", "render", "template_in"]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_WORDS = {  # priorities (chalicelib.domain.vocabulary) and the promise given without an SLA target
    "da": {"urgent": "akut", "high": "høj", "normal": "normal", "low": "lav", "as soon as we can": "så hurtigt vi kan"},
    "no": {"urgent": "haster", "high": "høy", "normal": "normal", "low": "lav", "as soon as we can": "så snart vi kan"},
}
_UNITS = {  # singular, plural; "business" compounds: arbejdstimer, arbeidsdager
    "da": {"minute": ("minut", "minutter"), "hour": ("time", "timer"), "day": ("dag", "dage"), "business": "arbejds"},
    "no": {"minute": ("minutt", "minutter"), "hour": ("time", "timer"), "day": ("dag", "dager"), "business": "arbeids"},
}
_DURATION = re.compile(r"(\d+) (business )?(minute|hour|day)s?")  # domain.acknowledgement.humanise_minutes


#: Every template a customer reads, by its English name; each has a file per language (``template_in``).
CUSTOMER_TEMPLATES: tuple[str, ...] = ("acknowledgement.txt.j2", "acknowledgement.html.j2", "acknowledgement.chat.j2",
                                       "bot_answer.chat.j2", "bot_handoff.chat.j2", "bot_solved.chat.j2")
_BASE_LANGUAGE = "en"  # the language of a template's plain name


def template_in(name: str, language: str) -> str:
    """The file of template ``name`` in ``language``: ``acknowledgement.da.txt.j2``; English (or a language
    we have no texts for) is ``name`` itself."""
    if language == _BASE_LANGUAGE or language not in LANGUAGES:
        return name
    stem, _, kinds = name.partition(".")
    return f"{stem}.{language}.{kinds}"


def in_language(text: str, language: str) -> str:
    """An English priority or response time ("4 business hours") in Danish or Norwegian; others unchanged."""
    words, units = _WORDS.get(language), _UNITS.get(language)
    if words is None or units is None:
        return text
    if text in words:
        return words[text]
    match = _DURATION.fullmatch(text)
    if match is None:
        return text
    amount, business, unit = int(match.group(1)), match.group(2), match.group(3)
    word = units[unit][0 if amount == 1 else 1]
    return f"{amount} {units['business'] if business else ''}{word}"


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2  # imported on first render, not on every cold start

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["localized"] = in_language
    return environment


def render(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)
