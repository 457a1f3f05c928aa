"""Triage: the priority and queue a new ticket gets from the rule file, and why.

The support team sees the outcome in the ticket list (priority, queue, tags) and the
audit trail (rules_fired, reasons); every test asserts one of those.
"""
from datetime import datetime, timedelta, timezone
from textwrap import dedent
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.configuration import triage_rules as rules
from chalicelib.domain.messages import Identity, InboundMessage
from chalicelib.domain.triage import (
    DEFAULT_RULES_PATH,
    EVERYONE,
    TriageInput,
    TriageRulesError,
    load_rules,
    parse_rules,
    triage,
    users_affected,
)
from chalicelib.domain.vocabulary import PRIORITIES
from chalicelib.pipeline.steps import triage_input

CPH = ZoneInfo("Europe/Copenhagen")
MONDAY_11_CPH = datetime(2026, 11, 23, 11, 0, tzinfo=CPH)  # a normal working morning
SATURDAY_14_CPH = datetime(2026, 11, 28, 14, 0, tzinfo=CPH)


def ticket(subject="", text="", *, channel="email", sender="email:kunde@example.com",
           received_at=MONDAY_11_CPH, repeat_contacts=0):
    return TriageInput(channel, subject, text, sender, received_at, repeat_contacts)


def rule_set(yaml_text):
    return parse_rules(dedent(yaml_text))


def one_rule(when, then="{priority: high}", head=""):
    """A rule file with a single rule 'r' (plus an optional top-level block)."""
    return rule_set(f"{dedent(head)}\nrules:\n  - name: r\n    when: {when}\n    then: {then}\n")


def fires(rs, **ticket_fields):
    return triage(ticket(**ticket_fields), rs).rules_fired == ("r",)


@pytest.fixture(scope="module")
def default_rules():
    return load_rules(DEFAULT_RULES_PATH)


# --------------------------------------------------------------------------- the shipped rule file

# (channel, sender, received_at, repeat_contacts, subject, text) → (priority, category, tags)
EMAIL, ANYONE = "email", "email:kunde@example.com"
LABELLED = [
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Website down?",
                 "Your shop has been down for an hour, I can't check out.",
                 ("urgent", "technical", ()), id="en-outage"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Siden er nede",
                 "Jeres webshop er nede, jeg kan ikke betale.",
                 ("urgent", "technical", ()), id="da-outage"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Driftsstans?",
                 "Nettbutikken ligger nede for oss.",
                 ("urgent", "technical", ()), id="no-outage"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Return 5531",
                 "I sent the shoes back two weeks ago and still no refund.",
                 ("high", "billing", ()), id="en-refund"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Refusion",
                 "Jeg vil gerne have pengene tilbage for ordre 1234.",
                 ("high", "billing", ()), id="da-refund"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Retur",
                 "Når får jeg pengene tilbake? Jeg sendte varene i forrige uke.",
                 ("high", "billing", ()), id="no-refund"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Faktura mangler",
                 "Kan I sende fakturaen igen? Jeg kan ikke finde den.",
                 ("normal", "billing", ()), id="da-invoice"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Hvor er min pakke?",
                 "Jeg har stadig ikke modtaget min ordre fra d. 3.",
                 ("normal", "logistics", ()), id="da-parcel"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Bestilling 88812",
                 "Bestilte for to uker siden, men den er ikke kommet.",
                 ("normal", "logistics", ()), id="no-parcel"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Where is my order?",
                 "It has not arrived yet and I need it today for a birthday.",
                 ("high", "logistics", ("time_pressure",)), id="en-parcel-today"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Glemt passord",
                 "Hvordan tilbakestiller jeg passordet mitt?",
                 ("normal", "account", ()), id="no-password"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Haster: kan ikke logge ind",
                 "Ingen af vores 25 medarbejdere kan logge ind på B2B-portalen.",
                 ("urgent", "account", ("time_pressure", "wide_impact")), id="da-login-25-staff"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Sizes",
                 "Not urgent, but do the jeans run small? I'd like to order today.",
                 ("normal", "general", ()), id="en-not-urgent"),
    pytest.param(EMAIL, "email:Anna@NordicRetail.example", MONDAY_11_CPH, 0, "Order question",
                 "Can we change the delivery address on our order?",
                 ("high", "general", ("vip",)), id="en-vip"),
    pytest.param("webchat", "webchat:s-81", SATURDAY_14_CPH, 0, "",
                 "Hej, har I den i str. 42?",
                 ("normal", "general", ("after_hours",)), id="da-chat-weekend"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Newsletter",
                 "Please unsubscribe me from the newsletter.",
                 ("low", "general", ()), id="en-unsubscribe"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 3, "Still waiting",
                 "I wrote on Monday and Wednesday and nobody answered.",
                 ("high", "general", ("repeat_contact",)), id="en-third-ticket"),
    pytest.param(EMAIL, ANYONE, MONDAY_11_CPH, 0, "Doorbell",
                 "Please ring the bell downstairs, the meltdown of our old one is a long story.",
                 ("normal", "general", ()), id="en-downstairs-not-outage"),
]


