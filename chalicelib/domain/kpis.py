"""KPI reports from daily aggregates: volume, response times, SLA attainment, CSAT, NPS, CES, deflection.

A report never reads tickets. The pipeline keeps one ``DailyAggregate`` per day and
group (``group_kind`` one of ``GROUP_KINDS``: channel, priority, queue, agent, and
``all`` for the desk as a whole) and increments it as events happen; a report for a
year reads at most 366 items per group instead of every ticket of the year.

What the pipeline must maintain, per (day, group_kind, group), for each group a
ticket belongs to (its channel, priority, queue; the agent who did the counted thing —
the agent it was assigned to for ``assigned``, the agent who set it solved for ``solved``
and the resolution measures, else its assignee at the time; and ``all``). An event
counts on the UTC day it happened (a ticket created on Monday and solved on Wednesday
adds ``created`` to Monday and ``solved`` to Wednesday):

Counters (``COUNTERS``; atomic ``ADD``):

* ``created`` — tickets opened (the report's "volume", but by agent);
* ``assigned`` — a ticket given to an agent (each assignment, on its day): the report's
  "volume" by agent, since tickets are rarely assigned in the write that creates them
  (days counted before this counter existed show an agent volume of 0);
* ``solved`` — tickets set to solved, credited by agent to the agent who set the status
  (not the assignee; a rule, the bot or a customer solving credits no agent);
  ``reopened`` — solved tickets that came back;
* ``auto_replies`` — acknowledgements and other automatic replies sent;
* ``deflected`` — tickets self-service answered: the customer confirmed a suggested article
  (or the chat bot's answer) solved it, or opened one and then neither wrote again nor got
  a reply within the desk's window (``service/kb_tracking.py``); counted once per ticket,
  on the day the deflection is stored. ``deflected_by_bot`` — those the bot's answer solved.
  Deflected tickets are tickets, so the report's ``deflection_pct`` is deflected / created
  (at most 100: a short range can count deflections of tickets created before it);
* ``sla_first_response_met`` / ``sla_first_response_breached`` — counted when the
  first response is sent (or when its due time passes unanswered: breached);
* ``sla_resolution_met`` / ``sla_resolution_breached`` — counted when solved (or overdue);
* ``csat_responses``, ``csat_satisfied`` (rating 4–5);
* ``nps_responses``, ``nps_promoters`` (9–10), ``nps_detractors`` (0–6); the report's
  ``nps`` is % promoters − % detractors (−100..100);
* ``ces_responses`` and ``ces_1`` … ``ces_7``: customer effort, "they made it easy for me
  to get my issue handled", 1 = strongly disagree … 7 = strongly agree, one counter per
  score (stored flat like every counter: ``c_ces_1``), so the report gives the
  distribution, the average and the share who agree (``ces_easy_pct``: 5–7).
  ``survey_counters`` gives the survey increments, so the thresholds live here only.

Histograms (``HISTOGRAMS``; bucket maps from ``chalicelib.domain.histogram``, so the
pipeline adds 1 at ``item_key(minutes)``: seconds resolve from 1 s), counted on the day
the duration ends:

* ``first_response_minutes`` / ``first_response_business_minutes`` — ticket created to
  first agent reply, on the calendar clock and on the business-hours clock;
* ``resolution_minutes`` / ``resolution_business_minutes`` — created to solved.

The backlog is a snapshot, not a counter (a counter of "open" drifts forever after one
lost update): ``backlog_by_age`` buckets the ``created_at`` of currently open tickets,
which the caller reads from the open-tickets index at report time.

Percentiles are estimated from merged histograms, never by averaging percentiles (the
mean of two medians is not the median of anything): within ``histogram.RELATIVE_ERROR``
(under 2 %) from 1 s to 90 days, as ``histogram.percentile`` states with its exceptions.
The table shows durations as people read them (``format_duration``: "42 s", "7.5 min",
"1.5 h", "2.0 d").

By agent, rows carry the agent's name (``Report.labelled``; the caller reads the agent
directory at report time), so renaming an agent renames their history.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from chalicelib.domain import histogram
from chalicelib.domain.vocabulary import PRIORITIES

__all__ = [
    "BACKLOG_BUCKETS",
    "COUNTERS",
    "CES_EASY_MIN",
    "CES_SCORES",
    "CSAT_SATISFIED_MIN",
    "GROUP_BY",
    "GROUP_KINDS",
    "HISTOGRAMS",
    "NPS_DETRACTOR_MAX",
    "NPS_PROMOTER_MIN",
    "DailyAggregate",
    "Report",
    "ReportError",
    "ReportRangeError",
    "ReportRow",
    "RETIRED_COUNTERS",
    "UnknownGroupBy",
    "backlog_by_age",
    "check_group_by",
    "format_duration",
    "report",
    "survey_counters",
    "validate_range",
]

GROUP_BY: tuple[str, ...] = ("channel", "priority", "queue", "agent")
GROUP_KINDS: tuple[str, ...] = (*GROUP_BY, "all")
COUNTERS: tuple[str, ...] = (
    "created",
    "assigned",
    "solved",
    "reopened",
    "auto_replies",
    "deflected",
    "deflected_by_bot",
    "sla_first_response_met",
    "sla_first_response_breached",
    "sla_resolution_met",
    "sla_resolution_breached",
    "csat_responses",
    "csat_satisfied",
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "ces_responses",
    *(f"ces_{score}" for score in range(1, 8)),
)
#: Counters no longer kept, which stored aggregates may still hold: readers skip them (``bot_deflected`` counted
#: bot conversations that never became tickets; ``deflected`` counts tickets self-service answered).
RETIRED_COUNTERS: tuple[str, ...] = ("bot_deflected",)
HISTOGRAMS: tuple[str, ...] = (
    "first_response_minutes",
    "first_response_business_minutes",
    "resolution_minutes",
    "resolution_business_minutes",
)
BACKLOG_BUCKETS: tuple[str, ...] = ("<1h", "1-4h", "4-24h", "1-3d", "3-7d", ">7d")
# Upper edges (exclusive) of all but the last backlog bucket.
_BACKLOG_EDGES = (timedelta(hours=1), timedelta(hours=4), timedelta(days=1), timedelta(days=3), timedelta(days=7))

CSAT_SATISFIED_MIN = 4  # ratings 4 and 5 of 5 are "satisfied", the usual CSAT definition
NPS_PROMOTER_MIN = 9  # NPS: 9–10 promoters, 7–8 passives, 0–6 detractors
NPS_DETRACTOR_MAX = 6
CES_SCORES: tuple[int, ...] = tuple(range(1, 8))  # the 7-point agreement scale of CES 2.0
CES_EASY_MIN = 5  # 5–7: somewhat agree to strongly agree that it was easy

# A start date a day ahead is allowed: "today" in UTC+14 is tomorrow in UTC.
_FUTURE_SLACK = timedelta(days=1)


class ReportError(ValueError):
    """A report request the desk cannot answer; the HTTP edge maps it to 400 with this message."""


class ReportRangeError(ReportError):
    """The report's date range is reversed, too long or in the future."""


