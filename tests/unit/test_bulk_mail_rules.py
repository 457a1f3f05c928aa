"""Machine-sent mail by kind, and the triage rules a team writes for it (issue 15: newsletters out of agents' queues).

The parser says what kind of machine sent a mail (``autoreply.machine_sent``); triage's
``machine_sent_in`` matches it, ``status: closed`` records the ticket closed and ``stop: true``
keeps the rules below from raising a newsletter's priority.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from textwrap import dedent

import pytest

from chalicelib.channels.email.autoreply import machine_sent
from chalicelib.channels.email.mime import parse_email
from chalicelib.domain.triage import DEFAULT_RULES_PATH, TriageInput, TriageRulesError, load_rules, parse_rules, triage

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
OWN = ["support@example.com"]
MONDAY_MORNING = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)


def _kind(name: str) -> tuple[str, str] | None:
    found = machine_sent(parse_email((MAIL / name).read_bytes()), OWN)
    return (found.kind, found.reason) if found else None


@pytest.mark.parametrize("name, kind, reason", [
    # Auto-Submitted comes first in CHECKS, but the list headers tell what it is: the reason names them.
    ("machine/newsletter_bulk.eml", "bulk", "Precedence: bulk"),
    ("mailing_list.eml", "bulk", "List-Id present"),  # its bounce Return-Path alone would be "automated"
    ("exchange_out_of_office.eml", "auto_reply", "Auto-Submitted: auto-replied"),
    ("bounce_mailer_daemon.eml", "bounce", "delivery-status"),
    ("machine/cron_daemon.eml", "automated", None),
    ("machine/sendgrid_notification.eml", "automated", None),
])
def test_each_kind_of_machine_mail_is_told_apart(name, kind, reason):
    found = _kind(name)
    assert found is not None and found[0] == kind
    if reason is not None:
        assert found[1] == reason


@pytest.mark.parametrize("name", ["gmail_reply.eml", "outlook_reply.eml", "apple_mail_danish.eml"])
def test_mail_people_wrote_has_no_kind(name):
    assert _kind(name) is None


def _newsletter(kind: str | None = "bulk", **changes: object) -> TriageInput:
    values = dict(channel="email", subject="Black Week is here – urgent: 50% off today only!",
                  text="The prices are down. Refunds and free returns for 60 days.",
                  sender="email:news@nordicdeals.example", received_at=MONDAY_MORNING,
                  machine_kind=kind, machine_reason="Precedence: bulk" if kind else "")
    values.update(changes)
    return TriageInput(**values)


def test_the_bundled_rules_close_bulk_mail_at_low_priority_whatever_words_it_uses():
    result = triage(_newsletter(), load_rules(DEFAULT_RULES_PATH))
    assert (result.status, result.priority, result.category) == ("closed", "low", "general")
    assert result.rules_fired == ("bulk-mail",)  # stop: "urgent", "down" and "refund" never counted
    assert result.tags == ("bulk_mail",)
    assert result.reasons == ("bulk-mail: machine-sent bulk (Precedence: bulk)",)


def test_the_same_words_from_a_person_are_triaged_as_usual():
    result = triage(_newsletter(kind=None), load_rules(DEFAULT_RULES_PATH))
    assert result.status is None and result.priority == "urgent" and "bulk-mail" not in result.rules_fired


@pytest.mark.parametrize("kind", ["auto_reply", "bounce", "automated"])
def test_other_machine_mail_is_not_bulk(kind):
    result = triage(_newsletter(kind=kind), load_rules(DEFAULT_RULES_PATH))
    assert result.status is None and "bulk-mail" not in result.rules_fired


RULES = dedent("""
    version: 1
    rules:
      - name: machines
        when: {machine_sent_in: [bulk, automated]}
        then: {priority: low, tags: [machine]}
      - name: outage
        when: {any_words: [down]}
        then: {priority: urgent}
""")


def test_without_stop_later_rules_still_fire_and_the_most_urgent_priority_wins():
    result = triage(_newsletter(kind="automated"), parse_rules(RULES))
    assert result.rules_fired == ("machines", "outage") and result.priority == "urgent" and result.status is None
    assert result.reasons[0] == "machines: machine-sent automated (Precedence: bulk)"


def test_stop_ends_triage_at_the_rule():
    stopped = parse_rules(RULES.replace("tags: [machine]}", "tags: [machine], stop: true}"))
    assert triage(_newsletter(kind="automated"), stopped).rules_fired == ("machines",)
    assert triage(_newsletter(kind=None), stopped).rules_fired == ("outage",)  # a person's mail: not stopped


@pytest.mark.parametrize("then, problem", [
    ("{status: open}", "status"),
    ("{status: solved}", "status"),
    ("{stop: false}", "stop"),
])
def test_a_rule_may_only_start_a_ticket_closed_and_stop_is_only_true(then, problem):
    with pytest.raises(TriageRulesError, match=problem):
        parse_rules(RULES.replace("{priority: low, tags: [machine]}", then))


def test_an_unknown_kind_of_machine_mail_is_refused_when_the_rules_load():
    with pytest.raises(TriageRulesError, match="'newsletter' is not a kind of machine-sent mail"):
        parse_rules(RULES.replace("[bulk, automated]", "[newsletter]"))


def test_stop_alone_is_a_rule_that_does_something():
    assert parse_rules(RULES.replace("{priority: low, tags: [machine]}", "{stop: true}")).rules[0].then.stop
