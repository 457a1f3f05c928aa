"""The inbox counters (``domain.inbox_counts``) as items of the aggregates table: one read for the console.

Items: series ``inbox#desk`` (status, priority, channel, queue, unassigned,
overdue) and ``inbox#<agent id>`` (``mine``), day ``live``, each count a flat
``c_<name>`` number — the aggregates' own shape, so ``ticket_stream`` moves them
with atomic ``ADD``s, one transaction per batch (``aggregates.record_all(adjustments=...)``;
the KPI aggregates are ``kpi_stream``'s), under the ClientRequestToken derived
from the stream batch: a batch delivered again is not counted twice.
``read`` is one BatchGetItem of two items.

``recount`` rebuilds them from the tickets (``python -m chalicelib.admin
recount-inbox``: one deliberate Scan) after an upgrade from a version without
counters, or if they ever drift; run it while the desk is quiet, since a change
stored during the recount may be counted twice or not at all.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from chalicelib.domain import inbox_counts
from chalicelib.storage import aggregates

__all__ = ["adjustments", "read", "recount"]

_DAY = "live"


def _series(owner: str) -> str:
    return f"inbox#{owner}"


def adjustments(moves: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], Counter]:
    """``{(owner, counter): delta}`` (``inbox_counts.moved`` summed over a batch) as the aggregate items'
    ``{(series, day): {counter: delta}}`` that ``aggregates.record_all`` applies."""
    per_item: dict[tuple[str, str], Counter] = {}
    for (owner, name), delta in moves.items():
        if delta:
            per_item.setdefault((_series(owner), _DAY), Counter())[name] += delta
    return per_item


def read(agent_id: str) -> tuple[dict[str, int], int]:
    """The desk's counters and the agent's ``mine``: one BatchGetItem."""
    from chalicelib.storage.models import AggregateModel

    desk_key, mine_key = (_series(inbox_counts.DESK), _DAY), (_series(agent_id), _DAY)
    found = {(item.series, item.day): item.counter_values() for item in AggregateModel.batch_get([desk_key, mine_key])}
    return found.get(desk_key, {}), max(0, found.get(mine_key, {}).get("mine", 0))


def recount() -> int:
    """Set every counter from the tickets as stored now; returns the active tickets counted."""
    from chalicelib.storage.models import AggregateModel, TicketModel

    totals: Counter = Counter()
    active = 0
    for ticket in TicketModel.scan(attributes_to_get=["status", "priority", "channel", "category", "assignee_id",
                                                      "overdue_at"]):
        counted = inbox_counts.counters_of(ticket)
        active += bool(counted)
        totals.update(counted)
    owners = {owner for owner, _ in totals} | {inbox_counts.DESK}
    stale = {item.series for item in AggregateModel.scan(AggregateModel.day == _DAY)
             if item.series.startswith("inbox#")}
    with AggregateModel.batch_write() as batch:
        for series in stale - {_series(owner) for owner in owners}:
            batch.delete(AggregateModel(series, _DAY))
        for owner in owners:
            item = AggregateModel(_series(owner), _DAY)
            item._numbers = {}
            batch.save(item)
    aggregates.record_all([], adjustments=adjustments(totals))
    return active
