"""SLA policies (data, validated) and the clocks read from a ticket's timeline."""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.configuration import sla_policies as policies
from chalicelib.domain.business_time import CALENDAR
from chalicelib.domain.sla import (
    DEFAULT_POLICIES_PATH,
    Event,
    SlaPolicyError,
    clocks,
    load_policies,
    parse_policies,
    policy_for,
)

CPH = ZoneInfo("Europe/Copenhagen")
OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc


def cph(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


BUNDLED = load_policies(DEFAULT_POLICIES_PATH)


def desk(text: str):
    """A resolver for clocks() over a policy file given as text."""
    return functools.partial(policy_for, policies=parse_policies(text))


def run(events, *, now, queue="general", channel="email", tier=None, resolver=None):
    resolver = resolver or functools.partial(policy_for, policies=BUNDLED)
    return clocks(events, policy_resolver=resolver, queue=queue, channel=channel, tier=tier, now=now)


def asked(at, **kw):
    return Event(at, "customer_message", **kw)


def replied(at):
    return Event(at, "agent_reply")


def status(at, value):
    return Event(at, "status", status=value)


def priority(at, value):
    return Event(at, "priority", priority=value)


ONE_SCHEDULE = """
version: 1
default_schedule: copenhagen
schedules:
  copenhagen: {{timezone: Europe/Copenhagen, days: mon-fri, start: "08:00", end: "17:00", holiday_calendars: [DK]}}
policies:
  - {{name: standard, first_response: 240, next_reply: 240, resolution: 2700, business_hours: {hours},
     pause_when_pending: {pause}}}
"""


def one_policy(hours: str = "true", pause: str = "true"):
    return desk(ONE_SCHEDULE.format(hours=hours, pause=pause))


# --------------------------------------------------------------------------- anchors


def test_osticket_1168_four_business_hours_from_friday_afternoon_is_monday_late_morning():
    # osTicket #1168: the due date ignored business hours (Friday 16:30 + 4 h = Friday 20:30).
    friday = cph(2026, 11, 27, 16, 30)
    result = run([asked(friday), priority(friday, "high")], now=cph(2026, 11, 28, 10, 0))
    assert result.policy.name == "high" and result.policy.schedule_name == "copenhagen"
    assert result.due == cph(2026, 11, 30, 11, 30) and result.due_target == "first_response"
    assert result.state == "ok" and result.breaches == ()


def test_osticket_1168_danish_public_holidays_do_not_count():
    # Wednesday before Easter 2026: Maundy Thursday, Good Friday and Easter Monday are closed.
    wednesday = cph(2026, 4, 1, 16, 30)
    result = run([asked(wednesday), priority(wednesday, "high")], now=cph(2026, 4, 6, 12, 0))
    assert result.due == cph(2026, 4, 7, 11, 30)
    assert result.state == "ok"
    christmas = run([asked(cph(2026, 12, 24, 16, 30)), priority(cph(2026, 12, 24, 16, 30), "high")],
                    now=cph(2026, 12, 26, 12, 0))
    assert christmas.due == cph(2026, 12, 28, 11, 30)


def test_zammad_5177_only_an_agent_reply_is_a_first_response():
    # Zammad #5177: an update (here: anything but a human reply) overwrote first response.
    start = cph(2026, 11, 30, 9, 0)
    timeline = [
        asked(start),
        Event(start + minutes(1), "auto_reply"),
        Event(start + minutes(5), "note"),
        status(start + minutes(10), "on_hold"),
        status(start + minutes(12), "open"),
        priority(start + minutes(15), "low"),
        priority(start + minutes(16), "normal"),
        Event(start + minutes(20), "assigned", agent="agent-7"),
        asked(start + minutes(30)),  # the customer's follow-up
    ]
    waiting = run(timeline, now=start + minutes(60))
    assert waiting.first_response is None and waiting.first_response_at is None
    assert waiting.due_target == "first_response"
    assert [t.name for t in waiting.targets if t.stopped_at is None] == ["first_response", "resolution"]

    answered = run([*timeline, replied(start + minutes(90)), replied(start + minutes(200)),
                    status(start + minutes(210), "pending")], now=start + minutes(300))
    assert answered.first_response_at == start + minutes(90)  # the second reply did not move it
    assert answered.first_response.calendar_minutes == 90
    first = next(t for t in answered.targets if t.name == "first_response")
    assert (first.stopped_at, first.state) == (start + minutes(90), "met")


def test_chatwoot_13392_friday_evening_ticket_is_not_breached_saturday_morning_in_business_hours():
    # Chatwoot PR #13392: breaches were computed on wall-clock time even for business-hours SLAs.
    friday_evening, saturday_morning = cph(2026, 11, 27, 18, 0), cph(2026, 11, 28, 9, 0)
    business = run([asked(friday_evening)], now=saturday_morning, resolver=one_policy(hours="true"))
    assert business.state == "ok" and business.breaches == ()
    assert business.due == cph(2026, 11, 30, 12, 0)
    calendar = run([asked(friday_evening)], now=saturday_morning, resolver=one_policy(hours="false"))
    assert calendar.state == "breached"
    assert calendar.due == cph(2026, 11, 27, 22, 0)
    assert [(b.target, b.by.calendar_minutes, b.running) for b in calendar.breaches] \
        == [("first_response", 660, True)]


# --------------------------------------------------------------------------- policies as data


def test_bundled_policies_resolve_by_priority_tier_channel_and_queue():
    urgent = policy_for("urgent", "email", "vip", "general", BUNDLED)
    assert (urgent.name, urgent.business_hours, urgent.schedule_name) == ("urgent", False, "calendar")
    assert urgent.schedule is CALENDAR
    assert policy_for("normal", "email", "VIP", "general", BUNDLED).name == "vip"  # tier is case-insensitive
    assert policy_for("high", "webchat", None, "general", BUNDLED).name == "high"  # first match wins
    assert policy_for("normal", "WhatsApp", None, "general", BUNDLED).name == "chat"
    standard = policy_for("normal", "email", None, "logistics", BUNDLED)
    assert (standard.name, standard.schedule_name, standard.warning_percent) == ("standard", "oslo", 80)
    assert policy_for("normal", "email", None, "unknown-queue", BUNDLED).schedule_name == "copenhagen"
    assert standard.target("first_response") == 540 and standard.pause_when_pending
    assert standard == policy_for("normal", "email", None, "logistics", BUNDLED)  # comparable, e.g. in caches


def test_policies_come_from_env_and_are_cached_per_path(tmp_path, monkeypatch):
    path = tmp_path / "sla.yaml"
    path.write_text(ONE_SCHEDULE.format(hours="true", pause="true"), encoding="utf-8")
    monkeypatch.setenv("SLA_POLICIES", str(path))
    assert [p.name for p in policies().policies] == ["standard"]
    assert policies() is policies()
    assert policy_for("urgent", "email", None, "general", policies()).name == "standard"
    monkeypatch.delenv("SLA_POLICIES")
    assert policies().policies[0].name == "urgent"


def test_policy_schedule_override_beats_the_queue():
    resolve = desk("""
default_schedule: copenhagen
schedules:
  copenhagen: {timezone: Europe/Copenhagen, days: mon-fri, start: "08:00", end: "17:00"}
  oslo: {timezone: Europe/Oslo, days: mon-fri, start: "08:00", end: "16:00", holiday_calendars: ["NO"]}
queues: {logistics: copenhagen}
policies:
  - {name: norway, channel_in: [sms], first_response: 60, schedule: oslo}
  - {name: rest, first_response: 60}
""")
    assert resolve(priority="normal", channel="sms", tier=None, queue="logistics").schedule_name == "oslo"
    assert resolve(priority="normal", channel="email", tier=None, queue="logistics").schedule_name == "copenhagen"


HEAD = """
default_schedule: cph
schedules:
  cph: {timezone: Europe/Copenhagen, days: mon-fri, start: "08:00", end: "17:00"}
"""


@pytest.mark.parametrize("body,expected", [
    pytest.param("policies:\n  - {name: fast, first_response: 60, schedule: olso}\n  - {name: rest, resolution: 60}",
                 ["policy 'fast' (policies[0])", "unknown schedule 'olso'"], id="unknown-schedule"),
    pytest.param("policies:\n  - {name: empty, priority_in: [high]}\n  - {name: rest, resolution: 60}",
                 ["policy 'empty' (policies[0])", "needs at least one target"], id="no-targets"),
    pytest.param("policies:\n  - {name: odd, first_response: 600, resolution: 60}",
                 ["policy 'odd'", "first_response (600 min) is longer than resolution (60 min)"],
                 id="first-response-after-resolution"),
    pytest.param("policies:\n  - {name: zero, first_response: 0}",
                 ["policy 'zero'", "first_response", "greater than or equal to 1", "got 0"], id="zero-target"),
    pytest.param("policies:\n  - {name: frac, first_response: 1.5}",
                 ["policy 'frac'", "first_response", "whole minutes"], id="fractional-target"),
    pytest.param("policies:\n  - {name: warn, first_response: 60, warning_percent: 100}",
                 ["policy 'warn'", "warning_percent", "less than or equal to 99"], id="warning-100"),
    pytest.param("policies:\n  - {name: cal, first_response: 60, business_hours: false, schedule: cph}",
                 ["policy 'cal'", "has no effect with business_hours: false"], id="calendar-with-schedule"),
    pytest.param("policies:\n  - {name: only-high, priority_in: [high], first_response: 60}",
                 ["the last policy must have no filters"], id="no-catch-all"),
    pytest.param("policies:\n  - {name: all, first_response: 60}\n  - {name: late, priority_in: [high], "
                 "first_response: 30}", ["policy 'late' (policies[1])", "never used", "'all'"], id="unreachable"),
    pytest.param("policies:\n  - {name: a, resolution: 60}\n  - {name: a, resolution: 60}",
                 ["policy 'a' (policies[1])", "name used twice"], id="duplicate-name"),
    pytest.param("policies:\n  - {name: a, first_respons: 60}",
                 ["policy 'a'", "unknown field 'first_respons'", "did you mean 'first_response'"], id="typo"),
    pytest.param("policies:\n  - {name: a, priority_in: [critical], resolution: 60}\n  - {name: b, resolution: 60}",
                 ["policy 'a'", "priority_in.0", "got 'critical'"], id="bad-priority"),
    pytest.param("policies:\n  - name: a\n    priority_in:\n    resolution: 60",
                 ["policy 'a'", "priority_in has no value"], id="empty-filter"),
    pytest.param("queues: {billing: nowhere}\npolicies:\n  - {name: a, resolution: 60}",
                 ["queues.billing: unknown schedule 'nowhere'"], id="queue-schedule"),
    pytest.param("policies:\n  - {name: a, resolution: 60}\n  - {name: b, resolution: 60}\n"
                 "  - name: c\n    resolution: 60\n    resolution: 90",
                 ["duplicate key 'resolution'"], id="duplicate-key"),
    pytest.param("policies: [", ["not valid YAML"], id="broken-yaml"),
])
def test_bad_policy_files_fail_loudly_naming_the_policy(body, expected):
    with pytest.raises(SlaPolicyError) as raised:
        parse_policies(HEAD + body, source="sla.yaml")
    message = str(raised.value)
    assert message.startswith("sla.yaml: ")
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize("schedules,expected", [
    pytest.param('{oslo: {timezone: Europe/Oslo, days: mon-fri, start: "08:00", end: "16:00", '
                 "holiday_calendars: [NO]}}", ["schedule 'oslo'", 'quote it, e.g. "NO"'], id="norway-problem"),
    pytest.param('{x: {timezone: UTC, days: mon-fri, start: "08:00", end: "16:00", holiday_calendars: [XX]}}',
                 ["schedule 'x'", "unknown country 'XX'"], id="unknown-country"),
    pytest.param('{calendar: {timezone: UTC, days: mon-fri, start: "08:00", end: "16:00"}}',
                 ["schedule 'calendar'", "reserved"], id="reserved-name"),
])
def test_bad_schedules_in_the_policy_file_name_the_schedule(schedules, expected):
    text = f"default_schedule: oslo\nschedules: {schedules}\npolicies:\n  - {{name: a, resolution: 60}}"
    with pytest.raises(SlaPolicyError) as raised:
        parse_policies(text)
    for part in expected:
        assert part in str(raised.value)


def test_unreadable_policy_file_names_the_path(tmp_path):
    with pytest.raises(SlaPolicyError, match="cannot read SLA policies"):
        load_policies(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------- clocks


def test_dst_spring_forward_on_a_calendar_policy():
    # Saturday 22:00 CET + 8 h urgent resolution is Sunday 07:00 CEST (the night has 7 hours).
    start = cph(2026, 3, 28, 22, 0)
    result = run([asked(start), priority(start, "urgent"), replied(start + minutes(30))], now=cph(2026, 3, 29, 6, 0))
    resolution = next(t for t in result.targets if t.name == "resolution")
    assert resolution.due == cph(2026, 3, 29, 7, 0)
    assert result.first_response.calendar_minutes == 30


def test_dst_fall_back_business_minutes_match_the_wall_clock():
    # Friday 16:00 CEST + 2 business hours across the October switch: Monday 09:00 CET.
    start = cph(2026, 10, 23, 16, 0)
    result = run([asked(start), priority(start, "high"), replied(cph(2026, 10, 26, 9, 0))],
                 now=cph(2026, 10, 26, 10, 0))
    assert result.first_response.business_minutes == 120
    # Wall clock says 65 hours; the 25-hour Sunday makes it 66 elapsed.
    assert result.first_response.calendar_minutes == 66 * 60


def test_norwegian_queue_skips_17_may():
    # Logistics runs on Oslo's schedule; Thursday 17 May 2029 is Norway's Constitution Day.
    start = datetime(2029, 5, 16, 15, 0, tzinfo=OSLO)
    result = run([asked(start)], queue="logistics", now=datetime(2029, 5, 17, 12, 0, tzinfo=OSLO))
    assert result.policy.schedule_name == "oslo"
    # 540 business minutes: 60 on Wednesday, none on Thursday, 480 on Friday, none left.
    assert result.due == datetime(2029, 5, 18, 16, 0, tzinfo=OSLO)
    assert result.state == "ok"


def test_pending_pauses_the_clock_and_moves_the_due_time():
    monday = cph(2026, 11, 30, 9, 0)
    timeline = [asked(monday), replied(monday + minutes(30)), status(monday + minutes(60), "pending")]
    # Pending from Monday 10:00 to Tuesday 10:00 = 7 h Monday + 2 h Tuesday of business time.
    resumed = [*timeline, asked(cph(2026, 12, 1, 10, 0)), status(cph(2026, 12, 1, 10, 0), "open")]
    paused = run(resumed, now=cph(2026, 12, 1, 11, 0), resolver=one_policy(pause="true"))
    plain = run(resumed, now=cph(2026, 12, 1, 11, 0), resolver=one_policy(pause="false"))
    assert next(t.due for t in plain.targets if t.name == "resolution") == cph(2026, 12, 7, 9, 0)  # 5 × 540
    assert next(t.due for t in paused.targets if t.name == "resolution") == cph(2026, 12, 8, 9, 0)  # + 540

    while_pending = run(timeline, now=cph(2026, 12, 1, 9, 0), resolver=one_policy(pause="true"))
    assert while_pending.state == "paused" and while_pending.status == "pending"
    running = run(timeline, now=cph(2026, 12, 1, 9, 0), resolver=one_policy(pause="false"))
    assert running.state == "ok"


def test_reopen_keeps_history_and_the_resolution_clock_skips_solved_time():
    monday = cph(2026, 11, 30, 9, 0)
    timeline = [
        asked(monday), replied(monday + minutes(30)), replied(monday + minutes(45)),
        status(monday + minutes(60), "solved"),  # resolved after 60 minutes
        asked(cph(2026, 12, 2, 9, 0)), status(cph(2026, 12, 2, 9, 0), "open"),  # reopened Wednesday
        replied(cph(2026, 12, 2, 9, 20)),
        status(cph(2026, 12, 2, 10, 0), "solved"),
        status(cph(2026, 12, 3, 10, 0), "closed"),
    ]
    result = run(timeline, now=cph(2026, 12, 4, 9, 0))
    assert result.resolution.calendar_minutes == 60
    assert result.last_resolution.calendar_minutes == 2 * 24 * 60 + 60
    assert result.last_resolution.business_minutes == 540 * 2 + 60
    assert result.reopen_count == 1 and result.replies_to_resolve == 2
    assert [w.duration.calendar_minutes for w in result.next_replies] == [20]
    assert result.customer_wait.calendar_minutes == 30 + 20
    resolution = next(t for t in result.targets if t.name == "resolution")
    # The clock stood still while solved, Monday 10:00 → Wednesday 09:00: 1020 business
    # minutes on top of 2700 (which alone end Monday 7 December 09:00).
    assert resolution.due == cph(2026, 12, 8, 17, 0)
    assert resolution.stopped_at == cph(2026, 12, 2, 10, 0) and resolution.state == "met"
    assert result.state == "met" and result.due is None


def test_reopened_ticket_is_unresolved_until_solved_again():
    monday = cph(2026, 11, 30, 9, 0)
    result = run([asked(monday), replied(monday + minutes(10)), status(monday + minutes(20), "solved"),
                  status(monday + minutes(40), "open"), status(monday + minutes(50), "solved"),
                  status(monday + minutes(70), "open")], now=monday + minutes(90))
    assert result.resolution.calendar_minutes == 20 and result.last_resolution is None
    assert result.reopen_count == 2 and result.due_target == "resolution"
    resolution = next(t for t in result.targets if t.name == "resolution")
    # 2700 business minutes (five days) plus the 40 minutes it spent solved.
    assert resolution.due == cph(2026, 12, 7, 9, 40)


def test_next_reply_runs_from_the_first_unanswered_message():
    monday = cph(2026, 11, 30, 9, 0)
    timeline = [asked(monday), replied(monday + minutes(10)),
                asked(monday + minutes(60)), asked(monday + minutes(70)),  # one wait, two messages
                Event(monday + minutes(80), "auto_reply"),
                replied(monday + minutes(120)),
                asked(monday + minutes(180))]
    result = run(timeline, now=monday + minutes(200))
    assert [(w.started_at, w.ended_at, w.answered) for w in result.next_replies] == [
        (monday + minutes(60), monday + minutes(120), True),
        (monday + minutes(180), None, False),
    ]
    assert result.customer_wait.calendar_minutes == 10 + 60 + 20
    # 540 business minutes from Monday 12:00: five hours on Monday, four on Tuesday.
    assert result.due_target == "next_reply" and result.due == cph(2026, 12, 1, 12, 0)


def test_agent_started_ticket_has_no_first_response_but_next_replies():
    monday = cph(2026, 11, 30, 9, 0)
    result = run([replied(monday), asked(monday + minutes(30)), replied(monday + minutes(45))],
                 now=monday + minutes(60))
    assert result.first_response is None
    assert [t.name for t in result.targets] == ["next_reply", "resolution"]
    assert result.next_replies[0].duration.calendar_minutes == 15


def test_solving_without_a_reply_stops_the_reply_clocks():
    monday = cph(2026, 11, 30, 9, 0)
    result = run([asked(monday), Event(monday + minutes(5), "note"), status(monday + minutes(10), "solved")],
                 now=monday + minutes(600))
    assert result.first_response is None and result.state == "met"
    first = next(t for t in result.targets if t.name == "first_response")
    assert (first.stopped_at, first.state) == (monday + minutes(10), "met")
    assert result.customer_wait.calendar_minutes == 10


def test_handle_time_counts_assigned_and_open_only():
    monday = cph(2026, 11, 30, 9, 0)
    timeline = [
        asked(monday),
        Event(monday + minutes(10), "assigned", agent="ann"),  # 10 → 40 open and assigned: 30
        status(monday + minutes(40), "pending"),  # 40 → 100 pending: no
        status(monday + minutes(100), "open"),  # 100 → 130: 30
        Event(monday + minutes(130), "assigned", agent=None),  # unassigned: no
        Event(monday + minutes(160), "assigned", agent="bo"),  # 160 → 170: 10
        status(monday + minutes(170), "solved"),
    ]
    assert run(timeline, now=monday + minutes(300)).handle_time.calendar_minutes == 70
    still_open = run(timeline[:2], now=monday + minutes(25))
    assert still_open.handle_time.calendar_minutes == 15


def test_priority_change_retargets_from_the_original_start():
    monday = cph(2026, 11, 30, 9, 0)
    raised = run([asked(monday), priority(monday, "normal"), priority(monday + minutes(90), "urgent")],
                 now=monday + minutes(95))
    first = next(t for t in raised.targets if t.name == "first_response")
    assert (first.policy, first.minutes, first.due) == ("urgent", 60, monday + minutes(60))
    assert raised.state == "breached"
    assert raised.breaches[0].target == "first_response" and raised.breaches[0].by.calendar_minutes == 35

    lowered = run([asked(monday), priority(monday, "high"), priority(monday + minutes(30), "low")],
                  now=monday + minutes(300))
    # 1080 business minutes from Monday 09:00: 480 on Monday, 540 on Tuesday, 60 on Wednesday.
    assert lowered.state == "ok" and lowered.due == cph(2026, 12, 2, 9, 0)


def test_a_stopped_clock_keeps_the_policy_in_force_when_it_stopped():
    monday = cph(2026, 11, 30, 9, 0)
    result = run([asked(monday), priority(monday, "normal"), replied(monday + minutes(90)),
                  priority(monday + minutes(100), "urgent")], now=monday + minutes(120))
    first = next(t for t in result.targets if t.name == "first_response")
    assert (first.policy, first.state) == ("standard", "met")
    assert result.policy.name == "urgent"


def test_warning_then_breach_then_breached_after_the_fact():
    monday = cph(2026, 11, 30, 9, 0)
    timeline = [asked(monday), priority(monday, "high")]  # 240 business minutes, warning at 80 %
    assert run(timeline, now=monday + minutes(191)).state == "ok"
    warned = run(timeline, now=monday + minutes(192))
    assert warned.state == "warning" and warned.warning_at == monday + minutes(192)
    assert run(timeline, now=monday + minutes(240)).state == "warning"  # due is the last on-time instant
    late = run([*timeline, replied(monday + minutes(300))], now=monday + minutes(400))
    assert late.state == "ok"  # the resolution clock still runs and is fine
    assert [(b.target, b.by.business_minutes, b.running) for b in late.breaches] == [("first_response", 60, False)]
    solved = run([*timeline, replied(monday + minutes(300)), status(monday + minutes(310), "solved")],
                 now=monday + minutes(400))
    assert solved.state == "breached"  # nothing runs, and a target was missed


def test_events_are_ordered_and_a_slightly_early_now_is_tolerated():
    monday = cph(2026, 11, 30, 9, 0)
    result = run([replied(monday + minutes(30)), asked(monday)], now=monday + minutes(29))
    assert result.first_response.calendar_minutes == 30 and result.created_at == monday


@pytest.mark.parametrize("kwargs,message", [
    ({"at": datetime(2026, 11, 30, 9, 0), "kind": "note"}, "timezone-aware"),
    ({"at": cph(2026, 11, 30), "kind": "email"}, "unknown event kind"),
    ({"at": cph(2026, 11, 30), "kind": "status"}, "status event needs status"),
    ({"at": cph(2026, 11, 30), "kind": "status", "status": "done"}, "unknown status 'done'"),
    ({"at": cph(2026, 11, 30), "kind": "priority", "priority": "critical"}, "unknown priority"),
    ({"at": cph(2026, 11, 30), "kind": "note", "agent": "ann"}, "only an assigned event"),
])
def test_bad_events_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Event(**kwargs)


def test_an_empty_timeline_is_refused():
    with pytest.raises(ValueError, match="at least one event"):
        run([], now=cph(2026, 11, 30))


# --------------------------------------------------------------------------- properties

EVENTS = st.one_of(
    st.just(("customer_message", {})),
    st.just(("agent_reply", {})),
    st.sampled_from([("auto_reply", {}), ("note", {})]),
    st.sampled_from(["open", "pending", "on_hold", "solved", "closed"]).map(lambda v: ("status", {"status": v})),
    st.sampled_from(["urgent", "high", "normal", "low"]).map(lambda v: ("priority", {"priority": v})),
    st.sampled_from(["ann", None]).map(lambda v: ("assigned", {"agent": v})),
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 3000), EVENTS), min_size=1, max_size=25),
       start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(CPH)),
       tail=st.integers(0, 20_000), channel=st.sampled_from(["email", "webchat"]),
       queue=st.sampled_from(["general", "logistics"]))
