"""KPI report latency over a year of aggregates, against a one-day report in the same run.

    .venv/bin/python benchmarks/reports.py               # 365 days, 4 records a day (~3 min of seeding)
    .venv/bin/python benchmarks/reports.py --full        # 365 days × 4 channels × 4 priorities (~10 min)
    .venv/bin/python benchmarks/reports.py --days 30     # smoke run

Seeds LocalDesk (moto in-process) with ``aggregates.record`` (counters and all four duration
histograms per call), so the aggregates table holds days × (4 channel + 4 priority + 1 all)
items. By default each day has 4 records, each channel once and each priority once, paired
in a rotation so that every 4 days cover all 16 channel × priority pairs; ``--full`` records
all 16 pairs every day (the same items, more buckets in each; 4× the seeding time, which is
moto parsing update expressions at ~0.1 s a record on a busy 2-core machine). Then times,
through Chalice's test client (``desk.http``, the real route, auth and JSON included):

* baseline: ``GET /reports/kpis?from=<today>&to=<today>&group_by=channel`` (one day);
* ``group_by=channel`` and ``group_by=priority`` over the whole range.

Requests take turns in a rotated order, ``--repeats`` rounds, medians reported, so drift on a
shared machine hits them alike. Items read and Query calls are counted from every DynamoDB
response (``botocore.client.BaseClient._make_api_call``: PynamoDB's client goes through it):
a report reads days × groups aggregate items and never the tickets of the range.
Figures, not pass/fail.
"""
from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time as day_time, timedelta, timezone
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

__all__ = ["CHANNELS", "Measurement", "measure", "main"]

CHANNELS = ("email", "slack", "whatsapp", "webchat")  # 4 of the 7: the other 3 are queried and empty
PRIORITIES = ("urgent", "high", "normal", "low")
AGGREGATES_TABLE = "relay-desk-aggregates"
TICKETS_TABLE = "relay-desk-tickets"


@dataclass
class Measurement:
    """One kind of request: wall times and what DynamoDB returned for it (per request)."""

    label: str
    path: str
    seconds: list[float] = field(default_factory=list)
    aggregate_items: int = 0
    aggregate_queries: int = 0
    ticket_queries: int = 0
    other_calls: Counter = field(default_factory=Counter)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