@pytest.mark.parametrize("channel,sender,received_at,repeat,subject,text,expected", LABELLED)
def test_default_rules_on_realistic_messages(default_rules, channel, sender, received_at, repeat,
                                             subject, text, expected):
    result = triage(ticket(subject, text, channel=channel, sender=sender, received_at=received_at,
                           repeat_contacts=repeat), default_rules)
    assert (result.priority, result.category, result.tags) == expected, result.reasons


def test_default_rules_load_and_every_queue_is_declared(default_rules):
    assert default_rules.defaults.priority == "normal" and default_rules.defaults.category == "general"
    assert {r.then.category for r in default_rules.rules if r.then.category} <= set(default_rules.categories)
    assert default_rules.business_hours.timezone == "Europe/Copenhagen"


def test_refund_because_parcel_never_came_goes_to_billing_and_both_rules_are_audited(default_rules):
    result = triage(ticket("Pakke ikke modtaget", "Pakken er ikke kommet, jeg vil have en refusion."),
                    default_rules)
    assert result.category == "billing" and result.priority == "high"
    assert result.rules_fired == ("refund-request", "delivery")
    assert result.reasons == ("refund-request: words 'refusion'", "delivery: words 'pakke'")


def test_rules_reads_env_override_and_caches_per_path(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIAGE_RULES", raising=False)
    assert rules() is rules()
    assert len(rules().rules) == len(load_rules(DEFAULT_RULES_PATH).rules)
    custom = tmp_path / "rules.yaml"
    custom.write_text("rules:\n  - {name: vip, when: {sender_in: [boss@x.dk]}, then: {priority: urgent}}\n")
    monkeypatch.setenv("TRIAGE_RULES", str(custom))
    assert [r.name for r in rules().rules] == ["vip"] and rules() is rules()
    assert triage(ticket(sender="email:boss@x.dk"), rules()).priority == "urgent"


def test_a_bad_override_fails_every_time_it_is_read(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {name: x, when: {any_words: [a]}, then: {priority: asap}}\n")
    monkeypatch.setenv("TRIAGE_RULES", str(bad))
    for _ in range(2):
        with pytest.raises(TriageRulesError, match="then.priority"):
            rules()


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize("text,matches", [
    ("The site is down.", True),
    ("DOWN!!", True),
    ("down\u2014again", True),
    ("I left it downstairs", False),
    ("a meltdown", False),
    ("countdown timer", False),
    ("down2earth", False),
])
def test_words_match_whole_words_only(text, matches):
    assert fires(one_rule("{any_words: [down]}"), text=text) is matches


@pytest.mark.parametrize("text,matches", [
    ("Siden er nede.", True),
    ("se nedenfor", False),  # "below": nede is only a prefix
    ("Jeg har IKKE MODTAGET pakken", True),
    ("ikke\n  modtaget", True),  # a phrase may break across lines
    ("ikke-modtaget", False),
    ("Jeg har ikke modtaget", True),
    ("ikke modtagetX", False),
    ("Det haster, skal bruge den i dag", True),
    ("Hi Dagmar", False),  # "i dag" must not match inside "hi dagmar"
    ("Låst ude af min konto", True),
    ("La\u030ast ude", True),  # decomposed å (macOS mail) is the same word
])
def test_danish_and_norwegian_words_with_unicode_boundaries(text, matches):
    rs = one_rule('{any_words: [nede, "ikke modtaget", "i dag", "låst ude"]}')
    assert fires(rs, text=text) is matches


def test_star_matches_endings_and_plain_words_do_not():
    """Decision: "refund" is exact; write "refund*" to include refunded/refunds/refunding.
    The default file does, so a "was refunded?" question still reaches billing."""
    exact, stem = one_rule("{any_words: [refund]}"), one_rule("{any_words: [refund*, faktura*]}")
    assert fires(exact, text="please refund me") and not fires(exact, text="was I refunded?")
    assert all(fires(stem, text=t) for t in ("refunded", "Refunds", "fakturaen", "fakturanummeret"))
    assert not fires(stem, text="unrefunded")  # '*' extends the end only


def test_words_are_searched_in_subject_and_text_but_not_across_them():
    rs = one_rule('{any_words: ["penge tilbage"]}')
    assert fires(rs, subject="Penge tilbage?") and fires(rs, text="vil have penge tilbage")
    assert not fires(rs, subject="Penge", text="tilbage")


def test_all_words_need_every_word_and_none_words_veto():
    rs = one_rule('{all_words: [invoice, vat], none_words: ["no rush"]}')
    assert fires(rs, subject="Invoice", text="the VAT number is wrong")
    assert not fires(rs, text="the VAT number is wrong")
    assert not fires(rs, subject="Invoice", text="the VAT number is wrong, no rush")


def test_reasons_name_what_matched():
    rs = one_rule("{all_words: [faktura*, moms]}")
    assert triage(ticket("Fakturaen", "momsen? nej, moms"), rs).reasons == ("r: all words 'fakturaen', 'moms'",)


# --------------------------------------------------------------------------- other conditions


def test_channel_in():
    rs = one_rule("{channel_in: [slack, webchat]}")
    assert fires(rs, channel="slack") and fires(rs, channel="Webchat") and not fires(rs, channel="email")


def test_sender_in_takes_identity_keys_or_bare_addresses():
    rs = one_rule('{sender_in: ["Boss@Bigcorp.example", "slack:T1:U42"]}')
    assert fires(rs, sender="email:boss@bigcorp.example")
    assert fires(rs, sender="webchat:BOSS@bigcorp.example")  # a bare address matches any channel kind
    assert fires(rs, sender="slack:T1:U42")
    assert not fires(rs, sender="slack:T1:U4") and not fires(rs, sender="email:other@bigcorp.example")


def test_sender_domain_in_covers_subdomains_but_not_lookalikes():
    rs = one_rule("{sender_domain_in: [bigcorp.example, '@fjord.example']}")
    assert fires(rs, sender="email:ann@bigcorp.example") and fires(rs, sender="email:ann@eu.BigCorp.example")
    assert fires(rs, sender="email:ann@fjord.example")
    assert not fires(rs, sender="email:ann@notbigcorp.example")
    assert not fires(rs, sender="slack:T1:U2") and not fires(rs, sender="email:bigcorp.example")


@pytest.mark.parametrize("text,count", [
    ("50 users cannot log in", 50),
    ("100 medarbejdere er ramt", 100),
    ("50 af vores brugere", 50),
    ("1.000 brugere", 1000),
    ("1,200 employees", 1200),
    ("20+ ansatte", 20),
    ("3 brukere hos oss", 3),
    ("1 user", 1),
    ("10 users, no wait, 40 users", 40),
    ("all our users", EVERYONE),
    ("alle brugere", EVERYONE),
    ("alle vores brugere", EVERYONE),
    ("hele teamet", EVERYONE),
    ("Hele firmaet står stille", EVERYONE),
    ("the whole office", EVERYONE),
    ("hele dagen", 0),  # "the whole day": no people
    ("Hi everyone, I ordered 2 shirts", 0),
    ("version 2.5 users", 0),
    ("", 0),
])
def test_users_affected_counts(text, count):
    assert users_affected(text) == count


def test_impact_users_at_least():
    rs = one_rule("{impact_users_at_least: 10}")
    assert fires(rs, text="10 users are affected") and fires(rs, subject="Alle brugere er ramt")
    assert not fires(rs, text="9 users") and not fires(rs, text="my login fails")
    assert triage(ticket(text="hele teamet"), rs).reasons == ("r: everyone affected",)


def test_repeat_contacts_at_least():
    rs = one_rule("{repeat_contacts_at_least: 3}")
    assert fires(rs, repeat_contacts=3) and fires(rs, repeat_contacts=9)
    assert not fires(rs, repeat_contacts=2) and not fires(rs)  # 0 = unknown never fires


def test_all_conditions_of_a_rule_must_hold():
    rs = one_rule("{channel_in: [email], any_words: [faktura], repeat_contacts_at_least: 2}")
    assert fires(rs, text="faktura", repeat_contacts=2)
    assert not fires(rs, text="faktura", repeat_contacts=1)
    assert not fires(rs, text="faktura", repeat_contacts=2, channel="sms")
    assert not fires(rs, text="kvittering", repeat_contacts=2)


# --------------------------------------------------------------------------- business hours

HOURS = """
business_hours:
  timezone: {zone}
  days: {days}
  start: "{start}"
  end: "{end}"
  holidays: [2026-12-24]
"""


def after_hours(zone="Europe/Copenhagen", days="mon-fri", start="08:00", end="17:00", outside="true"):
    return one_rule(f"{{outside_business_hours: {outside}}}", "{tags: [after_hours]}",
                    head=HOURS.format(zone=zone, days=days, start=start, end=end))


UTC = timezone.utc


@pytest.mark.parametrize("received_at,outside", [
    (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), False),  # Mon 08:00 CET: start is inclusive
    (datetime(2026, 11, 23, 6, 59, tzinfo=UTC), True),  # Mon 07:59 CET
    (datetime(2026, 11, 27, 15, 59, tzinfo=UTC), False),  # Fri 16:59 CET
    (datetime(2026, 11, 27, 16, 0, tzinfo=UTC), True),  # Fri 17:00 CET: end is exclusive
    (datetime(2026, 6, 15, 6, 0, tzinfo=UTC), False),  # Mon 08:00 CEST (summer, UTC+2)
    (datetime(2026, 12, 14, 6, 0, tzinfo=UTC), True),  # same UTC time in winter is 07:00 CET
    (datetime(2026, 3, 27, 6, 30, tzinfo=UTC), True),  # Fri before the switch: 07:30 CET
    (datetime(2026, 3, 30, 6, 30, tzinfo=UTC), False),  # Mon after it (29 March): 08:30 CEST
    (datetime(2026, 10, 23, 15, 30, tzinfo=UTC), True),  # Fri 17:30 CEST, before falling back
    (datetime(2026, 10, 26, 15, 30, tzinfo=UTC), False),  # Mon 16:30 CET, after
    (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), True),  # Sun in UTC, Mon 00:30 local: too early
    (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), True),  # Saturday
    (datetime(2026, 12, 24, 10, 0, tzinfo=UTC), True),  # Thursday, but a holiday
    (datetime(2026, 11, 23, 16, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))), False),  # 11:30 CET
])
def test_outside_business_hours_copenhagen(received_at, outside):
    assert fires(after_hours(), channel="webchat", received_at=received_at) is outside


