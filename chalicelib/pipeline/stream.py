"""The ``ticket_stream`` consumer's edge: a DynamoDB Streams batch of ticket changes → their reactions.

The records are decoded by storage and read for their events by the service
(``service/ticket_stream.py``). The batch either completes or fails whole:
the stream hands it over again from the start, and the aggregates' token
keeps a second delivery from counting twice. Like the sweep, the services load
on the first batch, not at every function's cold start.
"""
from __future__ import annotations

from typing import Any

from chalicelib.invocation import deadline_of
from chalicelib.observability import logger

__all__ = ["process_batch"]


def process_batch(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    """The whole batch, or an exception (the stream hands it over again). The answer is the partial
    batch response Lambda reads with ``ReportBatchItemFailures``: nothing failed on its own."""
    from chalicelib.service import ticket_stream
    from chalicelib.storage.ticket_stream import stored_changes

    with deadline_of(context):
        changes = stored_changes(event.get("Records") or [])
        published = ticket_stream.react(changes)
    logger.info("ticket changes read", extra={"changes": len(changes), "events": published})
    return {"batchItemFailures": []}
