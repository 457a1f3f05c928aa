"""The chat bot's rules (``domain/bot.py``): what a customer's answer to "did this solve it?" means, when they ask
for a person, and when an article is on the question's subject. Pure functions; examples in the three languages
and properties for any text."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import bot


@pytest.mark.parametrize("text", ["yes", "Yes!", "yep thanks", "ok thanks", "thanks, that solved it",
                                  "It worked, you're great", "ja", "Ja tak!", "jo takk", "Det virker nu, tak",
                                  "perfekt, det løste det", "takk, det hjalp"])
def test_a_yes_in_any_language_is_a_yes(text):
    assert bot.understand(text) == "yes"


@pytest.mark.parametrize("text", ["no", "No.", "nope", "nej", "nei", "not really", "still not working",
                                  "That didn't help", "hjalp ikke", "det hjalp ikkje", "yes but it still fails",
                                  "ja, men det virker stadig ikke"])
def test_a_no_or_a_yes_with_a_no_in_it_is_a_no(text):
    assert bot.understand(text) == "no"


@pytest.mark.parametrize("text", ["I want to talk to a human", "Can I speak with an agent?", "real person please",
                                  "Kan jeg tale med et menneske?", "Jeg vil gerne snakke med en medarbejder",
                                  "Kan jeg prate med en person?", "ring meg"])
def test_asking_for_a_person_is_heard_in_every_language(text):
    assert bot.asks_for_person(text)
    assert bot.understand(text) == "person"


@pytest.mark.parametrize("text", ["ok, but where is my parcel?", "Thanks. Also, can I change my address?",
                                  "The reset mail never arrives in my inbox at all, I checked spam and everything",
                                  "", "🙂"])
def test_a_new_question_or_anything_unclear_is_neither_yes_nor_no(text):
    assert bot.understand(text) == "other"


def test_a_pressed_button_decides_whatever_the_text_says():
    assert bot.understand("No, I need help", bot.CHOICE_YES) == "yes"
    assert bot.understand("Yes, solved", bot.CHOICE_NO) == "no"
    assert bot.understand("Yes, solved", "bot:maybe") == "yes"  # an unknown choice is read as text


@given(st.text(max_size=5000), st.sampled_from([None, *bot.CHOICES, "x"]))
@settings(max_examples=300, deadline=None)
def test_any_text_is_read_as_one_answer_and_no_no_is_ever_a_yes(text, choice):
    answer = bot.understand(text, choice)
    assert answer in ("yes", "no", "person", "other")
    if choice is None and {"no", "nej", "nei", "not"} & set(text.lower().split()):
        assert answer != "yes"


def test_only_the_first_characters_are_read():
    assert bot.understand("x " * 10_000 + "yes") == "other"  # bounded work: a yes past the limit is not read


def test_the_buttons_exist_in_every_language_and_fit_whatsapp():
    for language in bot.LANGUAGES:
        labels = [choice["label"] for choice in bot.choices_in(language)]
        assert len(labels) == 2 and all(0 < len(label) <= 20 for label in labels)
        assert [choice["value"] for choice in bot.choices_in(language)] == list(bot.CHOICES)
    assert bot.choices_in("de") == bot.choices_in("en")


@pytest.mark.parametrize("question, title, expected", [
    (["forgot", "password", "reset"], ["reset", "your", "password"], True),
    (["blender", "i", "got", "when", "switch"], ["when", "i", "get", "my", "refund"], False),  # function words only
    (["hvornar", "far", "jeg", "peng"], ["hvornar", "far", "jeg", "mine", "peng", "tilbag"], True),
    (["hvornar", "far", "jeg"], ["hvornar", "far", "jeg", "mine", "peng", "tilbag"], False),
])
def test_an_article_is_on_topic_when_its_title_shares_a_subject_word(question, title, expected):
    assert bot.on_topic(question, title) is expected


def test_a_stored_state_is_read_back_and_anything_else_is_no_state():
    state = bot.BotState(bot.HANDED_OFF, article_id="refunds", at="2026-12-05T10:00:00.000000Z", reason="no")
    assert bot.state_of(state.as_item()) == state
    assert bot.state_of(None) is None and bot.state_of({"state": "weird"}) is None and bot.state_of("asked") is None
