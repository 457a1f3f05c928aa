"""KPI reports from daily aggregates: numbers a team lead can check by hand."""
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import histogram
from chalicelib.domain.kpis import (
    BACKLOG_BUCKETS,
    COUNTERS,
    HISTOGRAMS,
    DailyAggregate,
    ReportError,
    ReportRangeError,
    UnknownGroupBy,
    backlog_by_age,
    report,
    survey_counters,
    validate_range,
)

D1, D2, D3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)
TODAY = date(2024, 3, 10)
REL = histogram.RELATIVE_ERROR


@dataclass
class Ticket:
    channel: str
    day: date
    first_response: float  # minutes, calendar clock
    first_response_business: float
    resolution: float | None  # None: still open
    resolution_business: float | None
    first_response_met: bool
    resolution_met: bool | None
    rating: int | None = None
    nps: int | None = None


TICKETS = [
    Ticket("email", D1, 10, 10, 120, 60, True, True, rating=5, nps=10),
    Ticket("email", D1, 30, 20, 300, 200, True, False, rating=4, nps=9),
    Ticket("email", D2, 45, 45, 1500, 480, True, True, rating=2, nps=3),
    Ticket("email", D2, 90, 60, None, None, False, None),
    Ticket("email", D3, 240, 120, 2000, 900, False, False, rating=3, nps=7),
    Ticket("email", D3, 5, 5, 60, 60, True, True, rating=5),
    Ticket("chat", D1, 1, 1, 20, 20, True, True, rating=5, nps=10),
    Ticket("chat", D2, 2, 2, 30, 30, True, True, rating=1, nps=0),
    Ticket("chat", D3, 3, 3, None, None, True, None),
    Ticket("chat", D3, 4, 4, None, None, True, None),
]
# Beside what the tickets above count: a reopen on day 2, and three of the four chat tickets answered by
# self-service (deflected tickets are tickets: in "created" too), one of them by the bot.
EXTRA = {(D2, "email"): {"reopened": 1}, (D1, "chat"): {"deflected": 1, "deflected_by_bot": 1},
         (D3, "chat"): {"deflected": 2}}


def pipeline(tickets, extra=EXTRA):
    """What the pipeline would have written: one aggregate per (day, channel), plus 'all' and 'priority' ones."""
    counters, durations = {}, {}
    for t in tickets:
        for key in ((t.day, "channel", t.channel), (t.day, "all", "all"), (t.day, "priority", "normal")):
            c = counters.setdefault(key, dict.fromkeys(COUNTERS, 0))
            h = durations.setdefault(key, {name: [] for name in HISTOGRAMS})
            c["created"] += 1
            c["sla_first_response_met" if t.first_response_met else "sla_first_response_breached"] += 1
            h["first_response_minutes"].append(t.first_response)
            h["first_response_business_minutes"].append(t.first_response_business)
            if t.resolution is not None:
                c["solved"] += 1
                c["sla_resolution_met" if t.resolution_met else "sla_resolution_breached"] += 1
                h["resolution_minutes"].append(t.resolution)
                h["resolution_business_minutes"].append(t.resolution_business)
            if t.rating is not None:
                for name, value in survey_counters(t.rating, t.nps).items():
                    c[name] += value
    for (day, channel), more in extra.items():
        for name, value in more.items():
            counters[(day, "channel", channel)][name] += value
    return [
        DailyAggregate(*key, counters[key], {name: histogram.from_values(v) for name, v in durations[key].items()})
        for key in counters
    ]


def by_channel(aggregates=None, **kwargs):
    aggregates = pipeline(TICKETS) if aggregates is None else aggregates
    return report(aggregates, group_by="channel", start=D1, end=D3, today=TODAY, **kwargs)


