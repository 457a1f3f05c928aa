"""Keep moto's TransactWriteItems linear (roll back touched items, not whole tables), and make each DynamoDB
request atomic, as DynamoDB's are.

Why this exists: moto 5.2.5 ``DynamoDBBackend.transact_write_items`` deep-copies
every table a transaction names before applying it, so that it can roll back on
failure. Each transaction therefore costs O(items in the table), and the offline
harness slows down as a test fills its tables (19 ms at ~400 items, 110 ms at
~2,400). This module swaps in a copy of that method which differs only in the
backup: it snapshots each touched item (a deepcopy, or "did not exist") and the
table's stream records, and on rollback restores exactly those. Validation,
errors and cancellation reasons are moto's, line for line.

moto does not serialise requests: two threads (the moto server's request threads, or a
route and the event pump of ``make local`` and the browser tests) interleave inside one
conditional write, both pass the condition and one update is lost. The code relies on
DynamoDB's atomic conditional writes (the optimistic retries, the claims), so ``apply()``
also runs every DynamoDB request under one lock.

moto's Query on a table's own key reads every item of every partition, sorted
(``Table.all_items``), to keep one partition's: O(items in the table) per Query, where
DynamoDB reads the one partition. The pipeline's stream reader queries a ticket's
messages for each customer who wrote, and a 10,000-event proof took twice as long.
``apply()`` also has such a Query see only its partition (``_PartitionQuery``); the
filtering, sorting, paging and answer are moto's.

Pinned to moto 5.2.5 (the method body below is that release's): on any other
version ``apply()`` warns and leaves moto alone. Only the local harness and its
tests import this module; Lambda code never does.
"""
from __future__ import annotations

import copy
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import moto
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, Table
from moto.dynamodb.responses import DynamoHandler

__all__ = ["PINNED_MOTO_VERSION", "apply", "remove"]

PINNED_MOTO_VERSION = "5.2.5"

_log = logging.getLogger(__name__)
_stock: Callable[..., None] | None = None  # moto's method while the patch is applied


def apply() -> bool:
    """Install the patch (idempotent); False, with a warning, if moto is not the pinned version."""
    global _stock
    if moto.__version__ != PINNED_MOTO_VERSION:
        msg = (
            f"moto_patch is pinned to moto {PINNED_MOTO_VERSION}, found {moto.__version__}; "
            "TransactWriteItems left unpatched (it copies whole tables)"
        )
        _log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return False
    if _stock is None:
        _stock = DynamoDBBackend.transact_write_items
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        _tokens.install()
        _atomic.install()
        _partition_query.install()
    _tokens.seen.clear()  # a new desk is a new account: tokens of an earlier one mean nothing (and would repeat)
    return True


def remove() -> None:
    """Put moto's own method back (no-op when the patch is not applied)."""
    global _stock
    if _stock is not None:
        DynamoDBBackend.transact_write_items = _stock  # type: ignore[method-assign]
        _stock = None
        _tokens.uninstall()
        _atomic.uninstall()
        _partition_query.uninstall()


class _RequestTokens:
    """TransactWriteItems' ``ClientRequestToken``, as DynamoDB honours it and moto 5.2.5 does not.

    DynamoDB: a request repeating a token used in the last 10 minutes succeeds without being applied
    again; the same token with other items is ``IdempotentParameterMismatchException``. The ticket
    stream's aggregates rely on it (a batch delivered again after a write that was applied but answered
    with an error must not be counted twice), and the fault proofs inject exactly that.
    """

    WINDOW_SECONDS = 600

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, float]] = {}
        self._stock: Callable[..., Any] | None = None

    def install(self) -> None:
        from moto.dynamodb.responses import DynamoHandler

        if self._stock is None:
            self._stock = DynamoHandler.transact_write_items
            tokens = self

            def transact_write_items(handler: Any) -> Any:
                return tokens.call(handler)

            DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.dynamodb.responses import DynamoHandler

        if self._stock is not None:
            DynamoHandler.transact_write_items = self._stock  # type: ignore[method-assign]
            self._stock = None
        self.seen.clear()

    def call(self, handler: Any) -> Any:
        import hashlib
        import json
        import time

        from moto.core.responses import ActionResult
        from moto.dynamodb.exceptions import MockValidationException

        token = handler.body.get("ClientRequestToken")
        if not token:
            return self._stock(handler)
        now = time.monotonic()
        digest = hashlib.sha256(json.dumps(handler.body["TransactItems"], sort_keys=True).encode()).hexdigest()
        seen = self.seen.get(token)
        if seen is not None and now - seen[1] < self.WINDOW_SECONDS:
            if seen[0] != digest:
                error = MockValidationException("IdempotentParameterMismatch: the token was used with other items")
                error.error_type = "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"
                raise error
            return ActionResult({})  # applied already: succeed without applying again
        result = self._stock(handler)
        self.seen[token] = (digest, now)
        return result