def test_business_hours_in_a_zone_whose_week_starts_before_utc():
    auckland = after_hours(zone="Pacific/Auckland")
    sunday_utc = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # Monday 09:00 NZDT (UTC+13)
    assert not fires(auckland, received_at=sunday_utc)
    assert fires(after_hours(), received_at=sunday_utc)  # still Sunday in Copenhagen


def test_business_hours_follow_the_us_switch_not_the_european_one():
    new_york = after_hours(zone="America/New_York", start="09:00")
    assert fires(new_york, received_at=datetime(2026, 3, 2, 13, 0, tzinfo=UTC))  # 08:00 EST
    assert not fires(new_york, received_at=datetime(2026, 3, 16, 13, 0, tzinfo=UTC))  # 09:00 EDT
    # The same instant is 14:00 in Copenhagen either way (the EU has not switched yet on the 16th).
    assert not fires(after_hours(), received_at=datetime(2026, 3, 16, 13, 0, tzinfo=UTC))


def test_in_business_hours_condition_wrapping_days_and_midnight_end():
    rs = after_hours(days="[fri-mon]", start="18:00", end="24:00", outside="false")
    assert fires(rs, received_at=datetime(2026, 11, 29, 23, 59, tzinfo=CPH))  # Sun 23:59
    assert fires(rs, received_at=datetime(2026, 11, 23, 18, 0, tzinfo=CPH))  # Mon 18:00
    assert not fires(rs, received_at=datetime(2026, 11, 24, 20, 0, tzinfo=CPH))  # Tuesday
    assert not fires(rs, received_at=datetime(2026, 11, 23, 17, 59, tzinfo=CPH))