def test_volume_sla_csat_nps_and_deflection_per_channel_match_hand_computed_numbers():
    result = by_channel()
    chat, email = result.rows  # alphabetical
    assert (email.group, email.volume, email.solved, email.reopened) == ("email", 6, 5, 1)
    assert email.sla_first_response_pct == pytest.approx(100 * 4 / 6)
    assert email.sla_resolution_pct == pytest.approx(100 * 3 / 5)
    assert email.sla_pct == pytest.approx(100 * 7 / 11)
    assert email.csat_responses == 5 and email.csat_pct == pytest.approx(60.0)  # ratings 5,4,2,3,5
    assert email.nps_responses == 4 and email.nps == pytest.approx(25.0)  # 10,9,3,7: 50 % − 25 %
    assert email.deflection_pct == 0.0

    assert (chat.group, chat.volume, chat.solved, chat.deflected, chat.deflected_by_bot) == ("chat", 4, 2, 3, 1)
    assert chat.sla_first_response_pct == chat.sla_resolution_pct == chat.sla_pct == 100.0
    assert chat.csat_pct == 50.0 and chat.nps == 0.0  # one promoter, one detractor
    assert chat.deflection_pct == pytest.approx(100 * 3 / 4)  # deflected / created


def test_percentiles_are_the_exact_nearest_rank_within_the_histogram_bound():
    chat, email = by_channel().rows
    # email first responses sorted: 5 10 30 45 90 240 → p50 is the 3rd, p90 the 6th
    assert email.first_response_p50 == pytest.approx(30, rel=REL)
    assert email.first_response_p90 == pytest.approx(240, rel=REL)
    assert email.first_response_business_p50 == pytest.approx(20, rel=REL)  # 5 10 20 45 60 120
    assert email.resolution_p50 == pytest.approx(300, rel=REL)  # 60 120 300 1500 2000
    assert email.resolution_p90 == pytest.approx(2000, rel=REL)
    assert email.resolution_business_p90 == pytest.approx(900, rel=REL)
    assert chat.first_response_p50 == pytest.approx(2, rel=REL) and chat.first_response_p90 == pytest.approx(4, rel=REL)
    assert chat.resolution_business_p50 == pytest.approx(20, rel=REL)


def test_totals_merge_the_groups_instead_of_averaging_them():
    totals = by_channel().totals
    assert (totals.group, totals.volume, totals.solved, totals.reopened, totals.deflected) == ("total", 10, 7, 1, 3)
    assert totals.sla_first_response_pct == pytest.approx(80.0)
    assert totals.sla_resolution_pct == pytest.approx(100 * 5 / 7)
    assert totals.sla_pct == pytest.approx(100 * 13 / 17)
    assert totals.csat_pct == pytest.approx(100 * 4 / 7)
    assert totals.nps == pytest.approx(50 - 100 * 2 / 6)
    assert totals.deflection_pct == pytest.approx(100 * 3 / 10)
    # all ten first responses: 1 2 3 4 5 10 30 45 90 240 → p50 = 5, p90 = 90 (the mean of the medians would be 16)
    assert totals.first_response_p50 == pytest.approx(5, rel=REL)
    assert totals.first_response_p90 == pytest.approx(90, rel=REL)


def test_range_and_group_kind_select_the_aggregates():
    one_day = report(pipeline(TICKETS), group_by="channel", start=D3, end=D3, today=TODAY)
    assert [(row.group, row.volume) for row in one_day.rows] == [("chat", 2), ("email", 2)]
    assert one_day.totals.first_response_p90 == pytest.approx(240, rel=REL)
    by_priority = report(pipeline(TICKETS), group_by="priority", start=D1, end=D3, today=TODAY)
    assert [(row.group, row.volume) for row in by_priority.rows] == [("normal", 10)]


def test_priorities_are_listed_most_urgent_first():
    names = ("low", "custom", "urgent", "normal")
    aggregates = [DailyAggregate(D1, "priority", name, {"created": 1}) for name in names]
    result = report(aggregates, group_by="priority", start=D1, end=D1, today=TODAY)
    assert [row.group for row in result.rows] == ["urgent", "normal", "low", "custom"]


def test_no_data_is_none_not_zero():
    result = by_channel(aggregates=[DailyAggregate(D1, "channel", "sms", {"created": 2})])
    (sms,) = result.rows
    assert sms.volume == 2 and sms.deflection_pct == 0.0
    assert sms.first_response_p50 is None and sms.sla_pct is None and sms.csat_pct is None and sms.nps is None
    empty = by_channel(aggregates=[])
    assert empty.rows == () and empty.totals.volume == 0 and empty.totals.deflection_pct is None


