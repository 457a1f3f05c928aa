"""What a customer reads of a survey, per language, and how a page picks HTML or JSON and a language."""
from datetime import datetime, timezone

import pytest

from chalicelib.domain import accept, survey_texts


def test_every_language_words_every_string_and_every_score():
    english = survey_texts.WORDING["en"]
    assert survey_texts.LANGUAGES == ("en", "da", "no")
    for language, words in survey_texts.WORDING.items():
        assert set(words) == set(english), language
        assert set(words["ratings"]) == {1, 2, 3, 4, 5} and set(words["ces_scale"]) == set(range(1, 8))
        assert len(words["months"]) == 12 and all(isinstance(words[k], str) and words[k] for k in english
                                                   if k not in ("ratings", "ces_scale", "months"))


@pytest.mark.parametrize("language,expected", [
    ("en", ["How did we do? Rate 1–5 how we handled your request #7 (Lamp {broken}).",
            "5 – Very satisfied: https://x/5", "the links work until 9 March 2027."]),
    ("da", ["din sag #7 (Lamp {broken}).", "1 – Meget utilfreds: https://x/1", "linkene virker indtil 9. marts 2027."]),
    ("no", ["håndterte sak #7 (Lamp {broken}).", "3 – Nøytral: https://x/3", "lenkene virker til 9. mars 2027."]),
])
def test_the_survey_message_is_worded_in_the_tickets_language(language, expected):
    text = survey_texts.question(language, number=7, subject="Lamp {broken}", expires_at=datetime(
        2027, 3, 9, tzinfo=timezone.utc), links=[(r, f"https://x/{r}") for r in (5, 4, 3, 2, 1)])
    assert all(part in text for part in expected), text
    assert survey_texts.question("de", number=1, subject=None, links=[], expires_at=datetime(2027, 1, 1)).startswith(
        "How did we do?")  # a language we do not have: English


def test_a_language_code_we_do_not_have_is_english():
    assert [survey_texts.language_for(code) for code in ("da", "no", "en", None, "de", "")] == [
        "da", "no", "en", "en", "en", "en"]


@pytest.mark.parametrize("header,expected", [
    ("da-DK,da;q=0.9,en-US;q=0.8", "da"), ("nb-NO,nb;q=0.9", "no"), ("nn", "no"), ("NO", "no"),
    ("en-GB,da;q=0.9", "en"), ("de-DE,da;q=0.2", "da"), ("de,fr", "en"), ("", "en"), (None, "en"),
    ("da;q=0,no;q=0.1", "no"), ("da;q=abc", "en"), ("da;q=nan", "en"), ("x" * 5000 + ",da", "en"),
])
def test_a_browsers_accept_language_picks_a_language_we_have(header, expected):
    assert survey_texts.language_from_accept(header) == expected


def test_weights_read_rfc_9110_lists_leniently():
    assert accept.weights("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8") == {
        "text/html": 1.0, "application/xhtml+xml": 1.0, "application/xml": 0.9, "*/*": 0.8}
    assert accept.weights("Application/JSON; charset=utf-8; q=0.5, text/html;q=2") == {
        "application/json": 0.5, "text/html": 0.0}
    assert accept.weights(None) == {} and accept.weights(" , ,") == {}
    assert len(accept.weights(",".join(f"a{i}" for i in range(1000)))) == 32
