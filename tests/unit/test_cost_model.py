"""The bill's arithmetic (benchmarks/cost.py): billing units as AWS counts them, on hand-computed examples."""
from __future__ import annotations

import pytest

from benchmarks.cost import (
    PRICES, XRAY_LINE, Quantities, Stage, billed_ms, flood_ceiling_per_hour, gb_seconds, lines_of, read_units,
    ses_inbound_chunks, sqs_requests, write_units, xray_traces,
)


@pytest.mark.parametrize(("size", "transactional", "units"), [
    (0, False, 1),  # an empty write still costs one unit
    (1024, False, 1),  # exactly 1 KB
    (1025, False, 2),  # one byte over: the next KB
    (1900, False, 2),  # the 1.5-1.9 KB ticket item: 2 units ...
    (1900, True, 4),  # ... and 4 inside TransactWriteItems
    (3 * 1024, True, 6),  # AWS's own example: a transactional write of a 3 KB item is 6 WRU
])
def test_write_units_round_up_to_1_kb_and_double_in_transactions(size, transactional, units):
    assert write_units(size, transactional=transactional) == units


def test_strongly_consistent_read_of_an_8_kb_item_is_two_units_as_awss_example():
    assert read_units([8 * 1024], mode="strong", per_item=True) == 2
    assert read_units([8 * 1024], mode="eventual", per_item=True) == 1
    assert read_units([8 * 1024], mode="transactional", per_item=True) == 4


def test_get_and_batch_get_round_each_item_to_4_kb_even_a_missing_one():
    assert read_units([0], mode="eventual", per_item=True) == 0.5  # GetItem of an item that is not there
    # BatchGetItem of a 100 B, a 4 KB and a 4 KB + 1 B item: 1 + 1 + 2 units, halved when eventually consistent
    assert read_units([100, 4096, 4097], mode="strong", per_item=True) == 4
    assert read_units([100, 4096, 4097], mode="eventual", per_item=True) == 2


def test_query_adds_the_sizes_before_rounding_once():
    # ten 500 B index entries = 5,000 B: two 4 KB units strongly consistent, one eventually; not ten
    assert read_units([500] * 10, mode="strong", per_item=False) == 2
    assert read_units([500] * 10, mode="eventual", per_item=False) == 1
    assert read_units([], mode="eventual", per_item=False) == 0.5  # an empty Query still costs the minimum


@pytest.mark.parametrize(("wall", "ms"), [(0.0, 1), (0.0004, 1), (0.001, 1), (0.0010001, 2), (0.0421, 43),
                                          (0.851, 851)])
def test_lambda_bills_duration_rounded_up_to_the_millisecond(wall, ms):
    assert billed_ms(wall) == ms


def test_gb_seconds_and_their_price():
    assert gb_seconds(1024, 1000) == 1.0
    assert gb_seconds(512, 43) == pytest.approx(0.0215)
    assert gb_seconds(256, 3) == pytest.approx(0.00075)
    # one million 43 ms invocations at 1,024 MB on x86: 43,000 GB-s x $0.0000166667 = $0.7167
    assert 1_000_000 * gb_seconds(1024, 43) * PRICES["lambda_gbs_x86"].usd == pytest.approx(0.7167, abs=1e-4)
    # arm64 is 20 % cheaper per GB-s
    assert PRICES["lambda_gbs_arm64"].usd / PRICES["lambda_gbs_x86"].usd == pytest.approx(0.8, abs=1e-4)


def test_an_hour_at_the_api_throttle_costs_its_requests_and_their_lambda_runs():
    # 1,000/s for an hour: 3.6 M requests x ($1.00/M HTTP API + $0.20/M Lambda) = $4.32, plus
    # 3.6 M x 20 ms at 1,024 MB = 72,000 GB-s x $0.0000166667 = $1.20
    assert flood_ceiling_per_hour(1000, memory_mb=1024, billed_ms_per_request=20) == pytest.approx(4.32 + 1.20,
                                                                                                   abs=1e-3)
    assert flood_ceiling_per_hour(50, memory_mb=1024, billed_ms_per_request=0) == pytest.approx(0.216)