def test_as_dict_is_json_ready_and_rounded():
    data = by_channel(backlog={"<1h": 2, ">7d": 1}).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert (data["start"], data["end"], data["group_by"]) == ("2024-03-01", "2024-03-03", "channel")
    email = data["rows"][1]
    assert email["volume"] == 6 and email["sla_pct"] == 63.64 and email["nps"] == 25.0
    assert data["totals"]["csat_pct"] == 57.14
    assert data["backlog"] == {"<1h": 2, "1-4h": 0, "4-24h": 0, "1-3d": 0, "3-7d": 0, ">7d": 1}


def test_as_table_is_fixed_width_and_shows_every_group():
    table = by_channel(backlog=backlog_by_age([], datetime(2024, 3, 10, tzinfo=timezone.utc))).as_table()
    lines = table.splitlines()
    grid = lines[2:8]  # header, rule, chat, email, rule, totals
    assert len({len(line) for line in grid}) == 1
    assert grid[0].split()[:3] == ["channel", "volume", "solved"]
    assert grid[2].split()[:3] == ["chat", "4", "2"] and grid[3].split()[:3] == ["email", "6", "5"]
    assert grid[5].split()[:2] == ["total", "10"] and "80.0%" in grid[5]
    assert "Open backlog by age: <1h 0" in table
    assert "(no data in this range)" in by_channel(aggregates=[]).as_table()


def test_table_marks_missing_data_and_overflowing_durations():
    aggregates = [
        DailyAggregate(D1, "channel", "sms", {"created": 1}, {"resolution_minutes": histogram.from_values([200_000])})
    ]
    row_line = by_channel(aggregates=aggregates).as_table().splitlines()[4]
    assert row_line.split()[:5] == ["sms", "1", "0", "0", "-"] and ">91 d" in row_line


def test_bad_ranges_are_refused_with_a_clear_message():
    with pytest.raises(ReportRangeError, match="after end"):
        validate_range(D3, D1, today=TODAY)
    with pytest.raises(ReportRangeError, match="367 days; a report covers at most 366"):
        validate_range(date(2023, 1, 1), date(2024, 1, 2), today=TODAY)
    with pytest.raises(ReportRangeError, match="at most 7 days"):
        validate_range(D1, date(2024, 3, 8), max_days=7, today=TODAY)
    with pytest.raises(ReportRangeError, match="in the future"):
        validate_range(date(2204, 3, 1), date(2204, 3, 31), today=TODAY)
    with pytest.raises(ReportRangeError, match="must be a date"):
        validate_range(datetime(2024, 3, 1), D3, today=TODAY)


def test_good_ranges_pass_including_this_month_and_a_timezone_ahead():
    assert validate_range(D1, date(2024, 3, 31), today=TODAY) is None  # "this month" runs past today
    assert validate_range(TODAY + timedelta(days=1), TODAY + timedelta(days=1), today=TODAY) is None
    assert validate_range(date(2023, 3, 11), TODAY, today=TODAY) is None  # exactly 366 days


def test_unknown_group_by_is_refused():
    with pytest.raises(UnknownGroupBy, match="choose one of channel, priority, queue, agent"):
        report([], group_by="customer", start=D1, end=D3, today=TODAY)
    assert issubclass(UnknownGroupBy, ReportError) and issubclass(ReportRangeError, ValueError)


def test_aggregates_that_would_double_count_or_mix_schemes_are_refused():
    twice = [DailyAggregate(D1, "channel", "email", {"created": 1})] * 2
    with pytest.raises(ReportError, match="double count"):
        by_channel(aggregates=twice)
    old = [DailyAggregate(D1, "channel", "email", {"created": 1}, histogram_scheme=0)]
    with pytest.raises(ReportError, match="scheme 0"):
        by_channel(aggregates=old)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"counters": {"solve": 1}},
        {"counters": {"created": -1}},
        {"counters": {"created": True}},
        {"histograms": {"first_response": {}}},
        {"histograms": {"resolution_minutes": {9999: 1}}},
        {"group_kind": "customer"},
        {"group": ""},
        {"day": datetime(2024, 3, 1)},
    ],
)
def test_malformed_aggregates_fail_where_they_are_built(kwargs):
    fields = {"day": D1, "group_kind": "channel", "group": "email"} | kwargs
    with pytest.raises(ValueError):
        DailyAggregate(**fields)


