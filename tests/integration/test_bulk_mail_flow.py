"""A real newsletter through SES, S3 and the pipeline (issue 15): recorded, low, closed, in nobody's queue.

Before, a newsletter opened a ticket and was auto-assigned, taking one of an agent's slots. Now the
bundled ``bulk-mail`` triage rule closes it; a team that wants newsletters answered removes
``status: closed`` from its own rule file, and they are triaged like other mail again.
"""
from __future__ import annotations

from pathlib import Path

from tests.api import call
from tests.mail import compose

from chalicelib.domain.triage import DEFAULT_RULES_PATH
from chalicelib.local import LocalDesk

NEWSLETTER = (Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "machine" / "newsletter_bulk.eml").read_bytes()


def test_a_newsletter_is_recorded_closed_at_low_priority_and_takes_no_agents_slot(desk):
    agent_id, token = desk.add_agent("Ola Nordmann", "ola@example.com", capacity=2)
    desk.receive_email(NEWSLETTER)
    desk.pump()

    (ticket,) = desk.tickets()
    assert ticket["status"] == "closed" and ticket["priority"] == "low" and ticket["assignee_id"] is None
    assert ticket["tags"] == ["bulk_mail"]
    assert ticket["triage"]["rules_fired"] == ["bulk-mail"]  # "urgent", "down" and "refunds" did not count
    assert ticket["triage"]["reasons"] == ["bulk-mail: machine-sent bulk (Precedence: bulk)"]
    (message,) = ticket["messages"]  # recorded: an agent can still read it
    assert message["kind"] == "auto_reply" and "Black Week" in message["text"]
    assert ticket["acknowledgement"]["status"] == "suppressed"
    assert ticket["acknowledgement"]["reason"] == "machine-sent: Precedence: bulk"
    assert desk.sent_emails() == []  # no acknowledgement (RFC 3834 §2), no notification
    assert call(desk, "get", f"/agents/{agent_id}", token)[1]["open_count"] == 0
    assert desk.dead_letters() == []

    # The agent's slots are free for the next customer, who is answered as always.
    desk.receive_email(compose(subject="Where is my parcel?"))
    desk.pump()
    customer = next(t for t in desk.tickets() if t["id"] != ticket["id"])
    assert customer["assignee_id"] == agent_id and customer["acknowledgement"]["status"] == "sent"


def test_a_person_writing_the_same_words_gets_an_open_ticket(desk):
    desk.receive_email(compose(subject="Urgent: your site is down", body="Your prices are down but checkout fails. "
                                                                          "I want a refund."))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["status"] == "open" and ticket["priority"] == "urgent"
    assert ticket["acknowledgement"]["status"] == "sent"
    assert "bulk-mail" not in ticket["triage"]["rules_fired"]


def test_a_team_that_wants_newsletters_answered_changes_its_rule_file(tmp_path):
    rules = DEFAULT_RULES_PATH.read_text()
    assert "then: {priority: low, status: closed, tags: [bulk_mail], stop: true}" in rules
    own = tmp_path / "triage_rules.yaml"
    own.write_text(rules.replace("status: closed, ", ""))
    with LocalDesk(triage_rules=own) as desk:
        agent_id, _ = desk.add_agent("Ola Nordmann", "ola@example.com")
        desk.receive_email(NEWSLETTER)
        desk.pump()
        (ticket,) = desk.tickets()
        assert ticket["status"] == "open" and ticket["priority"] == "low" and ticket["assignee_id"] == agent_id
        assert ticket["acknowledgement"]["status"] == "suppressed"  # machine mail is never acknowledged


def test_a_person_s_mail_a_team_rule_closes_gets_no_acknowledgement(tmp_path):
    own = tmp_path / "triage_rules.yaml"
    own.write_text(DEFAULT_RULES_PATH.read_text().replace(
        "rules:\n", "rules:\n  - name: thanks-only\n    when: {all_words: [thanks], none_words: [problem]}\n"
                    "    then: {status: closed, tags: [thanks], stop: true}\n", 1))
    with LocalDesk(triage_rules=own) as desk:
        desk.add_agent("Ola Nordmann", "ola@example.com")
        desk.receive_email(compose(subject="Thanks", body="Thanks, the parcel came today."))
        desk.pump()
        (ticket,) = desk.tickets()
        assert ticket["status"] == "closed" and ticket["assignee_id"] is None and ticket["tags"] == ["thanks"]
        assert ticket["acknowledgement"] == {**ticket["acknowledgement"], "status": "suppressed",
                                             "reason": "closed by triage rule thanks-only"}
        assert desk.sent_emails() == []