_tokens = _RequestTokens()


class _AtomicRequests:
    """Every DynamoDB request under one lock: a condition is checked and its write applied with no other
    request in between, as DynamoDB does per item (and per transaction). A local harness serves a handful of
    threads, so one lock costs nothing worth measuring."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._stock: Callable[..., Any] | None = None

    def install(self) -> None:
        if self._stock is None:
            stock = self._stock = DynamoHandler.call_action
            lock = self.lock

            def call_action(handler: Any) -> Any:
                with lock:
                    return stock(handler)

            DynamoHandler.call_action = call_action  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._stock is not None:
            DynamoHandler.call_action = self._stock  # type: ignore[method-assign]
            self._stock = None


_atomic = _AtomicRequests()


class _PartitionQuery:
    """A Query on a table's own hash key (no index) hands moto's ``Table.query`` that one partition where it
    asks ``all_items()``, in the order ``all_items`` gives (by range key). Index queries, and tables without a
    range key, keep moto's path. The partition is noted per thread, so another thread reading the table
    meanwhile (a test looking into moto's backend) sees every item."""

    def __init__(self) -> None:
        self.scope = threading.local()
        self._stock: tuple[Callable[..., Any], Callable[..., Any]] | None = None

    def install(self) -> None:
        if self._stock is not None:
            return
        stock_query, stock_all_items = self._stock = Table.query, Table.all_items
        scope = self.scope

        def all_items(table: Table) -> list[Item]:
            partition = getattr(scope, "partition", None)
            if partition is not None and partition[0] is table:
                return sorted(partition[1].values(), key=lambda item: item.range_key)
            return stock_all_items(table)

        def query(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
            index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
            if index_name or hash_key is None or not table.range_key_attr:
                return stock_query(table, hash_key, *args, **kwargs)
            scope.partition = (table, table.items.get(hash_key, {}))
            try:
                return stock_query(table, hash_key, *args, **kwargs)
            finally:
                scope.partition = None

        Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._stock is not None:
            Table.query, Table.all_items = self._stock  # type: ignore[method-assign]
            self._stock = None


_partition_query = _PartitionQuery()


@dataclass
class _SavedItem:
    """One touched item as it was before the transaction; ``old`` None means it did not exist."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    old: Item | None
    # Range tables: moto's get_item reads table.items (a defaultdict) by hash key,
    # which leaves an empty bucket behind; drop it again if it was not there before.
    bucket_existed: bool

    def restore(self) -> None:
        items = self.table.items
        if not self.table.has_range_key:
            if self.old is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = self.old
            return
        if self.old is not None:
            items[self.hash_key][self.range_key] = self.old
            return
        bucket = items.get(self.hash_key)
        if bucket is not None:
            bucket.pop(self.range_key, None)
            if not bucket and not self.bucket_existed:
                del items[self.hash_key]


@dataclass
class _SavedStream:
    """A table's stream records before the transaction (writes append; an ESM send replaces the list)."""

    table: Table
    records: list[StreamRecord]
    length: int

    def restore(self) -> None:
        del self.records[self.length :]
        self.table.stream_shard.items = self.records  # type: ignore[union-attr]


class _Backup:
    """What a transaction touched, so a rollback costs O(touched items), not O(table)."""

    def __init__(self) -> None:
        self.items: list[_SavedItem] = []
        self.streams: dict[str, _SavedStream] = {}

    def save(self, backend: DynamoDBBackend, table_name: str, key: dict[str, Any]) -> None:
        # Raises exactly what the backend.get_item call that follows would raise.
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        bucket = table.items.get(hash_key)  # .get: a [] lookup would create the bucket
        if table.has_range_key:
            old = bucket.get(range_key) if bucket is not None else None
        else:
            old = bucket
        saved = copy.deepcopy(old) if old is not None else None  # Update mutates items in place
        self.items.append(_SavedItem(table, hash_key, range_key, saved, bucket is not None))
        shard = table.stream_shard
        if shard is not None and table_name not in self.streams:
            self.streams[table_name] = _SavedStream(table, shard.items, len(shard.items))

    def rollback(self) -> None:
        # Newest first, so a bucket's first toucher (which saw the original bucket) decides last.
        for saved in reversed(self.items):
            saved.restore()
        for stream in self.streams.values():
            stream.restore()


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's transact_write_items with per-item backup; marked ``# patch`` where it differs."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    backup = _Backup()  # patch: instead of deep-copying each named table

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)
            backup.save(self, table_name, key)  # patch: before anything reads or writes it

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            backup.rollback()  # patch
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore
        except Exception as e:  # noqa: BLE001 - moto reports any other failure as a reason
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore

    if any(code is not None for code, _, _ in errors):
        backup.rollback()  # patch
        raise TransactionCanceledException(errors)
