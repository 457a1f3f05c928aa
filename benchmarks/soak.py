"""Soak (issue 16): the proof's mix of inbound events without faults, as fast as the local emulation goes, for
N minutes; then events/s, p50/p99 per stage and the process's memory over time with a verdict on growth.

    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/soak.py [--minutes 10] [--seed 1] [--tracemalloc]

The mix is ``benchmarks/proof.py``'s ``Scenario`` (new mails, replies, auto-replies, spam, duplicates, Telegram,
web chat, SMS, late chats, agents' replies and solves, schedule runs as the clock moves), fed in a closed
loop: the rate is the highest this machine sustains, not a target. Stages are timed where Lambda would bill
them: the webhook's answer (``POST /webhooks/...``), ``ses_inbound`` per invocation, ``process_inbound`` and
``send_outbound`` per message, the stream's readers (``ticket_stream``, ``kpi_stream``) per batch.

Memory: RSS every 10 s, a least-squares line through the samples after the first fifth (warm-up: imports,
caches, moto's indexes), its slope said per 1,000 events. Moto keeps every item, object, mail and stream
record in this process, so the process grows with the data stored; ``--tracemalloc`` (slower: every
allocation is traced) says which code holds the growth, and puts the same verdict on the app's own share
(allocations made from ``chalicelib``). "Flat" is a slope under ``FLAT_MB_PER_1000``.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from proof import Scenario  # noqa: E402  (the proof's mix: imported, not copied)

#: The growth said to be flat, per 1,000 events. A warm Lambda container serves its invocations one at a
#: time for hours; at this slope 200,000 of them (several hours at 10/s) add 100 MB, under the headroom of
#: the smallest function (256 MB, .chalice/config.json, of which ~120 MB is the runtime and imports).
#: Anything that grows faster would run a long-lived container out of memory within a day.
FLAT_MB_PER_1000 = 0.5
_SAMPLE_SECONDS = 10
_CHUNK = 200  # events per Scenario.run: ten batches of 20, then the clock moves and the schedules run
# (Scenario.run moves the clock every tenth batch of a call); the run ends after the chunk that passes the time
_STAGES = ("webhook answer", "ses_inbound", "process_inbound per message", "send_outbound per message",
           "ticket_stream batch", "kpi_stream batch")
_STREAM_READERS = ("ticket_stream", "kpi_stream")  # app.py: both read the tickets table's stream


class _NoFaults:
    """What the scenario asks of a fault injector, with no faults to pause."""

    def paused(self) -> Any:
        import contextlib

        return contextlib.nullcontext()


class Timings:
    """Milliseconds per stage, in compact arrays (8 bytes a sample: the soak must not grow by measuring)."""

    def __init__(self) -> None:
        self.samples: dict[str, array] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.samples.setdefault(stage, array("d")).append(seconds * 1000)

    def timed(self, stage: str | Callable[..., str], call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                name = stage(*args, **kwargs) if callable(stage) else stage
                if name:
                    self.add(name, time.perf_counter() - started)
        return wrapper

    def rows(self) -> list[tuple[str, int, float, float]]:
        shown = [*_STAGES, *sorted(set(self.samples) - set(_STAGES))]
        return [(stage, len(values), _percentile(values, 50), _percentile(values, 99))
                for stage in shown if (values := self.samples.get(stage))]


def _percentile(values: array, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def instrument(desk: Any, timings: Timings) -> None:
    """Time each stage where it runs: the app's handlers as LocalDesk invokes them, the workers per message."""
    from chalicelib.outbound import worker as outbound
    from chalicelib.pipeline import worker as inbound

    def invoked(function_name: str, event: Any) -> str:
        if function_name == "ses_inbound":
            return function_name
        if function_name in _STREAM_READERS:
            return f"{function_name} batch"
        if function_name in ("process_inbound", "send_outbound"):
            return ""  # timed per message below
        return f"schedule {function_name}"

    desk._invoke = timings.timed(invoked, desk._invoke)
    http = desk.client.http
    http.post = timings.timed(lambda path, **_: "webhook answer" if path.startswith("/webhooks/") else "", http.post)
    inbound._handle = timings.timed("process_inbound per message", inbound._handle)  # process_fifo_batch's callee
    outbound._handle = timings.timed("send_outbound per message", outbound._handle)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def slope_per_1000(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of MB against events, per 1,000 events."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return float("nan") if spread == 0 else 1000 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def verdict(slope: float) -> str:
    if slope != slope:  # NaN: too few samples
        return "too few samples for a verdict (run longer)"
    return "flat" if slope < FLAT_MB_PER_1000 else "grows"


def _owner(trace: Any) -> str:
    """Who holds an allocation: the innermost frame in the emulation, the app or the harness."""
    for frame in reversed(trace):  # tracemalloc keeps the oldest frame first
        name = frame.filename
        if any(f"{os.sep}{part}{os.sep}" in name for part in ("moto", f"chalicelib{os.sep}local", "responses")):
            return "emulated AWS (moto, LocalDesk)"  # responses: LocalDesk's platform stubs log every request
        if f"{os.sep}chalicelib{os.sep}" in name:
            return "app (chalicelib)"
        if f"{os.sep}benchmarks{os.sep}" in name or f"{os.sep}tests{os.sep}" in name:
            return "harness (soak, proof scenario)"
    return "other (libraries, interpreter)"


def soak(*, minutes: float, seed: int, agents: int = 3, capacity: int = 5, trace: bool = False,
         say: Callable[[str], None] = print) -> int:
    from tests import chat

    from chalicelib.local.desk import LocalDesk

    timings = Timings()
    samples: list[tuple[float, int, float]] = []  # (seconds, events, RSS MB)
    with LocalDesk(environment=dict(chat.SECRETS)) as desk:
        scenario = Scenario(desk, _NoFaults(), seed=seed)
        scenario.admin_token = desk.add_agent("Ada Admin", "ada@example.com", role="admin", status="away")[1]
        scenario.agent_tokens = {}
        for n in range(agents):
            agent_id, token = desk.add_agent(f"Agent {n}", f"agent{n}@example.com", capacity=capacity)
            scenario.agent_tokens[agent_id] = token
        instrument(desk, timings)
        started = time.perf_counter()
        stop = threading.Event()

        def sample() -> None:  # every 10 s, whatever the scenario is doing (a chunk takes longer)
            while True:
                desk.take_metrics()  # EMF documents LocalDesk collects: the harness's, dropped as they come
                samples.append((time.perf_counter() - started, len(scenario.events), rss_mb()))
                say(f"  {samples[-1][0]:6.0f} s  {samples[-1][1]:7d} events  RSS {samples[-1][2]:7.1f} MB")
                if stop.wait(_SAMPLE_SECONDS):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        snapshots: list[tuple[int, Any]] = []
        while time.perf_counter() < started + minutes * 60:
            if trace and not snapshots and time.perf_counter() - started >= minutes * 60 / 5:
                import tracemalloc

                tracemalloc.start(8)
                snapshots.append((len(scenario.events), tracemalloc.take_snapshot()))
            scenario.run(_CHUNK)
        elapsed = time.perf_counter() - started
        events = len(scenario.events)
        stop.set()
        sampler.join()
        if trace and snapshots:
            import tracemalloc

            snapshots.append((events, tracemalloc.take_snapshot()))
            tracemalloc.stop()
        from chalicelib.storage.models import TicketModel

        tickets = TicketModel.count()  # one Scan with Select=COUNT: desk.tickets() renders each (minutes here)
        letters = len(desk.dead_letters())
    say("")
    say(f"soak: {minutes:g} min, seed {seed}: {events} events in {elapsed:.0f} s = {events / elapsed:.1f} events/s "
        f"(closed loop: the highest rate this machine sustains); {tickets} tickets, {letters} parked")
    say(f"  {'stage':<28} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for stage, count, p50, p99 in timings.rows():
        say(f"  {stage:<28} {count:>7} {p50:>8.1f} {p99:>8.1f}")
    warm = [(events_then, rss) for seconds, events_then, rss in samples if seconds >= elapsed / 5]
    slope = slope_per_1000(warm)
    say(f"  RSS {samples[0][2]:.0f} MB at the start, {samples[-1][2]:.0f} MB at the end; after warm-up "
        f"{slope:+.2f} MB per 1,000 events ({len(warm)} samples): {verdict(slope)} for the whole process, "
        f"which holds moto's stored data (flat: < {FLAT_MB_PER_1000} MB per 1,000 events)")
    if len(snapshots) == 2:
        (events_from, first), (events_to, last) = snapshots
        grown: dict[str, float] = {}
        app_lines: dict[str, float] = {}  # the app's growth by its innermost own line
        for stat in last.compare_to(first, "traceback"):
            owner = _owner(stat.traceback)
            grown[owner] = grown.get(owner, 0.0) + stat.size_diff / 2**20
            if owner == "app (chalicelib)":
                frame = next(f for f in reversed(stat.traceback) if f"{os.sep}chalicelib{os.sep}" in f.filename)
                line = f"{frame.filename.replace(str(ROOT) + os.sep, '')}:{frame.lineno}"
                app_lines[line] = app_lines.get(line, 0.0) + stat.size_diff / 2**10
        per = 1000 / max(1, events_to - events_from)
        say(f"  tracemalloc, growth over {events_to - events_from} events after warm-up, by who allocated it:")
        for owner, mb in sorted(grown.items(), key=lambda item: -item[1]):
            say(f"    {owner:<34} {mb:+8.2f} MB  ({mb * per:+.3f} MB per 1,000 events)")
        app = grown.get("app (chalicelib)", 0.0) * per
        say(f"  the app's own allocations: {app:+.3f} MB per 1,000 events: {verdict(app)}")
        say("  the app's growth by its own line:")
        for line, kib in sorted(app_lines.items(), key=lambda item: -item[1])[:8]:
            say(f"    {kib:+9.0f} KiB  {line}")
        say("  top growth by line:")
        for stat in last.compare_to(first, "lineno")[:10]:
            frame = stat.traceback[0]
            say(f"    {stat.size_diff / 2**10:+9.0f} KiB  {frame.filename.replace(str(ROOT) + os.sep, '')}:{frame.lineno}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="how long to feed events (default: 10)")
    parser.add_argument("--seed", type=int, default=1, help="the scenario's random seed (default: 1)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace allocations after warm-up and say which code holds the growth (default: off; "
                             "slows the run, so its events/s are not the soak's)")
    args = parser.parse_args()
    return soak(minutes=args.minutes, seed=args.seed, trace=args.tracemalloc)


if __name__ == "__main__":
    sys.exit(main())
