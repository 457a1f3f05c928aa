"""Business time: schedules, public holidays, DST and the due-time arithmetic SLAs rest on."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.business_time import (
    CALENDAR,
    Schedule,
    ScheduleError,
    add_business_minutes,
    business_minutes_between,
    next_open,
)
from chalicelib.domain.triage import BusinessHours, TriageInput, parse_rules, triage

CPH = ZoneInfo("Europe/Copenhagen")
OSLO = ZoneInfo("Europe/Oslo")
UTC = timezone.utc


def schedule(text: str) -> Schedule:
    return Schedule.model_validate(yaml.safe_load(text))


COPENHAGEN = schedule("""
timezone: Europe/Copenhagen
days: mon-fri
start: "08:00"
end: "17:00"
holiday_calendars: [DK]
""")

OSLO_HOURS = schedule("""
timezone: Europe/Oslo
days: mon-fri
start: "08:00"
end: "16:00"
holiday_calendars: ["NO"]
""")

LUNCH_BREAK = schedule("""
timezone: Europe/Copenhagen
hours:
  mon-thu: [["08:00", "12:00"], ["12:30", "16:00"]]
  fri: ["08:00-12:00"]
holiday_calendars: [DK]
""")


def cph(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH)


# --------------------------------------------------------------------------- anchors


def test_osticket_1168_due_time_counts_business_hours_not_wall_clock():
    # osTicket #1168: the SLA ignored business hours, so Friday 16:30 + 4 h was Friday 20:30.
    friday = cph(2026, 11, 27, 16, 30)
    assert add_business_minutes(friday, 240, COPENHAGEN) == cph(2026, 11, 30, 11, 30)
    assert add_business_minutes(friday, 240, CALENDAR) == cph(2026, 11, 27, 20, 30)


def test_osticket_1168_danish_public_holidays_are_skipped():
    # Maundy Thursday, Good Friday and Easter Monday 2026 (2, 3, 6 April) are public holidays.
    assert add_business_minutes(cph(2026, 4, 1, 16, 30), 240, COPENHAGEN) == cph(2026, 4, 7, 11, 30)
    # Christmas Day and Boxing Day 2026 are a Friday and a Saturday.
    assert add_business_minutes(cph(2026, 12, 24, 16, 30), 240, COPENHAGEN) == cph(2026, 12, 28, 11, 30)
    assert not COPENHAGEN.is_open(cph(2026, 12, 25, 10, 0))


def test_christmas_eve_is_only_closed_with_the_optional_danish_category():
    # Denmark does not make 24 December a public holiday; most desks close anyway.
    closed_on_eve = schedule("""
timezone: Europe/Copenhagen
days: mon-fri
start: "08:00"
end: "17:00"
holiday_calendars: [{country: DK, categories: [public, optional]}]
""")
    assert COPENHAGEN.is_open(cph(2026, 12, 24, 10, 0))
    assert not closed_on_eve.is_open(cph(2026, 12, 24, 10, 0))
    assert add_business_minutes(cph(2026, 12, 23, 16, 30), 240, closed_on_eve) == cph(2026, 12, 28, 11, 30)


def test_norwegian_constitution_day_17_may_is_closed_in_oslo_not_in_copenhagen():
    thursday_17_may = datetime(2029, 5, 17, 10, 0, tzinfo=OSLO)
    assert not OSLO_HOURS.is_open(thursday_17_may)
    assert COPENHAGEN.is_open(thursday_17_may)
    # Wednesday 15:30 + 1 h: half an hour on Wednesday, Thursday is skipped, Friday 08:30.
    assert add_business_minutes(datetime(2029, 5, 16, 15, 30, tzinfo=OSLO), 60, OSLO_HOURS) \
        == datetime(2029, 5, 18, 8, 30, tzinfo=OSLO)


def test_explicit_holiday_dates_close_the_whole_local_day():
    with_dates = schedule("""
