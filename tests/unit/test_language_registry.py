"""In the customer's language: the one decision (``language.for_customer``) and the one registry of languages
(``vocabulary.LANGUAGES``) every customer-facing text must cover.

The registry test is "one place to add a language": add a code to ``vocabulary.Language`` and these
tests name every template, table, macro and link title still missing it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.domain import kb, language, survey_texts, visitor_chat
from chalicelib.domain.business_time import Schedule
from chalicelib.domain.macros import EXAMPLE_CONTEXT, MacroError, macro_from_dict, render
from chalicelib.domain.vocabulary import DEFAULT_LANGUAGE, LANGUAGES
from chalicelib.outbound import templates
from chalicelib.settings import load_settings

_TEMPLATES = Path(templates.__file__).resolve().parent.parent / "templates"
_OTHERS = [code for code in LANGUAGES if code != "en"]


# --- the one decision ------------------------------------------------------------------------------------


@pytest.mark.parametrize("preferred, detected, default, chosen", [
    ("no", "en", "en", "no"),      # a stated preference beats what we detected
    (None, "da", "en", "da"),      # no preference: the language they wrote in
    (None, None, "da", "da"),      # nothing detected: the desk's default
    ("de", None, "no", "no"),      # a preference we have no texts for is skipped, never rendered
    (None, "sv", "da", "da"),      # so is a detected language we do not write
    (None, None, "xx", "en"),      # a default we do not have: English, the last resort
    (None, None, None, DEFAULT_LANGUAGE),
])
def test_the_customers_language_is_preference_then_detected_then_desk_default(preferred, detected, default, chosen):
    assert language.for_customer(preferred, detected, default) == chosen


@pytest.mark.parametrize("header, chosen", [("da-DK,da;q=0.9,en;q=0.5", "da"), ("nb-NO", "no"), ("nn", "no"),
                                            ("de-DE, en;q=0.3", "en"), ("de-DE", None), (None, None)])
def test_a_browsers_accept_language_names_one_of_ours_or_nothing(header, chosen):
    assert language.from_accept(header) == chosen


# --- one registry, every text ----------------------------------------------------------------------------


def test_every_language_table_agrees_with_the_registry():
    assert kb.LANGUAGES == LANGUAGES  # the knowledge base's articles and analysers
    assert survey_texts.LANGUAGES == LANGUAGES
    assert tuple(visitor_chat.STATUS_WORDING) == LANGUAGES
    assert set(language._MARKERS) == set(LANGUAGES)  # detection can name each one
    assert set(templates._WORDS) == set(templates._UNITS) == set(_OTHERS)  # the ``localized`` filter


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_customer_facing_template_exists_in_every_language(code):
    for name in templates.CUSTOMER_TEMPLATES:
        assert (_TEMPLATES / templates.template_in(name, code)).is_file(), (name, code)


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_wording_table_has_every_key_in_every_language(code):
    assert set(survey_texts.WORDING[code]) == set(survey_texts.WORDING["en"])
    assert set(visitor_chat.STATUS_WORDING[code]) == set(visitor_chat.STATUS_WORDING["en"])


def test_texts_the_desk_sends_by_itself_exist_in_every_language():
    """Macros an automation rule sends (no agent to translate) and the self-help links' titles."""
    from chalicelib import configuration

    rules = configuration.automation_rules()
    sent_by_rules = {rule.then.send_macro for rule in (*rules.triggers, *rules.timers) if rule.then.send_macro}
    assert sent_by_rules, "the bundled rules send the pending reminder"
    for macro in configuration.starter_macros():
        if macro.id in sent_by_rules:
            assert set(macro.translations) >= set(_OTHERS), macro.id
    settings = load_settings(Path(configuration.__file__).with_name("desk_settings.json"))
    for link in settings.self_help_links:
        assert set(link.titles) >= set(_OTHERS), link.title


def test_a_template_in_a_language_we_do_not_have_is_the_english_one():
    assert templates.template_in("acknowledgement.chat.j2", "da") == "acknowledgement.da.chat.j2"
    assert templates.template_in("acknowledgement.txt.j2", "no") == "acknowledgement.no.txt.j2"
    assert templates.template_in("acknowledgement.chat.j2", "de") == "acknowledgement.chat.j2"
    assert templates.template_in("acknowledgement.html.j2", "en") == "acknowledgement.html.j2"


# --- the chat acknowledgement ----------------------------------------------------------------------------


@pytest.mark.parametrize("code, expected", [
    ("en", "Thanks Ann! We got your message (ticket #42). Someone from our team will reply here within "
           "4 business hours. Meanwhile: Track your order https://help.example.com/t"),
    ("da", "Tak, Ann! Vi har fået din besked (sag #42). En fra vores team svarer dig her inden for "
           "4 arbejdstimer. Indtil da finder du måske svaret her: Følg din ordre https://help.example.com/t"),
    ("no", "Takk, Ann! Vi har fått meldingen din (sak #42). Noen i teamet vårt svarer deg her innen "
           "4 arbeidstimer. I mellomtiden finner du kanskje svaret her: Spor bestillingen din "
           "https://help.example.com/t"),
])
def test_the_chat_acknowledgement_reads_naturally_in_each_language(code, expected):
    title = {"en": "Track your order", "da": "Følg din ordre", "no": "Spor bestillingen din"}[code]
    text = templates.render(templates.template_in("acknowledgement.chat.j2", code), customer_name="Ann",
                            ticket_number=42, response_time="4 business hours", opens=None,
                            links=[{"title": title, "url": "https://help.example.com/t"}]).strip()
    assert text == expected