def test_any_timeline_gives_consistent_clocks(steps, start, tail, channel, queue):
    # Step in UTC: adding minutes to a Copenhagen time is wall-clock arithmetic, which
    # goes backwards across the spring-forward gap.
    at, timeline = start.astimezone(UTC), []
    for gap, (kind, fields) in steps:
        at += minutes(gap)
        timeline.append(Event(at.astimezone(CPH), kind, **fields))
    now = at + minutes(tail)
    result = run(timeline, now=now, channel=channel, queue=queue)
    elapsed = (now - start.astimezone(UTC)) / minutes(1)
    assert result.state in ("ok", "warning", "breached", "paused", "met")
    assert 0 <= result.customer_wait.calendar_minutes <= elapsed + 1e-6
    assert 0 <= result.handle_time.calendar_minutes <= elapsed + 1e-6
    assert 0 <= result.customer_wait.business_minutes <= result.customer_wait.calendar_minutes + 1e-6
    running = [t for t in result.targets if t.stopped_at is None]
    if running:
        assert result.state != "met" and result.due == min(t.due for t in running)
    else:
        assert result.state in ("met", "breached") and result.due is None
    kinds = [e.kind for e in timeline]
    if "customer_message" in kinds and "agent_reply" in kinds[kinds.index("customer_message"):]:
        first_ask = kinds.index("customer_message")
        first_reply = kinds.index("agent_reply", first_ask)
        if "agent_reply" not in kinds[:first_ask]:
            assert result.first_response_at == timeline[first_reply].at
    for target in result.targets:
        assert target.warning_at <= target.due and target.due >= target.started_at
        assert (target.overdue is not None) == (target.state == "breached")