class UnknownGroupBy(ReportError):
    """``group_by`` is not one of ``GROUP_BY``."""


@dataclass(frozen=True)
class DailyAggregate:
    """One day's counters and duration histograms for one group (e.g. day 2024-03-01, channel "email").

    Names outside ``COUNTERS`` / ``HISTOGRAMS`` raise ``ValueError``: a typo in the
    pipeline ("solve") should fail a test, not leave a KPI at zero. ``histogram_scheme``
    is the ``histogram.SCHEME_VERSION`` the buckets were counted with.
    """

    day: date
    group_kind: str
    group: str
    counters: Mapping[str, int] = field(default_factory=dict)
    histograms: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    histogram_scheme: int = histogram.SCHEME_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.day, datetime) or not isinstance(self.day, date):
            raise ValueError(f"day must be a date, got {self.day!r}")
        if self.group_kind not in GROUP_KINDS:
            raise ValueError(f"group_kind must be one of {', '.join(GROUP_KINDS)}, got {self.group_kind!r}")
        if not isinstance(self.group, str) or not self.group:
            raise ValueError(f"group must be a non-empty string, got {self.group!r}")
        unknown = sorted(set(self.counters) - set(COUNTERS)) + sorted(set(self.histograms) - set(HISTOGRAMS))
        if unknown:
            raise ValueError(f"unknown counter or histogram name(s): {', '.join(map(str, unknown))}")
        for name, value in self.counters.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"counter {name} must be a non-negative int, got {value!r}")
        counters = MappingProxyType(dict(self.counters))
        histograms = MappingProxyType({name: histogram.merge(counts) for name, counts in self.histograms.items()})
        object.__setattr__(self, "counters", counters)
        object.__setattr__(self, "histograms", histograms)


