"""Every DynamoDB read and write the pipeline makes, by key or index only (never Scan).

The pipeline batches its reads into one BatchGetItem and folds its writes into
one TransactWriteItems, so a new email ticket costs a fixed, small number of
calls (see ``make bench``).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.storage.exceptions import DuplicateDelivery, RejectedWrite, TransactionCancelled
from chalicelib.storage.models import LookupModel, TicketModel

_MAX_BATCH_GET = 100  # DynamoDB BatchGetItem limit
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit, attribute names included
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
_COUNTER_KEY = "counter:ticket-number"


def fetch_lookups(keys: Iterable[str]) -> dict[str, LookupModel]:
    unique = list(dict.fromkeys(keys))[:_MAX_BATCH_GET]
    if not unique:
        return {}
    # Strongly consistent: the previous message of the conversation may have written these a moment ago.
    return {item.lookup_key: item for item in LookupModel.batch_get(unique, consistent_read=True)}


def get_ticket(ticket_id: str) -> TicketModel | None:
    try:
        return TicketModel.get(ticket_id, consistent_read=True)
    except DoesNotExist:
        return None


class _NumberBlock:
    """Ticket numbers come from one atomic counter; a block > 1 spreads its load.

    One DynamoDB item sustains about 1,000 writes/s. With ``TICKET_NUMBER_BLOCK``
    = N each Lambda copy reserves N numbers per counter write: still unique,
    ordered per copy, with gaps when a copy ends before using its block.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next = 1
        self.end = 0

    def take(self) -> int:
        with self.lock:
            if self.next > self.end:
                size = max(1, config.int_setting("TICKET_NUMBER_BLOCK"))
                counter = LookupModel(_COUNTER_KEY)
                counter.update(actions=[LookupModel.value.add(size)])
                self.end = int(counter.value)
                self.next = self.end - size + 1
            number = self.next
            self.next += 1
            return number


_numbers = _NumberBlock()


def next_ticket_number() -> int:
    return _numbers.take()


def reset_number_block() -> None:
    global _numbers
    _numbers = _NumberBlock()


@dataclass
class Writes:
    """The writes of one pipeline step, committed together or not at all."""

    saves: list[tuple[Any, Any]] = field(default_factory=list)  # (model, condition)
    updates: list[tuple[Any, list[Any], Any, bool]] = field(default_factory=list)
    idempotency_key: str | None = None  # the lookup whose condition marks a duplicate

    def save(self, model: Any, condition: Any = None) -> None:
        self.saves.append((model, condition))

    def update(self, model: Any, actions: list[Any], condition: Any = None, *, version_check: bool = True) -> None:
        self.updates.append((model, actions, condition, version_check))


def check(writes: Writes) -> None:
    """Raise ``RejectedWrite`` now for writes DynamoDB would refuse on every attempt (no AWS call).

    Run before anything else is stored for the message (its attachments in S3),
    so a message that can never be written leaves nothing behind.
    """
    for model, *_ in [*writes.saves, *writes.updates]:
        hash_name, range_name = model._hash_keyname, model._range_keyname
        for name, limit in ((hash_name, MAX_PARTITION_KEY_BYTES), (range_name, MAX_SORT_KEY_BYTES)):
            value = getattr(model, name) if name else None
            size = len(str(value).encode("utf-8", "surrogatepass")) if value is not None else 0
            if size > limit:
                raise RejectedWrite(f"{type(model).__name__} key {name} is {size:,} bytes; DynamoDB allows {limit:,}")
    for model, _ in writes.saves:
        size = item_size(model.serialize())
        if size > MAX_ITEM_BYTES:
            raise RejectedWrite(f"{type(model).__name__} item would be {size / 1024:,.0f} KB; "
                                f"DynamoDB allows {MAX_ITEM_BYTES // 1024} KB")


def item_size(serialized: dict[str, Any]) -> int:
    """DynamoDB's size of an item: names plus values (UTF-8 strings, numbers ~1 byte per 2 digits)."""
    return sum(len(name.encode("utf-8", "surrogatepass")) + _value_size(value) for name, value in serialized.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8", "surrogatepass"))
    if kind == "N":
        return len(str(data)) // 2 + 2
    if kind == "B":
        return len(data)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in data)
    if kind == "M":
        return 3 + item_size(data)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    return 1  # BOOL, NULL


def commit(writes: Writes) -> None:
    """One TransactWriteItems. Raises DuplicateDelivery when the idempotency key already exists,
    RejectedWrite when DynamoDB refuses the items themselves (ValidationException: no retry helps),
    TransactionCancelled with each write's reason code when a condition failed."""
    try:
        with TransactWrite(connection=LookupModel._get_connection().connection) as transaction:
            for model, condition in writes.saves:
                transaction.save(model, condition=condition)
            for model, actions, condition, version_check in writes.updates:
                transaction.update(model, actions=actions, condition=condition, add_version_condition=version_check)
    except TransactWriteError as err:
        if writes.idempotency_key and _failed_on(err, writes):
            raise DuplicateDelivery(writes.idempotency_key) from err
        if err.cause_response_code == "ValidationException":
            raise RejectedWrite(f"DynamoDB refused the message's items: {err.cause_response_message}") from err
        reasons = err.cancellation_reasons or []
        if reasons:
            raise TransactionCancelled([reason.code if reason is not None else None for reason in reasons]) from err
        raise


def _failed_on(err: TransactWriteError, writes: Writes) -> bool:
    reasons = err.cancellation_reasons or []
    for (model, _), reason in zip(writes.saves, reasons):
        if (
            isinstance(model, LookupModel)
            and model.lookup_key == writes.idempotency_key
            and reason is not None
            and reason.code == "ConditionalCheckFailed"
        ):
            return True
    return False
