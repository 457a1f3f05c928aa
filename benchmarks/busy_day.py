"""A busy desk's day of KPI aggregates, so the ticket stream's writes are billed on the items a real desk has.

DynamoDB bills an UpdateItem on the size of the whole item, before or after, whichever is larger. The
ticket stream's consumer (``service/ticket_stream.react``) ADDs each batch's counts into today's aggregate
items (``storage/aggregates.record_all``), and those items grow all day: counters and histogram buckets. A
measurement on a fresh desk writes into empty items (~0.3 KB: 1 write unit) and so under-bills every update
a real desk makes by mid-day. And at a real desk's volume a stream batch holds the few records that arrive
within the event source's batching window, not 100, so each batch's updates are shared by far fewer tickets.

``fill`` records today's events as a desk at ``tickets_per_month`` has them by mid-day, through the public
``aggregates.record_all`` only: whatever item format the storage writes (one item per series and day, or
the counters and each histogram apart) is the format that gets filled and billed. ``records_per_batch`` is
the batch such a desk's ``ticket_stream`` sees (``stream_batching``: the deployed batch size and window).

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
           "tallies", "tickets_per_day"]

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


def stream_batching() -> tuple[int, float]:
    """ticket_stream's deployed batching, ``(BatchSize, MaximumBatchingWindowInSeconds)``: app.py's
    ``batch_size`` and infra/resources.yaml's window. Lambda invokes when either is reached."""
    decorators = re.findall(r"on_dynamodb_record\(((?:[^()]|\([^()]*\))*)\)", (PROJECT / "app.py").read_text())
    size = next((re.search(r"batch_size=([0-9]+)", args) for args in decorators if 'name="ticket_stream"' in args),
                None)
    template = (PROJECT / "infra" / "resources.yaml").read_text()
    window = re.search(r"TicketStreamDynamodbEventSource:.*?MaximumBatchingWindowInSeconds:\s*([0-9.]+)", template,
                       re.DOTALL)
    if size is None or window is None:
        raise ValueError("ticket_stream's batch_size (app.py) or MaximumBatchingWindowInSeconds "
                         "(infra/resources.yaml) not found")
    return int(size.group(1)), float(window.group(1))


def records_per_batch(records_per_life: float, *, batch_size: int, window_seconds: float,
                      tickets_per_month: float = TICKETS_PER_MONTH) -> int:
    """Stream records in one ticket_stream invocation at that volume: what arrives within the batching window
    (ticket lives per second x stream records per life x window), at least 1, at most ``batch_size``."""
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
