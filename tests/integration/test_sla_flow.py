"""SLA clocks end to end: business hours, escalation once, only human replies count, exact EMF.

The wall clock is pinned with time-machine (Friday 27 November 2026, 16:30 in
Copenhagen) and moved with ``desk.advance``; the schedule runs as EventBridge
would (``desk.run_schedules``).
"""
from datetime import datetime, timezone

import pytest
import time_machine

from chalicelib.local import LocalDesk
from tests.mail import compose
from tests.api import call as _call

FRIDAY_1630_CPH = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def friday_desk():
    with time_machine.travel(FRIDAY_1630_CPH, tick=True):
        with LocalDesk(environment={"TEAM_LEAD": "email:lead@example.com"}) as desk:
            yield desk


def _only(desk):
    (ticket,) = desk.tickets()
    return ticket


def _value(emf_value):
    return emf_value[0] if isinstance(emf_value, list) else emf_value  # Powertools may write [value]


def _notifications(desk, to):
    return [m for m in desk.sent_emails() if m["To"] == to and m["Auto-Submitted"] == "auto-generated"]


def test_osticket_1168_and_chatwoot_13392_business_hours_decide_due_warning_and_breach(friday_desk):
    desk = friday_desk
    _, ann = desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Invoice twice", body="I was charged twice for my invoice."))
    desk.pump()
    ticket = _only(desk)
    status, _ = _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"priority": "high"})
    assert status == 200
    ticket = _only(desk)
    # High: first response within 4 business hours. Friday 16:30 + 30 min, then Monday 08:00 + 3.5 h.
    due = datetime.strptime(ticket["sla"]["due_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(due - datetime(2026, 11, 30, 10, 30, tzinfo=timezone.utc)).total_seconds() < 60  # Monday 11:30 CPH
    assert ticket["sla"]["due_target"] == "first_response" and ticket["sla"]["policy"] == "high"

    desk.advance(hours=17, minutes=30)  # Saturday 10:00: 14 calendar hours late, but the desk is closed
    desk.run_schedules()
    assert _only(desk)["priority"] == "high" and _notifications(desk, "lead@example.com") == []
    assert _call(desk, "get", "/tickets?overdue=true", ann)[1]["tickets"] == []

    desk.advance(hours=48, minutes=45)  # Monday 10:45: 80 % of the target has passed
    desk.run_schedules()
    desk.pump()
    warned = _notifications(desk, "ann@example.com")
    assert len(warned) == 1 and "SLA warning" in warned[0]["Subject"] + warned[0].get_content()

    desk.advance(minutes=50)  # Monday 11:35: breached
    desk.run_schedules()
    desk.run_schedules()  # a second run (or a concurrent one) escalates nothing more
    desk.pump()
    ticket = _only(desk)
    assert ticket["priority"] == "urgent"
    assert [e["action"] for e in ticket["audit"]].count("sla_breached") == 1
    assert len(_notifications(desk, "lead@example.com")) == 1
    assert [t["id"] for t in _call(desk, "get", "/tickets?overdue=true", ann)[1]["tickets"]] == [ticket["id"]]
    breaches = [m for m in desk.metrics if "SlaBreached" in m]
    assert len(breaches) == 1 and breaches[0]["target"] == "first_response"


def test_zammad_5177_only_a_human_reply_is_the_first_response(friday_desk):
    desk = friday_desk
    _, ann = desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Broken lamp", body="The lamp I bought is broken."))
    desk.pump()
    ticket = _only(desk)
    desk.advance(minutes=10)
    _call(desk, "post", f"/tickets/{ticket['id']}/notes", ann, {"text": "Looking"})
    _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"priority": "low"})
    _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"status": "on_hold"})
    assert _only(desk)["first_response_at"] is None
    desk.advance(minutes=20)
    desk.metrics.clear()
    _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"text": "A new lamp is on its way."})
    first = _only(desk)["first_response_at"]
    desk.advance(minutes=5)
    _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"text": "Tracking number: 42"})
    assert _only(desk)["first_response_at"] == first

    emitted = [m for m in desk.metrics if "FirstResponseTime" in m]
    assert len(emitted) == 2  # once, in calendar and in business time
    calendar = next(m for m in emitted if m["clock"] == "calendar")
    assert calendar["_aws"]["CloudWatchMetrics"] == [{
        "Namespace": "RelayDesk",
        "Dimensions": [["channel", "clock", "priority", "queue", "service"]],
        "Metrics": [{"Name": "FirstResponseTime", "Unit": "Seconds"}],
    }]
    assert (calendar["channel"], calendar["priority"], calendar["queue"]) == ("email", "low", ticket["category"])
    seconds = {m["clock"]: _value(m["FirstResponseTime"]) for m in emitted}
    assert 29 * 60 <= seconds["calendar"] <= 31 * 60
    assert ticket["category"] == "general"  # Copenhagen hours: 16:30–17:00 Friday is open time, then closed
    assert 29 * 60 <= seconds["business"] <= 30 * 60 + 1


