"""Concurrency helpers for tests against a moto server: moto made atomic, threads started together."""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


def make_moto_requests_atomic(monkeypatch: Any) -> None:
    """Serialise moto's DynamoDB and SQS requests, as AWS isolates each one.

    The moto server answers each request on its own thread without locking its
    backends: two concurrent UpdateItem ADDs on the ticket counter sometimes returned
    the same value, two TransactWriteItems could both pass a does-not-exist condition,
    and moto applies a transaction item by item and rolls back on a failed condition,
    so an unlocked GetItem can see a claim that is then undone. DynamoDB does none of
    that (TransactWriteItems is serializable against GetItem and Query); these tests
    are about our code, not moto's isolation.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import SQSBackend

    lock = threading.RLock()  # re-entrant: transact_write_items calls put_item/update_item

    def atomic(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query", "scan"):
        monkeypatch.setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))
    for name in ("send_message", "receive_message", "delete_message", "change_message_visibility"):
        monkeypatch.setattr(SQSBackend, name, atomic(getattr(SQSBackend, name)))


def run_together(count: int, target: Callable[[int], Any]) -> None:
    """Start ``count`` threads on ``target(index)`` at the same moment; re-raise the first error."""
    start, errors = threading.Barrier(count), []

    def run(index: int) -> None:
        try:
            start.wait(timeout=30)
            target(index)
        except BaseException as err:  # noqa: BLE001 - reported to the test below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
