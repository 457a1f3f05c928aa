"""Automation: what the desk does by itself when a ticket is created, updated or left waiting.

What the support team notices: a ticket's priority, status, assignee and tags changing
on their own, a reminder macro going out, the team lead being told, and the audit
trail (fired, reasons) saying which rule did it. Every test asserts one of those.
"""
from datetime import datetime, timedelta, timezone
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.configuration import automation_rules as rules
from chalicelib.domain.automation import (
    CHANGEABLE_FIELDS,
    DEFAULT_RULES_PATH,
    MAX_PASSES,
    STATUSES,
    AutomationRulesError,
    Notification,
    TicketFacts,
    due_timers,
    evaluate_triggers,
    load_rules,
    next_timer_due,
    parse_rules,
)
from chalicelib.domain.vocabulary import PRIORITIES

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
AGENT = "a-0123456789ab"
OTHER_AGENT = "a-ba9876543210"


def facts(**fields):
    values = dict(ticket_id="t-1", event="created", channel="email", status="open", priority="normal",
                  category="general", tags=frozenset(), subject="", text="", assignee_id=None,
                  customer_tier=None, created_at=T0, status_changed_at=T0, changed=frozenset(),
                  actor="customer", fired=frozenset())
    values.update(fields)
    return TicketFacts(**values)


def rule_set(yaml_text):
    return parse_rules(dedent(yaml_text))


def one_trigger(conditions, then="{set_priority: high}", on="[created, updated]"):
    return rule_set(f"triggers:\n  - name: r\n    on: {on}\n    if: {conditions}\n    then: {then}\n")


def fires(rs, **fact_fields):
    return evaluate_triggers(facts(**fact_fields), rs).fired == ("r",)


def problems(yaml_text):
    with pytest.raises(AutomationRulesError) as caught:
        rule_set(yaml_text)
    return str(caught.value)


@pytest.fixture(scope="module")
def default_rules():
    return load_rules(DEFAULT_RULES_PATH)


# --------------------------------------------------------------------------- the shipped rule file


def test_default_rules_load_with_the_documented_rules(default_rules):
    assert [t.name for t in default_rules.triggers] == ["vip-tag", "vip-to-high", "legal-threat",
                                                         "urgent-notify-lead"]
    assert [(t.name, t.status, t.after_minutes) for t in default_rules.timers] == [
        ("pending-reminder", "pending", 3 * 1440),
        ("pending-auto-solve", "pending", 7 * 1440),
        ("csat-survey", "solved", 60),
        ("solved-auto-close", "solved", 4 * 1440),
    ]


def test_default_new_vip_ticket_is_raised_to_high_and_tagged(default_rules):
    outcome = evaluate_triggers(facts(customer_tier="VIP", subject="Order 1234"), default_rules)
    assert outcome.changes == {"priority": "high"} and outcome.add_tags == ("vip",)
    assert outcome.notifications == ()


def test_default_urgent_vip_ticket_stays_urgent_and_lead_hears_of_it(default_rules):
    outcome = evaluate_triggers(facts(customer_tier="vip", priority="urgent"), default_rules)
    assert outcome.changes == {} and outcome.add_tags == ("vip",)
    assert outcome.notifications == (Notification(
        "team_lead", "Urgent ticket #{{ ticket_number }}: {{ subject }}\nOpen it in the console: {{ console_url }}",
        "urgent-notify-lead"),)


@pytest.mark.parametrize("subject,text", [
    ("Complaint", "If this is not fixed I will contact my lawyer."),
    ("Klage", "Min advokat kontakter jer i morgen."),
    ("Reklamasjon", "Jeg har klaget til Forbrukerrådet."),
    ("Betaling", "Jeg har bedt banken om en tilbageførsel."),
    ("Chargebacks", "I have filed a chargeback."),
])
def test_default_legal_threat_is_urgent_tagged_and_the_lead_is_told_in_a_second_pass(default_rules,
                                                                                      subject, text):
    outcome = evaluate_triggers(facts(subject=subject, text=text), default_rules)
    assert outcome.changes == {"priority": "urgent"} and outcome.add_tags == ("legal",)
    assert outcome.fired == ("legal-threat", "urgent-notify-lead") and outcome.passes == 2
    assert outcome.reasons[1].endswith("changed priority (pass 2)")
    assert [n.to for n in outcome.notifications] == ["team_lead"]


@pytest.mark.parametrize("text", ["Sue from accounting asked me to write.", "Please charge back the fee later.",
                                  "Advarsel: pakken er forsinket."])
def test_default_legal_words_are_whole_words(default_rules, text):
    assert evaluate_triggers(facts(text=text), default_rules).fired == ()


def test_default_legal_threat_ignores_spam_and_agent_updates(default_rules):
    spam = evaluate_triggers(facts(status="spam", text="Our lawyer demands payment"), default_rules)
    lowered = evaluate_triggers(facts(event="updated", actor="agent", changed=frozenset({"priority"}),
                                      priority="high", text="my lawyer says hi"), default_rules)
    assert spam.fired == () and lowered.fired == () and lowered.changes == {}