timezone: Europe/Copenhagen
days: mon-fri
start: "08:00"
end: "17:00"
holidays: [2026-11-30]
""")
    assert with_dates.is_holiday(date(2026, 11, 30)) and not with_dates.is_holiday(date(2026, 12, 1))
    assert add_business_minutes(cph(2026, 11, 27, 16, 30), 240, with_dates) == cph(2026, 12, 1, 11, 30)


# --------------------------------------------------------------------------- DST

# A schedule open every day, all day, but not "always open" (a holiday far away), so the
# day-by-day walk is used rather than the calendar shortcut.
ALL_DAY_WALKED = schedule("""
timezone: Europe/Copenhagen
days: mon-sun
start: "00:00"
end: "24:00"
holidays: [2000-01-01]
""")

NIGHT_SHIFT = schedule("""
timezone: Europe/Copenhagen
days: mon-sun
start: "01:00"
end: "04:00"
""")


def test_spring_forward_day_is_an_hour_short():
    # Last Sunday of March 2026: 02:00 CET jumps to 03:00 CEST.
    assert business_minutes_between(cph(2026, 3, 29), cph(2026, 3, 30), ALL_DAY_WALKED) == 23 * 60
    assert business_minutes_between(cph(2026, 3, 29), cph(2026, 3, 30), CALENDAR) == 23 * 60
    # 01:00-04:00 that night holds only 01:00-02:00 and 03:00-04:00.
    assert business_minutes_between(cph(2026, 3, 29), cph(2026, 3, 30), NIGHT_SHIFT) == 120


def test_fall_back_day_is_an_hour_long():
    # Last Sunday of October 2026: 03:00 CEST falls back to 02:00 CET; 02:00-03:00 happens twice.
    assert business_minutes_between(cph(2026, 10, 25), cph(2026, 10, 26), ALL_DAY_WALKED) == 25 * 60
    assert business_minutes_between(cph(2026, 10, 25), cph(2026, 10, 26), NIGHT_SHIFT) == 240
    assert add_business_minutes(cph(2026, 10, 25, 1, 0), 180, NIGHT_SHIFT) \
        == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)  # 03:00 CET, four wall-clock hours later


def test_business_hours_follow_the_switch_across_a_weekend():
    # Friday 16:30 CET + 1 h → Monday 08:30 CEST, which is 06:30 UTC (not 07:30).
    due = add_business_minutes(cph(2026, 3, 27, 16, 30), 60, COPENHAGEN)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    assert COPENHAGEN.is_open(datetime(2026, 3, 30, 6, 0, tzinfo=UTC))  # 08:00 CEST
    assert not COPENHAGEN.is_open(datetime(2026, 3, 27, 6, 30, tzinfo=UTC))  # 07:30 CET


def test_calendar_clock_across_spring_forward_is_real_elapsed_time():
    # 22:00 CET Saturday + 8 h is 07:00 CEST Sunday, not 06:00.
    assert add_business_minutes(cph(2026, 3, 28, 22, 0), 480, CALENDAR) == cph(2026, 3, 29, 7, 0)


# --------------------------------------------------------------------------- arithmetic


def test_start_in_closed_time_counts_from_the_next_opening():
    saturday = cph(2026, 11, 28, 10, 0)
    assert next_open(saturday, COPENHAGEN) == cph(2026, 11, 30, 8, 0)
    assert next_open(cph(2026, 11, 30, 9, 15), COPENHAGEN) == cph(2026, 11, 30, 9, 15)
    assert add_business_minutes(saturday, 30, COPENHAGEN) == cph(2026, 11, 30, 8, 30)
    assert business_minutes_between(saturday, cph(2026, 11, 29, 23, 0), COPENHAGEN) == 0


def test_due_at_closing_time_and_zero_minutes():
    assert add_business_minutes(cph(2026, 11, 27, 16, 30), 30, COPENHAGEN) == cph(2026, 11, 27, 17, 0)
    saturday = cph(2026, 11, 28, 10, 0)
    assert add_business_minutes(saturday, 0, COPENHAGEN) == saturday


def test_per_day_hours_with_a_lunch_break():
    assert not LUNCH_BREAK.is_open(cph(2026, 11, 23, 12, 15))
    assert LUNCH_BREAK.is_open(cph(2026, 11, 23, 12, 30))
    assert not LUNCH_BREAK.is_open(cph(2026, 11, 27, 13, 0))  # Friday closes at noon
    # Monday 11:30 + 60: 30 before lunch, 30 after it.
    assert add_business_minutes(cph(2026, 11, 23, 11, 30), 60, LUNCH_BREAK) == cph(2026, 11, 23, 13, 0)
    # Friday 11:00 + 90: an hour on Friday, then Monday 08:30.
    assert add_business_minutes(cph(2026, 11, 27, 11, 0), 90, LUNCH_BREAK) == cph(2026, 11, 30, 8, 30)
    assert business_minutes_between(cph(2026, 11, 23), cph(2026, 11, 30), LUNCH_BREAK) == 4 * 450 + 240


def test_minutes_between_is_negative_when_the_end_is_first():
    a, b = cph(2026, 11, 30, 9, 0), cph(2026, 11, 30, 10, 0)
    assert business_minutes_between(b, a, COPENHAGEN) == -60


def test_pauses_stop_the_clock_even_while_open():
    start = cph(2026, 11, 30, 9, 0)
    pause = (cph(2026, 11, 30, 9, 30), cph(2026, 11, 30, 10, 0))
    assert add_business_minutes(start, 60, COPENHAGEN, [pause]) == cph(2026, 11, 30, 10, 30)
    assert business_minutes_between(start, cph(2026, 11, 30, 10, 30), COPENHAGEN, [pause]) == 60
    # Overlapping pauses count once; a pause spanning the night costs only its open part.
    overlapping = [pause, (cph(2026, 11, 30, 9, 45), cph(2026, 11, 30, 10, 15))]
    assert add_business_minutes(start, 60, CALENDAR, overlapping) == cph(2026, 11, 30, 10, 45)
    overnight = [(cph(2026, 11, 30, 16, 0), cph(2026, 12, 1, 9, 0))]
    assert add_business_minutes(start, 480, COPENHAGEN, overnight) == cph(2026, 12, 1, 10, 0)


def test_calendar_is_always_open_and_needs_no_walk():
    assert CALENDAR.always_open and not COPENHAGEN.always_open
    assert CALENDAR.is_open(datetime(2026, 12, 25, 3, 0, tzinfo=UTC))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert add_business_minutes(start, 10 * 365 * 24 * 60, CALENDAR) == datetime(2035, 12, 30, tzinfo=UTC)


def test_five_business_days_ahead_walks_days_not_minutes():
    fresh = schedule(COPENHAGEN_TEXT)
    due = add_business_minutes(cph(2026, 11, 23, 9, 0), 5 * 540, fresh)
    assert due == cph(2026, 11, 30, 9, 0)
    assert len(fresh._times.cache) <= 8  # one lookup per local day visited (a white-box check)


COPENHAGEN_TEXT = 'timezone: Europe/Copenhagen\ndays: mon-fri\nstart: "08:00"\nend: "17:00"\n'


def test_a_never_open_schedule_raises_instead_of_looping_forever():
    mondays = [date(2026, 11, 30) + timedelta(weeks=k) for k in range(60)]
    closed = Schedule(timezone="Europe/Copenhagen", days="mon", start="08:00", end="17:00", holidays=mondays)
    with pytest.raises(ScheduleError, match="not open on any of the 373 days"):
        add_business_minutes(cph(2026, 11, 28), 60, closed)
    # Asking how much open time lies in a closed stretch is fine: none.
    assert business_minutes_between(cph(2026, 11, 28), cph(2027, 11, 28), closed) == 0


def test_naive_datetimes_are_refused():
    with pytest.raises(ScheduleError, match="timezone-aware"):
        add_business_minutes(datetime(2026, 11, 30, 9, 0), 60, COPENHAGEN)
    with pytest.raises(ScheduleError, match="timezone-aware"):
        COPENHAGEN.is_open(datetime(2026, 11, 30, 9, 0))
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(cph(2026, 11, 30, 9, 0), -1, COPENHAGEN)


def test_result_keeps_the_callers_time_zone():
    due = add_business_minutes(datetime(2026, 11, 27, 15, 30, tzinfo=UTC), 240, COPENHAGEN)
    assert due.tzinfo is UTC and due == datetime(2026, 11, 30, 10, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("body,expected", [
    pytest.param('timezone: Europe/Copenhagen\ndays: mon-fri\nstart: "08:00"\nend: "17:00"\n'
                 "holiday_calendars: [XX]", "unknown country 'XX'", id="unknown-country"),
    pytest.param('timezone: Europe/Oslo\ndays: mon-fri\nstart: "08:00"\nend: "16:00"\n'
                 "holiday_calendars: [NO]", 'quote it, e.g. "NO"', id="norway-problem"),
    pytest.param('timezone: Europe/Berlin\ndays: mon-fri\nstart: "08:00"\nend: "16:00"\n'
                 "holiday_calendars: [{country: DE, subdivision: ZZ}]", "DE has no subdivision 'ZZ'",
                 id="unknown-subdivision"),
    pytest.param('timezone: Europe/Copenhagen\ndays: mon-fri\nstart: "08:00"\nend: "17:00"\n'
                 "holiday_calendars: [{country: DK, categories: [bank]}]", "DK has categories: optional, public",
                 id="unknown-category"),
    pytest.param('timezone: Europe/Copenhagn\ndays: mon-fri\nstart: "08:00"\nend: "17:00"',
                 "unknown time zone 'Europe/Copenhagn'", id="bad-zone"),
    pytest.param('timezone: UTC\ndays: mon-fri\nstart: "08:00"', "needs end (or hours per day)", id="no-end"),
    pytest.param('timezone: UTC\ndays: mon-fri\nstart: "17:00"\nend: "08:00"', "must be before end",
                 id="backwards"),
    pytest.param('timezone: UTC\ndays: mon-fri\nstart: "08:00"\nend: "17:00"\nhours: {sat: ["10:00-14:00"]}',
                 "either hours or days/start/end", id="both-formats"),
    pytest.param('timezone: UTC\nhours: {mon: [["08:00", "12:00"], ["11:00", "13:00"]]}', "intervals overlap",
                 id="overlap"),
    pytest.param("timezone: UTC\nhours: {mon: [[8:00, 12:00]]}", 'write times in quotes, e.g. "08:00"',
                 id="unquoted-time"),
    pytest.param('timezone: UTC\nhours: {mon-fri: ["08:00-17:00"], fri: ["08:00-12:00"]}',
                 "fri has opening hours twice", id="day-twice"),
    pytest.param('timezone: UTC\nhours: {funday: ["08:00-17:00"]}', "'funday' is not a day", id="bad-day"),
    pytest.param('timezone: UTC\nhours: {mon: ["22:00-06:00"]}', "split a night shift", id="night-shift"),
    pytest.param('timezone: UTC\ndays: mon-fri\nstart: "08:00"\nend: "17:00"\nholidays:',
                 "holidays has no value", id="empty-key"),
    pytest.param('timezone: UTC\ndays: mon-fri\nstart: "08:00"\nend: "17:00"\nholliday_calendars: [DK]',
                 "Extra inputs are not permitted", id="unknown-field"),
])
def test_bad_schedules_fail_with_a_clear_message(body, expected):
    with pytest.raises(ValidationError) as raised:
        schedule(body)
    assert expected in str(raised.value)


def test_country_codes_are_case_insensitive_and_subdivisions_work():
    bavaria = schedule('timezone: Europe/Berlin\ndays: mon-fri\nstart: "08:00"\nend: "16:00"\n'
                       "holiday_calendars: [{country: de, subdivision: BY}]")
    assert bavaria.holiday_calendars[0].country == "DE"
    assert bavaria.is_holiday(date(2026, 1, 6))  # Epiphany: Bavaria only
    assert not schedule(COPENHAGEN_TEXT + "holiday_calendars: [DE]").is_holiday(date(2026, 1, 6))


def test_equal_schedules_compare_equal_whatever_their_cache():
    used = schedule(COPENHAGEN_TEXT)
    used.is_open(cph(2026, 11, 30, 9, 0))
    assert used == schedule(COPENHAGEN_TEXT) and hash(used) == hash(schedule(COPENHAGEN_TEXT))


# --------------------------------------------------------------------------- triage shares the model


def test_triage_business_hours_is_the_schedule_model_with_public_holidays():
    assert BusinessHours is Schedule
    rules = parse_rules("""