# --------------------------------------------------------------------------- combining rules

COMBINED = """
defaults: {priority: normal, category: general}
rules:
  - {name: gentle, when: {any_words: [newsletter]}, then: {priority: low, tags: [fyi]}}
  - {name: money, when: {any_words: [faktura]}, then: {category: billing, tags: [fyi]}}
  - {name: parcel, when: {any_words: [pakke]}, then: {priority: high, category: logistics}}
  - {name: fast, when: {any_words: [haster]}, then: {priority: high, tags: [rush]}}
  - {name: fire, when: {any_words: [nede]}, then: {priority: urgent, category: technical}}
"""


def test_most_urgent_priority_wins_whatever_the_order():
    rs = rule_set(COMBINED)
    assert triage(ticket(text="newsletter, faktura, pakke, nede"), rs).priority == "urgent"
    assert triage(ticket(text="newsletter haster"), rs).priority == "high"


def test_a_fired_rule_may_lower_priority_and_defaults_apply_when_none_sets_one():
    rs = rule_set(COMBINED)
    assert triage(ticket(text="newsletter"), rs).priority == "low"
    assert triage(ticket(text="faktura"), rs).priority == "normal"
    low_default = rule_set(COMBINED.replace("priority: normal, category: general",
                                            "priority: low, category: other"))
    assert (triage(ticket(text="hello"), low_default).priority,
            triage(ticket(text="hello"), low_default).category) == ("low", "other")