def test_default_lead_is_told_only_when_priority_becomes_urgent(default_rules):
    raised = facts(event="updated", actor="agent", priority="urgent", changed=frozenset({"priority"}))
    replied = facts(event="updated", actor="customer", priority="urgent", changed=frozenset({"status"}))
    assert evaluate_triggers(raised, default_rules).fired == ("urgent-notify-lead",)
    assert evaluate_triggers(replied, default_rules).notifications == ()


def test_default_timers_walk_a_silent_customer_from_pending_to_closed(default_rules):
    pending = facts(event="updated", status="pending", status_changed_at=T0)
    assert next_timer_due(pending, default_rules) == T0 + timedelta(days=3)
    reminder = due_timers(pending, default_rules, T0 + timedelta(days=3))
    assert reminder.macros == ("pending-reminder",) and reminder.fired == ("pending-reminder",)
    assert reminder.changes == {}

    reminded = facts(event="updated", status="pending", fired=frozenset(reminder.fired))
    assert next_timer_due(reminded, default_rules) == T0 + timedelta(days=7)
    solve = due_timers(reminded, default_rules, T0 + timedelta(days=7))
    assert solve.changes == {"status": "solved"} and solve.add_tags == ("auto_solved",)

    solved_at = T0 + timedelta(days=7, minutes=2)
    solved = facts(event="updated", status="solved", status_changed_at=solved_at, tags={"auto_solved"})
    assert next_timer_due(solved, default_rules) == solved_at + timedelta(days=4)
    assert due_timers(solved, default_rules, solved_at + timedelta(days=4)).changes == {"status": "closed"}
    assert next_timer_due(facts(status="closed"), default_rules) is None


def test_default_survey_goes_out_an_hour_after_solving_once_then_the_ticket_closes(default_rules):
    solved = facts(event="updated", status="solved", status_changed_at=T0)
    assert next_timer_due(solved, default_rules) == T0 + timedelta(minutes=60)
    assert due_timers(solved, default_rules, T0 + timedelta(minutes=59)).survey is False
    survey = due_timers(solved, default_rules, T0 + timedelta(minutes=60))
    assert survey.survey is True and survey.fired == ("csat-survey",)
    assert survey.changes == {} and survey.macros == () and survey.add_tags == ()
    assert survey.reasons == ("csat-survey: solved for 1 hour",)

    surveyed = facts(event="updated", status="solved", status_changed_at=T0, fired=frozenset(survey.fired))
    assert next_timer_due(surveyed, default_rules) == T0 + timedelta(days=4)
    closing = due_timers(surveyed, default_rules, T0 + timedelta(days=4))
    assert closing.survey is False and closing.changes == {"status": "closed"}


@pytest.mark.parametrize("tag", ["auto_solved", "legal", "no_survey"])
def test_default_survey_skips_auto_solved_legal_and_opted_out_tickets(default_rules, tag):
    solved = facts(event="updated", status="solved", status_changed_at=T0, tags={tag, "vip"})
    assert next_timer_due(solved, default_rules) == T0 + timedelta(days=4)
    assert due_timers(solved, default_rules, T0 + timedelta(days=3)).survey is False


@pytest.mark.parametrize("status", ["open", "pending", "on_hold", "closed", "spam"])
def test_default_survey_is_only_for_solved_tickets(default_rules, status):
    outcome = due_timers(facts(event="updated", status=status, status_changed_at=T0), default_rules,
                         T0 + timedelta(days=30))
    assert outcome.survey is False and "csat-survey" not in outcome.fired


