"""The inbox counts an agent's console shows beside its views: mine, unassigned, overdue, and by status,
queue, priority and channel — active tickets only (open, pending, on hold).

Counters kept by the ticket stream's consumer (``domain.inbox_counts``,
``storage.ticket_counts``): one BatchGetItem per call, whatever the number of
tickets. They follow a stored change within the stream's delay (a second or
two), so a count can briefly trail the list it labels. Every known status,
priority, channel and queue (the triage rules' categories) is listed, with 0
when empty; a queue the rules no longer name still shows while it holds tickets.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import inbox_counts
from chalicelib.domain.vocabulary import ACTIVE_STATUSES, CHANNELS, PRIORITIES
from chalicelib.service import assign
from chalicelib.storage import ticket_counts

__all__ = ["counts"]


def counts(agent_id: str) -> dict[str, Any]:
    """``{"mine", "unassigned", "overdue", "by_status", "by_queue", "by_priority", "by_channel"}`` for active tickets."""
    desk, mine = ticket_counts.read(agent_id)

    def group(prefix: str, known: Any) -> dict[str, int]:
        found = inbox_counts.breakdown(desk, prefix)
        return {**dict.fromkeys(known, 0), **{name: n for name, n in found.items() if n or name in known}}

    return {
        "mine": mine,
        "unassigned": max(0, desk.get("unassigned", 0)),
        "overdue": max(0, desk.get("overdue", 0)),
        "by_status": group("status_", ACTIVE_STATUSES),
        "by_queue": group("queue_", assign.queues()),
        "by_priority": group("priority_", PRIORITIES),
        "by_channel": group("channel_", CHANNELS),
    }