@dataclass(frozen=True)
class ReportRow:
    """The KPIs of one group (or of all groups: the totals row). Minutes and percentages; None = no data.

    ``group`` is the stored key (an agent's id by agent); ``label`` what people read (the
    agent's name, else the group). ``volume`` is tickets created, and by agent tickets
    assigned to the agent (``assigned``): see the module docstring.
    """

    group: str
    label: str
    volume: int
    solved: int
    reopened: int
    auto_replies: int
    deflected: int
    deflected_by_bot: int
    first_response_p50: float | None
    first_response_p90: float | None
    first_response_business_p50: float | None
    first_response_business_p90: float | None
    resolution_p50: float | None
    resolution_p90: float | None
    resolution_business_p50: float | None
    resolution_business_p90: float | None
    sla_first_response_pct: float | None
    sla_resolution_pct: float | None
    sla_pct: float | None
    csat_responses: int
    csat_pct: float | None
    nps_responses: int
    nps: float | None
    ces_responses: int
    ces_average: float | None
    ces_easy_pct: float | None
    ces_distribution: dict[str, int]  # "1".."7" → answers with that score (every score present, maybe 0)
    deflection_pct: float | None


@dataclass(frozen=True)
class Report:
    """KPIs per group over ``start``..``end`` (inclusive), a totals row and, optionally, the backlog by age."""

    group_by: str
    start: date
    end: date
    rows: tuple[ReportRow, ...]
    totals: ReportRow
    backlog: Mapping[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO dates, percentages rounded to 2 decimals, minutes to 4 (6 ms: seconds stay exact
        to the histogram's bound), None as null."""
        return {
            "group_by": self.group_by,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "percentile_relative_error": histogram.RELATIVE_ERROR,
            "rows": [_row_dict(row) for row in self.rows],
            "totals": _row_dict(self.totals),
            "backlog": dict(self.backlog) if self.backlog is not None else None,
        }

    def labelled(self, labels: Mapping[str, str], *, last: Iterable[str] = ()) -> Report:
        """The report with rows labelled ``labels[group]`` (groups not named keep their key), sorted by label;
        the groups in ``last`` (removed agents) after the others."""
        after = frozenset(last)
        rows = [dataclasses.replace(row, label=labels.get(row.group, row.group)) for row in self.rows]
        rows.sort(key=lambda row: (row.group in after, row.label.casefold(), row.label, row.group))
        return dataclasses.replace(self, rows=tuple(rows))

    def as_table(self) -> str:
        """A fixed-width text table for the CLI and the demo (``-`` = no data, ``bh`` = business hours)."""
        header = [
            self.group_by, "assigned" if self.group_by == "agent" else "volume", "solved", "reopen",
            "FR p50", "FR p90", "FR p50 bh", "FR p90 bh",
            "res p50", "res p90", "res p50 bh", "res p90 bh",
            "SLA FR", "SLA res", "SLA", "CSAT", "NPS", "CES", "deflect",
        ]  # fmt: skip
        body = [_table_cells(row) for row in self.rows]
        totals = _table_cells(self.totals)
        widths = [max(len(line[i]) for line in (header, *body, totals)) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join([first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:]))])

        rule = "-" * len(line(header))
        out = [f"KPIs by {self.group_by}, {self.start.isoformat()} to {self.end.isoformat()}", "", line(header), rule]
        out += [line(cells) for cells in body] or ["(no data in this range)"]
        out += [rule, line(totals), ""]
        out.append(f"FR = first response, res = resolution, bh = business hours; percentiles within "
                   f"±{histogram.RELATIVE_ERROR * 100:.1f} % from 1 s to 90 days (under 1 s: \"<1 s\").")  # fmt: skip
        if self.group_by == "agent":
            out.append("By agent: assigned = tickets assigned to the agent; solved = tickets the agent set to "
                       "solved; the totals cover only work credited to an agent.")
        out.append("CSAT = % satisfied (4-5 of 5); NPS = % promoters - % detractors; "
                   "CES = average effort score (1-7, 7 = easiest).")
        if self.backlog is not None:
            out += ["", "Open backlog by age: " + "  ".join(f"{k} {v}" for k, v in self.backlog.items())]
        return "\n".join(out) + "\n"


