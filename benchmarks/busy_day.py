"""A busy desk's day of KPI aggregates, so the stream readers' writes are billed on the items a real desk has.

DynamoDB bills an UpdateItem on the size of the whole item, before or after, whichever is larger. The
tickets table's stream has two readers (app.py): ``kpi_stream`` (``service/ticket_stream.measure_all``) ADDs
each batch's counts into today's aggregate items (``storage/aggregates.record_all``), and ``ticket_stream``
(``service/ticket_stream.react``) runs the reactions and moves the inbox counters. The KPI items grow all
day: counters and histogram buckets. A measurement on a fresh desk writes into empty items (~0.3 KB: 1 write
unit) and so under-bills every update a real desk makes by mid-day. And at a real desk's volume a stream
batch holds the records that arrive within its reader's batching window, not a full ``BatchSize``, so each
batch's updates are shared by fewer tickets: each reader by its own window (``ticket_stream`` 30 s,
``kpi_stream`` 5 minutes, as deployed).

``fill`` records today's events as a desk at ``tickets_per_month`` has them by mid-day, through the public
``aggregates.record_all`` only: whatever item format the storage writes (one item per series and day, or
the counters and each histogram apart) is the format that gets filled and billed. ``records_per_batch`` is
the batch such a desk's stream reader sees (``stream_batching(function_name)``: its deployed batch size and
window; ``stream_readers``: the functions that read the tickets stream).

The mix (channels, priorities, queues, agents, how many tickets get each event, the duration
distributions) is stated below as assumptions: realistic, not measured.
"""
from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.storage.aggregates import Tally

__all__ = ["SECONDS_PER_MONTH", "TICKETS_PER_MONTH", "fill", "records_per_batch", "stream_batching",
           "stream_readers", "tallies", "tickets_per_day"]

PROJECT = Path(__file__).resolve().parents[1]
TICKETS_PER_MONTH = 1_000_000  # the cost model's volume (benchmarks/cost.py prices 1M tickets a month)
SECONDS_PER_MONTH = 30 * 86400  # the cost model's month
TICKETS_PER_AGENT_DAY = 50  # assumption: a full-time agent's tickets a day; sets how many agents share the volume

# assumptions: where tickets come from (60 % email as cost.MIX; chat spread over the platforms) and how urgent
CHANNEL_SHARE = {"email": 0.60, "webchat": 0.12, "whatsapp": 0.08, "telegram": 0.04, "slack": 0.04,
                 "messenger": 0.04, "sms": 0.03, "portal": 0.03, "phone": 0.02}
PRIORITY_SHARE = {"urgent": 0.05, "high": 0.15, "normal": 0.65, "low": 0.15}
# assumptions: log-normal durations, (median minutes, sigma), by email-like and chat-like channels;
# business-hours minutes are the calendar ones times a uniform 0.3 .. 1
FIRST_RESPONSE = {"email": (120.0, 1.2), "chat": (3.0, 1.3)}
RESOLUTION_AFTER_FIRST_RESPONSE = {"email": (1200.0, 1.2), "chat": (30.0, 1.5)}
_EMAIL_LIKE = ("email", "portal")
# assumptions: the share of tickets each event happens to (by mid-day, counted on today)
SHARE = {"acknowledged": 0.90, "assigned": 0.97, "first response": 0.92, "first response met": 0.88,
         "solved": 0.85, "resolution met": 0.90, "reopened": 0.04, "deflected": 0.06, "deflected by bot": 0.40,
         "csat": 0.15, "csat satisfied": 0.85, "nps": 0.05, "nps promoter": 0.50, "nps detractor": 0.20,
         "ces": 0.05}
CES_WEIGHTS = (0.03, 0.04, 0.06, 0.12, 0.20, 0.30, 0.25)  # assumption: scores 1..7, most find it easy
_FILL_BUCKETS = 60  # histogram buckets one record_all call of the fill adds to (see _chunks)


def tickets_per_day(tickets_per_month: float = TICKETS_PER_MONTH) -> float:
    """Tickets a day at a monthly volume, on the cost model's 30-day month."""
    return tickets_per_month * 86400 / SECONDS_PER_MONTH


_DECORATOR = re.compile(r"on_dynamodb_record\(((?:[^()]|\([^()]*\))*)\)")