def test_pending_pauses_the_resolution_clock_and_solving_stops_it(friday_desk):
    desk = friday_desk
    _, ann = desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Return label"))
    desk.pump()
    ticket = _only(desk)
    _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"text": "Here it is."})
    _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"status": "pending"})
    assert _only(desk)["sla"]["due_at"] is None and _only(desk)["sla"]["state"] == "paused"
    _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"status": "solved"})
    solved = _only(desk)
    assert solved["sla"]["state"] == "met" and solved["solved_at"]
    clocks = solved["sla"]
    assert clocks["first_response"]["calendar"] >= 0 and clocks["resolution"]["calendar"] >= 0
    assert clocks["replies_to_resolve"] == 1 and clocks["reopen_count"] == 0
    assert set(clocks["handle_time"]) == {"calendar", "business"}
    assert [m for m in desk.metrics if "ResolutionTime" in m and m["clock"] == "calendar"]
    assert [m for m in desk.metrics if "TicketsSolved" in m][0]["queue"] == ticket["category"]


def test_new_business_hours_move_due_times_after_recompute_sla(friday_desk, tmp_path, capsys):
    """Due times follow the rules in force: after a policy change, the admin command re-plans open tickets."""
    import os

    from chalicelib import admin
    from chalicelib.domain import sla

    desk = friday_desk
    desk.add_agent("Ann", "ann@example.com")
    desk.receive_email(compose(subject="Broken lamp", body="The lamp I bought is broken."))
    desk.pump()
    before = _only(desk)["sla"]["due_at"]
    always_open = tmp_path / "sla.yaml"
    always_open.write_text(sla.DEFAULT_POLICIES_PATH.read_text().replace("default_schedule: copenhagen",
                                                                         "default_schedule: always"))
    os.environ["SLA_POLICIES"] = str(always_open)  # the desk restores the environment when it closes
    assert admin.main(["recompute-sla"]) == 0
    assert "1 active tickets" in capsys.readouterr().out
    after = _only(desk)["sla"]["due_at"]
    assert after < before  # open around the clock: due on Saturday, not next week
    assert not [e for e in _only(desk)["audit"] if e["action"] == "sla_recomputed"]  # bookkeeping, not a change


def test_raising_time_shards_keeps_every_due_time_found_and_spreads_new_ones(friday_desk, monkeypatch):
    """TIME_SHARDS 16 -> 128 without a rewrite: tickets stored in s00..s15 are still breached on time (the
    names keep their spelling), and new tickets use the shards past s15."""
    desk = friday_desk
    _, ann = desk.add_agent("Ann", "ann@example.com")
    for n in range(3):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"before {n}", body="Charged twice."))
    desk.pump()
    monkeypatch.setenv("TIME_SHARDS", "128")
    for n in range(12):
        desk.receive_email(compose(sender=f"d{n}@shop.example", subject=f"after {n}", body="Charged twice."))
    desk.pump()
    items = desk._aws("dynamodb").scan(TableName="relay-desk-tickets")["Items"]
    shards = {item["subject"]["S"]: int(item["sla_shard"]["S"][1:]) for item in items}
    assert all(shards[f"before {n}"] < 16 for n in range(3)) and max(shards.values()) >= 16

    desk.advance(days=7)
    desk.run_schedules()
    desk.pump()
    overdue = {t["subject"] for t in _call(desk, "get", "/tickets?overdue=true&limit=50", ann)[1]["tickets"]}
    assert overdue == set(shards)
