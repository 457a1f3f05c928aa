"""The moto TransactWriteItems patch keeps moto's semantics and stops copying whole tables.

Cost is proven by counting deep-copied ``Item`` objects, not by timing: these
tests run on shared, noisy machines.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item

from chalicelib.local import moto_patch

REGION = "us-east-1"
STOCK = DynamoDBBackend.transact_write_items


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def patched() -> Iterator[None]:
    assert moto_patch.apply() is True
    yield
    moto_patch.remove()


@pytest.fixture
def ddb(patched: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


# --- helpers -----------------------------------------------------------------

def create_table(ddb: Any, name: str, *, range_key: bool, stream: bool = False) -> None:
    """Key ``pk`` (+ ``sk``), and a GSI ``by_status`` on ``status``/``at`` like our tickets table."""
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "status", "at")]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    extra: dict[str, Any] = {}
    if stream:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        **extra,
    )


def key(pk: str, range_key: bool, sk: str = "m#1") -> dict[str, Any]:
    k = {"pk": {"S": pk}}
    if range_key:
        k["sk"] = {"S": sk}
    return k


def item(pk: str, range_key: bool, status: str = "open", n: int = 1, sk: str = "m#1") -> dict[str, Any]:
    return {**key(pk, range_key, sk), "status": {"S": status}, "at": {"S": f"2024-01-0{n}"}, "n": {"N": str(n)}}


def put(ddb: Any, table: str, attrs: dict[str, Any]) -> None:
    ddb.put_item(TableName=table, Item=attrs)


def get(ddb: Any, table: str, k: dict[str, Any]) -> dict[str, Any] | None:
    return ddb.get_item(TableName=table, Key=k, ConsistentRead=True).get("Item")


def state(ddb: Any, table: str) -> dict[str, Any]:
    """Everything a reader can see: all items (sorted), the GSI's open tickets, the item count."""
    items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    by_status = ddb.query(
        TableName=table,
        IndexName="by_status",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "open"}},
    )["Items"]
    return {
        "items": sorted(items, key=repr),
        "by_status": by_status,
        "count": ddb.describe_table(TableName=table)["Table"]["ItemCount"],
    }


def reasons(err: ClientError) -> list[str]:
    return [r["Code"] for r in err.response["CancellationReasons"]]


def fill(table_name: str, count: int, range_key: bool) -> None:
    """Load ``count`` items straight into moto's table: the test is about moto, not about boto."""
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[table_name]
    for i in range(count):
        table.put_item(item(f"bulk#{i}", range_key, status="closed", n=i % 9 + 1))


def count_item_copies(run: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> int:
    """How many moto ``Item`` objects were deep-copied while ``run`` ran.

    Counted in ``Item.__deepcopy__``, which every deepcopy of an item reaches,
    including the stdlib's own recursion through a copied table's dicts.
    """
    real = Item.__deepcopy__
    copied = 0

    def counting(self: Item, memo: dict[int, Any]) -> Item:
        nonlocal copied
        copied += 1
        return real(self, memo)

    with monkeypatch.context() as m:
        m.setattr(Item, "__deepcopy__", counting)
        run()
    return copied


# --- semantics ---------------------------------------------------------------

@pytest.mark.parametrize("range_key", [False, True], ids=["hash-only", "hash+range"])
def test_successful_transaction_applies_every_write(ddb: Any, range_key: bool) -> None:
    create_table(ddb, "t", range_key=range_key)
    put(ddb, "t", item("existing", range_key, n=1))
    put(ddb, "t", item("checked", range_key, n=2))

    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": item("new", range_key, n=3),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": "t", "Key": key("existing", range_key),
                        "UpdateExpression": "SET #n = #n + :one, note = :note",
                        "ExpressionAttributeNames": {"#n": "n"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":note": {"S": "hi"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": key("checked", range_key),
                                "ConditionExpression": "attribute_exists(pk)"}},
        ]
    )

    assert get(ddb, "t", key("new", range_key)) == item("new", range_key, n=3)
    updated = get(ddb, "t", key("existing", range_key))
    assert updated is not None and updated["n"] == {"N": "2"} and updated["note"] == {"S": "hi"}
    assert get(ddb, "t", key("checked", range_key)) == item("checked", range_key, n=2)
    assert state(ddb, "t")["count"] == 3