def _stream_decorators() -> dict[str, str]:
    """app.py's ``@app.on_dynamodb_record(...)`` arguments by the function's ``name=``, in file order."""
    found = {}
    for args in _DECORATOR.findall((PROJECT / "app.py").read_text(encoding="utf-8")):
        name = re.search(r"\bname=[\"']([A-Za-z0-9_]+)[\"']", args)
        if name:
            found[name.group(1)] = args
    return found


def stream_readers() -> tuple[str, ...]:
    """The functions that read the tickets table's stream (app.py ``TICKETS_STREAM_ARN``), in app.py's order."""
    return tuple(name for name, args in _stream_decorators().items() if "TICKETS_STREAM_ARN" in args)


def stream_batching(function_name: str) -> tuple[int, float]:
    """A stream reader's deployed batching, ``(BatchSize, MaximumBatchingWindowInSeconds)``: the batch size
    of app.py's decorator named ``function_name``; the window from infra/resources.yaml's override on its event
    source (``TicketStreamDynamodbEventSource`` for ``ticket_stream``), else the decorator's
    ``maximum_batching_window_in_seconds``. Lambda invokes when either is reached."""
    args = _stream_decorators().get(function_name)
    if args is None:
        raise ValueError(f"no @app.on_dynamodb_record(name={function_name!r}) in app.py")
    size = re.search(r"\bbatch_size=([0-9]+)", args)
    if size is None:
        raise ValueError(f"{function_name}'s batch_size not found in its app.py decorator")
    window = _infra_window(function_name)
    if window is None:
        in_app = re.search(r"\bmaximum_batching_window_in_seconds=([0-9.]+)", args)
        window = float(in_app.group(1)) if in_app else None
    if window is None:
        raise ValueError(f"{function_name}'s batching window not found: neither infra/resources.yaml's "
                         f"{_event_source(function_name)} MaximumBatchingWindowInSeconds nor app.py's "
                         "maximum_batching_window_in_seconds=")
    return int(size.group(1)), window


def _event_source(function_name: str) -> str:
    """The event source Chalice names for a function's stream: ``ticket_stream`` →
    ``TicketStreamDynamodbEventSource``."""
    return "".join(part.capitalize() for part in function_name.split("_")) + "DynamodbEventSource"


def _infra_window(function_name: str) -> float | None:
    """infra/resources.yaml's MaximumBatchingWindowInSeconds on the function's event source, if it sets one (the
    template is merged over Chalice's, so it overrides the decorator)."""
    import yaml

    class Loader(yaml.SafeLoader):  # CloudFormation's short tags (!Sub, !GetAtt): their values are not needed
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((PROJECT / "infra" / "resources.yaml").read_text(encoding="utf-8"),  # noqa: S506
                         Loader=Loader) or {}
    source = _event_source(function_name)
    for resource in (template.get("Resources") or {}).values():
        events = ((resource or {}).get("Properties") or {}).get("Events") or {}
        properties = (events.get(source) or {}).get("Properties") or {}
        if properties.get("MaximumBatchingWindowInSeconds") is not None:
            return float(properties["MaximumBatchingWindowInSeconds"])
    return None


def records_per_batch(records_per_life: float, *, batch_size: int, window_seconds: float,
                      tickets_per_month: float = TICKETS_PER_MONTH) -> int:
    """Stream records in one invocation of a stream reader at that volume: what arrives within its batching
    window (ticket lives per second x stream records per life x window), at least 1, at most ``batch_size``."""
    per_second = tickets_per_month / SECONDS_PER_MONTH * records_per_life
    return max(1, min(batch_size, round(per_second * window_seconds)))


