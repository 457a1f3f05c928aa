"""benchmarks/scaling.py's arithmetic, against figures worked out by hand (docs/scaling.md)."""
from __future__ import annotations

import pytest

from benchmarks import scaling


def _short(key: str) -> str:
    """A row's key without its parenthesised detail (block size, item size), kept for the agents' reads/writes."""
    return key if key.startswith("agents") else key.split(" (")[0]


def test_write_units_round_up_per_kilobyte_and_double_in_a_transaction():
    assert scaling.units(100) == 1  # never less than one unit
    assert scaling.units(1024) == 1
    assert scaling.units(1025) == 2
    assert scaling.units(1900, transactional=True) == 4  # the README's 1.9 KB ticket: 4 WCU per transaction
    assert scaling.units(13_400, transactional=True) == 28  # one histogram's day item: ceil(13.09) = 14, x2
    assert scaling.units(4096, per=4096) == 1  # reads count 4 KB


def test_a_partition_is_hot_only_past_its_limit():
    at_limit = scaling.partition_row("counter", 1000)
    over = scaling.partition_row("counter", 1500)
    reads = scaling.partition_row("directory", 4500, read=True)
    assert (at_limit.share, at_limit.verdict) == (1.0, "ok")
    assert (over.share, over.verdict) == (1.5, "HOT")
    assert (reads.limit, reads.share, reads.verdict) == (3000, 1.5, "HOT")


def test_shards_divide_the_rate():
    assert scaling.shard_rate(20_000, 32) == 625  # by_status=open: 2 x 10,000 / 32
    assert scaling.shard_rate(6 * 10_000, 16) == 3750  # sla_due with the code's 16 shards
    assert scaling.shard_rate(500, 0) == 500  # no shards: the key itself


def test_a_fifo_group_is_capped_by_its_send_limit_and_drains_one_message_at_a_time():
    send_share, drain = scaling.fifo_group(500, 0.140, batch=10)
    assert send_share == pytest.approx(500 / 300)
    assert drain == pytest.approx(1 / 0.140)  # 7.14 msgs/s: one batch of a group in flight, whatever its size
    assert scaling.fifo_group(500, 0.140, batch=1)[1] == drain


def test_assignment_capacity_is_claims_per_round_times_shards():
    assert scaling.assignment_capacity(3, 0.024, 1) == pytest.approx(125)  # one line: 125 decisions a second
    assert scaling.assignment_capacity(3, 0.024, 128) == pytest.approx(16_000)


def test_a_lone_worker_never_loses_a_race():
    assert scaling.race_round(1, decisions=20) == (1.0, 0.0)


def test_the_model_counts_the_counter_views_and_aggregates_from_its_inputs():
    code = scaling.CodeInputs(
        ticket_indexes={"by_status": "status"}, time_shards=16, number_block=1, counter_key="counter:ticket-number",
        directory_value="agents", directory_entry_bytes=320, spread=3, max_claims=12, directory_cache_s=5.0,
        aggregate_item_bytes=57_000, aggregate_counters_bytes=490, aggregate_histogram_bytes=13_400,
        inbox_item_bytes=515, inbound_batch=10, stream_batch=100, fifo_high_throughput=True,
        reserved_concurrency=False, queues=("general", "billing", "logistics", "returns", "technical"))
    traffic = scaling.Traffic(rate=10_000, outage_share=0.4, waiting_share=0.5)
    before = {_short(row.key): row for row in scaling.model(code, traffic, scaling.Design.of_code(code))}
    assert before["lookups counter:ticket-number"].per_second == 10_000
    assert before["tickets GSI by_status: status=open"].per_second == 20_000
    assert before["tickets GSI by_queue: <outage queue>#open"].per_second == 8_000  # 2 x 10,000 x 40 %
    assert before["tickets GSI waiting: <outage queue>"].per_second == 4_000  # ... x 50 % waiting
    assert before["tickets GSI sla_due: one of 16 shards"].per_second == 3_750
    # 10,000 x 5 stream records / 100 per batch = 500 updates/s of a 57 KB item: 56 KB -> 56 x 2 = 112 WCU each
    assert before["aggregates all#all/day"].per_second == 500 * 112
    assert before["agents GSI directory=agents (writes)"].per_second == 20_000  # a claim and a release per ticket
    assert before["SQS inbound.fifo: queue"].limit == 70_000
    after = scaling.Design(number_block=100, time_shards=64, view_shards=32, aggregate_shards=8, stream_batch=1000,
                           split_histograms=True)
    rows = {_short(row.key): row for row in scaling.model(code, traffic, after)}
    assert rows["lookups counter:ticket-number"].per_second == 100
    assert rows["tickets GSI by_status: status=open"].per_second == 625
    assert rows["tickets GSI sla_due: one of 64 shards"].per_second == 937.5
    # 50 batches/s over 8 shards, each updating the counters item (490 B: 2 WCU in the transaction) and four
    # 13.4 KB histogram items (28 WCU each): 6.25 x 114 WCU
    assert rows["aggregates all#all/day"].per_second == pytest.approx(6.25 * (2 + 4 * 28))
