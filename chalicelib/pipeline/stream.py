"""The tickets table's stream readers' edge: a DynamoDB Streams batch of ticket changes → their reactions
(``ticket_stream``, every 30 s) or their measures (``kpi_stream``, every 5 minutes).

The records are decoded by storage and read for their events by the service
(``service/ticket_stream.py``). The batch either completes or fails whole:
the stream hands it over again from the start, and the aggregates' token
keeps a second delivery from counting twice. Like the sweep, the services load
on the first batch, not at every function's cold start.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.invocation import deadline_of
from chalicelib.observability import logger

__all__ = ["measure_batch", "process_batch"]


def process_batch(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    """``ticket_stream``: the whole batch's reactions, or an exception (the stream hands it over again). The
    answer is the partial batch response Lambda reads with ``ReportBatchItemFailures``: nothing failed on its own."""
    from chalicelib.service import ticket_stream

    return _read(event, context, ticket_stream.react)


def measure_batch(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    """``kpi_stream``: the whole batch measured, or an exception; answered as ``process_batch``."""
    from chalicelib.service import ticket_stream

    return _read(event, context, ticket_stream.measure_all)


def _read(event: dict[str, Any], context: Any, reader: Callable[[list[Any]], int]) -> dict[str, list[Any]]:
    from chalicelib.storage.ticket_stream import stored_changes

    with deadline_of(context):
        changes = stored_changes(event.get("Records") or [])
        published = reader(changes)
    logger.info("ticket changes read", extra={"changes": len(changes), "events": published,
                                              "reader": getattr(reader, "__name__", "")})
    return {"batchItemFailures": []}
