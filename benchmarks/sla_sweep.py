"""The SLA sweep's read cost with many open tickets of which 1 % are due.

    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/sla_sweep.py            # 100,000 open tickets
    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/sla_sweep.py --quick    # 10,000
    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/sla_sweep.py --tickets 50000

On LocalDesk (moto in-process). Tickets are written straight into the tickets table
with ``TicketModel.batch_write()`` (25 items per BatchWriteItem), each with the minimum
attributes of an open ticket plus the derived keys from ``ticket_keys.derived``; 1 % get
an ``sla_check_at`` in the past (due now), 99 % one in the future. The real pipeline
(mail → ticket) would be roughly 100x slower to seed.

Measured: the sweep's read side only, ``sweeps.due("sla", now)``
— Query/Scan calls (``benchmarks.apimeter``), items
returned (``Count``) and read (``ScannedCount``) from a botocore ``after-call`` hook, and
wall time. ``run_sla`` itself is not called: escalating the due tickets is about
notifications, not the sweep's read cost. The baseline (1,000 open, 1 % due) is seeded
and measured first in the same run; the rest of the tickets are then added to the same
table and the sweep measured again.

Wall times are moto's: moto answers a GSI Query by walking the table's items, so its
time grows with the table size even when DynamoDB's (which reads only the key range)
would not. Items read and calls are the figures that carry over to AWS.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

from benchmarks.apimeter import ApiMeter  # noqa: E402

BASELINE = 1_000
DUE_EVERY = 100  # 1 % due
REPEATS = 3


class ItemCounter:
    """Sums Count / ScannedCount of every DynamoDB Query and Scan response while enabled."""

    def __init__(self) -> None:
        self.enabled = False
        self.count = 0
        self.scanned = 0

    def reset(self) -> None:
        self.count = self.scanned = 0

    def __call__(self, http_response: Any = None, parsed: Any = None, model: Any = None, **_: Any) -> None:
        if not self.enabled or not isinstance(parsed, dict):
            return
        self.count += int(parsed.get("Count", 0))
        self.scanned += int(parsed.get("ScannedCount", 0))


def seed(start: int, stop: int, now: Any, rng: random.Random) -> tuple[float, Counter]:
    """Write tickets ``start``..``stop``-1; every DUE_EVERY-th is due. Returns (seconds, due per shard)."""
    from chalicelib import clock
    from chalicelib.storage import ticket_keys
    from chalicelib.storage.models import TicketModel

    due_per_shard: Counter = Counter()
    started = time.perf_counter()
    created = clock.iso(now - timedelta(days=2))
    with TicketModel.batch_write() as batch:  # flushes every 25 items
        for n in range(start, stop):
            ticket_id = "t-" + "%020x" % rng.getrandbits(80)
            is_due = n % DUE_EVERY == 0
            if is_due:
                check_at = now - timedelta(minutes=rng.uniform(0.5, 60))
            else:
                check_at = now + timedelta(minutes=rng.uniform(5, 3 * 24 * 60))
            fields = {"ticket_id": ticket_id, "status": "open", "priority": rng.choice(("low", "normal", "high")),
                      "category": "general", "channel": "email", "assignee_id": None,
                      "sla_check_at": clock.iso(check_at)}
            keys = {k: v for k, v in ticket_keys.derived(fields).items() if v is not None}
            if is_due:
                due_per_shard[keys["sla_shard"]] += 1
            batch.save(TicketModel(
                ticket_id, number=n + 1, status="open", priority=fields["priority"], category="general",
                channel="email", customer_id=f"c-{n % 5000:05d}", created_at=created, last_activity_at=created,
                version=1, **keys))
    return time.perf_counter() - started, due_per_shard


def measure(meter: ApiMeter, items: ItemCounter, now: Any) -> dict[str, Any]:
    from chalicelib.service import sweeps
    from chalicelib.storage import ticket_keys

    walls = []
    for _ in range(REPEATS):
        scope = meter.open()
        items.reset()
        items.enabled = True
        started = time.perf_counter()
        found = sweeps.due("sla", now)
        walls.append(time.perf_counter() - started)
        items.enabled = False
        meter.close(scope)
    per_shard = Counter(ticket_keys.shard(ticket_id) for ticket_id in found)
    return {"queries": scope.calls["dynamodb.Query"], "scans": scope.calls["dynamodb.Scan"],
            "calls": scope.total_calls, "count": items.count, "scanned": items.scanned, "found": len(found),
            "wall": statistics.median(walls), "max_shard": max(per_shard.values(), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="open tickets (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 open tickets")
    args = parser.parse_args()
    total = 10_000 if args.quick else args.tickets
    if total <= BASELINE:
        parser.error(f"--tickets must be more than the baseline's {BASELINE:,}")

    from chalicelib import clock
    from chalicelib.local.desk import LocalDesk
    from chalicelib.service import sweeps

    run_started = time.perf_counter()
    rng = random.Random(20240601)
    meter = ApiMeter().install()
    items = ItemCounter()
    try:
        with LocalDesk():
            from chalicelib.storage.models import TicketModel

            TicketModel._get_connection().connection.client.meta.events.register(
                "after-call.dynamodb", items)  # Query and Scan carry Count / ScannedCount
            now = clock.now()
            seed_small, due_small = seed(0, BASELINE, now, rng)
            base = measure(meter, items, now)
            seed_rest, due_rest = seed(BASELINE, total, now, rng)
            big = measure(meter, items, now)
    finally:
        meter.uninstall()

    due_all = due_small + due_rest
    expected_base, expected_big = sum(due_small.values()), sum(due_all.values())
    cap = sweeps._PER_SHARD
    seeded_rate = total / (seed_small + seed_rest)
    print(f"SLA sweep read cost on LocalDesk (moto in-process); sweeps.due over 16 shards, "
          f"_PER_SHARD = {cap}; median of {REPEATS} sweeps")
    print(f"seeded {total:,} open tickets by batch_write in {seed_small + seed_rest:.1f} s "
          f"({seeded_rate:,.0f} tickets/s; the real pipeline would be ~100x slower)")
    print()
    header = f"{'':<22}{'baseline':>14}{'measured':>14}{'ratio':>10}"
    print(header)
    print("-" * len(header))
    rows = [
        ("open tickets", BASELINE, total),
        ("due (expected)", expected_base, expected_big),
        ("due found", base["found"], big["found"]),
        ("Query calls", base["queries"], big["queries"]),
        ("Scan calls", base["scans"], big["scans"]),
        ("all AWS calls", base["calls"], big["calls"]),
        ("items returned (Count)", base["count"], big["count"]),
        ("items read (Scanned)", base["scanned"], big["scanned"]),
    ]
    for label, a, b in rows:
        ratio = f"{b / a:.1f}x" if a else "-"
        print(f"{label:<22}{a:>14,}{b:>14,}{ratio:>10}")
    print(f"{'wall, read side (ms)':<22}{base['wall'] * 1000:>14.1f}{big['wall'] * 1000:>14.1f}"
          f"{big['wall'] / base['wall']:>9.1f}x")
    print()
    print(f"open tickets grew {total / BASELINE:.0f}x, due tickets {expected_big / max(expected_base, 1):.0f}x; "
          f"items read grew {big['scanned'] / max(base['scanned'], 1):.0f}x "
          f"({big['scanned'] / max(big['found'], 1):.2f} items read per due ticket)")
    most = max(due_all.values(), default=0)
    hit = most >= cap
    print(f"per-shard cap: largest shard has {most} due (found {big['max_shard']}); "
          f"cap of {cap} {'HIT: the rest wait for the next run' if hit else 'not hit'}")
    reachable = sum(min(v, cap) for v in due_all.values())  # what one run can return under the cap
    ok = big["scans"] == 0 and base["scans"] == 0 and big["found"] == reachable and base["found"] == expected_base
    print(f"checks: no Scan, every due ticket found (up to the cap): {'yes' if ok else 'NO'}")
    print("wall times are moto's: it answers a GSI Query by walking every item in the table, so its time grows "
          "with the open count where DynamoDB's would follow items read")
    print(f"run time {time.perf_counter() - run_started:.1f} s")


if __name__ == "__main__":
    main()