def check_group_by(group_by: str) -> str:
    """``group_by`` itself if it is one of ``GROUP_BY``; else ``UnknownGroupBy`` naming the valid ones."""
    if group_by not in GROUP_BY:
        raise UnknownGroupBy(f"cannot group a report by {group_by!r}: choose one of {', '.join(GROUP_BY)}")
    return group_by


def validate_range(start: date, end: date, max_days: int = 366, *, today: date | None = None) -> None:
    """Refuse a report range that is reversed, longer than ``max_days`` days, or starts in the future.

    The range is inclusive. ``end`` may lie past today (a "this month" report covers the
    days so far), but ``start`` may be at most one day ahead of ``today`` (UTC unless
    given: a time-zone's "today" can be UTC's tomorrow). Together with the length cap that
    bounds ``end`` to about ``max_days`` from now, so a typed year like 2204 is refused.
    """
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ReportRangeError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")
    if start > end:
        raise ReportRangeError(f"start {start.isoformat()} is after end {end.isoformat()}: swap them")
    days = (end - start).days + 1
    if days > max_days:
        raise ReportRangeError(
            f"{start.isoformat()} to {end.isoformat()} is {days} days; a report covers at most {max_days} days"
        )
    today = today or datetime.now(timezone.utc).date()
    if start > today + _FUTURE_SLACK:
        raise ReportRangeError(
            f"start {start.isoformat()} is in the future (today is {today.isoformat()}): there is no data yet"
        )


def report(
    aggregates: Iterable[DailyAggregate],
    *,
    group_by: str,
    start: date,
    end: date,
    backlog: Mapping[str, int] | None = None,
    today: date | None = None,
) -> Report:
    """The KPI report for ``start``..``end`` grouped by ``group_by``, from daily aggregates.

    Aggregates of another group kind or outside the range are ignored, so callers may
    pass what a query returned without filtering. The totals row merges every row's
    counters and histograms; by agent it therefore covers only work attributed to an
    agent. Raises ``ReportError`` for a bad request or for aggregates that cannot be
    combined: the same (day, group) twice (double counting) or another histogram scheme.
    """
    check_group_by(group_by)
    validate_range(start, end, today=today)
    groups: dict[str, list[DailyAggregate]] = {}
    seen: set[tuple[date, str]] = set()
    for aggregate in aggregates:
        if aggregate.group_kind != group_by or not start <= aggregate.day <= end:
            continue
        if aggregate.histogram_scheme != histogram.SCHEME_VERSION:
            raise ReportError(
                f"aggregate {aggregate.day} {aggregate.group_kind}={aggregate.group} uses histogram scheme "
                f"{aggregate.histogram_scheme}, this code reads scheme {histogram.SCHEME_VERSION}"
            )
        key = (aggregate.day, aggregate.group)
        if key in seen:
            raise ReportError(f"two aggregates for {aggregate.day} {group_by}={aggregate.group}: would double count")
        seen.add(key)
        groups.setdefault(aggregate.group, []).append(aggregate)
    ordered = sorted(groups, key=_sort_key(group_by))
    volume = "assigned" if group_by == "agent" else "created"
    rows = tuple(_row(name, groups[name], volume) for name in ordered)
    totals = _row("total", [aggregate for name in ordered for aggregate in groups[name]], volume)
    return Report(group_by, start, end, rows, totals, _clean_backlog(backlog))


