"""A busy desk's day (benchmarks/busy_day.py): the batch a volume makes, and a day's events stored as recorded."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from benchmarks import busy_day

NOON = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("tickets_per_month", "records_per_life", "records"), [
    # 1M a month = 0.386 lives/s; x 3 records x the 2 s window = 2.3 records a batch
    (1_000_000, 3.0, 2),
    (1_000_000, 4.0, 3),  # 3.09
    (1_000, 3.0, 1),  # a quiet desk: every batch holds what one change wrote, never less than one record
    (10_000_000, 3.0, 23),  # 23.1
    (1_000_000_000, 3.0, 100),  # past BatchSize: full batches
])
def test_records_per_batch_is_what_arrives_within_the_batching_window(tickets_per_month, records_per_life, records):
    assert busy_day.records_per_batch(records_per_life, batch_size=100, window_seconds=2,
                                      tickets_per_month=tickets_per_month) == records


def test_the_batching_is_read_from_where_it_is_deployed():
    from app import app

    batch_size, window = busy_day.stream_batching()
    assert batch_size == next(source.batch_size for source in app.event_sources if source.name == "ticket_stream")
    import yaml

    class Loader(yaml.SafeLoader):  # CloudFormation's short tags (!Sub, !GetAtt): their values are not needed
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((busy_day.PROJECT / "infra" / "resources.yaml").read_text(encoding="utf-8"),  # noqa: S506
                         Loader=Loader)
    source = template["Resources"]["TicketStream"]["Properties"]["Events"]["TicketStreamDynamodbEventSource"]
    assert window == source["Properties"]["MaximumBatchingWindowInSeconds"]


def test_a_million_tickets_a_month_fills_half_a_days_tickets_by_mid_day():
    assert busy_day.tickets_per_day(1_000_000) == pytest.approx(33_333.3, abs=0.1)
    created = sum(t.counters.get("created", 0) for t in busy_day.tallies(NOON, tickets_per_month=1_000_000))
    assert created == 16_667  # half a day's tickets


def test_the_tallies_are_seeded_valid_and_give_the_desks_agents_one_agents_share():
    from chalicelib.storage import aggregates

    first = busy_day.tallies(NOON, agents=["a-1", "a-2"], tickets_per_month=300_000)
    assert first == busy_day.tallies(NOON, agents=["a-1", "a-2"], tickets_per_month=300_000)
    for tally in first:
        aggregates.check(tally)  # what record_all would refuse
    created = Counter(t.groups["agent"] for t in first if t.counters.get("created"))
    assert sum(created.values()) == 5_000
    # 10,000 tickets a day / 50 an agent = 200 agents: each of ours gets ~1/200 of the 5,000
    assert 10 <= created["a-1"] <= 45 and 10 <= created["a-2"] <= 45
    assert {name for t in first for name in t.durations} == {
        "first_response_minutes", "first_response_business_minutes", "resolution_minutes",
        "resolution_business_minutes"}


def test_a_filled_day_reads_back_exactly_as_recorded(desk):
    from chalicelib import clock
    from chalicelib.storage import aggregates

    agent_id, _ = desk.add_agent("Busy Agent", "busy@example.com")
    now = clock.now()
    recorded = busy_day.fill(now, agents=[agent_id], tickets_per_month=30_000, hours=12)  # 500 tickets
    counters = Counter()
    durations = Counter()
    for tally in recorded:
        counters.update(tally.counters)
        durations.update(tally.durations.keys())
    assert counters["created"] == 500

    everyone, = aggregates.read(now.date(), now.date(), "all")
    assert everyone.counters == {name: n for name, n in counters.items() if n}
    assert {name: sum(buckets.values()) for name, buckets in everyone.histograms.items()} == dict(durations)
    by_channel = aggregates.read(now.date(), now.date(), "channel")
    assert sum(day.counters.get("created", 0) for day in by_channel) == 500
    mine, = aggregates.read(now.date(), now.date(), "agent")
    assert mine.group == agent_id
    assert mine.counters["created"] == sum(t.counters.get("created", 0) for t in recorded
                                           if t.groups["agent"] == agent_id) > 0