def test_first_fired_category_wins_and_every_fired_rule_is_audited_in_file_order():
    result = triage(ticket(subject="Nede!", text="Haster: pakke og faktura, plus newsletter"),
                    rule_set(COMBINED))
    assert result.category == "billing"  # "money" comes before "parcel" and "fire" in the file
    assert result.rules_fired == ("gentle", "money", "parcel", "fast", "fire")
    assert result.tags == ("fyi", "rush")  # union, first seen first, no duplicates
    assert [reason.split(":")[0] for reason in result.reasons] == list(result.rules_fired)


def test_nothing_fires():
    result = triage(ticket("Hej", "Tak for sidst"), rule_set(COMBINED))
    assert (result.priority, result.category, result.tags, result.rules_fired) == ("normal", "general", (), ())


# --------------------------------------------------------------------------- input


def test_triage_input_needs_an_aware_time_and_a_sane_count():
    with pytest.raises(ValueError, match="timezone-aware"):
        ticket(received_at=datetime(2026, 11, 23, 10, 0))
    with pytest.raises(ValueError, match="negative"):
        ticket(repeat_contacts=-1)


def test_from_message_uses_the_new_part_not_the_quoted_history(default_rules):
    message = InboundMessage(
        channel="email", external_id="m1", received_at=MONDAY_11_CPH,
        sender=Identity("email", "ann@example.com"), subject="Spørgsmål",
        text="Hvad koster fragt?\n\n> Den 1. nov skrev I:\n> Vores site er nede", reply_text="Hvad koster fragt?",
    )
    ticket_in = triage_input(message, repeat_contacts=1)
    assert ticket_in.sender == "email:ann@example.com" and ticket_in.repeat_contacts == 1
    assert triage(ticket_in, default_rules).priority == "normal"


