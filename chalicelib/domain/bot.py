"""The 24/7 chat bot's rules, in plain Python: what it may answer, what the customer's answer means, its state.

On a chat channel the bot answers a new question with the one knowledge-base article that
matches it confidently and asks "did this solve it?" (``CHOICES``: each platform shows them as
its own buttons; SMS reads a typed yes or no). Then the customer's next message decides
(``understand``): yes solves the ticket as deflected; no, a request for a person, or anything
else hands the conversation to a person. A request for a person in the first message skips the
bot. The bot asks once per ticket: after a hand-off every message is the team's.

Reading a free-text answer is a bounded, word-level check of the first ``_READ_CHARS`` characters
in English, Danish and Norwegian; "not sure, no" must never read as yes, so a message holding
both a yes and a no word is not a yes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Mapping

from chalicelib.domain.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["ASKED", "CHOICES", "CHOICE_LABELS", "CHOICE_NO", "CHOICE_YES", "HANDED_OFF", "LANGUAGES", "SOLVED",
           "Answer", "BotState", "asks_for_person", "choices_in", "on_topic", "state_of", "understand"]

CHOICE_YES = "bot:yes"
CHOICE_NO = "bot:no"
CHOICES: tuple[str, ...] = (CHOICE_YES, CHOICE_NO)

ASKED = "asked"  # the bot answered with an article and waits for yes or no
HANDED_OFF = "handed_off"  # a person answers from here on
SOLVED = "solved"  # the customer said the article solved it

Answer = Literal["yes", "no", "person", "other"]

#: Button labels, at most 20 characters (WhatsApp's reply-button title limit).
CHOICE_LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "en": MappingProxyType({CHOICE_YES: "Yes, solved", CHOICE_NO: "No, I need help"}),
    "da": MappingProxyType({CHOICE_YES: "Ja, løst", CHOICE_NO: "Nej, brug for hjælp"}),
    "no": MappingProxyType({CHOICE_YES: "Ja, løst", CHOICE_NO: "Nei, trenger hjelp"}),
})

_READ_CHARS = 300  # a yes or no is short; a long message is a new question for a person
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

# Words that answer "did this solve it?" (lower case). The three languages share one set each: a Danish
# customer may well type "ok" or "yes", and these words mean the same in all three. A plain "yes" or "ok" is
# a yes only in a short answer ("ok, but where is my parcel?" is a new question); "solved" or "that helped"
# is one in a sentence too.
_YES = frozenset({"yes", "yep", "yeah", "yup", "y", "ok", "okay", "thanks", "thank", "thx", "great", "super",
                  "ja", "jo", "jep", "jepp", "jada", "jaja", "tak", "takk", "fint", "fedt", "flott"})
_SOLVED = frozenset({"solved", "fixed", "helped", "perfect", "worked", "works",
                     "løst", "hjalp", "perfekt", "virker", "virket", "fungerer", "fungerte", "fungerede"})
_NO = frozenset({"no", "nope", "nah", "not", "didn", "didnt", "doesn", "doesnt", "n", "still",
                 "nej", "nei", "ikke", "ikkje", "nix", "stadig", "fortsatt", "fremdeles"})
_SHORT_YES = 4  # words: "yes", "ja tak", "ok thanks!"
_SENTENCE_YES = 12  # words: "thanks, that solved it, you're great"
# A request for a person: words that only mean that, and two-word phrases.
_PERSON_WORDS = frozenset({"human", "humans", "agent", "operator", "representative", "menneske", "mennesket",
                           "medarbejder", "medarbeider", "kundeservicemedarbejder"})
_PERSON_PHRASES = frozenset({
    ("talk", "to"), ("speak", "to"), ("speak", "with"), ("talk", "with"), ("call", "me"), ("real", "person"),
    ("a", "person"), ("tale", "med"), ("snakke", "med"), ("prate", "med"), ("ring", "mig"), ("ring", "meg"),
    ("rigtig", "person"), ("ekte", "person"), ("en", "person"), ("et", "menneske"), ("ett", "menneske"),
})


# Words that say nothing about what a question is about, as the search engine's stemmers leave them, ASCII-folded
# too ("får" → "far"); its own stop-word lists keep "when", "got", "get", "i". A title and a question sharing
# only these share no subject.
_FUNCTION_WORDS = frozenset("""
    i me my mine you your yours we our us it its they them he she a an the and or but if so when what where why how
    who which will would can could do doe did is are was were be been get got have has had to of in on at for with
    from by about this that there here not no yes pleas thank thanks hi hello some any all my just
    jeg mig meg min mit mitt mine du dig deg din dit ditt dine vi os oss vore vor vår det den de en et ett og eller
    men hvis når hvornår hva hvad hvor hvorfor hvordan hvem kan skal vil er var har havd hadd få får fik fikk at å
    til af av i på med fra om for ikk ikke ja nej nei tak takk hej hei t s
    hvornar nar far fa pa a
""".split())


def on_topic(question_terms: list[str], title_terms: list[str]) -> bool:
    """Does a question name what an article's title is about: a shared stemmed word that is not a function word?"""
    subject = set(title_terms) - _FUNCTION_WORDS
    return bool(subject & (set(question_terms) - _FUNCTION_WORDS))


@dataclass(frozen=True)
class BotState:
    """What the bot did on a ticket (stored as the ticket's ``bot`` map)."""

    state: str  # ASKED, HANDED_OFF or SOLVED
    article_id: str | None = None
    at: str | None = None  # when it entered this state (ISO)
    reason: str | None = None  # why it handed off, for the agent

    def as_item(self) -> dict[str, Any]:
        return {key: value for key, value in (("state", self.state), ("article_id", self.article_id),
                                              ("at", self.at), ("reason", self.reason)) if value is not None}


def state_of(stored: Any) -> BotState | None:
    """The bot's state as the ticket stores it, or None when the bot never took part (or the map is unusable)."""
    if not isinstance(stored, Mapping) or stored.get("state") not in (ASKED, HANDED_OFF, SOLVED):
        return None
    return BotState(state=stored["state"], article_id=_text(stored.get("article_id")), at=_text(stored.get("at")),
                    reason=_text(stored.get("reason")))


def understand(text: str, choice: str | None = None) -> Answer:
    """What the customer's message says to "did this solve it?": a pressed button decides; else their words."""
    if choice == CHOICE_YES:
        return "yes"
    if choice == CHOICE_NO:
        return "no"
    if asks_for_person(text):
        return "person"
    words = _word_list(text)
    said = frozenset(words)
    if said & _NO:
        return "no"
    if "?" in (text or "")[:_READ_CHARS]:  # a question is for a person, whatever words it holds
        return "other"
    if (said & _SOLVED and len(words) <= _SENTENCE_YES) or (said & _YES and len(words) <= _SHORT_YES):
        return "yes"
    return "other"


def asks_for_person(text: str) -> bool:
    """Does the customer ask to talk to a person (in any of our languages)?"""
    words = _word_list(text)
    if any(word in _PERSON_WORDS for word in words):
        return True
    return any(pair in _PERSON_PHRASES for pair in zip(words, words[1:]))


def choices_in(language: str) -> list[dict[str, str]]:
    """The yes/no buttons, labelled in ``language`` (English for one we do not write)."""
    labels = CHOICE_LABELS.get(language, CHOICE_LABELS[DEFAULT_LANGUAGE])
    return [{"value": value, "label": labels[value]} for value in CHOICES]


def _word_list(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall((text or "")[:_READ_CHARS])]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
