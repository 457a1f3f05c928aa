"""``ticket_stream``'s edge: a DynamoDB Streams batch of ticket changes → their reactions (every 30 s).

The records are decoded by storage and read for their events by the service
(``service/ticket_stream.py``); the KPI measures are the stream's other reader's
(``measure_stream.py``). Like the sweep, the services load on the first batch,
not at every function's cold start.
"""
from __future__ import annotations

from typing import Any

from chalicelib.pipeline import stream_batch

__all__ = ["process_batch"]


def process_batch(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    """The whole batch's reactions, or an exception (the stream hands it over again)."""
    from chalicelib.service import ticket_stream

    return stream_batch.read(event, context, ticket_stream.react)
