"""``kpi_stream``'s edge: a DynamoDB Streams batch of ticket changes (up to 5 minutes of them) → measured.

Its own module, apart from ``stream.py``: what a function's code can reach is what
its role is granted (tests/integration/test_least_privilege.py), and measuring
reaches the aggregates, not the services the reactions call.
"""
from __future__ import annotations

from typing import Any

from chalicelib.pipeline import stream_batch

__all__ = ["measure_batch"]


def measure_batch(event: dict[str, Any], context: Any) -> dict[str, list[Any]]:
    """The whole batch measured, or an exception (the stream hands it over again)."""
    from chalicelib.service import kpi_stream

    return stream_batch.read(event, context, kpi_stream.measure_all)
