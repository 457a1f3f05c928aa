"""KPI reports over HTTP (admins only): ``GET /reports/kpis?from=&to=&group_by=``.

A report reads the daily aggregates (``chalicelib.storage.aggregates``), one Query
per group, and the open backlog from the tickets' status index; it never reads the
tickets of the range. ``from`` / ``to`` are UTC days (``YYYY-MM-DD``, inclusive);
``to`` defaults to today, ``from`` to 29 days before ``to`` (30 days in all);
``group_by`` is channel (default), priority, queue or agent. Anything else, a
reversed range or one over 366 days is a 400 with the reason.

The response is ``kpis.Report.as_dict()``: ``group_by``, ``start``, ``end``,
``percentile_relative_error`` (the bound from 1 s to 90 days; ``histogram.percentile``
states the exceptions), ``rows`` (one per group with data), ``totals`` and
``backlog`` (open tickets by age, now). Each row has its ``group`` (the stored key)
and ``label`` (what to show). By agent, ``group`` is the agent's id and ``label`` their
name from the agent directory, read when the report is made (the same Query that
lists the agents' series, so no extra read), "(removed) <name>" for a removed agent;
``volume`` is the tickets assigned to the agent, ``solved`` those they set to solved
(``domain/kpis.py``).

Loaded by the API function on its first report request: everything heavy is imported inside the functions.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from chalicelib.api.auth import authenticate, require_role
from chalicelib.api.errors import BadRequest, api_endpoint

if TYPE_CHECKING:
    from chalicelib.domain.kpis import Report

__all__ = ["DEFAULT_DAYS", "DEFAULT_GROUP_BY", "agent_labels", "kpi_report", "kpis", "parse_day", "resolve"]

DEFAULT_DAYS = 30
DEFAULT_GROUP_BY = "channel"
_PARAMS = ("from", "to", "group_by")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # date.fromisoformat alone also takes 20240301 and 2024-W09-5


@api_endpoint
def kpis(request: Any) -> dict[str, Any]:
    """``GET /reports/kpis``: the report as JSON (see the module docstring)."""
    from chalicelib import clock

    require_role(authenticate(request.headers), "admin")
    params = request.query_params or {}
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}; use {', '.join(_PARAMS)}")
    now = clock.now()
    try:
        start = parse_day(params["from"], "from") if "from" in params else None
        end = parse_day(params["to"], "to") if "to" in params else None
        start, end, group_by = resolve(start, end, params.get("group_by", DEFAULT_GROUP_BY), now=now)
    except ValueError as err:  # kpis.ReportError is one too; each names what is wrong
        raise BadRequest(str(err)) from None
    # Outside the try: a corrupt aggregate is our bug (a 500), not a bad request.
    return kpi_report(start, end, group_by, now=now).as_dict()


def parse_day(text: str, name: str = "date") -> date:
    """A ``YYYY-MM-DD`` day; ``ValueError`` naming the parameter otherwise."""
    try:
        if _DAY.match(text or ""):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {text!r}")


def resolve(start: date | None, end: date | None, group_by: str = DEFAULT_GROUP_BY, *,
            now: datetime) -> tuple[date, date, str]:
    """The report's range and grouping with defaults filled in; ``kpis.ReportError`` if unanswerable.

    ``end`` defaults to today (UTC: aggregates are per UTC day), ``start`` to
    ``DEFAULT_DAYS`` days ending at ``end``.
    """
    from chalicelib.domain import kpis as kpi_rules

    today = now.astimezone(timezone.utc).date()
    end = end or today
    if start is None:
        if end < date.min + timedelta(days=DEFAULT_DAYS):
            raise kpi_rules.ReportRangeError(f"to {end.isoformat()} is before any day this desk can report on")
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    kpi_rules.check_group_by(group_by)
    kpi_rules.validate_range(start, end, today=today)
    return start, end, group_by


def kpi_report(start: date | None, end: date | None, group_by: str = DEFAULT_GROUP_BY, *,
               now: datetime | None = None) -> Report:
    """The KPI report with the open backlog at ``now`` (aware; default the desk's clock).

    Used by the API and the admin CLI. Missing dates default as ``resolve`` says; an
    unknown ``group_by`` or a bad range raises ``kpis.ReportError`` before anything is read.
    """
    from chalicelib import clock
    from chalicelib.domain import kpis as kpi_rules
    from chalicelib.storage import aggregates

    now = now or clock.now()
    start, end, group_by = resolve(start, end, group_by, now=now)
    found = aggregates.read(start, end, group_by)
    report = kpi_rules.report(found, group_by=group_by, start=start, end=end, backlog=aggregates.backlog(now),
                              today=now.astimezone(timezone.utc).date())
    if group_by != "agent":
        return report
    labels = agent_labels()
    return report.labelled(labels, last=[agent for agent, label in labels.items() if label.startswith("(removed) ")])


def agent_labels() -> dict[str, str]:
    """Agent id → the name people know them by; "(removed) <name>" for a removed agent.

    One read of the agent directory (cached for seconds per container, and just read to list
    the agents' series): names are looked up when the report is made, so a renamed agent's
    history carries the new name.
    """
    from chalicelib.storage import agents

    def label(agent: Any) -> str:
        name = agent.name or agent.agent_id
        return name if agent.active else f"(removed) {name}"

    return {agent.agent_id: label(agent) for agent in agents.directory()}