class _Reads:
    """Counts DynamoDB calls and the items Query returned, while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.calls: list[tuple[str, str, int]] = []  # (operation, table, items returned)

    def install(self) -> None:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        reads = self

        def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            response = original(client, operation_name, api_params)
            if reads.active and client.meta.service_model.service_name == "dynamodb":
                reads.calls.append((operation_name, api_params.get("TableName", ""), response.get("Count", 0)))
            return response

        botocore.client.BaseClient._make_api_call = counted


def measure(days: int = 365, repeats: int = 5, *, full: bool = False, out: Any = sys.stdout) -> dict[str, Any]:
    """Seed ``days`` days of aggregates, time the three requests; returns the figures (also printed)."""
    _prepare_environment()
    from chalicelib.local import LocalDesk

    reads = _Reads()
    reads.install()
    with LocalDesk() as desk:
        _, token = desk.add_agent("Bench Admin", "bench@example.com", role="admin", status="away")
        from chalicelib import clock

        today = clock.now().date()
        first = today - timedelta(days=days - 1)
        seed_seconds, records = _seed(first, days, full=full)
        print(f"seeded {records} records with aggregates.record in {seed_seconds:.1f} s "
              f"({records / seed_seconds:.1f} records/s; {days} days × {len(CHANNELS)} channels × "
              f"{len(PRIORITIES)} priorities, {'every pair daily' if full else 'pairs rotated daily'}; "
              f"{days * (len(CHANNELS) + len(PRIORITIES) + 1)} aggregate items)", file=out)
        headers = {"Authorization": f"Bearer {token}"}
        runs = [
            Measurement("1 day by channel (baseline)",
                        f"/reports/kpis?from={today}&to={today}&group_by=channel"),
            Measurement(f"{days} days by channel", f"/reports/kpis?from={first}&to={today}&group_by=channel"),
            Measurement(f"{days} days by priority", f"/reports/kpis?from={first}&to={today}&group_by=priority"),
        ]
        for run in runs:  # warm-up: imports, first client, moto's first query; also checks the answers
            _request(desk, run, headers, reads, record=False)
        for round_number in range(repeats):
            shift = round_number % len(runs)
            for run in runs[shift:] + runs[:shift]:
                _request(desk, run, headers, reads, record=True)
        domain_ms = _domain_time(first, today, repeats)

    baseline = runs[0]
    print(f"\nGET /reports/kpis through Chalice's test client on LocalDesk, median of {repeats}", file=out)
    print(f"{'request':<28} {'median ms':>10} {'× baseline':>11} {'items read':>11} {'Queries':>8} "
          f"{'tickets Q':>9}  other calls", file=out)
    figures: dict[str, Any] = {"days": days, "repeats": repeats, "full": full, "seed_seconds": seed_seconds,
                               "records": records}
    for run in runs:
        ratio = run.median_ms / baseline.median_ms
        others = ", ".join(f"{name} {count}" for name, count in sorted(run.other_calls.items())) or "-"
        print(f"{run.label:<28} {run.median_ms:>10.1f} {ratio:>10.1f}× {run.aggregate_items:>11} "
              f"{run.aggregate_queries:>8} {run.ticket_queries:>9}  {others}", file=out)
        figures[run.label] = {"median_ms": run.median_ms, "ratio": ratio, "items_read": run.aggregate_items,
                              "aggregate_queries": run.aggregate_queries, "ticket_queries": run.ticket_queries}
    per_item = [(run.median_ms - baseline.median_ms) / max(1, run.aggregate_items - baseline.aggregate_items)
                for run in runs[1:]]
    print(f"\nmarginal cost per aggregate item read: {', '.join(f'{ms * 1000:.0f} µs' for ms in per_item)} "
          f"(nearly all of it moto serialising the Query response in-process, not DynamoDB's latency)", file=out)
    print(f"of which the report's own arithmetic (kpis.report over the {runs[1].aggregate_items} aggregates "
          f"by channel, no I/O): {domain_ms:.1f} ms", file=out)
    figures["kpis_report_ms"] = domain_ms
    return figures


def _domain_time(first: Any, last: Any, repeats: int) -> float:
    """Median ms of ``kpis.report`` (merging counters and histograms, percentiles) over the range by channel."""
    from chalicelib.domain import kpis
    from chalicelib.storage import aggregates

    found = aggregates.read(first, last, "channel")
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        kpis.report(found, group_by="channel", start=first, end=last)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def _seed(first: Any, days: int, *, full: bool) -> tuple[float, int]:
    from chalicelib.domain import kpis
    from chalicelib.storage import aggregates

    rng = random.Random(20250303)  # the same aggregates every run
    started = time.perf_counter()
    records = 0
    for offset in range(days):
        noon = datetime.combine(first + timedelta(days=offset), day_time(12), tzinfo=timezone.utc)
        pairs = ([(c, p) for c in CHANNELS for p in PRIORITIES] if full
                 else [(c, PRIORITIES[(i + offset) % len(PRIORITIES)]) for i, c in enumerate(CHANNELS)])
        for channel, priority in pairs:
            created = rng.randint(1, 40)
            met = rng.randint(0, created)
            counters = {"created": created, "solved": rng.randint(0, created),
                        "sla_first_response_met": met, "sla_first_response_breached": created - met,
                        **kpis.survey_counters(rng.randint(1, 5), rng.randint(0, 10))}
            durations = {name: rng.lognormvariate(4, 1.2) for name in kpis.HISTOGRAMS}
            aggregates.record(noon, groups={"channel": channel, "priority": priority},
                              counters=counters, durations=durations)
            records += 1
    return time.perf_counter() - started, records


def _request(desk: Any, run: Measurement, headers: dict[str, str], reads: _Reads, *, record: bool) -> None:
    reads.calls.clear()
    reads.active = True
    started = time.perf_counter()
    response = desk.http.get(run.path, headers=headers)
    elapsed = time.perf_counter() - started
    reads.active = False
    if response.status_code != 200:
        raise RuntimeError(f"{run.path}: {response.status_code} {response.body!r}")
    if not record:
        return
    run.seconds.append(elapsed)
    aggregate = [items for operation, table, items in reads.calls if table == AGGREGATES_TABLE]
    run.aggregate_items, run.aggregate_queries = sum(aggregate), len(aggregate)
    run.ticket_queries = sum(1 for operation, table, _ in reads.calls if table == TICKETS_TABLE)
    run.other_calls = Counter(f"{operation} {table}" for operation, table, _ in reads.calls
                              if table not in (AGGREGATES_TABLE, TICKETS_TABLE))


def _prepare_environment() -> None:
    """Fake credentials and region before any client exists; in-process moto, never a real endpoint."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[name] = "testing"
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    importlib.import_module("moto")  # before any boto3 client, as tests/conftest.py does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of aggregates (at most 366: a report's limit)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of the three requests (median reported)")
    parser.add_argument("--full", action="store_true", help="record all 16 channel × priority pairs every day")
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 366 or args.repeats < 1:
        parser.error("--days must be 1..366 and --repeats at least 1")
    measure(args.days, args.repeats, full=args.full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
