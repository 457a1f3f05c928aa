"""Every DynamoDB read and write the pipeline makes, by key or index only (never Scan).

The pipeline batches its reads into one BatchGetItem and folds its writes into
one TransactWriteItems, so a new email ticket costs a fixed, small number of
calls (see ``make bench``).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.storage.exceptions import DuplicateDelivery, RejectedWrite, TransactionCancelled, error_code, error_message
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
    """The writes of one pipeline step, committed together or not at all.

    ``check`` serialises each saved item once to size it; ``commit`` sends that
    same serialisation instead of asking PynamoDB for another (PynamoDB's
    serialisation is a large part of the pipeline's own time: ``make bench`` section 10).
    A saved model changed after ``check`` must be passed to ``changed``.
    """

    saves: list[tuple[Any, Any]] = field(default_factory=list)  # (model, condition)
    updates: list[tuple[Any, list[Any], Any, bool]] = field(default_factory=list)
    idempotency_key: str | None = None  # the lookup whose condition marks a duplicate
    guard: Any = None  # a saved model whose failed condition also marks a duplicate (a new ticket's own item)
    _serialized: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)  # id(model) -> its item

    def save(self, model: Any, condition: Any = None) -> None:
        self.saves.append((model, condition))

    def update(self, model: Any, actions: list[Any], condition: Any = None, *, version_check: bool = True) -> None:
        self.updates.append((model, actions, condition, version_check))

    def changed(self, model: Any, *names: str) -> None:
        """``model`` was changed after ``check``: serialise the attributes ``names`` again (every attribute
        when none is named) when it is committed, as ``Model.serialize`` would."""
        item = self._serialized.get(id(model))
        if item is None or not names:
            self._serialized.pop(id(model), None)
            return
        from pynamodb.attributes import ListAttribute, MapAttribute

        attributes = model.get_attributes()
        for name in names:
            attribute, value = attributes[name], getattr(model, name)
            if isinstance(value, MapAttribute) and not value.validate(null_check=True):
                raise ValueError(f"Attribute '{name}' is not correctly typed")
            if isinstance(attribute, (ListAttribute, MapAttribute)):
                serialized = None if value is None else attribute.serialize(value, null_check=True)
            else:
                serialized = None if value is None else attribute.serialize(value)
            if serialized is None:
                item.pop(attribute.attr_name, None)
            else:
                item[attribute.attr_name] = {attribute.attr_type: serialized}

    def positions(self) -> list[tuple[int, Any]]:
        """Each model written with its position in the transaction (``commit`` sends saves, then updates):
        where ``TransactionCancelled.codes`` says why it failed."""
        return list(enumerate([model for model, _ in self.saves] + [model for model, *_ in self.updates]))

    def serialized(self, model: Any) -> dict[str, Any]:
        """The saved ``model`` as DynamoDB will store it (serialised once, until ``changed``)."""
        item = self._serialized.get(id(model))
        if item is None:
            item = self._serialized[id(model)] = model.serialize()
        return item


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
        item = writes.serialized(model)
        if _json_size(item) <= MAX_ITEM_BYTES:  # never less than item_size: the exact count only when it may matter
            continue
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise RejectedWrite(f"{type(model).__name__} item would be {size / 1024:,.0f} KB; "
                                f"DynamoDB allows {MAX_ITEM_BYTES // 1024} KB")


def _json_size(serialized: dict[str, Any]) -> int:
    """The item as ASCII JSON: at least ``item_size`` (every name and value is there, quoted, and a character
    is never fewer JSON characters than UTF-8 bytes); C-fast. Binary values have no JSON: counted exactly."""
    try:
        return len(json.dumps(serialized, separators=(",", ":")))
    except TypeError:
        return item_size(serialized)


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
        with _TransactWrite(connection=LookupModel._get_connection().connection) as transaction:
            for model, condition in writes.saves:
                transaction.save_serialized(model, writes.serialized(model), condition=condition)
            for model, actions, condition, version_check in writes.updates:
                transaction.update(model, actions=actions, condition=condition, add_version_condition=version_check)
    except TransactWriteError as err:
        if writes.idempotency_key and _failed_on(err, writes):
            raise DuplicateDelivery(writes.idempotency_key) from err
        if error_code(err) == "ValidationException":
            raise RejectedWrite(f"DynamoDB refused the message's items: {error_message(err)}") from err
        reasons = err.cancellation_reasons or []
        if reasons:
            raise TransactionCancelled([reason.code if reason is not None else None for reason in reasons]) from err
        raise


def _failed_on(err: TransactWriteError, writes: Writes) -> bool:
    reasons = err.cancellation_reasons or []
    for (model, _), reason in zip(writes.saves, reasons):
        if reason is None or reason.code != "ConditionalCheckFailed":
            continue
        if model is writes.guard or (isinstance(model, LookupModel) and model.lookup_key == writes.idempotency_key):
            return True
    return False


class _TransactWrite(TransactWrite):
    """PynamoDB's TransactWrite, taking a save's item already serialised (``Writes.serialized``).

    ``save_serialized`` builds the same Put that ``TransactWrite.save`` builds
    (``Model.get_save_kwargs_from_instance`` → ``_get_save_args``, PynamoDB 6.1)
    from the given item instead of serialising the model again;
    tests/integration/test_repository_writes.py compares the two requests.
    """

    def save_serialized(self, model: Any, item: dict[str, Any], condition: Any = None) -> None:
        from pynamodb.constants import ITEM

        attributes = dict(item)  # the key attributes are taken out below; the cached item stays whole
        hash_key_attribute = model._hash_key_attribute()
        hash_key = attributes.pop(hash_key_attribute.attr_name, {}).get(hash_key_attribute.attr_type)
        range_key = None
        range_key_attribute = model._range_key_attribute()
        if range_key_attribute:
            range_key = attributes.pop(range_key_attribute.attr_name, {}).get(range_key_attribute.attr_type)
        version_condition = model._handle_version_attribute(attributes=attributes)
        if version_condition is not None:
            condition &= version_condition
        self._put_items.append(model._get_connection().get_operation_kwargs(
            hash_key, range_key=range_key, key=ITEM, attributes=attributes, condition=condition,
            return_values_on_condition_failure=None))
        self._models_for_version_attribute_update.append(model)
