"""``kpi_stream``: the tickets table's stream, measured — EMF metrics and the daily KPI aggregates.

The stream's second reader (``ticket_stream`` reacts). It waits for up to 5
minutes of changes, so a day's aggregate items (1-2 KB each on a busy desk) are
written once per 5 minutes for every change in them, not once per 30 s.
"""
from __future__ import annotations

from collections.abc import Iterable

from chalicelib.service import measure, measures
from chalicelib.service.change_events import publish_all
from chalicelib.storage import aggregates
from chalicelib.storage.ticket_stream import StoredChange, batch_token

__all__ = ["measure_all"]


def measure_all(stored: Iterable[StoredChange]) -> int:
    """Measure every event of the batch's changes (``measures.MEASURES``), the aggregates with one update per
    series and day. Returns the events.

    A measure that fails is logged and the batch goes on; only the aggregates' write
    fails the batch, delivered again under the same token (counted once).
    """
    stored = list(stored)
    with measure.batched() as tallies:
        published = publish_all(stored, measures.publish)
    aggregates.record_all(tallies, token=batch_token(stored, "kpi_stream"))
    return published