def tallies(at: datetime, *, agents: Sequence[str] = (), tickets_per_month: float = TICKETS_PER_MONTH,
            hours: float = 12.0, seed: int = 20261124) -> list[Tally]:
    """The events of the first ``hours`` of ``at``'s UTC day at that volume, one ``Tally`` each as
    ``service/measure`` makes them (created, assigned, first response, solved, ...), all on ``at``'s day;
    seeded: the same list every run.

    ``agents``: the desk's agents. Each gets one agent's share of the volume (a desk that size has one agent
    per ``TICKETS_PER_AGENT_DAY`` tickets a day); the other agents' tickets count in every series but an agent's
    (those agents are not on the measured desk, so its batches never update their items).
    """
    from chalicelib.storage import aggregates

    rng = random.Random(seed)
    queues = aggregates.groups_of("queue")
    roster = max(len(agents), round(tickets_per_day(tickets_per_month) / TICKETS_PER_AGENT_DAY))
    found: list[Tally] = []

    def event(groups: dict[str, str | None], counters: dict[str, int], durations: dict[str, float] | None = None,
              ) -> None:
        found.append(aggregates.Tally(at, groups, counters, durations or {}))

    def happens(name: str) -> bool:
        return rng.random() < SHARE[name]

    for _ in range(round(tickets_per_day(tickets_per_month) * hours / 24)):
        channel = rng.choices(list(CHANNEL_SHARE), weights=list(CHANNEL_SHARE.values()))[0]
        kind = "email" if channel in _EMAIL_LIKE else "chat"
        slot = rng.randrange(roster)
        groups = {"channel": channel, "queue": rng.choice(queues),
                  "priority": rng.choices(list(PRIORITY_SHARE), weights=list(PRIORITY_SHARE.values()))[0],
                  "agent": agents[slot] if slot < len(agents) else None}
        event(groups, {"created": 1, "auto_replies": int(happens("acknowledged"))})
        if happens("assigned"):
            event(groups, {"assigned": 1})
        if happens("first response"):
            first = _log_normal(rng, FIRST_RESPONSE[kind])
            met = "met" if happens("first response met") else "breached"
            event(groups, {f"sla_first_response_{met}": 1},
                  {"first_response_minutes": first, "first_response_business_minutes": first * rng.uniform(0.3, 1)})
            if happens("solved"):
                took = first + _log_normal(rng, RESOLUTION_AFTER_FIRST_RESPONSE[kind])
                met = "met" if happens("resolution met") else "breached"
                event(groups, {"solved": 1, f"sla_resolution_{met}": 1},
                      {"resolution_minutes": took, "resolution_business_minutes": took * rng.uniform(0.3, 1)})
        if happens("reopened"):
            event(groups, {"reopened": 1})
        if happens("deflected"):
            event(groups, {"deflected": 1, "deflected_by_bot": int(happens("deflected by bot"))})
        if happens("csat"):
            event(groups, {"csat_responses": 1, "csat_satisfied": int(happens("csat satisfied"))})
        if happens("nps"):
            score = "promoters" if happens("nps promoter") else "detractors" if happens("nps detractor") else None
            event(groups, {"nps_responses": 1, **({f"nps_{score}": 1} if score else {})})
        if happens("ces"):
            event(groups, {"ces_responses": 1, f"ces_{rng.choices(range(1, 8), weights=CES_WEIGHTS)[0]}": 1})
    return found


def fill(at: datetime, *, agents: Sequence[str] = (), tickets_per_month: float = TICKETS_PER_MONTH,
         hours: float = 12.0, seed: int = 20261124) -> list[Tally]:
    """Record ``tallies(...)`` into the aggregates table (``aggregates.record_all``); returns what was recorded.

    With ``AGGREGATE_SHARDS`` above 1, each call (no batch token) lands on a random suffix of the series, so
    a suffix holds a slice of the day's buckets rather than nearly all of them: the fill then under-states the
    items a batch updates.
    """
    from chalicelib.storage import aggregates

    recorded = tallies(at, agents=agents, tickets_per_month=tickets_per_month, hours=hours, seed=seed)
    for chunk in _chunks(recorded):
        aggregates.record_all(chunk)
    return recorded


def _chunks(recorded: Sequence[Tally]) -> Iterator[list[Tally]]:
    """The tallies in order of duration, cut so that no chunk adds to more than ``_FILL_BUCKETS`` histogram
    buckets: one update's ADDs stay few, as a real desk's small batches make them. DynamoDB refuses an
    expression over 4 KB, and moto's update-expression parser recurses per action (a few hundred fail) and
    validates in time quadratic in the actions. ADD commutes: the day's items end the same in any order."""
    from chalicelib.domain import histogram

    chunk: list[Tally] = []
    buckets: set[tuple[str, str]] = set()
    for tally in sorted(recorded, key=lambda t: max(t.durations.items(), default=("", 0.0))):
        added = {(name, histogram.item_key(minutes)) for name, minutes in tally.durations.items()}
        if chunk and len(buckets | added) > _FILL_BUCKETS:
            yield chunk
            chunk, buckets = [], set()
        chunk.append(tally)
        buckets |= added
    if chunk:
        yield chunk


def _log_normal(rng: random.Random, median_sigma: tuple[float, float]) -> float:
    median, sigma = median_sigma
    return rng.lognormvariate(math.log(median), sigma)