def test_backlog_buckets_include_their_lower_edge():
    now = datetime(2024, 3, 10, 12, tzinfo=timezone.utc)
    ages = [
        timedelta(minutes=-5), timedelta(0), timedelta(minutes=59),  # <1h (a future created_at too)
        timedelta(hours=1),  # 1-4h
        timedelta(hours=4), timedelta(hours=23, minutes=59),  # 4-24h
        timedelta(days=1), timedelta(days=3),  # 1-3d, 3-7d
        timedelta(days=7), timedelta(days=400),  # >7d
    ]  # fmt: skip
    counts = backlog_by_age((now - age for age in ages), now)
    assert list(counts) == list(BACKLOG_BUCKETS)
    assert counts == {"<1h": 3, "1-4h": 1, "4-24h": 2, "1-3d": 1, "3-7d": 1, ">7d": 2}
    with pytest.raises(ValueError, match="timezone-aware"):
        backlog_by_age([datetime(2024, 3, 10)], now)


def test_survey_counters_use_the_standard_thresholds():
    assert survey_counters(5, 10) == {"csat_responses": 1, "csat_satisfied": 1, "nps_responses": 1, "nps_promoters": 1}
    assert survey_counters(4, 8) == {"csat_responses": 1, "csat_satisfied": 1, "nps_responses": 1}
    assert survey_counters(3, 6) == {"csat_responses": 1, "nps_responses": 1, "nps_detractors": 1}
    assert survey_counters(1) == {"csat_responses": 1}
    assert survey_counters(2, None, 7) == {"csat_responses": 1, "ces_responses": 1, "ces_7": 1}
    with pytest.raises(ValueError):
        survey_counters(6)
    with pytest.raises(ValueError):
        survey_counters(5, 10, 0)


def test_ces_is_reported_as_average_share_who_agree_and_distribution_beside_csat_and_nps():
    answers = [(D1, "email", 5, 10, 7), (D1, "email", 4, 6, 5), (D2, "email", 2, None, 2), (D2, "email", 3, 8, None),
               (D1, "chat", 5, 9, 6)]  # fmt: skip
    aggregates = [DailyAggregate(day, "channel", channel, survey_counters(rating, nps, ces))
                  for day, channel, rating, nps, ces in answers]
    days: dict[tuple, dict[str, int]] = {}
    for aggregate in aggregates:  # one aggregate per day and group, as storage keeps them
        merged = days.setdefault((aggregate.day, aggregate.group), {})
        for name, value in aggregate.counters.items():
            merged[name] = merged.get(name, 0) + value
    result = by_channel(aggregates=[DailyAggregate(day, "channel", group, counters)
                                    for (day, group), counters in days.items()])
    chat, email = result.rows
    assert email.ces_responses == 3 and email.ces_average == pytest.approx((7 + 5 + 2) / 3)
    assert email.ces_easy_pct == pytest.approx(100 * 2 / 3)  # 7 and 5 agree, 2 does not
    assert email.ces_distribution == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1, "6": 0, "7": 1}
    assert email.csat_responses == 4 and email.nps == pytest.approx(100 / 3 - 100 / 3)  # 10 | 6 | 8
    assert chat.ces_average == 6.0 and result.totals.ces_responses == 4
    assert result.totals.ces_average == pytest.approx((7 + 5 + 2 + 6) / 4)
    assert result.as_dict()["totals"]["ces_distribution"]["6"] == 1
    (totals_line,) = [line for line in result.as_table().splitlines() if line.startswith("total ")]
    assert "CES" in result.as_table() and "5.0" in totals_line.split()  # the totals' average
    empty = by_channel(aggregates=[DailyAggregate(D1, "channel", "email", {"created": 1})]).rows[0]
    assert (empty.ces_responses, empty.ces_average, empty.ces_easy_pct) == (0, None, None)