def test_rules_reads_env_override_and_caches_per_path(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOMATION_RULES", raising=False)
    assert rules() is rules()
    assert [t.name for t in rules().timers] == [t.name for t in load_rules(DEFAULT_RULES_PATH).timers]
    custom = tmp_path / "automation.yaml"
    custom.write_text("triggers:\n  - {name: all-high, on: [created], if: {always: true}, "
                      "then: {set_priority: high}}\n")
    monkeypatch.setenv("AUTOMATION_RULES", str(custom))
    assert [t.name for t in rules().triggers] == ["all-high"] and rules() is rules()
    assert evaluate_triggers(facts(), rules()).changes == {"priority": "high"}


def test_a_bad_override_fails_every_time_it_is_read(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("timers:\n  - {name: x, status: pending, after_minutes: 5, then: {set_status: later}}\n")
    monkeypatch.setenv("AUTOMATION_RULES", str(bad))
    for _ in range(2):
        with pytest.raises(AutomationRulesError, match=r"timer 'x' \(timers\[0\]\): then.set_status"):
            rules()


def test_missing_file_is_a_rules_error(tmp_path):
    with pytest.raises(AutomationRulesError, match="cannot read automation rules"):
        load_rules(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- schema errors

TRIGGER = "triggers:\n  - name: r\n    on: [created]\n"
TIMER = "timers:\n  - name: w\n    status: pending\n    after_minutes: 60\n"


@pytest.mark.parametrize("yaml_text,expected", [
    pytest.param(TRIGGER + "    if: {priorty_in: [high]}\n    then: {set_priority: high}\n",
                 "trigger 'r' (triggers[0]): if: unknown field 'priorty_in' (did you mean 'priority_in'?)",
                 id="unknown-condition"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {set_priority: asap}\n",
                 "trigger 'r' (triggers[0]): then.set_priority: Input should be", id="bad-priority"),
    pytest.param(TRIGGER + "    if: {status_in: [closed, resolved]}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if.status_in.1:", id="bad-status"),
    pytest.param("triggers:\n  - {name: r, on: [], if: {always: true}, then: {add_tags: [x]}}\n",
                 "trigger 'r' (triggers[0]): on: needs created, updated or both", id="no-events"),
    pytest.param("triggers:\n  - {name: r, on: [deleted], if: {always: true}, then: {add_tags: [x]}}\n",
                 "trigger 'r' (triggers[0]): on.0: Input should be 'created' or 'updated', got 'deleted'",
                 id="bad-event"),
    pytest.param(TRIGGER + "    if: {}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if: needs at least one condition, or always: true", id="no-conditions"),
    pytest.param(TRIGGER + "    if: {always: true, tier_in: [vip]}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if: always: true with other conditions (tier_in)", id="always-and-more"),
    pytest.param(TRIGGER + "    if: {always: false}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if.always: Input should be True, got False", id="always-false"),
    pytest.param(TRIGGER + "    if: {has_tags:}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if: has_tags has no value", id="empty-key"),
    pytest.param(TRIGGER + "    if: {has_tags: [vip], lacks_tags: [vip]}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if: has_tags and lacks_tags both name vip", id="never-fires"),
    pytest.param(TRIGGER + "    if: {any_words: [re*fund]}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if.any_words: 're*fund': '*' is only allowed at the end", id="bad-word"),
    pytest.param(TRIGGER + "    if: {changed: [subject]}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if.changed.0:", id="unchangeable-field"),
    pytest.param(TRIGGER + "    if: {actor_in: [robot]}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if.actor_in.0:", id="bad-actor"),
    pytest.param(TRIGGER + "    if: {assigned: maybe}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): if.assigned:", id="bad-bool"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {}\n",
                 "trigger 'r' (triggers[0]): then: needs at least one action", id="no-actions"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {add_tags: [x, y], remove_tags: [y]}\n",
                 "trigger 'r' (triggers[0]): then: adds and removes the same tag (y)", id="add-and-remove"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {add_tags: [Legal Hold]}\n",
                 "trigger 'r' (triggers[0]): then.add_tags: 'Legal Hold' is not a tag", id="bad-tag"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {assign_to: bob}\n",
                 "trigger 'r' (triggers[0]): then.assign_to: 'bob' is not an agent id", id="bad-assignee"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {send_macro: Pending Reminder}\n",
                 "trigger 'r' (triggers[0]): then.send_macro: 'Pending Reminder' is not a valid name", id="bad-macro"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {notify: [{to: '#general', message: hi}]}\n",
                 "trigger 'r' (triggers[0]): then.notify.0.to: '#general' is not a recipient", id="bad-recipient"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {notify: [{to: 'email:nobody', message: hi}]}\n",
                 "trigger 'r' (triggers[0]): then.notify.0.to: 'email:nobody' is not a recipient", id="bad-email"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {notify: [{to: assignee, message: '" + "x" * 501
                 + "'}]}\n", "trigger 'r' (triggers[0]): then.notify.0.message: String should have at most 500",
                 id="long-message"),
    pytest.param(TRIGGER + "    if: {always: true}\n    then: {notify: [{to: assignee, message: '  '}]}\n",
                 "trigger 'r' (triggers[0]): then.notify.0.message: message is empty", id="blank-message"),
    pytest.param(TRIGGER + "    when: {always: true}\n    then: {add_tags: [x]}\n",
                 "trigger 'r' (triggers[0]): unknown field 'when'", id="triage-spelling"),
    pytest.param(TIMER + "    then: {set_status: pending}\n",
                 "timer 'w' (timers[0]): then.set_status 'pending' is the status this timer watches", id="own-status"),
    pytest.param(TIMER + "    if: {changed: [status]}\n    then: {add_tags: [x]}\n",
                 "timer 'w' (timers[0]): if: changed is for triggers", id="timer-changed"),
    pytest.param(TIMER + "    if: {actor_in: [customer]}\n    then: {add_tags: [x]}\n",
                 "timer 'w' (timers[0]): if: actor_in is for triggers", id="timer-actor"),
    pytest.param(TIMER + "    if: {status_in: [pending]}\n    then: {add_tags: [x]}\n",
                 "timer 'w' (timers[0]): if: status_in is for triggers: a timer watches its own `status`", id="timer-status-in"),
    pytest.param("timers:\n  - {name: w, status: pending, after_minutes: 0, then: {add_tags: [x]}}\n",
                 "timer 'w' (timers[0]): after_minutes: Input should be greater than or equal to 1, got 0",
                 id="zero-minutes"),
    pytest.param("timers:\n  - {name: w, status: pending, after_minutes: 3 days, then: {add_tags: [x]}}\n",
                 "timer 'w' (timers[0]): after_minutes:", id="minutes-as-text"),
    pytest.param("timers:\n  - {name: w, status: waiting, after_minutes: 5, then: {add_tags: [x]}}\n",
                 "timer 'w' (timers[0]): status: Input should be", id="timer-bad-status"),
    pytest.param("triggers:\n  - {name: same, on: [created], if: {always: true}, then: {add_tags: [x]}}\n"
                 "timers:\n  - {name: same, status: pending, after_minutes: 5, then: {add_tags: [y]}}\n",
                 "timer 'same' (timers[0]): name used twice", id="duplicate-name"),
    pytest.param(TRIGGER + "    if: {always: true}\n    if: {tier_in: [vip]}\n    then: {add_tags: [x]}\n",
                 "duplicate key 'if'", id="duplicate-key"),
    pytest.param("version: 2\ntriggers: []\n", "version: Input should be 1", id="version"),
    pytest.param("trigers: []\n", "unknown field 'trigers' (did you mean 'triggers'?)", id="top-level-typo"),
    pytest.param("- just a list\n", "expected a mapping", id="not-a-mapping"),
    pytest.param("triggers: [\n", "not valid YAML", id="broken-yaml"),
])
def test_schema_errors_name_the_rule_and_field(yaml_text, expected):
    assert expected in problems(yaml_text)


@pytest.mark.parametrize("yaml_text,expected", [
    pytest.param("timers:\n  - {name: w, status: solved, after_minutes: 60, then: {send_survey: false}}\n",
                 "timer 'w' (timers[0]): then.send_survey: Input should be True, got False", id="survey-false"),
    pytest.param("timers:\n  - {name: w, status: solved, after_minutes: 60, then: {send_survey: 'true'}}\n",
                 "timer 'w' (timers[0]): then.send_survey: Input should be True, got 'true'", id="survey-text"),
    pytest.param("timers:\n  - {name: w, status: solved, after_minutes: 60, then: {send_survey:}}\n",
                 "timer 'w' (timers[0]): then: send_survey has no value", id="survey-empty"),
    pytest.param("timers:\n  - {name: w, status: pending, after_minutes: 60, then: {send_survey: true}}\n",
                 "timer 'w' (timers[0]): send_survey needs a timer on status solved", id="survey-on-pending"),
    pytest.param("timers:\n  - {name: w, status: solved, after_minutes: 60, "
                 "then: {send_survey: true, set_status: closed}}\n",
                 "timer 'w' (timers[0]): send_survey needs a timer on status solved that leaves the status alone",
                 id="survey-and-close"),
    pytest.param("triggers:\n  - {name: r, on: [updated], if: {changed: [status]}, then: {send_survey: true}}\n",
                 "trigger 'r' (triggers[0]): send_survey needs `if: {status_in: [solved]}`", id="trigger-any-status"),
    pytest.param("triggers:\n  - {name: r, on: [updated], if: {status_in: [solved, closed]}, "
                 "then: {send_survey: true}}\n",
                 "trigger 'r' (triggers[0]): send_survey needs `if: {status_in: [solved]}`", id="trigger-closed-too"),
    pytest.param("timers:\n  - {name: w, status: solved, after_minutes: 60, then: {send_surveys: true}}\n",
                 "unknown field 'send_surveys' (did you mean 'send_survey'?)", id="survey-typo"),
])
def test_survey_rule_errors_say_what_to_fix(yaml_text, expected):
    assert expected in problems(yaml_text)


def test_no_actions_message_lists_send_survey():
    assert "notify or send_survey" in problems(TRIGGER + "    if: {always: true}\n    then: {}\n")


def test_every_problem_is_listed_at_once():
    message = problems("""
        triggers:
          - {name: a, on: [created], if: {tier_in: [vip]}, then: {set_priority: asap}}
          - {name: b, on: [created], if: {channel_in: [email]}, then: {assign_to: nobody}}
        timers:
          - {name: c, status: pending, after_minutes: 60, then: {set_status: pending}}
    """)
    assert "3 problem(s)" in message
    assert all(label in message for label in ("trigger 'a'", "trigger 'b'", "timer 'c'"))


def test_valid_recipients_and_queue_assignment_load():
    rs = one_trigger("{always: true}",
                     then="{assign_to: queue, notify: [{to: 'slack:C0123ABCD', message: hi}, "
                          "{to: 'email:lead@shop.example', message: hi}, {to: assignee, message: hi}]}")
    assert [n.to for n in rs.triggers[0].then.notify] == ["slack:C0123ABCD", "email:lead@shop.example", "assignee"]


@pytest.mark.parametrize("on_key", ["on", "'on'", '"on"'])
def test_on_key_works_quoted_or_not(on_key):
    """YAML 1.1 reads a bare `on:` key as true; the rule file reads it as the word."""
    rs = rule_set(f"triggers:\n  - name: r\n    {on_key}: [updated]\n    if: {{always: true}}\n"
                  "    then: {add_tags: [x]}\n")
    assert rs.triggers[0].on == ("updated",)


def test_timer_without_conditions_and_empty_sections_are_fine():
    rs = rule_set("version: 1\ntriggers: []\ntimers:\n  - {name: w, status: on_hold, after_minutes: 1, "
                  "then: {notify: [{to: assignee, message: 'Still on hold'}]}}\n")
    assert rs.triggers == () and rs.timers[0].when is None


# --------------------------------------------------------------------------- trigger conditions


@pytest.mark.parametrize("conditions,fact_fields,expected", [
    ("{always: true}", {}, True),
    ("{channel_in: [slack, webchat]}", {"channel": "Slack"}, True),
    ("{channel_in: [slack, webchat]}", {"channel": "email"}, False),
    ("{status_in: [open, pending]}", {"status": "pending"}, True),
    ("{status_in: [open, pending]}", {"status": "on_hold"}, False),
    ("{priority_in: [urgent]}", {"priority": "urgent"}, True),
    ("{priority_in: [urgent]}", {"priority": "high"}, False),
    ("{category_in: [billing]}", {"category": "billing"}, True),
    ("{category_in: [billing]}", {"category": "logistics"}, False),
    ("{tier_in: [VIP]}", {"customer_tier": "vip"}, True),
    ("{tier_in: [vip]}", {"customer_tier": "Vip"}, True),
    ("{tier_in: [vip]}", {"customer_tier": None}, False),
    ("{has_tags: [vip, legal]}", {"tags": {"vip", "legal", "x"}}, True),
    ("{has_tags: [vip, legal]}", {"tags": {"vip"}}, False),
    ("{lacks_tags: [no_auto]}", {"tags": {"vip"}}, True),
    ("{lacks_tags: [no_auto]}", {"tags": {"no_auto"}}, False),
    ("{any_words: [refund*]}", {"text": "Was I refunded?"}, True),
    ("{any_words: [refund*]}", {"subject": "REFUNDS"}, True),
    ("{any_words: [down]}", {"text": "I left it downstairs"}, False),
    ("{any_words: [\"ikke modtaget\"]}", {"text": "Pakken er IKKE\n modtaget"}, True),
    ("{any_words: [nede]}", {"text": "se nedenfor"}, False),
    ("{any_words: [down], none_words: [drop-down]}", {"text": "the site is down"}, True),
    ("{any_words: [down], none_words: [drop-down]}", {"text": "the drop-down is down"}, False),
    ("{none_words: [thanks]}", {"text": ""}, True),
    ("{assigned: true}", {"assignee_id": AGENT}, True),
    ("{assigned: true}", {"assignee_id": None}, False),
    ("{assigned: false}", {"assignee_id": None}, True),
    ("{actor_in: [customer]}", {"actor": "customer"}, True),
    ("{actor_in: [customer]}", {"event": "updated", "actor": "agent"}, False),
    ("{changed: [status, priority]}", {"event": "updated", "changed": {"priority"}}, True),
    ("{changed: [status]}", {"event": "updated", "changed": {"priority"}}, False),
    ("{changed: [status]}", {"event": "updated", "changed": set()}, False),
    ("{changed: [status]}", {"event": "created"}, True),  # every field of a new ticket is new
    ("{channel_in: [email], priority_in: [low]}", {"channel": "email", "priority": "normal"}, False),
])
def test_each_condition_kind(conditions, fact_fields, expected):
    assert fires(one_trigger(conditions, then="{add_tags: [x]}"), **fact_fields) is expected


def test_on_selects_the_event():
    created_only = one_trigger("{always: true}", on="[created]")
    assert fires(created_only, event="created")
    assert not fires(created_only, event="updated", changed={"status"})


def test_reasons_say_what_matched():
    rs = one_trigger("{tier_in: [vip], any_words: [advokat*]}", then="{add_tags: [legal]}")
    outcome = evaluate_triggers(facts(customer_tier="vip", text="Advokaten ringer"), rs)
    assert outcome.reasons == ("r: tier vip; words 'advokaten'",)


# --------------------------------------------------------------------------- merging actions


def test_last_fired_rule_wins_for_set_fields():
    rs = rule_set("""
        triggers:
          - {name: first, on: [created], if: {always: true}, then: {set_priority: high, set_category: billing}}
          - {name: second, on: [created], if: {always: true}, then: {set_priority: low}}
    """)
    outcome = evaluate_triggers(facts(), rs)
    assert outcome.changes == {"priority": "low", "category": "billing"}
    assert outcome.fired == ("first", "second")


def test_rules_are_judged_on_the_facts_they_were_given_in_one_pass():
    """`second` looks for priority high; `first` sets it in the same pass: `second` only
    sees it in pass 2, as a system update."""
    rs = rule_set("""
        triggers:
          - {name: first, on: [created], if: {always: true}, then: {set_priority: high}}
          - {name: second, on: [created, updated], if: {priority_in: [high]}, then: {add_tags: [seen]}}
    """)
    outcome = evaluate_triggers(facts(), rs)
    assert outcome.fired == ("first", "second") and outcome.passes == 2
    assert outcome.reasons[1] == "second: priority high (pass 2)"


def test_assign_to_queue_or_agent_last_wins():
    queue_last = rule_set("""
        triggers:
          - {name: a, on: [created], if: {always: true}, then: {assign_to: a-0123456789ab}}
          - {name: b, on: [created], if: {always: true}, then: {assign_to: queue}}
    """)
    agent_last = rule_set("""
        triggers:
          - {name: b, on: [created], if: {always: true}, then: {assign_to: queue}}
          - {name: a, on: [created], if: {always: true}, then: {assign_to: a-0123456789ab}}
    """)
    rerouted = evaluate_triggers(facts(assignee_id=OTHER_AGENT), queue_last)
    assigned = evaluate_triggers(facts(assignee_id=OTHER_AGENT), agent_last)
    assert rerouted.route_via_queue and "assignee_id" not in rerouted.changes
    assert not assigned.route_via_queue and assigned.changes == {"assignee_id": AGENT}


def test_tags_accumulate_in_order_and_only_real_differences_are_reported():
    rs = rule_set("""
        triggers:
          - {name: a, on: [created], if: {always: true}, then: {add_tags: [vip, temp, old]}}
          - {name: b, on: [created], if: {always: true}, then: {add_tags: [legal], remove_tags: [temp, stale, gone]}}
    """)
    outcome = evaluate_triggers(facts(tags={"old", "stale"}), rs)
    assert outcome.add_tags == ("vip", "legal")  # temp added then removed; old was there already
    assert outcome.remove_tags == ("stale",)  # gone was never there


def test_macros_and_notifications_accumulate_and_identical_ones_go_once():
    rs = rule_set("""
        triggers:
          - name: a
            on: [created]
            if: {always: true}
            then: {send_macro: thanks, notify: [{to: team_lead, message: "Look"}, {to: assignee, message: "Hi"}]}
          - name: b
            on: [created]
            if: {always: true}
            then: {send_macro: thanks, notify: [{to: team_lead, message: "Look"}, {to: team_lead, message: "Other"}]}
          - {name: c, on: [created], if: {always: true}, then: {send_macro: survey}}
    """)
    outcome = evaluate_triggers(facts(), rs)
    assert outcome.macros == ("thanks", "survey")
    assert outcome.notifications == (Notification("team_lead", "Look", "a"), Notification("assignee", "Hi", "a"),
                                     Notification("team_lead", "Other", "b"))


def test_send_survey_from_a_trigger_on_solving_and_merged_with_other_actions():
    rs = rule_set("""
        triggers:
          - {name: thank, on: [updated], if: {status_in: [solved], changed: [status]}, then: {send_macro: thanks}}
          - {name: ask, on: [updated], if: {status_in: [solved], changed: [status], actor_in: [agent]},
             then: {send_survey: true, add_tags: [surveyed]}}
          - {name: ask-again, on: [updated], if: {status_in: [solved], has_tags: [vip]}, then: {send_survey: yes}}
    """)
    solved = facts(event="updated", status="solved", actor="agent", changed=frozenset({"status"}), tags={"vip"})
    outcome = evaluate_triggers(solved, rs)
    assert outcome.survey is True and outcome.fired == ("thank", "ask", "ask-again")
    assert outcome.macros == ("thanks",) and outcome.add_tags == ("surveyed",)
    by_customer = evaluate_triggers(facts(event="updated", status="solved", actor="customer",
                                          changed=frozenset({"status"})), rs)
    assert by_customer.fired == ("thank",) and by_customer.survey is False
    assert evaluate_triggers(facts(event="updated", status="open", changed=frozenset({"status"})), rs).survey is False


def test_setting_a_field_to_its_current_value_is_not_a_change():
    outcome = evaluate_triggers(facts(priority="high"), one_trigger("{always: true}", then="{set_priority: high}"))
    assert outcome.fired == ("r",) and outcome.changes == {} and outcome.passes == 1


def test_nothing_fires_on_an_empty_rule_set():
    outcome = evaluate_triggers(facts(), rule_set("triggers: []\n"))
    assert outcome.fired == () and outcome.changes == {} and outcome.passes == 1


# --------------------------------------------------------------------------- loop safety

PING_PONG = """
    triggers:
      - {name: down, on: [created, updated], if: {priority_in: [high]}, then: {set_priority: low}}
      - {name: up, on: [created, updated], if: {priority_in: [low]}, then: {set_priority: high}}
"""


def test_ping_pong_rules_stop_and_fire_once_each():
    outcome = evaluate_triggers(facts(event="updated", actor="agent", priority="high",
                                      changed={"priority"}), rule_set(PING_PONG))
    assert outcome.fired == ("down", "up")
    assert outcome.passes == 2  # a third pass would have nobody left to fire
    assert outcome.changes == {}  # high → low → high: back where it started


def test_a_long_chain_is_cut_after_three_passes():
    rs = rule_set("""
        triggers:
          - {name: a, on: [created, updated], if: {priority_in: [low]}, then: {set_priority: normal}}
          - {name: b, on: [created, updated], if: {priority_in: [normal]}, then: {set_priority: high}}
          - {name: c, on: [created, updated], if: {priority_in: [high]}, then: {set_priority: urgent}}
          - {name: d, on: [created, updated], if: {priority_in: [urgent]}, then: {add_tags: [too_far]}}
    """)
    outcome = evaluate_triggers(facts(priority="low"), rs)
    assert outcome.passes == MAX_PASSES == 3
    assert outcome.fired == ("a", "b", "c") and outcome.add_tags == ()
    assert outcome.changes == {"priority": "urgent"}


def test_later_passes_are_system_updates_with_what_changed():
    rs = rule_set("""
        triggers:
          - {name: solve, on: [created], if: {always: true}, then: {set_status: solved}}
          - {name: customer-only, on: [updated], if: {actor_in: [customer]}, then: {add_tags: [x]}}
          - {name: by-system, on: [updated], if: {actor_in: [system], changed: [status]}, then: {add_tags: [y]}}
    """)
    outcome = evaluate_triggers(facts(), rs)
    assert outcome.fired == ("solve", "by-system") and outcome.add_tags == ("y",)


# --------------------------------------------------------------------------- timers

TIMERS = """
    timers:
      - {name: nudge, status: pending, after_minutes: 60, then: {send_macro: nudge}}
      - name: escalate
        status: pending
        after_minutes: 30
        if: {priority_in: [urgent, high]}
        then: {set_priority: urgent, notify: [{to: team_lead, message: "Waiting too long"}]}
      - name: close-unless-kept
        status: solved
        after_minutes: 120
        if: {lacks_tags: [keep_open]}
        then: {set_status: closed}
"""


@pytest.fixture(scope="module")
def timers():
    return rule_set(TIMERS)


def test_next_due_is_the_earliest_timer_whose_conditions_hold(timers):
    assert next_timer_due(facts(status="pending", priority="high"), timers) == T0 + timedelta(minutes=30)
    assert next_timer_due(facts(status="pending", priority="low"), timers) == T0 + timedelta(minutes=60)
    assert next_timer_due(facts(status="open"), timers) is None


def test_not_due_before_its_time_and_due_at_it(timers):
    pending = facts(status="pending")
    assert due_timers(pending, timers, T0 + timedelta(minutes=59, seconds=59)).fired == ()
    outcome = due_timers(pending, timers, T0 + timedelta(minutes=60))
    assert outcome.fired == ("nudge",) and outcome.macros == ("nudge",) and outcome.passes == 1
    assert outcome.reasons == ("nudge: pending for 1 hour",)


def test_a_fired_timer_is_not_due_again_in_the_same_status_period(timers):
    late = T0 + timedelta(days=30)
    first = due_timers(facts(status="pending"), timers, late)
    again = due_timers(facts(status="pending", fired=frozenset(first.fired)), timers, late)
    assert first.fired == ("nudge",)
    assert again.fired == () and again.macros == () and again.passes == 0
    assert next_timer_due(facts(status="pending", fired=frozenset(first.fired)), timers) is None


def test_timer_conditions_are_respected(timers):
    solved = facts(status="solved", tags={"keep_open"})
    assert next_timer_due(solved, timers) is None
    assert due_timers(solved, timers, T0 + timedelta(days=9)).changes == {}
    assert due_timers(facts(status="solved"), timers, T0 + timedelta(days=9)).changes == {"status": "closed"}


def test_timers_due_together_merge_in_file_order(timers):
    outcome = due_timers(facts(status="pending", priority="high"), timers, T0 + timedelta(hours=2))
    assert outcome.fired == ("nudge", "escalate")
    assert outcome.changes == {"priority": "urgent"} and outcome.macros == ("nudge",)
    assert outcome.notifications == (Notification("team_lead", "Waiting too long", "escalate"),)


def test_a_new_status_period_starts_the_timers_over(timers):
    fired_once = facts(status="pending", fired=frozenset({"nudge"}))
    assert next_timer_due(fired_once, timers) is None
    # Customer replied (open), agent asked again (pending): the caller clears `fired`.
    later = T0 + timedelta(days=2)
    again = facts(status="pending", status_changed_at=later, fired=frozenset())
    assert next_timer_due(again, timers) == later + timedelta(minutes=60)
    assert due_timers(again, timers, later + timedelta(minutes=60)).fired == ("nudge",)


def test_a_due_time_past_year_9999_is_never(timers):
    end_of_time = datetime(9999, 12, 31, 23, 30, tzinfo=timezone.utc)
    assert next_timer_due(facts(status="pending", status_changed_at=end_of_time), timers) is None


def test_due_timers_needs_an_aware_now(timers):
    with pytest.raises(ValueError, match="timezone-aware"):
        due_timers(facts(status="pending"), timers, datetime(2026, 11, 30, 10, 0))


# --------------------------------------------------------------------------- facts


@pytest.mark.parametrize("fields,message", [
    ({"created_at": datetime(2026, 1, 1)}, "created_at must be timezone-aware"),
    ({"status_changed_at": datetime(2026, 1, 1)}, "status_changed_at must be timezone-aware"),
    ({"status": "resolved"}, "status must be one of"),
    ({"priority": "asap"}, "priority must be one of"),
    ({"event": "deleted"}, "event must be one of"),
    ({"actor": "bot"}, "actor must be one of"),
    ({"tags": "vip"}, "tags must be a set"),
])
def test_facts_refuse_what_the_rules_cannot_judge(fields, message):
    with pytest.raises(ValueError, match=message):
        facts(**fields)


def test_facts_take_any_collection_of_tags_and_freeze_it():
    built = facts(tags=["vip", "vip", "legal"], changed={"status"}, fired=("nudge",))
    assert built.tags == frozenset({"vip", "legal"}) and isinstance(built.changed, frozenset)
    assert built.fired == frozenset({"nudge"})


# --------------------------------------------------------------------------- properties

BUSY = parse_rules(dedent("""
    triggers:
      - {name: down, on: [created, updated], if: {priority_in: [high]}, then: {set_priority: low, add_tags: [a]}}
      - {name: up, on: [created, updated], if: {priority_in: [low]}, then: {set_priority: high, remove_tags: [a]}}
      - {name: route, on: [updated], if: {changed: [category, tags]}, then: {assign_to: queue}}
      - {name: mine, on: [created], if: {assigned: false}, then: {assign_to: a-0123456789ab}}
      - {name: hold, on: [updated], if: {actor_in: [system], status_in: [open]}, then: {set_status: on_hold}}
      - {name: words, on: [created, updated], if: {any_words: [refund*, advokat*]}, then: {set_category: billing}}
    timers:
      - {name: t1, status: pending, after_minutes: 1, if: {lacks_tags: [a]}, then: {set_status: solved}}
      - {name: t2, status: on_hold, after_minutes: 1440, then: {set_status: open}}
      - {name: t3, status: solved, after_minutes: 525600, then: {set_status: closed}}
""").lstrip())

MOMENTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                       timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-11)),
                                                  timezone(timedelta(hours=14))]))
WORDS = st.sampled_from(["refund", "advokat", "lawyer", "down", "hej", "ærgerligt", "", "søksmål", "x"])


@st.composite
def random_facts(draw):
    event = draw(st.sampled_from(["created", "updated"]))
    return facts(
        event=event,
        channel=draw(st.sampled_from(["email", "slack", "webchat", "whatsapp"])),
        status=draw(st.sampled_from(STATUSES)),
        priority=draw(st.sampled_from(PRIORITIES)),
        category=draw(st.sampled_from(["general", "billing", "technical"])),
        tags=draw(st.frozensets(st.sampled_from(["a", "vip", "legal", "auto_solved", "keep_open"]))),
        subject=draw(WORDS),
        text=" ".join(draw(st.lists(WORDS | st.text(max_size=10), max_size=4))),
        assignee_id=draw(st.sampled_from([None, AGENT])),
        customer_tier=draw(st.sampled_from([None, "vip", "VIP", "gold"])),
        status_changed_at=draw(MOMENTS),
        changed=frozenset() if event == "created" else draw(st.frozensets(st.sampled_from(CHANGEABLE_FIELDS))),
        actor=draw(st.sampled_from(["customer", "agent", "system"])),
        fired=draw(st.frozensets(st.sampled_from(["t1", "t2", "t3", "pending-reminder", "pending-auto-solve"]))),
    )


@settings(max_examples=80, deadline=None)
@given(ticket=random_facts(), busy=st.booleans())
def test_triggers_never_raise_and_only_set_valid_values(default_rules, ticket, busy):
    outcome = evaluate_triggers(ticket, BUSY if busy else default_rules)
    assert set(outcome.changes) <= {"status", "priority", "category", "assignee_id"}
    assert outcome.changes.get("status", "open") in STATUSES
    assert outcome.changes.get("priority", "normal") in PRIORITIES
    assert all(getattr(ticket, field) != value for field, value in outcome.changes.items())
    assert 1 <= outcome.passes <= MAX_PASSES and len(set(outcome.fired)) == len(outcome.fired)
    assert not set(outcome.add_tags) & ticket.tags and set(outcome.remove_tags) <= ticket.tags


@settings(max_examples=80, deadline=None)
@given(ticket=random_facts(), busy=st.booleans())
def test_next_due_is_never_before_the_status_began_and_fires_exactly_once(default_rules, ticket, busy):
    rs = BUSY if busy else default_rules
    due = next_timer_due(ticket, rs)
    assert due is None or due >= ticket.status_changed_at
    if due is not None:
        swept = due_timers(ticket, rs, due)
        assert swept.fired and not set(swept.fired) & ticket.fired
        assert swept.survey == ("csat-survey" in swept.fired)  # only the survey timer asks for one
        after = facts(**{**ticket.__dict__, "fired": ticket.fired | set(swept.fired)})
        assert due_timers(after, rs, due).fired == ()  # a retried sweep does nothing