@pytest.mark.parametrize("code, expected", [
    ("en", "We're away right now; a person will reply here Monday from 08:00 CET."),
    ("da", "Vi er her ikke lige nu; en fra vores team svarer dig her mandag fra kl. 08:00 CET."),
    ("no", "Vi er ikke til stede akkurat nå; noen i teamet vårt svarer deg her mandag fra kl. 08:00 CET."),
])
def test_outside_business_hours_the_chat_acknowledgement_says_when_a_person_answers(code, expected):
    from chalicelib.domain.visitor_chat import availability

    saturday = datetime(2026, 12, 5, 14, 0, tzinfo=timezone.utc)
    opens = availability(saturday, _COPENHAGEN, agents_on_duty=1, first_response_minutes=30,
                         language=code).expected_reply
    text = templates.render(templates.template_in("acknowledgement.chat.j2", code), customer_name="", opens=opens,
                            ticket_number=42, response_time="30 business minutes", links=[]).strip()
    assert expected in text and "30" not in text


# --- the web chat's status ------------------------------------------------------------------------------

_COPENHAGEN = Schedule(timezone="Europe/Copenhagen", days=("mon", "tue", "wed", "thu", "fri"),
                       start="08:00", end="17:00")
_FRIDAY_EVENING = datetime(2026, 12, 11, 18, 0, tzinfo=timezone.utc)
_WEDNESDAY_10 = datetime(2026, 12, 9, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("code, away, here", [
    ("en", "We're away right now \u2014 back Monday from 08:00 CET. Leave a message and we'll answer here.",
     "We're here. We usually reply within 30 minutes."),
    ("da", "Vi er her ikke lige nu \u2014 vi er tilbage mandag fra kl. 08:00 CET. Skriv en besked, så svarer vi "
           "dig her.", "Vi er her. Vi svarer som regel inden for 30 minutter."),
    ("no", "Vi er ikke til stede akkurat nå \u2014 tilbake mandag fra kl. 08:00 CET. Legg igjen en melding, så "
           "svarer vi deg her.", "Vi er her. Vi svarer vanligvis innen 30 minutter."),
])
def test_the_web_chat_status_is_a_whole_sentence_in_the_visitors_language(code, away, here):
    closed = visitor_chat.availability(_FRIDAY_EVENING, _COPENHAGEN, agents_on_duty=1, first_response_minutes=30,
                                       language=code)
    assert closed.message == away and closed.language == code
    assert visitor_chat.availability(_WEDNESDAY_10, _COPENHAGEN, agents_on_duty=1, first_response_minutes=30,
                                     language=code).message == here


@pytest.mark.parametrize("code, minutes, words", [
    ("da", 60, "inden for en time"), ("da", 120, "inden for 2 timer"), ("da", 2880, "inden for 2 dage"),
    ("da", None, "om lidt"), ("no", 60, "innen en time"), ("no", 2880, "innen 2 dager"), ("no", None, "om kort tid"),
])
def test_the_promise_in_danish_and_norwegian(code, minutes, words):
    assert visitor_chat.expected_reply(minutes, code) == words


def test_a_date_a_week_away_names_the_month_in_the_language():
    christmas_eve = datetime(2026, 12, 24, 12, 0, tzinfo=timezone.utc)
    schedule = Schedule(timezone="Europe/Copenhagen", days=("mon", "tue", "wed", "thu", "fri"), start="08:00",
                        end="17:00", holidays=("2026-12-24", "2026-12-25", "2026-12-28", "2026-12-29",
                                               "2026-12-30", "2026-12-31", "2027-01-01"))
    words = {code: visitor_chat.availability(christmas_eve, schedule, agents_on_duty=1, first_response_minutes=30,
                                             language=code).expected_reply for code in LANGUAGES}
    assert words == {"en": "on 4 January from 08:00 CET", "da": "den 4. januar fra kl. 08:00 CET",
                     "no": "4. januar fra kl. 08:00 CET"}


# --- macros ------------------------------------------------------------------------------------------------


def _macro(**extra):
    return macro_from_dict({"id": "thanks", "title": "Thanks", "body": "Hi {{ customer.first_name }}", **extra})


@pytest.mark.parametrize("code, text", [("en", "Hi Ann"), ("da", "Hej Ann"), ("no", "Hei Ann"), ("de", "Hi Ann")])
def test_a_macro_with_translations_renders_in_the_customers_language(code, text):
    macro = _macro(translations={"da": "Hej {{ customer.first_name }}", "no": "Hei {{ customer.first_name }}"})
    assert render(macro, EXAMPLE_CONTEXT.__class__.build(customer_name="Ann Customer"), code) == text


def test_a_macro_without_translations_is_its_body_in_every_language():
    assert _macro().body_in("da") == "Hi {{ customer.first_name }}"


@pytest.mark.parametrize("translations", [{"de": "Hallo"}, {"da": "Hej {{ custmer.name }}"}, {"no": " "}])
def test_a_translation_is_checked_like_the_body(translations):
    with pytest.raises(MacroError):
        _macro(translations=translations)