def test_sqs_and_ses_chunking():
    assert sqs_requests(0) == 1
    assert sqs_requests(64 * 1024) == 1
    assert sqs_requests(64 * 1024 + 1) == 2
    assert sqs_requests(256 * 1024) == 4  # a 256 KB message is four requests
    assert ses_inbound_chunks(15 * 1024) == 1
    assert ses_inbound_chunks(256 * 1024 + 1) == 2


def test_xray_default_rule_records_the_first_request_each_second_and_5_percent_of_the_rest():
    month = 30 * 86400
    # below 1 per second every invocation is recorded
    assert xray_traces({"send_outbound": month / 2}) == pytest.approx(month / 2)
    # at 3 per second: 1 + 5 % of 2 = 1.1 per second
    assert xray_traces({"api_handler": 3 * month}) == pytest.approx(1.1 * month)
    # the reservoir is per function: two functions at 1/s each are both recorded in full
    assert xray_traces({"a": month, "b": month}) == pytest.approx(2 * month)


def test_every_price_names_its_source():
    for name, price in PRICES.items():
        assert price.usd > 0 and price.per and price.source, name


def _ticket(**invocations: float) -> Quantities:
    ticket = Quantities()
    ticket.lambda_requests.update(invocations)
    ticket.lambda_ms.update({function: 1000 * n for function, n in invocations.items()})  # 1 s each
    return ticket


def test_the_deployed_stage_is_priced_without_x_ray_and_dev_with_it():
    # .chalice/config.json: "xray" false at the top level, true in the dev stage only
    ticket = _ticket(api_handler=2.0, process_inbound=1.5)
    prod = lines_of(ticket, Stage("prod"), raw_mail_bytes=0, arch="x86")
    dev = lines_of(ticket, Stage("dev"), raw_mail_bytes=0, arch="x86")
    assert prod[XRAY_LINE] == 0
    # 1M tickets a month = 2M + 1.5M invocations, each under 1/s: every one traced, 3.5 traces a ticket at $5/M
    assert dev[XRAY_LINE] == pytest.approx(3.5 * 5 / 1_000_000)
    assert {k: v for k, v in prod.items() if k != XRAY_LINE} == {k: v for k, v in dev.items() if k != XRAY_LINE}


def test_a_stage_setting_is_resolved_as_chalice_resolves_it():
    document = {"xray": True, "lambda_memory_size": 1024,
                "lambda_functions": {"sweep": {"lambda_memory_size": 512}, "ses_inbound": {"lambda_memory_size": 256}},
                "environment_variables": {"TICKET_NUMBER_BLOCK": "1", "POWERTOOLS_LOG_LEVEL": "INFO"},
                "stages": {"quiet": {"xray": False, "lambda_memory_size": 2048,
                                     "environment_variables": {"POWERTOOLS_LOG_LEVEL": "WARNING"},
                                     "lambda_functions": {"sweep": {"xray": True, "lambda_memory_size": 128}}},
                           "loud": {}}}
    quiet, loud = Stage("quiet", document), Stage("loud", document)
    assert (quiet.xray("api_handler"), quiet.xray("sweep"), loud.xray("api_handler")) == (False, True, True)
    # Chalice's order: the function in the stage, the stage, the function at the top level, the top level
    assert [quiet.memory_mb(f) for f in ("sweep", "ses_inbound", "api_handler")] == [128, 2048, 2048]
    assert [loud.memory_mb(f) for f in ("sweep", "ses_inbound", "api_handler")] == [512, 256, 1024]
    assert quiet.environment() == {"TICKET_NUMBER_BLOCK": "1", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    assert loud.environment()["POWERTOOLS_LOG_LEVEL"] == "INFO"
    with pytest.raises(ValueError, match="no stage 'staging'"):
        Stage("staging", document)


def test_lambda_duration_is_priced_at_each_functions_memory_in_the_stage():
    # prod: ses_inbound 256 MB, send_outbound 512 MB; 1 s each = 0.25 + 0.5 GB-s
    lines = lines_of(_ticket(ses_inbound=1.0, send_outbound=1.0), Stage("prod"), raw_mail_bytes=0, arch="x86")
    assert lines["Lambda duration (x86)"] == pytest.approx(0.75 * PRICES["lambda_gbs_x86"].usd)