@st.composite
def counter_values(draw):
    """Counters as the pipeline keeps them: each part never more than its whole."""
    counters = {name: draw(st.integers(0, 50)) for name in COUNTERS}
    counters["csat_satisfied"] = draw(st.integers(0, counters["csat_responses"]))
    counters["nps_promoters"] = draw(st.integers(0, counters["nps_responses"]))
    counters["nps_detractors"] = draw(st.integers(0, counters["nps_responses"] - counters["nps_promoters"]))
    return counters

aggregates = st.lists(
    st.tuples(
        st.integers(0, 6).map(lambda n: D1 + timedelta(days=n)),
        st.sampled_from(["email", "chat", "sms"]),
        counter_values(),
        st.lists(st.floats(0, 5000), max_size=8),
    ),
    max_size=12,
    unique_by=lambda t: (t[0], t[1]),
).map(
    lambda rows: [
        DailyAggregate(day, "channel", group, counters, {"first_response_minutes": histogram.from_values(values)})
        for day, group, counters, values in rows
    ]
)


@settings(max_examples=60)
@given(aggregates)
def test_totals_are_the_merge_of_the_rows_and_rates_stay_in_range(aggs):
    result = report(aggs, group_by="channel", start=D1, end=D1 + timedelta(days=6), today=TODAY)
    assert result.totals.volume == sum(row.volume for row in result.rows)
    assert result.totals.csat_responses == sum(row.csat_responses for row in result.rows)
    merged = histogram.merge(*(a.histograms["first_response_minutes"] for a in aggs))
    assert result.totals.first_response_p90 == histogram.percentile(merged, 0.9)
    for row in (*result.rows, result.totals):
        for pct in (row.sla_pct, row.sla_first_response_pct, row.sla_resolution_pct, row.csat_pct, row.deflection_pct):
            assert pct is None or 0 <= pct <= 100
        assert (row.nps is None) == (row.nps_responses == 0)
        assert row.nps is None or -100 <= row.nps <= 100


def test_rows_by_agent_carry_names_sorted_with_removed_agents_last_and_assignments_as_volume():
    from chalicelib.domain.kpis import report

    aggregates = [DailyAggregate(D1, "agent", "a-2", {"assigned": 1, "solved": 1, "created": 5}),
                  DailyAggregate(D1, "agent", "a-1", {"solved": 2}),
                  DailyAggregate(D1, "agent", "a-3", {"assigned": 4})]
    result = report(aggregates, group_by="agent", start=D1, end=D3, today=TODAY).labelled(
        {"a-1": "(removed) Zed", "a-2": "bea", "a-3": "Ann"}, last=["a-1"])
    assert [(row.group, row.label, row.volume, row.solved) for row in result.rows] == [
        ("a-3", "Ann", 4, 0), ("a-2", "bea", 1, 1), ("a-1", "(removed) Zed", 0, 2)]
    assert (result.totals.label, result.totals.volume, result.totals.solved) == ("total", 5, 3)
    table = result.as_table()
    assert table.splitlines()[2].split()[:3] == ["agent", "assigned", "solved"]
    assert "a-3" not in table and "(removed) Zed" in table


@pytest.mark.parametrize("minutes, shown", [
    (None, "-"), (0.2 / 60, "<1 s"), (1 / 60, "1 s"), (42 / 60, "42 s"), (59.6 / 60, "1.0 min"), (7.5, "7.5 min"),
    (9.96, "10 min"), (42, "42 min"), (59.7, "1.0 h"), (90, "1.5 h"), (23.97 * 60, "1.0 d"), (3 * 1440, "3.0 d"),
    (200_000, ">91 d"),
])
def test_durations_read_as_seconds_minutes_hours_or_days(minutes, shown):
    from chalicelib.domain.kpis import format_duration

    assert format_duration(minutes) == shown