def backlog_by_age(open_ticket_created_ats: Iterable[datetime], now: datetime) -> dict[str, int]:
    """How many open tickets are how old, in ``BACKLOG_BUCKETS`` order (every bucket present, maybe 0).

    Buckets include their lower edge: a ticket exactly 4 hours old is "4-24h", and
    ">7d" means 7 days or more. A ``created_at`` after ``now`` (clock skew) counts as "<1h".
    Times must be timezone-aware: a naive one is ambiguous by up to a day.
    """
    _require_aware("now", now)
    counts = dict.fromkeys(BACKLOG_BUCKETS, 0)
    for created_at in open_ticket_created_ats:
        _require_aware("created_at", created_at)
        age = now - created_at
        label = next((BACKLOG_BUCKETS[i] for i, edge in enumerate(_BACKLOG_EDGES) if age < edge), BACKLOG_BUCKETS[-1])
        counts[label] += 1
    return counts


def survey_counters(rating: int, nps: int | None = None, ces: int | None = None) -> dict[str, int]:
    """The counter increments for one survey response (rating 1–5, optional NPS 0–10 and CES 1–7); zeros left out."""
    if not 1 <= rating <= 5 or (nps is not None and not 0 <= nps <= 10) or (ces is not None and ces not in CES_SCORES):
        raise ValueError(f"rating must be 1–5, nps 0–10 and ces 1–7, got rating={rating!r} nps={nps!r} ces={ces!r}")
    increments = {"csat_responses": 1, "csat_satisfied": int(rating >= CSAT_SATISFIED_MIN)}
    if nps is not None:
        increments["nps_responses"] = 1
        increments["nps_promoters"] = int(nps >= NPS_PROMOTER_MIN)
        increments["nps_detractors"] = int(nps <= NPS_DETRACTOR_MAX)
    if ces is not None:
        increments["ces_responses"] = 1
        increments[f"ces_{ces}"] = 1
    return {name: value for name, value in increments.items() if value}


def _row(group: str, aggregates: list[DailyAggregate], volume: str = "created") -> ReportRow:
    counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
    for aggregate in aggregates:
        for name, value in aggregate.counters.items():
            counters[name] += value
    merged = {name: histogram.merge(*(a.histograms.get(name, {}) for a in aggregates)) for name in HISTOGRAMS}

    def p(name: str, q: float) -> float | None:
        return histogram.percentile(merged[name], q)

    c = counters
    fr_met, fr_breached = c["sla_first_response_met"], c["sla_first_response_breached"]
    res_met, res_breached = c["sla_resolution_met"], c["sla_resolution_breached"]
    nps_promoters = _pct(c["nps_promoters"], c["nps_responses"])
    nps_detractors = _pct(c["nps_detractors"], c["nps_responses"])
    ces_counts = {str(score): c[f"ces_{score}"] for score in CES_SCORES}
    ces_scored = sum(ces_counts.values())  # the distribution, not ces_responses, weighs the average
    return ReportRow(
        group=group,
        label=group,
        volume=c[volume],
        solved=c["solved"],
        reopened=c["reopened"],
        auto_replies=c["auto_replies"],
        deflected=c["deflected"],
        deflected_by_bot=c["deflected_by_bot"],
        first_response_p50=p("first_response_minutes", 0.5),
        first_response_p90=p("first_response_minutes", 0.9),
        first_response_business_p50=p("first_response_business_minutes", 0.5),
        first_response_business_p90=p("first_response_business_minutes", 0.9),
        resolution_p50=p("resolution_minutes", 0.5),
        resolution_p90=p("resolution_minutes", 0.9),
        resolution_business_p50=p("resolution_business_minutes", 0.5),
        resolution_business_p90=p("resolution_business_minutes", 0.9),
        sla_first_response_pct=_pct(fr_met, fr_met + fr_breached),
        sla_resolution_pct=_pct(res_met, res_met + res_breached),
        sla_pct=_pct(fr_met + res_met, fr_met + fr_breached + res_met + res_breached),
        csat_responses=c["csat_responses"],
        csat_pct=_pct(c["csat_satisfied"], c["csat_responses"]),
        nps_responses=c["nps_responses"],
        nps=None if nps_promoters is None or nps_detractors is None else nps_promoters - nps_detractors,
        ces_responses=c["ces_responses"],
        ces_average=None if ces_scored == 0 else sum(int(k) * n for k, n in ces_counts.items()) / ces_scored,
        ces_easy_pct=_pct(sum(n for k, n in ces_counts.items() if int(k) >= CES_EASY_MIN), ces_scored),
        ces_distribution=ces_counts,
        # Deflected tickets are tickets: they are in "created". A short range can count deflections of tickets
        # created before it (as "solved" can exceed "volume"): the share then stops at 100 %.
        deflection_pct=_pct(min(c["deflected"], c["created"]), c["created"]),
    )


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def _sort_key(group_by: str):
    if group_by == "priority":
        rank = {name: i for i, name in enumerate(PRIORITIES)}
        return lambda name: (rank.get(name, len(rank)), name)
    return lambda name: (name.casefold(), name)


