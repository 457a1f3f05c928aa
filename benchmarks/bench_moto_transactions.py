"""How long one TransactWriteItems takes in moto as tables grow, stock vs patched.

Why: stock moto 5.2.5 deep-copies every table a transaction names, so the
offline harness slows down as tests fill tables; ``chalicelib.local.moto_patch``
snapshots only the touched items. This script shows both curves. It is a
script, not a test (wall-clock timings are too noisy for CI): run

    .venv/bin/python benchmarks/bench_moto_transactions.py

Each size is the number of items in EACH of the four tables the transaction
writes to (tickets, messages, lookups, customers). The tables are filled once
per size and shared by the stock and patched runs.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

if __package__ in (None, ""):  # run as a file: make ``chalicelib`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.local import moto_patch  # noqa: E402

REGION = "us-east-1"
BUDGET_S = 3.0  # per size and variant; at least MIN_REPS, at most MAX_REPS transactions
MIN_REPS, MAX_REPS = 3, 40

_S = {"AttributeType": "S"}
TABLES: dict[str, dict[str, Any]] = {
    "tickets": {
        "KeySchema": [{"AttributeName": "ticket_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": n, **_S} for n in ("ticket_id", "status", "last_activity_at")
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "last_activity_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    },
    "messages": {
        "KeySchema": [
            {"AttributeName": "ticket_id", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [{"AttributeName": n, **_S} for n in ("ticket_id", "sk")],
    },
    "lookups": {
        "KeySchema": [{"AttributeName": "lookup_key", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "lookup_key", **_S}],
    },
    "customers": {
        "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "customer_id", **_S}],
    },
}


def _ticket(tid: str, n: int) -> dict[str, Any]:
    return {
        "ticket_id": {"S": tid},
        "number": {"N": str(n)},
        "status": {"S": "open"},
        "customer_id": {"S": f"cust#{n % 50}"},
        "subject": {"S": f"Order {n} has not arrived"},
        "created_at": {"S": "2024-05-01T10:00:00Z"},
        "last_activity_at": {"S": f"2024-05-01T10:{n % 60:02d}:00Z"},
        "thread_message_ids": {"L": [{"S": f"<{tid}@example.com>"}]},
    }


def _message(tid: str, n: int) -> dict[str, Any]:
    return {
        "ticket_id": {"S": tid},
        "sk": {"S": f"2024-05-01T10:00:{n % 60:02d}Z#{n}"},
        "direction": {"S": "inbound"},
        "sender": {"S": "email:ann@example.com"},
        "text": {"S": "Hello, my parcel is late. " * 4},
    }


def _items(table: str, i: int) -> dict[str, Any]:
    if table == "tickets":
        return _ticket(f"t#{i}", i)
    if table == "messages":
        return _message(f"t#{i // 10}", i)
    if table == "lookups":
        return {"lookup_key": {"S": f"mid:<{i}@example.com>"}, "ticket_id": {"S": f"t#{i}"}}
    return {"customer_id": {"S": f"cust#{i}"}, "name": {"S": f"Customer {i}"}, "ticket_count": {"N": "1"}}


def _fill(ddb: Any, size: int) -> None:
    for table in TABLES:
        for start in range(0, size, 25):
            batch = [{"PutRequest": {"Item": _items(table, i)}} for i in range(start, min(start + 25, size))]
            ddb.batch_write_item(RequestItems={table: batch})


def _transaction(tag: str) -> list[dict[str, Any]]:
    """What the pipeline writes for a new ticket: ticket, first message, three lookups, customer."""
    tid = f"new#{tag}"
    return [
        {"Put": {"TableName": "tickets", "Item": _ticket(tid, 0),
                 "ConditionExpression": "attribute_not_exists(ticket_id)"}},
        {"Put": {"TableName": "messages", "Item": _message(tid, 0)}},
        {"Put": {"TableName": "lookups", "Item": {"lookup_key": {"S": f"in:email:{tag}"}, "ticket_id": {"S": tid}}}},
        {"Put": {"TableName": "lookups", "Item": {"lookup_key": {"S": f"mid:<{tag}@x>"}, "ticket_id": {"S": tid}}}},
        {"Put": {"TableName": "lookups", "Item": {"lookup_key": {"S": f"tno:{tag}"}, "ticket_id": {"S": tid}}}},
        {"Update": {"TableName": "customers", "Key": {"customer_id": {"S": "cust#0"}},
                    "UpdateExpression": "SET ticket_count = ticket_count + :one, last_seen_at = :now",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":now": {"S": tag}}}},
    ]


def _median_ms(ddb: Any, label: str) -> float:
    ddb.transact_write_items(TransactItems=_transaction(f"{label}-warmup"))  # first call parses & caches
    times: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(times) < MIN_REPS or (len(times) < MAX_REPS and time.perf_counter() < deadline):
        items = _transaction(f"{label}-{len(times)}")
        start = time.perf_counter()
        ddb.transact_write_items(TransactItems=items)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(sizes: tuple[int, ...] = (100, 1000, 10000)) -> list[dict[str, Any]]:
    """Median ms per transaction for each size, stock moto then patched, in one mock per size."""
    results: list[dict[str, Any]] = []
    for size in sizes:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=REGION)
            for name, spec in TABLES.items():
                ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
            _fill(ddb, size)
            moto_patch.remove()
            stock = _median_ms(ddb, f"stock-{size}")
            if not moto_patch.apply():
                raise SystemExit("moto is not the version the patch is pinned to")
            try:
                patched = _median_ms(ddb, f"patched-{size}")
            finally:
                moto_patch.remove()
        results.append({"size": size, "stock_ms": stock, "patched_ms": patched, "patched_over_stock": patched / stock})
    return results


def _print(results: list[dict[str, Any]]) -> None:
    print("TransactWriteItems (6 writes, 4 tables), median ms per transaction")
    print(f"{'items/table':>12} {'stock ms':>10} {'patched ms':>11} {'patched/stock':>14}")
    for r in results:
        print(f"{r['size']:>12,} {r['stock_ms']:>10.2f} {r['patched_ms']:>11.2f} {r['patched_over_stock']:>14.3f}")
    small, large = results[0], results[-1]
    print(
        f"largest/smallest ({large['size']:,} vs {small['size']:,} items): "
        f"stock {large['stock_ms'] / small['stock_ms']:.1f}x, "
        f"patched {large['patched_ms'] / small['patched_ms']:.2f}x"
    )


if __name__ == "__main__":
    started = time.perf_counter()
    _print(run())
    print(f"(total {time.perf_counter() - started:.1f} s)")
