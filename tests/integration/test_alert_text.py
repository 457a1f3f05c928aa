"""Alerts name the ticket as people know it and link it in the console (issue 15).

The bundled team-lead alert said "Urgent ticket t-21790dc4…" (the internal id). It now names the
ticket number and links ``{PUBLIC_BASE_URL}/console#ticket/<id>``; a team's own message that does
not link the console gets the link as its last line; a typo in a placeholder stops the rules loading.
"""
from __future__ import annotations

from textwrap import dedent

import pytest

from tests.mail import compose

from chalicelib.domain.automation import AutomationRulesError, PLACEHOLDERS, parse_rules
from chalicelib.local import LocalDesk

ENVIRONMENT = {"TEAM_LEAD": "email:lead@example.com", "PUBLIC_BASE_URL": "https://desk.example/prod"}


def _alerts(desk: LocalDesk) -> list:
    return [m for m in desk.sent_emails() if m["To"] == "lead@example.com"]


def test_the_bundled_urgent_alert_names_the_number_and_links_the_console():
    with LocalDesk(environment=ENVIRONMENT) as desk:
        desk.receive_email(compose(subject="Checkout is down", body="Our checkout is down, nobody can pay."))
        desk.pump()
        (ticket,) = desk.tickets()
        (alert,) = _alerts(desk)
        assert alert["Subject"] == f"[#{ticket['number']}] urgent-notify-lead: Checkout is down"
        assert alert.get_body(("plain",)).get_content().strip().splitlines() == [
            f"Urgent ticket #{ticket['number']}: Checkout is down",
            f"Open it in the console: https://desk.example/prod/console#ticket/{ticket['id']}",
        ]


def test_a_teams_own_message_without_the_link_gets_it_as_its_last_line(tmp_path):
    rules = tmp_path / "automation_rules.yaml"
    rules.write_text(dedent("""
        version: 1
        triggers:
          - name: refund-watch
            on: [created]
            if: {any_words: [refund]}
            then:
              notify:
                - to: team_lead
                  message: "Refund asked on #{{ ticket_number }} ({{ queue }}, {{ priority }})"
    """))
    with LocalDesk(environment=ENVIRONMENT, automation_rules=rules) as desk:
        desk.receive_email(compose(subject="Refund please", body="I want a refund for order 77."))
        desk.pump()
        (ticket,) = desk.tickets()
        (alert,) = _alerts(desk)
        text = alert.get_body(("plain",)).get_content().strip()
        assert text == (f"Refund asked on #{ticket['number']} (billing, high)\n\n"
                        f"Open it in the console: https://desk.example/prod/console#ticket/{ticket['id']}")
        assert ticket["id"] not in text.splitlines()[0]  # the internal id only in the link


def test_a_misspelt_placeholder_stops_the_rules_loading():
    with pytest.raises(AutomationRulesError, match=r"\{\{ ticket_nummer \}\} is not a placeholder"):
        parse_rules(dedent("""
            version: 1
            triggers:
              - name: x
                on: [created]
                if: {priority_in: [urgent]}
                then: {notify: [{to: team_lead, message: "Urgent #{{ ticket_nummer }}"}]}
        """))


def test_every_placeholder_the_rules_accept_is_filled_in():
    from types import SimpleNamespace

    from chalicelib.service import notify

    ticket = SimpleNamespace(ticket_id="t-0123456789abcdef0123", number=1042, subject="Broken hinge",
                             priority="high", status="open", category="logistics", assignee_name=None)
    values = notify.placeholders(ticket)
    assert set(values) == set(PLACEHOLDERS)
    message = " ".join(f"{{{{ {name} }}}}" for name in PLACEHOLDERS)
    assert "{{" not in notify.render_text(message, values)
    assert values["ticket_number"] == 1042 and values["assignee"] == "nobody"