# --------------------------------------------------------------------------- bad rule files


@pytest.mark.parametrize("body,expected", [
    pytest.param("rules:\n  - {name: refund, when: {any_wrds: [refund]}, then: {priority: high}}",
                 ["rule 'refund' (rules[0])", "when", "unknown field 'any_wrds'", "did you mean 'any_words'"],
                 id="unknown-field"),
    pytest.param("rules:\n  - {name: refund, when: {any_words: [refund]}, then: {priority: critical}}",
                 ["rule 'refund'", "then.priority", "'urgent', 'high', 'normal' or 'low'", "got 'critical'"],
                 id="bad-priority"),
    pytest.param('business_hours: {timezone: Europe/Copenhagn, days: mon-fri, start: "08:00", end: "17:00"}\n'
                 "rules: []", ["business_hours.timezone", "unknown time zone 'Europe/Copenhagn'"],
                 id="bad-timezone"),
    pytest.param("rules:\n  - {name: a, when: {any_words: []}, then: {priority: high}}",
                 ["rule 'a'", "when.any_words", "at least one word"], id="empty-word-list"),
    pytest.param("rules:\n  - {name: a, when: {all_words: ['  ']}, then: {priority: high}}",
                 ["rule 'a'", "when.all_words", "empty word"], id="blank-word"),
    pytest.param("rules:\n  - name: a\n    when:\n      none_words:\n    then: {priority: high}",
                 ["rule 'a'", "none_words has no value"], id="null-word-list"),
    pytest.param("rules:\n  - {name: a, when: {any_words: ['x*y']}, then: {priority: high}}",
                 ["rule 'a'", "'*' is only allowed at the end"], id="inner-star"),
    pytest.param("business_hours: {timezone: UTC, days: mon-fri, start: 8:00, end: '17:00'}\nrules: []",
                 ["business_hours.start", 'write times in quotes, e.g. "08:00"'], id="unquoted-time"),
    pytest.param("rules:\n  - {name: a, when: {any_words: [no]}, then: {priority: high}}",
                 ["rule 'a'", "when.any_words.0", 'quote it, e.g. "no"'], id="yaml-no-is-false"),
    pytest.param("rules:\n  - {name: a, when: {outside_business_hours: true}, then: {tags: [late]}}",
                 ["rule 'a'", "needs a top-level business_hours block"], id="hours-without-block"),
    pytest.param("categories: [general, billing]\nrules:\n"
                 "  - {name: a, when: {any_words: [x]}, then: {category: biling}}",
                 ["rule 'a'", "'biling' is not one of categories"], id="unknown-queue"),
    pytest.param("rules:\n  - {name: a, when: {any_words: [x]}, then: {priority: high}}\n"
                 "  - {name: a, when: {any_words: [y]}, then: {priority: low}}",
                 ["rule 'a' (rules[1])", "name used twice"], id="duplicate-name"),
    pytest.param("rules:\n  - name: a\n    when: {any_words: [x]}\n    when: {any_words: [y]}\n"
                 "    then: {priority: high}", ["duplicate key 'when'"], id="duplicate-key"),
    pytest.param("rules:\n  - {name: a, when: {}, then: {priority: high}}",
                 ["rule 'a'", "needs at least one condition"], id="no-conditions"),
    pytest.param("rules:\n  - {name: a, when: {any_words: [x]}, then: {}}",
                 ["rule 'a'", "needs a priority, a category or tags"], id="no-outcome"),
    pytest.param("defaults: {priority: high}", ["rules: required field is missing"], id="no-rules"),
    pytest.param("rules: [", ["not valid YAML"], id="broken-yaml"),
])
def test_bad_rule_files_fail_loudly_naming_rule_and_field(tmp_path, body, expected):
    path = tmp_path / "triage_rules.yaml"
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(TriageRulesError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert message.startswith(str(path))
    for fragment in expected:
        assert fragment in message, message


def test_a_missing_file_is_a_rules_error(tmp_path):
    with pytest.raises(TriageRulesError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")


def test_every_problem_is_reported_at_once():
    with pytest.raises(TriageRulesError) as raised:
        rule_set("""
            rules:
              - {name: a, when: {any_words: []}, then: {priority: high}}
              - {name: b, when: {any_words: [x]}, then: {priority: top}}
        """)
    assert "2 problem(s)" in str(raised.value)
    assert "rule 'a'" in str(raised.value) and "rule 'b'" in str(raised.value)


# --------------------------------------------------------------------------- never raises

_VOCABULARY = ["down", "nede", "refund", "refusjon", "faktura", "ikke", "modtaget", "i", "dag", "haster",
               "50", "1.000", "users", "brugere", "alle", "hele", "teamet", "not", "urgent", "passord",
               "pakke", "æøå", "\n", "-", "*", "ß", "İ"]
_TEXT = st.one_of(st.text(), st.lists(st.sampled_from(_VOCABULARY) | st.text(max_size=4)).map(" ".join))


@settings(max_examples=150, deadline=None)
@given(
    subject=_TEXT,
    text=_TEXT,
    channel=st.sampled_from(["email", "slack", "webchat", "sms", "whatsapp"]) | st.text(max_size=8),
    sender=st.text(max_size=40),
    received_at=st.datetimes(timezones=st.timezones()),
    repeat_contacts=st.integers(min_value=0, max_value=10_000),
)
def test_triage_never_raises_and_always_gives_a_valid_outcome(default_rules, subject, text, channel, sender,
                                                              received_at, repeat_contacts):
    result = triage(TriageInput(channel, subject, text, sender, received_at, repeat_contacts), default_rules)
    assert result.priority in PRIORITIES
    assert result.category in default_rules.categories
    names = [rule.name for rule in default_rules.rules]
    assert list(result.rules_fired) == [n for n in names if n in result.rules_fired]  # file order
    assert len(result.reasons) == len(result.rules_fired)
    assert users_affected(text) >= 0


def test_cross_rule_problems_are_listed_one_per_line():
    with pytest.raises(TriageRulesError) as raised:
        rule_set("""
            categories: [general]
            rules:
              - {name: a, when: {outside_business_hours: true}, then: {category: billing}}
        """)
    assert "2 problem(s)" in str(raised.value)
    assert "\n  - rule 'a' (rules[0]): then.category 'billing' is not one of categories" in str(raised.value)


def test_quoted_lines_kept_between_inline_answers_are_not_read_as_the_customers_words(default_rules):
    """An inline reply keeps the quoted lines it answers ("> ..."); an old quoted "urgent" must not count."""
    message = InboundMessage(
        channel="email", external_id="m2", received_at=MONDAY_11_CPH,
        sender=Identity("email", "ann@example.com"), subject="Re: Levering",
        text="> Er sagen stadig urgent? Vores site er nede\nNej, det virker nu. Tak!",
        reply_text="> Er sagen stadig urgent? Vores site er nede\nNej, det virker nu. Tak!",
    )
    assert message.own_words == "Nej, det virker nu. Tak!"
    assert triage(triage_input(message, repeat_contacts=0), default_rules).priority == "normal"