@pytest.mark.parametrize("range_key", [False, True], ids=["hash-only", "hash+range"])
def test_cancelled_transaction_leaves_every_touched_item_unchanged(ddb: Any, range_key: bool) -> None:
    create_table(ddb, "t", range_key=range_key)
    for pk, n in (("updated", 1), ("deleted", 2), ("checked", 3), ("untouched", 4)):
        put(ddb, "t", item(pk, range_key, n=n))
    before = state(ddb, "t")

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": item("new", range_key, n=5)}},
                {"Update": {"TableName": "t", "Key": key("updated", range_key),
                            "UpdateExpression": "SET #s = :closed, extra = :x",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":closed": {"S": "closed"}, ":x": {"S": "x"}}}},
                {"Update": {"TableName": "t", "Key": key("upserted", range_key),
                            "UpdateExpression": "SET #s = :open, #a = :at",
                            "ExpressionAttributeNames": {"#s": "status", "#a": "at"},
                            "ExpressionAttributeValues": {":open": {"S": "open"}, ":at": {"S": "2024-02-01"}}}},
                {"Delete": {"TableName": "t", "Key": key("deleted", range_key)}},
                {"ConditionCheck": {"TableName": "t", "Key": key("checked", range_key),
                                    "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        )

    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert reasons(caught.value) == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert get(ddb, "t", key("new", range_key)) is None
    assert get(ddb, "t", key("upserted", range_key)) is None
    assert get(ddb, "t", key("updated", range_key)) == item("updated", range_key, n=1)
    assert get(ddb, "t", key("deleted", range_key)) == item("deleted", range_key, n=2)
    assert get(ddb, "t", key("untouched", range_key)) == item("untouched", range_key, n=4)
    assert state(ddb, "t") == before  # scan, GSI query and item count


def test_failed_check_first_still_rolls_back_later_writes(ddb: Any) -> None:
    create_table(ddb, "t", range_key=True)
    put(ddb, "t", item("a", True, sk="m#1"))
    before = state(ddb, "t")

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"ConditionCheck": {"TableName": "t", "Key": key("a", True, "m#1"),
                                    "ConditionExpression": "#s = :closed",
                                    "ExpressionAttributeNames": {"#s": "status"},
                                    "ExpressionAttributeValues": {":closed": {"S": "closed"}}}},
                {"Put": {"TableName": "t", "Item": item("a", True, sk="m#2", n=2)}},  # same partition
            ]
        )

    assert reasons(caught.value) == ["ConditionalCheckFailed", "None"]
    assert state(ddb, "t") == before


def test_same_key_twice_is_a_validation_error_and_changes_nothing(ddb: Any) -> None:
    create_table(ddb, "t", range_key=False)
    put(ddb, "t", item("a", False))
    before = state(ddb, "t")

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": item("new", False, n=2)}},
                {"Update": {"TableName": "t", "Key": key("a", False), "UpdateExpression": "SET x = :x",
                            "ExpressionAttributeValues": {":x": {"S": "1"}}}},
                {"Delete": {"TableName": "t", "Key": key("a", False)}},
            ]
        )

    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "multiple operations on one item" in error["Message"]
    assert state(ddb, "t") == before


def test_all_old_comes_back_in_cancellation_reasons(ddb: Any) -> None:
    create_table(ddb, "t", range_key=True)
    put(ddb, "t", item("a", True, n=7))

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": item("b", True)}},
                {"ConditionCheck": {"TableName": "t", "Key": key("a", True),
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            ]
        )

    second = caught.value.response["CancellationReasons"][1]
    assert second["Code"] == "ConditionalCheckFailed"
    assert second["Item"] == item("a", True, n=7)
    assert get(ddb, "t", key("b", True)) is None


# --- same observable outcome as stock moto -----------------------------------

SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "cancelled": [
        {"Put": {"TableName": "s", "Item": item("new", True, sk="m#9")}},
        {"Update": {"TableName": "s", "Key": key("a", True), "UpdateExpression": "SET x = :x",
                    "ExpressionAttributeValues": {":x": {"S": "1"}}}},
        {"Delete": {"TableName": "s", "Key": key("b", True)}},
        {"ConditionCheck": {"TableName": "s", "Key": key("b", True), "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ],
    "validation_error_midway": [
        {"Put": {"TableName": "s", "Item": item("new", True, sk="m#9")}},
        {"Update": {"TableName": "s", "Key": key("a", True), "UpdateExpression": "SET x = :missing"}},
    ],
    "missing_table": [
        {"Put": {"TableName": "s", "Item": item("new", True, sk="m#9")}},
        {"Put": {"TableName": "nope", "Item": item("x", False)}},
    ],
    "committed": [
        {"Put": {"TableName": "s", "Item": item("new", True, sk="m#9")}},
        {"Delete": {"TableName": "s", "Key": key("b", True)}},
    ],
}


def outcome(transact_items: list[dict[str, Any]]) -> dict[str, Any]:
    """Run one transaction on a fresh streamed table; return the error, the table and its stream."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb, "s", range_key=True, stream=True)
        put(ddb, "s", item("a", True))
        put(ddb, "s", item("b", True, n=2))
        error: dict[str, Any] | None = None
        try:
            ddb.transact_write_items(TransactItems=transact_items)
        except ClientError as e:
            error = {"error": e.response["Error"], "reasons": e.response.get("CancellationReasons")}
        # moto 5.2.5 answers DescribeStream/GetShardIterator with 404, so read its shard.
        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables["s"].stream_shard
        records = [r.to_json() for r in shard.items]
        return {
            "error": error,
            "state": state(ddb, "s"),
            "stream": [(r["eventName"], r["dynamodb"]["Keys"]) for r in records],
        }


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_patched_outcome_equals_stock_moto(name: str) -> None:
    assert DynamoDBBackend.transact_write_items is STOCK
    stock = outcome(SCENARIOS[name])
    assert moto_patch.apply()
    try:
        patched = outcome(SCENARIOS[name])
    finally:
        moto_patch.remove()
    assert patched == stock
    if name != "committed":
        assert patched["error"] is not None and len(patched["stream"]) == 2  # only the two setup puts


# --- cost ----------------------------------------------------------------------

def one_transaction(ddb: Any, range_key: bool, tag: str) -> Callable[[], None]:
    """Six writes, as the pipeline does: ticket, message, lookups, customer update."""

    def run() -> None:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": item(f"ticket#{tag}", range_key),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": "t", "Item": item(f"msg#{tag}", range_key)}},
                *({"Put": {"TableName": "t", "Item": item(f"lookup#{tag}#{i}", range_key)}} for i in range(3)),
                {"Update": {"TableName": "t", "Key": key("bulk#0", range_key),
                            "UpdateExpression": "SET seen = :t", "ExpressionAttributeValues": {":t": {"S": tag}}}},
            ]
        )

    return run


def copies_per_transaction(ddb: Any, size: int, range_key: bool, monkeypatch: pytest.MonkeyPatch) -> int:
    name = "t"
    if ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=name)
    create_table(ddb, name, range_key=range_key)
    fill(name, size, range_key)
    return count_item_copies(one_transaction(ddb, range_key, f"{size}"), monkeypatch)


@pytest.mark.parametrize("range_key", [False, True], ids=["hash-only", "hash+range"])
def test_deep_copies_per_transaction_do_not_grow_with_the_table(
    ddb: Any, range_key: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = copies_per_transaction(ddb, 100, range_key, monkeypatch)
    large = copies_per_transaction(ddb, 10_000, range_key, monkeypatch)

    assert small == large
    # One touched item already existed (the Update): our snapshot plus update_item's own copy.
    assert 1 <= large <= 2 * 6


def test_stock_moto_copies_the_whole_table(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    moto_patch.remove()
    assert copies_per_transaction(ddb, 1_000, False, monkeypatch) >= 1_000


# --- apply / remove ------------------------------------------------------------

def test_apply_is_idempotent_and_remove_restores_stock(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    patched_method = DynamoDBBackend.transact_write_items
    assert patched_method is not STOCK
    assert moto_patch.apply() is True
    assert DynamoDBBackend.transact_write_items is patched_method  # not wrapped twice

    moto_patch.remove()
    moto_patch.remove()
    assert DynamoDBBackend.transact_write_items is STOCK
    assert copies_per_transaction(ddb, 500, False, monkeypatch) >= 500  # whole-table copy is back


def test_apply_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.warns(RuntimeWarning, match="pinned to moto 5.2.5"):
        assert moto_patch.apply() is False
    assert DynamoDBBackend.transact_write_items is STOCK


# --- ClientRequestToken, as DynamoDB honours it -------------------------------------------------------


def _add_one(token: str, amount: str = "1") -> dict[str, Any]:
    return {"ClientRequestToken": token, "TransactItems": [
        {"Update": {"TableName": "t", "Key": key("counter", False), "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": amount}}}}]}


def test_a_repeated_client_request_token_succeeds_without_applying_again(ddb: Any) -> None:
    create_table(ddb, "t", range_key=False)
    ddb.transact_write_items(**_add_one("batch-1"))
    ddb.transact_write_items(**_add_one("batch-1"))  # a retry of a request that was applied
    ddb.transact_write_items(**_add_one("batch-2"))

    assert get(ddb, "t", key("counter", False))["n"] == {"N": "2"}


def test_a_token_reused_with_other_items_is_refused(ddb: Any) -> None:
    create_table(ddb, "t", range_key=False)
    ddb.transact_write_items(**_add_one("batch-1"))
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(**_add_one("batch-1", amount="5"))

    assert "IdempotentParameterMismatch" in str(refused.value)
    assert get(ddb, "t", key("counter", False))["n"] == {"N": "1"}


# --- atomic requests ---------------------------------------------------------------

def _racing_increments(ddb: Any, *, threads: int = 4, each: int = 40) -> tuple[int, int]:
    """``threads`` workers each commit ``each`` read-then-conditional-write increments of one counter (a
    transaction, as ``changes.apply`` writes a ticket and its audit entry); returns (commits, counter)."""
    create_table(ddb, "t", range_key=False)
    create_table(ddb, "audit", range_key=False)
    put(ddb, "t", item("a", False, n=0))
    committed = [0] * threads

    def work(worker: int) -> None:
        client = boto3.client("dynamodb", region_name=REGION)
        for step in range(each):
            while True:
                seen = get(client, "t", key("a", False))["n"]["N"]
                try:
                    client.transact_write_items(TransactItems=[
                        {"Update": {"TableName": "t", "Key": key("a", False), "UpdateExpression": "SET n = :new",
                                    "ConditionExpression": "n = :seen",
                                    "ExpressionAttributeValues": {":new": {"N": str(int(seen) + 1)},
                                                                  ":seen": {"N": seen}}}},
                        {"Put": {"TableName": "audit", "Item": item(f"{worker}-{step}", False)}}])
                except ClientError:
                    continue  # lost the race: read again
                committed[worker] += 1
                break

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython can, so an unguarded window shows
    try:
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switch)
    return sum(committed), int(get(ddb, "t", key("a", False))["n"]["N"])


def test_conditional_writes_from_many_threads_lose_no_update(ddb: Any) -> None:
    """Each commit passed ``n = seen``, so the counter must equal the commits; without the lock two threads
    pass the same condition and one increment vanishes (the browser tests' lost kb answer)."""
    commits, counter = _racing_increments(ddb)
    assert commits == 160
    assert counter == commits


# --- Query on a table's own key: one partition -------------------------------------------------------------

def _queries(ddb: Any) -> list[dict[str, Any]]:
    """The same Queries as the app makes on a table's own key: a prefix, newest first, pages, a filter."""
    def run(**kwargs: Any) -> list[Any]:
        pages, start = [], None
        while True:
            page = ddb.query(TableName="q", **kwargs, **({"ExclusiveStartKey": start} if start else {}))
            pages.append([item["sk"]["S"] for item in page["Items"]])
            start = page.get("LastEvaluatedKey")
            if not start:
                return pages

    key = {":p": {"S": "p-7"}}
    return [
        run(KeyConditionExpression="pk = :p", ExpressionAttributeValues=key),
        run(KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
            ExpressionAttributeValues={**key, ":s": {"S": "2026-12-05T10:00:03"}}),
        run(KeyConditionExpression="pk = :p", ExpressionAttributeValues=key, ScanIndexForward=False, Limit=3),
        run(KeyConditionExpression="pk = :p AND sk > :s", FilterExpression="#s = :open",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={**key, ":s": {"S": "2026-12-05T10:00:05"}, ":open": {"S": "open"}}),
        run(KeyConditionExpression="pk = :nobody", ExpressionAttributeValues={":nobody": {"S": "p-none"}}),
        run(IndexName="by_status", KeyConditionExpression="#s = :open", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":open": {"S": "open"}}, Limit=4),
    ]


def _fill_partitions(ddb: Any, partitions: int, per_partition: int) -> None:
    create_table(ddb, "q", range_key=True)
    for p in range(partitions):
        for n in range(per_partition):
            ddb.put_item(TableName="q", Item={"pk": {"S": f"p-{p}"}, "sk": {"S": f"2026-12-05T10:00:0{n}#{p}"},
                                              "status": {"S": "open" if n % 2 else "solved"},
                                              "at": {"S": f"{n:03d}"}})


def test_a_query_on_the_tables_key_answers_as_stock_moto_does(ddb: Any) -> None:
    _fill_partitions(ddb, partitions=12, per_partition=8)
    patched = _queries(ddb)
    moto_patch.remove()
    try:
        assert patched == _queries(ddb)
    finally:
        moto_patch.apply()


def test_a_query_on_the_tables_key_reads_its_partition_not_the_table(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted: the items moto's query sorts through, for one partition of 8 in tables of 10 and 200 partitions."""
    from moto.dynamodb.models.table import Table

    seen: list[int] = []
    patched_all_items = Table.all_items

    def counting(table: Any) -> list[Any]:
        items = patched_all_items(table)
        seen.append(len(items))
        return items

    monkeypatch.setattr(Table, "all_items", counting)
    _fill_partitions(ddb, partitions=200, per_partition=8)
    ddb.query(TableName="q", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p-7"}})
    assert seen == [8]