def _clean_backlog(backlog: Mapping[str, int] | None) -> Mapping[str, int] | None:
    if backlog is None:
        return None
    unknown = set(backlog) - set(BACKLOG_BUCKETS)
    if unknown:
        raise ReportError(f"unknown backlog bucket(s): {', '.join(sorted(map(str, unknown)))}")
    return MappingProxyType({label: int(backlog.get(label, 0)) for label in BACKLOG_BUCKETS})


def _require_aware(name: str, moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


def _row_dict(row: ReportRow) -> dict[str, Any]:
    return {
        name: round(value, 4 if name.endswith(_DURATION_SUFFIXES) else 2) if isinstance(value, float) else value
        for name, value in dataclasses.asdict(row).items()
    }


_DURATION_SUFFIXES = ("_p50", "_p90")  # minutes: 2 decimals would be 0.6 s steps, 10 % of a 3 s answer


def _table_cells(row: ReportRow) -> list[str]:
    name = row.label if len(row.label) <= 28 else row.label[:25] + "..."
    durations = [
        row.first_response_p50, row.first_response_p90,
        row.first_response_business_p50, row.first_response_business_p90,
        row.resolution_p50, row.resolution_p90, row.resolution_business_p50, row.resolution_business_p90,
    ]  # fmt: skip
    percents = [row.sla_first_response_pct, row.sla_resolution_pct, row.sla_pct, row.csat_pct]
    return [
        name,
        str(row.volume),
        str(row.solved),
        str(row.reopened),
        *map(format_duration, durations),
        *map(_fmt_pct, percents),
        "-" if row.nps is None else str(round(row.nps)),
        "-" if row.ces_average is None else f"{row.ces_average:.1f}",
        _fmt_pct(row.deflection_pct),
    ]


def format_duration(minutes: float | None) -> str:
    """A duration as people read it: "<1 s", "42 s", "7.5 min", "42 min", "1.5 h", "2.0 d"; "-" for None.

    Each unit is used while the rounded number stays below the next unit (59.6 s is "1.0 min",
    not "60 s"); the histogram's overflow is a lower bound (">91 d").
    """
    if minutes is None:
        return "-"
    if minutes >= histogram.OVERFLOW_FROM:
        return f">{int(histogram.OVERFLOW_FROM // 1440)} d"  # the overflow bucket: a lower bound only
    seconds = minutes * 60
    if seconds < 1:
        return "<1 s"  # the zero bucket: the estimate is half a second
    if round(seconds) < 60:
        return f"{seconds:.0f} s"
    if round(minutes, 1) < 10:
        return f"{minutes:.1f} min"
    if round(minutes) < 60:
        return f"{minutes:.0f} min"
    if round(minutes / 60, 1) < 24:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
