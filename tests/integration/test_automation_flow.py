"""Automation rules through the real pipeline, API and schedule, with the desk's clock moved forward."""

from tests.mail import compose
from tests.api import call as _call


def _only_ticket(desk):
    (ticket,) = desk.tickets()
    return ticket


def test_pending_ticket_gets_one_reminder_after_three_days_and_is_solved_after_seven(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Where is my parcel"))
    desk.pump()
    ticket = _only_ticket(desk)
    assert _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"status": "pending"})[0] == 200

    desk.advance(days=2)
    desk.run_schedules()
    desk.pump()
    assert [m for m in _only_ticket(desk)["messages"] if m["kind"] == "automated"] == []

    desk.advance(days=1, minutes=1)
    desk.run_schedules()
    desk.run_schedules()  # EventBridge may deliver twice; the reminder still goes once
    desk.pump()
    ticket = _only_ticket(desk)
    reminders = [m for m in ticket["messages"] if m["kind"] == "automated"]
    assert len(reminders) == 1 and reminders[0]["delivery"] == "sent"
    assert ticket["status"] == "pending" and ticket["first_response_at"] is None  # a rule's reply is no response
    assert any(e["actor"] == "automation:pending-reminder" for e in ticket["audit"])

    desk.advance(days=4)
    desk.run_schedules()
    ticket = _only_ticket(desk)
    assert ticket["status"] == "solved" and "auto_solved" in ticket["tags"]
    assert ticket["assignee_id"]  # solved tickets keep their owner; the slot is free again
    assert _call(desk, "get", f"/agents/{ticket['assignee_id']}", ann)[1]["open_count"] == 0


def test_a_customer_reply_restarts_the_pending_clock(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Size question", message_id="<first@customer.example>"))
    desk.pump()
    ticket = _only_ticket(desk)
    _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"status": "pending"})
    desk.advance(days=2, hours=23)
    desk.receive_email(compose(subject="Re: Size question", body="Size 42, thanks",
                               in_reply_to="<first@customer.example>"))
    desk.pump()
    assert _only_ticket(desk)["status"] == "open"
    desk.advance(hours=2)
    desk.run_schedules()
    desk.pump()
    assert [m for m in _only_ticket(desk)["messages"] if m["kind"] == "automated"] == []


def test_legal_threats_become_urgent_and_the_team_lead_is_told(tmp_path):
    from chalicelib.local import LocalDesk

    with LocalDesk(environment={"TEAM_LEAD": "email:lead@example.com"}) as desk:
        desk.add_agent("Ann", "ann@example.com")
        desk.receive_email(compose(subject="Damaged sofa", body="I will contact my lawyer about the damaged sofa."))
        desk.pump()
        ticket = _only_ticket(desk)
        assert ticket["priority"] == "urgent" and "legal" in ticket["tags"]
        assert "legal-threat" in " ".join(e["actor"] for e in ticket["audit"])
        notes = [m for m in desk.sent_emails() if m["To"] == "lead@example.com"]
        assert len(notes) == 1 and ticket["id"] in notes[0].get_content()
        assert notes[0]["Auto-Submitted"] == "auto-generated"
