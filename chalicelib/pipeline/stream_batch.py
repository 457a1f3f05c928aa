"""One DynamoDB Streams batch of the tickets table, decoded and handed to one reader, whole or not at all.

Both of the stream's functions (``ticket_stream``: ``stream.py``; ``kpi_stream``:
``measure_stream.py``) answer Lambda the same way: the batch completes, or an
exception makes the stream hand it over again from the start (the aggregates'
token keeps a second delivery from counting twice).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.invocation import deadline_of
from chalicelib.observability import logger

__all__ = ["read"]


def read(event: dict[str, Any], context: Any, reader: Callable[[list[Any]], int]) -> dict[str, list[Any]]:
    """``reader`` (which returns the events it read) over the batch's ``StoredChange``s. The answer is the
    partial batch response Lambda reads with ``ReportBatchItemFailures``: nothing failed on its own."""
    # Here, not at the top: app.py imports this module in every function, and the decoder loads PynamoDB's
    # attribute types (3.6 ms of a cold start, make bench section 1) that only the stream readers use.
    from chalicelib.storage.ticket_stream import stored_changes

    with deadline_of(context):
        changes = stored_changes(event.get("Records") or [])
        published = reader(changes)
    logger.info("ticket changes read", extra={"changes": len(changes), "events": published,
                                              "reader": getattr(reader, "__module__", "")})
    return {"batchItemFailures": []}
