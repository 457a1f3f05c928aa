"""The KPI chart as an admin reads it: the range asked for on the axis, visible points, one unit, "no data" said."""
from datetime import date, datetime, timedelta

import pytest

pytest.importorskip("matplotlib")  # a development dependency: the CLI runs on an admin's machine

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from chalicelib.api.kpi_chart import MAX_LINES, Chart, Line, figure, lines  # noqa: E402
from chalicelib.domain import histogram  # noqa: E402
from chalicelib.domain.kpis import DailyAggregate  # noqa: E402

MONDAY = date(2025, 3, 3)
SECOND = 1 / 60  # minutes


@pytest.fixture
def drawn():
    """Draw a chart and hand back its axes (rendered, so tick labels exist); closes every figure after."""
    def draw(chart):
        plot = figure(chart)
        plot.canvas.draw()
        return plot.axes[0]
    yield draw
    plt.close("all")


def _days(axes):
    return [mdates.num2date(x).date() for x in axes.get_xlim()]


def _tick_labels(axes):
    return [label.get_text() for label in axes.get_xticklabels() if label.get_text()]


def _legend(axes):
    legend = axes.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_one_day_of_data_is_one_visible_point_on_an_axis_of_that_day(drawn):
    chart = Chart(MONDAY, MONDAY, (Line("p50", (12.0,)), Line("p90", (30.0,))), "calendar", "p50 and p90",
                  target_minutes=60, target_policy="chat")
    axes = drawn(chart)
    left, right = axes.get_xlim()
    assert mdates.num2date(left).replace(tzinfo=None) == datetime(2025, 3, 2, 12)  # half a day either side,
    assert mdates.num2date(right).replace(tzinfo=None) == datetime(2025, 3, 3, 12)  # not 2025 to 2029
    assert _tick_labels(axes) == ["2025-03-03"]
    plotted = [line for line in axes.get_lines() if line.get_label() in ("p50", "p90")]
    assert [line.get_marker() for line in plotted] == ["o", "o"]  # a lone point needs a marker to be seen
    assert [list(line.get_ydata()) for line in plotted] == [[12.0], [30.0]]


def test_no_data_says_so_on_the_range_asked_for_not_1970(drawn):
    empty = Chart(MONDAY, MONDAY + timedelta(days=6), (Line("p50", (None,) * 7), Line("p90", (None,) * 7)),
                  "business", "p50 and p90", target_minutes=540, target_policy="standard")
    axes = drawn(empty)
    assert [text.get_text() for text in axes.texts] == ["No data for 2025-03-03 to 2025-03-09"]
    assert _days(axes) == [date(2025, 3, 2), date(2025, 3, 9)]  # 12:00 the day before .. 12:00 the last day
    assert _tick_labels(axes) == [(MONDAY + timedelta(days=n)).isoformat() for n in range(7)]  # daily ticks
    assert _legend(axes) == ["SLA target, normal priority (standard): 9 h of business time"]


def test_title_axis_and_target_line_speak_one_clock_and_one_unit(drawn):
    # Chat answers in seconds against a 1-minute calendar target: everything in seconds of calendar time.
    answers = (Line("p50", (8 * SECOND, None)), Line("p90", (42 * SECOND, None)))
    fast = Chart(MONDAY, MONDAY + timedelta(days=1), answers,
                 "calendar", "p50 and p90", target_minutes=1, target_policy="chat")
    axes = drawn(fast)
    assert axes.get_title() == "Daily first response p50 and p90, calendar time, in seconds: 2025-03-03 to 2025-03-04"
    assert axes.get_ylabel() == "seconds of calendar time"
    target = next(line for line in axes.get_lines() if line.get_label().startswith("SLA target"))
    assert list(target.get_ydata()) == [60.0, 60.0]  # the 1-minute target, drawn in the chart's unit
    assert target.get_label() == "SLA target, normal priority (chat): 60 s of calendar time"
    p90 = next(line for line in axes.get_lines() if line.get_label() == "p90")
    assert p90.get_ydata()[0] == pytest.approx(42)
    # A business-hours target over hours of waiting: hours of business time everywhere.
    slow = Chart(MONDAY, MONDAY, (Line("p90", (300.0,)),), "business", "p50 and p90", target_minutes=540,
                 target_policy="standard")
    axes = drawn(slow)
    assert "business time, in hours" in axes.get_title() and axes.get_ylabel() == "hours of business time"
    assert axes.get_lines()[0].get_ydata()[0] == pytest.approx(5.0)
    assert axes.get_ylim()[0] == 0 and axes.get_ylim()[1] > 9.0  # the 9 h target is on the chart