business_hours:
  timezone: Europe/Copenhagen
  days: mon-fri
  start: "08:00"
  end: "17:00"
  holiday_calendars: [DK]
rules:
  - {name: late, when: {outside_business_hours: true}, then: {tags: [after_hours]}}
""")
    easter_monday = TriageInput("email", "Hej", "Hvor er min pakke?", "email:a@example.com", cph(2026, 4, 6, 10, 0))
    tuesday = TriageInput("email", "Hej", "Hvor er min pakke?", "email:a@example.com", cph(2026, 4, 7, 10, 0))
    assert triage(easter_monday, rules).tags == ("after_hours",)
    assert triage(tuesday, rules).tags == ()


# --------------------------------------------------------------------------- properties

SCHEDULES = st.sampled_from([COPENHAGEN, OSLO_HOURS, LUNCH_BREAK, NIGHT_SHIFT, CALENDAR])
STARTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                      timezones=st.sampled_from([UTC, CPH, OSLO, ZoneInfo("America/New_York")]))
MINUTES = st.floats(min_value=0, max_value=20_000, allow_nan=False, allow_infinity=False)


@st.composite
def pauses(draw, start):
    base = start.astimezone(UTC)
    result = []
    for _ in range(draw(st.integers(0, 3))):
        offset = draw(st.integers(-600, 20_000))
        length = draw(st.integers(0, 3000))
        result.append((base + timedelta(minutes=offset), base + timedelta(minutes=offset + length)))
    return result


@settings(max_examples=150, deadline=None)
@given(data=st.data(), start=STARTS, minutes=MINUTES, more=MINUTES, hours=SCHEDULES)
def test_due_time_round_trips_and_grows_with_the_target(data, start, minutes, more, hours):
    paused = data.draw(pauses(start))
    due = add_business_minutes(start, minutes, hours, paused)
    # Instants compared in UTC: Python compares two datetimes of one tzinfo by wall time, so a start
    # inside a spring-forward gap (02:00 fold=1 in Copenhagen) looks "later" than 01:01 the same night.
    assert due.astimezone(UTC) >= start.astimezone(UTC)
    assert business_minutes_between(start, due, hours, paused) == pytest.approx(minutes, abs=1e-4)
    assert add_business_minutes(start, minutes + more, hours, paused).astimezone(UTC) >= due.astimezone(UTC)
    if timedelta(minutes=minutes):  # not below a microsecond, the datetime resolution
        assert hours.is_open(due - timedelta(microseconds=1))  # the last tick was in open time
