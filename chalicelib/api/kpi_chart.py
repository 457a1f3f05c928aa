"""The KPI report's chart (``kpi-report --chart OUT.png``): daily first response against the SLA target.

One chart, one unit. Every line, the y axis, the title and the target line use the same
clock — the one the target runs on: business time for the desk's normal-priority policy,
calendar time when that policy says ``business_hours: false`` — and the same unit of time
(seconds, minutes, hours or days, whichever keeps the numbers readable). Plotting calendar
percentiles under a business-hours target would put every night and weekend on the wrong
side of the line.

The x axis is the requested range, whatever the data: one tick per day (on a long range a
labelled tick every few days and a small tick on each day). A day with data is a marker,
visible even alone; a day without is a gap, never a zero; a range without any data says
"No data for <start> to <end>" on the chart.

Whole desk (``group_by`` None): p50 and p90 of the ``all#all`` series, so every ticket counts
once. Grouped: the p90 of each group, one line per group (agents by name), at most
``MAX_LINES`` — the groups with the most answers; the legend says how many more the table has.

matplotlib is a development dependency (the CLI runs on an admin's machine), so it is
imported inside ``figure``, with the Agg backend: no display on a server or in CI.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.domain import histogram
from chalicelib.domain.kpis import DailyAggregate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MAX_LINES", "Chart", "Line", "chart", "describe", "figure", "lines", "write"]

MAX_LINES = 10  # more lines than this is a tangle: the table has every group
_MAX_LABELLED_TICKS = 16
# (name, minutes per unit, use while the largest value plotted is below this many minutes)
_UNITS = (("seconds", 1 / 60, 2.0), ("minutes", 1.0, 180.0), ("hours", 60.0, 72 * 60.0), ("days", 1440.0, math.inf))
_SYMBOLS = {"seconds": "s", "minutes": "min", "hours": "h", "days": "d"}


@dataclass(frozen=True)
class Line:
    """One line of the chart: its legend label and one value per day of the range (minutes; None = no data)."""

    label: str
    minutes: tuple[float | None, ...]

    @property
    def has_data(self) -> bool:
        return any(value is not None for value in self.minutes)


@dataclass(frozen=True)
class Chart:
    """What the chart shows; ``figure`` draws it. ``clock`` is "business" or "calendar" (lines and target alike)."""

    start: date
    end: date
    lines: tuple[Line, ...]
    clock: str
    quantities: str  # what the lines are, for the title: "p50 and p90" or "p90 by channel"
    target_minutes: float | None = None
    target_policy: str = ""
    groups_left_out: int = 0

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def has_data(self) -> bool:
        return any(line.has_data for line in self.lines)

    @property
    def unit(self) -> tuple[str, float]:
        """(name, minutes per unit) for the largest value plotted, the target included."""
        values = [value for line in self.lines for value in line.minutes if value is not None]
        largest = max([*values, self.target_minutes or 0.0])
        name, size, _ = next(unit for unit in _UNITS if largest < unit[2])
        return name, size

    def in_unit(self, minutes: float) -> str:
        """``minutes`` in the chart's unit, as its legend says it: "60 s", "9 h", "2.5 d"."""
        name, size = self.unit
        return f"{round(minutes / size, 1):g} {_SYMBOLS[name]}"

    @property
    def clock_words(self) -> str:
        return "business time" if self.clock == "business" else "calendar time"

    @property
    def title(self) -> str:
        return (f"Daily first response {self.quantities}, {self.clock_words}, in {self.unit[0]}: "
                f"{self.start.isoformat()} to {self.end.isoformat()}")

    @property
    def no_data_note(self) -> str:
        return f"No data for {self.start.isoformat()} to {self.end.isoformat()}"


def lines(aggregates: Iterable[DailyAggregate], days: Sequence[date], histogram_name: str, *,
          grouped: bool, labels: Mapping[str, str] | None = None) -> tuple[tuple[Line, ...], int]:
    """The chart's lines from daily aggregates of one group kind, and how many groups were left out.

    Whole desk (``grouped`` False, aggregates of ``all#all``): p50 and p90. Grouped: each
    group's p90, the ``MAX_LINES`` groups with the most durations counted, by label.
    """
    by_group: dict[str, dict[date, Mapping[int, int]]] = {}
    for aggregate in aggregates:
        counts = aggregate.histograms.get(histogram_name)
        if counts:
            by_group.setdefault(aggregate.group, {})[aggregate.day] = counts

    def daily(counts_by_day: Mapping[date, Mapping[int, int]], q: float) -> tuple[float | None, ...]:
        return tuple(histogram.percentile(counts_by_day.get(day, {}), q) for day in days)

    if not grouped:
        desk = next(iter(by_group.values()), {})
        return (Line("p50", daily(desk, 0.5)), Line("p90", daily(desk, 0.9))), 0
    names = labels or {}
    busiest = sorted(by_group, key=lambda group: -sum(sum(c.values()) for c in by_group[group].values()))
    shown = sorted(busiest[:MAX_LINES], key=lambda group: (names.get(group, group).casefold(), group))
    drawn = tuple(Line(f"{names.get(group, group)} p90", daily(by_group[group], 0.9)) for group in shown)
    return drawn, max(0, len(busiest) - MAX_LINES)