def test_a_long_range_keeps_the_range_with_a_small_tick_per_day(drawn):
    days = 90
    chart = Chart(MONDAY, MONDAY + timedelta(days=days - 1), (Line("p90", (None,) * 45 + (20.0,) * 45),),
                  "business", "p50 and p90")
    axes = drawn(chart)
    assert _days(axes) == [MONDAY - timedelta(days=1), MONDAY + timedelta(days=days - 1)]
    every_tick = set(axes.get_xticks()) | set(axes.get_xticks(minor=True))  # matplotlib drops minors under majors
    assert sorted(mdates.num2date(x).date() for x in every_tick) == [MONDAY + timedelta(days=n) for n in range(days)]
    assert 2 <= len(_tick_labels(axes)) <= 16  # readable, not 90 overlapping dates


def _aggregate(day, group, *minutes):
    return DailyAggregate(day, "agent" if group.startswith("a-") else "all", group,
                          histograms={"first_response_business_minutes": histogram.from_values(minutes)})


def test_grouped_lines_are_one_p90_per_group_by_name_and_at_most_max_lines():
    days = [MONDAY, MONDAY + timedelta(days=1)]
    found = [_aggregate(MONDAY, "a-ann", 10.0, 20.0), _aggregate(MONDAY + timedelta(days=1), "a-bob", 5.0)]
    drawn, left_out = lines(found, days, "first_response_business_minutes", grouped=True,
                            labels={"a-ann": "Ann Agent", "a-bob": "(removed) Bob"})
    assert [line.label for line in drawn] == ["(removed) Bob p90", "Ann Agent p90"]
    assert drawn[1].minutes[0] == pytest.approx(20.0, rel=histogram.RELATIVE_ERROR) and drawn[1].minutes[1] is None
    assert left_out == 0
    many = [_aggregate(MONDAY, f"a-{n:02d}", *([1.0] * (n + 1))) for n in range(MAX_LINES + 3)]
    drawn, left_out = lines(many, days, "first_response_business_minutes", grouped=True)
    assert len(drawn) == MAX_LINES and left_out == 3
    assert "a-00 p90" not in [line.label for line in drawn]  # the quietest groups are the ones left out


def test_whole_desk_lines_are_p50_and_p90_of_each_day():
    days = [MONDAY, MONDAY + timedelta(days=1)]
    drawn, _ = lines([_aggregate(MONDAY, "all", 10.0, 20.0, 30.0, 40.0, 100.0)], days,
                     "first_response_business_minutes", grouped=False)
    assert [line.label for line in drawn] == ["p50", "p90"]
    assert drawn[0].minutes[0] == pytest.approx(30, rel=histogram.RELATIVE_ERROR)
    assert drawn[1].minutes == (pytest.approx(100, rel=histogram.RELATIVE_ERROR), None)


def test_the_legend_says_how_many_groups_only_the_table_has(drawn):
    chart = Chart(MONDAY, MONDAY, (Line("email p90", (3.0,)),), "business", "p90 by channel", groups_left_out=2)
    axes = drawn(chart)
    assert axes.get_legend().get_title().get_text() == "2 more groups in the table"
    assert _legend(axes) == ["email p90"]
