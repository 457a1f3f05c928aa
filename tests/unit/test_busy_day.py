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


def _template() -> dict:
    import yaml

    class Loader(yaml.SafeLoader):  # CloudFormation's short tags (!Sub, !GetAtt): their values are not needed
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load((busy_day.PROJECT / "infra" / "resources.yaml").read_text(encoding="utf-8"),  # noqa: S506
                     Loader=Loader)


def test_the_tickets_stream_has_both_readers_in_the_order_they_are_handed_a_change():
    assert busy_day.stream_readers() == ("ticket_stream", "kpi_stream")


@pytest.mark.parametrize(("function_name", "resource"), [("ticket_stream", "TicketStream"),
                                                         ("kpi_stream", "KpiStream")])
def test_each_readers_batching_is_read_from_where_it_is_deployed(function_name, resource):
    from app import app

    batch_size, window = busy_day.stream_batching(function_name)
    source = next(source for source in app.event_sources if source.name == function_name)
    assert batch_size == source.batch_size
    events = _template()["Resources"][resource]["Properties"]["Events"]
    overridden = events[f"{resource}DynamodbEventSource"]["Properties"].get("MaximumBatchingWindowInSeconds")
    # infra/resources.yaml is merged over Chalice's template: its window wins, else the decorator's
    assert window == (overridden if overridden is not None else source.maximum_batching_window_in_seconds)


def test_the_deployed_windows_are_30_seconds_for_the_reactions_and_5_minutes_for_the_kpis():
    assert busy_day.stream_batching("ticket_stream")[1] == 30  # infra: TicketStreamDynamodbEventSource
    assert busy_day.stream_batching("kpi_stream")[1] == 300  # app.py's decorator; infra sets none


def test_a_window_found_nowhere_is_an_error_not_a_guess(tmp_path, monkeypatch):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "resources.yaml").write_text(
        "Resources:\n  KpiStream:\n    Properties:\n      Events:\n        KpiStreamDynamodbEventSource:\n"
        "          Properties:\n            MaximumRetryAttempts: 10\n")
    (tmp_path / "app.py").write_text(
        '@app.on_dynamodb_record(stream_arn=config.setting("TICKETS_STREAM_ARN"), batch_size=10000,\n'
        '                        name="kpi_stream")\n'
        "def kpi_stream(event):\n    pass\n")
    monkeypatch.setattr(busy_day, "PROJECT", tmp_path)
    with pytest.raises(ValueError, match="kpi_stream's batching window not found"):
        busy_day.stream_batching("kpi_stream")
    with pytest.raises(ValueError, match="ticket_stream"):
        busy_day.stream_batching("ticket_stream")  # no such decorator


def test_the_infra_window_overrides_the_decorators(tmp_path, monkeypatch):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "resources.yaml").write_text(
        "Resources:\n  KpiStream:\n    Properties:\n      Events:\n        KpiStreamDynamodbEventSource:\n"
        "          Properties:\n            Stream: !GetAtt TicketsTable.StreamArn\n"
        "            MaximumBatchingWindowInSeconds: 60\n"
        "  TicketStream:\n    Properties:\n      Events:\n        TicketStreamDynamodbEventSource:\n"
        "          Properties:\n            MaximumRetryAttempts: 10\n")
    (tmp_path / "app.py").write_text(
        '@app.on_dynamodb_record(stream_arn=config.setting("TICKETS_STREAM_ARN"), batch_size=1000,\n'
        '                        name="ticket_stream", maximum_batching_window_in_seconds=2)\n'
        "def ticket_stream(event):\n    pass\n\n\n"
        '@app.on_dynamodb_record(stream_arn=config.setting("TICKETS_STREAM_ARN"), batch_size=500,\n'
        '                        name="kpi_stream", maximum_batching_window_in_seconds=300)\n'
        "def kpi_stream(event):\n    pass\n")
    monkeypatch.setattr(busy_day, "PROJECT", tmp_path)
    assert busy_day.stream_batching("kpi_stream") == (500, 60.0)
    assert busy_day.stream_batching("ticket_stream") == (1000, 2.0)  # infra sets no window for it


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