def chart(start: date, end: date, group_by: str | None = None) -> Chart:
    """The first-response chart of ``start``..``end`` from the stored aggregates (``group_by`` None: whole desk)."""
    from chalicelib import configuration
    from chalicelib.api.reports_api import agent_labels
    from chalicelib.domain import sla
    from chalicelib.storage import aggregates

    policy = sla.policy_for("normal", "email", None, "general", configuration.sla_policies())
    clock = "business" if policy.business_hours else "calendar"
    name = "first_response_business_minutes" if clock == "business" else "first_response_minutes"
    found = aggregates.read(start, end, group_by or "all")
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    labels = agent_labels() if group_by == "agent" else None
    drawn, left_out = lines(found, days, name, grouped=group_by is not None, labels=labels)
    return Chart(start, end, drawn, clock, f"p90 by {group_by}" if group_by else "p50 and p90",
                 target_minutes=policy.first_response, target_policy=policy.name, groups_left_out=left_out)


def figure(shown: Chart) -> Figure:
    """The chart drawn (Agg backend); the caller saves and closes it (``write`` does both)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server or in CI
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    unit_name, unit_size = shown.unit
    days = shown.days
    at = [datetime.combine(day, time()) for day in days]  # midnight UTC: matplotlib reads naive times as UTC
    plot, axes = plt.subplots(figsize=(10, 4.5))
    for line in shown.lines:
        if line.has_data:  # NaN is a gap, not a zero; the marker keeps a lone day visible
            values = [math.nan if value is None else value / unit_size for value in line.minutes]
            axes.plot(at, values, marker="o", markersize=5, linewidth=1.5, label=line.label)
    top = max([value / unit_size for line in shown.lines for value in line.minutes if value is not None] or [0.0])
    if shown.target_minutes is not None:
        target = shown.target_minutes / unit_size
        top = max(top, target)
        axes.axhline(target, color="tab:red", linestyle="--",
                     label=f"SLA target, normal priority ({shown.target_policy}): "
                           f"{shown.in_unit(shown.target_minutes)} of {shown.clock_words}")
    if not shown.has_data:
        axes.text(0.5, 0.5, shown.no_data_note, transform=axes.transAxes, ha="center", va="center",
                  fontsize="large", color="0.35")
    axes.set_xlim(at[0] - timedelta(hours=12), at[-1] + timedelta(hours=12))  # the range asked for, not the data's
    step = max(1, math.ceil(len(days) / _MAX_LABELLED_TICKS))
    axes.set_xticks(at[::step])
    axes.set_xticks(at, minor=True)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    axes.set_ylim(0, top * 1.15 if top > 0 else 1)
    axes.set_title(shown.title, fontsize="medium")
    axes.set_ylabel(f"{unit_name} of {shown.clock_words}")
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        title = f"{shown.groups_left_out} more groups in the table" if shown.groups_left_out else None
        axes.legend(loc="upper left", fontsize="small", title=title, title_fontsize="small")
    plot.autofmt_xdate()
    plot.tight_layout()
    return plot


def write(shown: Chart, out: Path) -> None:
    """Draw the chart into a PNG at ``out``."""
    import matplotlib.pyplot as plt

    drawn = figure(shown)
    try:
        drawn.savefig(out, format="png", dpi=100)
    finally:
        plt.close(drawn)


def describe(shown: Chart) -> str:
    """One line for the CLI: what the chart shows."""
    what = f"daily first response {shown.quantities}, {shown.clock_words}, in {shown.unit[0]}"
    if not shown.has_data:
        return f"{what}; {shown.no_data_note[0].lower()}{shown.no_data_note[1:]}"
    left_out = f"; {shown.groups_left_out} more groups only in the table" if shown.groups_left_out else ""
    return what + left_out
