"""KPI reports: aggregates recorded as events happen, read back by GET /reports/kpis and the admin CLI."""
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import histogram, kpis
from tests.mail import compose

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
TUESDAY = MONDAY + timedelta(days=1)
EMAIL = {"channel": "email", "priority": "normal", "queue": "general"}
SLACK = {"channel": "slack", "priority": "high", "queue": "billing"}
FIRST_RESPONSES = [10.0, 20.0, 30.0, 40.0, 100.0]  # email, Monday: p50 30, p90 100 (nearest rank)


def _get(desk, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = desk.http.get(path, headers=headers)
    return response.status_code, json.loads(response.body or b"null")


def _aggregate_items(desk):
    """Every aggregate item, read straight from the table (the test may scan; the app never does)."""
    return desk._aws("dynamodb").scan(TableName="relay-desk-aggregates")["Items"]


def _record_known_week(aggregates):
    """Monday: 4 email + 1 slack + 1 webchat tickets (the webchat one answered by the bot: deflected), SLA 3 met /
    1 breached, 3 CSAT, 4 NPS. Tuesday: 1 email."""
    for minutes in FIRST_RESPONSES[:4]:
        aggregates.record(MONDAY, groups=EMAIL, counters={"created": 1})
    aggregates.record(MONDAY, groups=SLACK, counters={"created": 1})
    aggregates.record(MONDAY, groups={"channel": "webchat"}, counters={"created": 1, "deflected": 1,
                                                                        "deflected_by_bot": 1})
    for n, minutes in enumerate(FIRST_RESPONSES):
        met = "sla_first_response_met" if n < 3 else "sla_first_response_breached"
        aggregates.record(MONDAY + timedelta(minutes=minutes), groups=EMAIL if n < 4 else {"channel": "email"},
                          counters={met: 1} if n < 4 else {}, durations={"first_response_minutes": minutes})
    for rating, nps in ((5, 10), (4, 9), (2, 3)):
        aggregates.record(MONDAY, groups=EMAIL, counters=kpis.survey_counters(rating, nps))
    aggregates.record(MONDAY, groups=SLACK, counters={"nps_responses": 1})  # a passive (7-8): counts in NPS only
    aggregates.record(TUESDAY, groups=EMAIL, counters={"created": 1})


def _within_bound(estimate, exact):
    return abs(estimate - exact) <= histogram.RELATIVE_ERROR * exact


def test_report_by_channel_has_exact_counts_and_percentiles_within_the_histogram_bound(desk, admin_token):
    from chalicelib.storage import aggregates

    _record_known_week(aggregates)
    status, body = _get(desk, "/reports/kpis?from=2025-03-01&to=2025-03-31&group_by=channel", admin_token)

    assert status == 200
    assert (body["group_by"], body["start"], body["end"]) == ("channel", "2025-03-01", "2025-03-31")
    rows = {row["group"]: row for row in body["rows"]}
    assert list(rows) == ["email", "slack", "webchat"]
    email, slack, webchat, totals = rows["email"], rows["slack"], rows["webchat"], body["totals"]
    assert (email["volume"], slack["volume"], webchat["volume"], totals["volume"]) == (5, 1, 1, 7)
    assert (webchat["deflected"], webchat["deflected_by_bot"], email["deflected"]) == (1, 1, 0)
    assert email["sla_first_response_pct"] == 75.0 and email["sla_pct"] == 75.0 and slack["sla_pct"] is None
    assert email["csat_responses"] == 3 and email["csat_pct"] == 66.67
    assert email["nps_responses"] == 3 and email["nps"] == round(100 * 2 / 3 - 100 / 3, 2)
    assert totals["nps_responses"] == 4 and totals["nps"] == 25.0  # 2 promoters, 1 passive, 1 detractor
    assert webchat["deflection_pct"] == 100.0 and totals["deflection_pct"] == round(100 / 7, 2)
    assert _within_bound(email["first_response_p50"], 30.0) and _within_bound(email["first_response_p90"], 100.0)
    assert slack["first_response_p50"] is None and email["resolution_p50"] is None
    assert body["percentile_relative_error"] == histogram.RELATIVE_ERROR
    assert body["backlog"] == dict.fromkeys(kpis.BACKLOG_BUCKETS, 0)


def test_report_by_priority_and_queue_use_the_same_events(desk, admin_token):
    from chalicelib.storage import aggregates

    _record_known_week(aggregates)
    status, by_priority = _get(desk, "/reports/kpis?from=2025-03-03&to=2025-03-03&group_by=priority", admin_token)
    assert status == 200
    assert [(r["group"], r["volume"]) for r in by_priority["rows"]] == [("high", 1), ("normal", 4)]
    status, by_queue = _get(desk, "/reports/kpis?from=2025-03-03&to=2025-03-04&group_by=queue", admin_token)
    assert status == 200
    assert [(r["group"], r["volume"]) for r in by_queue["rows"]] == [("billing", 1), ("general", 5)]
    normal = by_priority["rows"][1]
    # The fifth first response was recorded for the channel only: the priority row has four.
    assert _within_bound(normal["first_response_p90"], 40.0) and normal["sla_first_response_pct"] == 75.0


def test_report_by_agent_lists_agents_from_the_directory(desk, admin_token):
    from chalicelib.storage import aggregates

    agent_id, _ = desk.add_agent("Ann Agent", "ann@example.com")
    aggregates.record(MONDAY, groups={**EMAIL, "agent": agent_id}, counters={"solved": 2},
                      durations={"resolution_minutes": 90.0})
    aggregates.record(MONDAY, groups=EMAIL, counters={"solved": 1})  # no agent: not in the agent rows
    status, body = _get(desk, "/reports/kpis?from=2025-03-03&to=2025-03-03&group_by=agent", admin_token)
    assert status == 200
    assert [(r["group"], r["solved"]) for r in body["rows"]] == [(agent_id, 2)]
    assert _within_bound(body["rows"][0]["resolution_p50"], 90.0) and body["totals"]["solved"] == 2


def test_defaults_are_the_last_30_days_by_channel_with_the_open_backlog(desk, admin_token):
    from chalicelib import clock
    from chalicelib.storage import aggregates

    for n in range(2):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.pump()
    now = desk.advance(hours=2)
    aggregates.record(now, groups={"channel": "sms"}, counters={"created": 3})
    aggregates.record(now - timedelta(days=30), groups={"channel": "sms"}, counters={"created": 100})

    status, body = _get(desk, "/reports/kpis", admin_token)
    assert status == 200
    today = clock.now().date()
    assert body["group_by"] == "channel"
    assert (body["start"], body["end"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert {r["group"]: r["volume"] for r in body["rows"]}["sms"] == 3
    assert body["backlog"]["1-4h"] == 2 and sum(body["backlog"].values()) == 2


@pytest.fixture
def atomic_requests(desk, monkeypatch):
    """Apply each TransactWriteItems whole, as DynamoDB does: moto runs them in Python without a lock.

    Without it, moto itself loses increments under threads (397 of 400 in one run). With it,
    what is tested is ours: increments travel as ADDs inside one request; a read-modify-write
    in our code would still lose counts between its read and its write.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    apply = DynamoDBBackend.transact_write_items

    def atomic(self, *args, **kwargs):
        with lock:
            return apply(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", atomic)


def test_concurrent_records_on_one_series_lose_no_count(desk, atomic_requests):
    from chalicelib.storage import aggregates

    def work():  # one "Lambda": 20 events on the same day and series as the seven others
        for n in range(20):
            aggregates.record(MONDAY, groups={"channel": "email"}, counters={"created": 1, "solved": 2},
                              durations={"first_response_minutes": float(n % 5)})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    email, = aggregates.read(MONDAY.date(), MONDAY.date(), "channel")
    everyone, = aggregates.read(MONDAY.date(), MONDAY.date(), "all")

    for aggregate in (email, everyone):
        assert dict(aggregate.counters) == {"created": 160, "solved": 320}
        assert sum(aggregate.histograms["first_response_minutes"].values()) == 160
        assert aggregate.histograms["first_response_minutes"][histogram.bucket_of(4.0)] == 32


def test_a_transaction_conflict_is_retried_and_counted_once(desk, monkeypatch):
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    from chalicelib.storage import aggregates

    apply = DynamoDBBackend.transact_write_items
    attempts = []

    def conflict_once(self, *args, **kwargs):  # what DynamoDB answers while another transaction holds all#all
        attempts.append(1)
        if len(attempts) == 1:
            raise TransactionCanceledException([(None, None, None), ("TransactionConflict", "in progress", None)])
        return apply(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", conflict_once)
    aggregates.record(MONDAY, groups={"channel": "email"}, counters={"created": 1})
    everyone, = aggregates.read(MONDAY.date(), MONDAY.date(), "all")
    assert len(attempts) == 2 and dict(everyone.counters) == {"created": 1}


def test_a_batch_delivered_again_after_a_conflict_then_an_applied_attempt_is_counted_once(desk, monkeypatch):
    """The stream delivers a batch again when its invocation failed after the aggregates were written (a
    timeout on the answer, the function dying): its retry must not count the batch a second time, even when
    the first delivery's write was applied on a second attempt after a TransactionConflict."""
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    from chalicelib.storage import aggregates

    apply = DynamoDBBackend.transact_write_items
    attempts = []

    def conflict_once(self, *args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise TransactionCanceledException([(None, None, None), ("TransactionConflict", "in progress", None)])
        return apply(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", conflict_once)
    batch = [aggregates.Tally(MONDAY, {"channel": "email"}, {"created": 1}, {})]
    aggregates.record_all(batch, token="batch-0001")  # conflict, then applied
    aggregates.record_all(batch, token="batch-0001")  # the same batch delivered again
    everyone, = aggregates.read(MONDAY.date(), MONDAY.date(), "all")
    assert len(attempts) == 2 and dict(everyone.counters) == {"created": 1}  # the retry applied nothing


def test_buckets_of_another_histogram_scheme_are_refused_and_nothing_is_counted(desk):
    from chalicelib.storage import aggregates

    desk._aws("dynamodb").put_item(TableName="relay-desk-aggregates", Item={
        "series": {"S": "all#all"}, "day": {"S": "2025-03-03#first_response_minutes"},
        "histogram_scheme": {"N": "999"}, "b57": {"N": "7"}})
    with pytest.raises(aggregates.HistogramSchemeConflict):
        aggregates.record(MONDAY, groups={"channel": "email"}, counters={"created": 1},
                          durations={"first_response_minutes": 3.0})
    assert [item["series"]["S"] for item in _aggregate_items(desk)] == ["all#all"]  # channel#email not written
    aggregates.record(MONDAY, groups={"channel": "email"}, counters={"created": 1})  # counters alone: no buckets
    assert {(item["series"]["S"], item["day"]["S"]): item.get("c_created", {}).get("N")
            for item in _aggregate_items(desk)} == {
        ("all#all", "2025-03-03#first_response_minutes"): None, ("all#all", "2025-03-03"): "1",
        ("channel#email", "2025-03-03"): "1"}


def test_a_day_whose_items_disagree_on_the_histogram_scheme_is_refused_when_read(desk):
    """A day stored before histograms had their own items, next to one counted with another scheme."""
    from chalicelib.storage import aggregates

    put = desk._aws("dynamodb").put_item
    put(TableName="relay-desk-aggregates", Item={
        "series": {"S": "all#all"}, "day": {"S": "2025-03-03"}, "histogram_scheme": {"N": "1"},
        "c_created": {"N": "2"}, "h_first_response_minutes_57": {"N": "2"}})
    put(TableName="relay-desk-aggregates", Item={
        "series": {"S": "all#all"}, "day": {"S": "2025-03-03#first_response_minutes"},
        "histogram_scheme": {"N": "999"}, "b57": {"N": "1"}})
    with pytest.raises(aggregates.HistogramSchemeConflict, match="mixes histogram schemes 1, 999"):
        aggregates.read(MONDAY.date(), MONDAY.date(), "all")


def test_a_day_stored_in_one_item_before_the_split_is_read_with_the_items_written_since(desk):
    """Upgrading mid-day: the old day item (buckets as h_<histogram>_<bucket>) and the new
    counters and histogram items of the same day add up to one day."""
    from chalicelib.domain import histogram
    from chalicelib.storage import aggregates

    bucket = histogram.item_key(30.0)
    desk._aws("dynamodb").put_item(TableName="relay-desk-aggregates", Item={
        "series": {"S": "all#all"}, "day": {"S": "2025-03-03"}, "histogram_scheme": {"N": "1"},
        "c_created": {"N": "2"}, f"h_first_response_minutes_{bucket}": {"N": "2"}})
    aggregates.record(MONDAY, groups=EMAIL, counters={"created": 1}, durations={"first_response_minutes": 30.0})
    aggregates.record(TUESDAY, groups=EMAIL, counters={"created": 1})

    monday, tuesday = sorted(aggregates.read(MONDAY.date(), TUESDAY.date(), "all"), key=lambda a: a.day)
    assert monday.counters == {"created": 3} and tuesday.counters == {"created": 1}
    assert monday.histograms == {"first_response_minutes": {int(bucket): 3}}


@pytest.mark.parametrize("query, reason", [
    ("from=2025-03-31&to=2025-03-01", "after end"),
    ("from=2024-01-01&to=2025-02-03", "at most 366 days"),
    ("group_by=colour", "cannot group a report by 'colour'"),
    ("group_by=all", "cannot group"),
    ("from=2025-02-30", "from must be a date"),
    ("from=20250301", "from must be a date"),
    ("to=yesterday", "to must be a date"),
    ("from=2999-01-01&to=2999-01-02", "in the future"),
    ("colour=red", "unknown query parameter(s): colour"),
    ("to=0001-01-01&group_by=agent", "before any day"),  # found by schemathesis: was an OverflowError 500
])
def test_bad_requests_are_400_with_a_reason_and_record_nothing(desk, admin_token, query, reason):
    status, body = _get(desk, f"/reports/kpis?{query}", admin_token)
    assert status == 400 and body["error"] == "bad_request"
    assert reason in body["reason"]
    assert _aggregate_items(desk) == []


def test_reports_are_for_admins_only(desk, admin_token):
    _, agent_token = desk.add_agent("Ann Agent", "ann@example.com")
    status, body = _get(desk, "/reports/kpis", agent_token)
    assert status == 403 and body == {"error": "forbidden", "reason": "this needs an admin token"}
    status, body = _get(desk, "/reports/kpis", None)
    assert status == 401 and body["error"] == "unauthorized"
    assert _aggregate_items(desk) == []


def test_record_refuses_unknown_names_before_writing_anything(desk):
    from chalicelib.storage import aggregates

    bad_calls = [
        dict(groups=EMAIL, counters={"created": 1, "solve": 1}),
        dict(groups=EMAIL, counters={"created": 1}, durations={"first_response": 3.0}),
        dict(groups=EMAIL, durations={"first_response_minutes": -1.0}),
        dict(groups={"channel": "fax"}, counters={"created": 1}),
        dict(groups={"team": "x"}, counters={"created": 1}),
        dict(groups={"all": "all"}, counters={"created": 1}),
        dict(groups=EMAIL, counters={"created": -1}),
    ]
    for call in bad_calls:
        with pytest.raises(ValueError):
            aggregates.record(MONDAY, **call)
    with pytest.raises(ValueError):
        aggregates.record(MONDAY.replace(tzinfo=None), groups=EMAIL, counters={"created": 1})
    aggregates.record(MONDAY, groups=EMAIL, counters={"created": 0})  # nothing to add: no write
    assert _aggregate_items(desk) == []


def test_one_event_is_one_transaction_over_its_series_and_all(desk, monkeypatch):
    from chalicelib.storage import aggregates

    calls = _watch_dynamodb(monkeypatch)
    aggregates.record(MONDAY, groups={**EMAIL, "agent": "a-0123456789ab"}, counters={"solved": 1},
                      durations={"resolution_minutes": 5.0})
    assert [call["operation"] for call in calls] == ["TransactWriteItems"]
    # per series: its counters and the histogram that gained a count; an agent's day, one item with both
    assert calls[0]["items"] == 9
    items = {(item["series"]["S"], item["day"]["S"]): item for item in _aggregate_items(desk)}
    agent, series = "agent#a-0123456789ab", ["all#all", "channel#email", "priority#normal", "queue#general"]
    assert sorted(items) == sorted([(agent, "2025-03-03")] + [
        (name, day) for name in series for day in ("2025-03-03", "2025-03-03#resolution_minutes")])
    bucket, scheme = histogram.item_key(5.0), {"N": str(histogram.SCHEME_VERSION)}
    assert all(items[name, "2025-03-03"] == {"series": {"S": name}, "day": {"S": "2025-03-03"},
                                             "c_solved": {"N": "1"}} for name in series)
    assert all(items[name, "2025-03-03#resolution_minutes"] == {
        "series": {"S": name}, "day": {"S": "2025-03-03#resolution_minutes"}, f"b{bucket}": {"N": "1"},
        "histogram_scheme": scheme} for name in series)
    assert items[agent, "2025-03-03"] == {"series": {"S": agent}, "day": {"S": "2025-03-03"}, "c_solved": {"N": "1"},
                                          f"br_{bucket}": {"N": "1"}, "histogram_scheme": scheme}


def test_a_report_reads_aggregates_and_the_status_index_only(desk, admin_token, monkeypatch):
    from chalicelib.storage import aggregates

    _record_known_week(aggregates)
    calls = _watch_dynamodb(monkeypatch)
    status, _ = _get(desk, "/reports/kpis?from=2025-01-01&to=2025-03-31&group_by=channel", admin_token)
    assert status == 200

    assert not [call for call in calls if call["operation"] == "Scan"]
    aggregate_queries = [c for c in calls if c["table"] == "relay-desk-aggregates"]
    ticket_queries = [c for c in calls if c["table"] == "relay-desk-tickets"]
    assert {c["operation"] for c in aggregate_queries} == {"Query"}
    assert len(aggregate_queries) == len(aggregates.CHANNELS)  # one per channel series, "other" included
    # items: email Mon+Tue, slack Mon, webchat Mon; and email Monday's first-response histogram
    assert sum(c["count"] for c in aggregate_queries) == 5
    assert [(c["operation"], c["index"]) for c in ticket_queries] == [("Query", "by_status")] * 3
    assert all(c["projection"] == ["created_at"] for c in ticket_queries)
    others = [c for c in calls if c not in aggregate_queries and c not in ticket_queries]
    assert [(c["operation"], c["table"]) for c in others] == [("GetItem", "relay-desk-agents")]  # the token


def test_admin_cli_prints_the_table_and_writes_a_png_chart(desk, tmp_path, capsys):
    from chalicelib import admin
    from chalicelib.storage import aggregates

    _record_known_week(aggregates)
    chart = tmp_path / "first-response.png"
    code = admin.main(["kpi-report", "--from", "2025-03-01", "--to", "2025-03-07", "--group-by", "channel",
                       "--chart", str(chart)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "KPIs by channel, 2025-03-01 to 2025-03-07" in printed
    email_line = next(line for line in printed.splitlines() if line.startswith("email"))
    assert email_line.split()[1:3] == ["5", "0"] and "75.0%" in email_line
    assert "Open backlog by age" in printed
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_admin_cli_refuses_a_bad_range_with_exit_2(desk, capsys):
    from chalicelib import admin

    assert admin.main(["kpi-report", "--from", "2025-03-07", "--to", "2025-03-01"]) == 2
    assert "after end" in capsys.readouterr().err


def _watch_dynamodb(monkeypatch):
    """Record every DynamoDB call PynamoDB makes (all the app's tables): operation, table, index, items."""
    from pynamodb.connection.base import Connection

    calls = []
    send = Connection._make_api_call

    def watched(self, operation_name, operation_kwargs):
        names = operation_kwargs.get("ExpressionAttributeNames", {})
        call = {"operation": operation_name, "table": operation_kwargs.get("TableName"),
                "index": operation_kwargs.get("IndexName"),
                "projection": [names.get(part.strip(), part.strip())
                               for part in operation_kwargs.get("ProjectionExpression", "").split(",") if part],
                "items": len(operation_kwargs.get("TransactItems", [])), "count": 0}
        calls.append(call)
        response = send(self, operation_name, operation_kwargs)
        call["count"] = response.get("Count", 0)
        return response

    monkeypatch.setattr(Connection, "_make_api_call", watched)
    return calls


def test_with_aggregate_shards_batches_spread_over_suffixes_and_reports_add_them_up(desk, monkeypatch):
    """AGGREGATE_SHARDS=4: each batch's series get one suffix (the same for the batch's retries), a report
    sums the suffixes with what was counted unsuffixed before the change, and the inbox counters stay
    unsuffixed."""
    from chalicelib.storage import aggregates

    aggregates.record(MONDAY, groups=EMAIL, counters={"created": 1}, durations={"first_response_minutes": 30.0})
    monkeypatch.setenv("AGGREGATE_SHARDS", "4")

    def batch(n):
        aggregates.record_all([aggregates.Tally(MONDAY, EMAIL, {"created": 1}, {"first_response_minutes": 30.0})],
                              token=f"batch-{n}", adjustments={("inbox#desk", "live"): {"status_open": 1}})

    for n in range(12):
        batch(n)
    batch(0)  # delivered again: the same items under the same token, which DynamoDB applies once

    series = {item["series"]["S"] for item in _aggregate_items(desk)}
    suffixed = {name for name in series if name.startswith("all#all#")}
    assert 1 < len(suffixed) <= 4 and suffixed <= {f"all#all#{k}" for k in range(4)}
    assert "inbox#desk" in series and not any(name.startswith("inbox#desk#") for name in series)
    everyone, = aggregates.read(MONDAY.date(), MONDAY.date(), "all")
    assert everyone.counters == {"created": 13}  # 1 before the change, 12 batches, the repeat not again
    assert sum(everyone.histograms["first_response_minutes"].values()) == 13
    by_channel = {a.group: a.counters["created"] for a in aggregates.read(MONDAY.date(), MONDAY.date(), "channel")}
    assert by_channel == {"email": 13}


def test_a_batch_whose_first_transaction_was_applied_is_counted_once_when_replayed_after_its_token_expired(
        desk, monkeypatch):
    """A batch over several transactions whose later one kept failing goes to the stream's failure queue;
    ``admin redrive --queue ticket-stream`` replays it hours later, when DynamoDB no longer remembers the
    token of the transaction that was applied: its marker item says so, and it is not counted again."""
    from chalicelib.local import moto_patch
    from chalicelib.storage import aggregates

    monkeypatch.setattr(aggregates, "_MAX_TRANSACTION", 3)  # two updates and the marker per transaction
    batch = [aggregates.Tally(MONDAY, {"channel": channel}, {"created": 1}, {}) for channel in ("email", "sms")]
    commit = aggregates._commit
    calls = []

    def second_fails(items, token, expires=None):
        calls.append(token)
        if token.endswith("-1") and calls.count(token) == 1:
            raise RuntimeError("DynamoDB is unavailable")
        return commit(items, token, expires)

    monkeypatch.setattr(aggregates, "_commit", second_fails)
    with pytest.raises(RuntimeError):
        aggregates.record_all(batch, token="batch-0002")  # all#all and channel#email applied, channel#sms not
    monkeypatch.setattr(moto_patch._tokens, "seen", {})  # hours later: DynamoDB has forgotten the tokens
    aggregates.record_all(batch, token="batch-0002")  # the replay

    counted = {aggregate.group: dict(aggregate.counters) for kind in ("all", "channel")
               for aggregate in aggregates.read(MONDAY.date(), MONDAY.date(), kind)}
    assert counted == {"all": {"created": 2}, "email": {"created": 1}, "sms": {"created": 1}}
    markers = [item for item in _aggregate_items(desk) if item["series"]["S"].startswith("applied#")]
    assert sorted(m["series"]["S"] for m in markers) == ["applied#batch-0002-0", "applied#batch-0002-1"]
    assert {m["expires_at"]["N"] for m in markers} == {str(int(MONDAY.replace(hour=0, minute=0, second=0,
                                                                                microsecond=0).timestamp()) + 3 * 86400)}
