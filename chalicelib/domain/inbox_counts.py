"""Which inbox counters a ticket adds to, and how a stored change moves them.

The console's counts (``GET /tickets/counts``) are counters the ticket stream's
consumer keeps, not a read of every active ticket: counting 10,000 active
tickets on the indexes took ~35 Queries, ~330 read units and seconds of
deserialising per call. A ticket adds 1 to each counter it belongs to while it
is active — its status, priority, channel and queue, ``unassigned`` or its
agent's ``mine``, and ``overdue`` while an SLA target is past due — and a stored
change moves it from the counters of the image before to those of the image after.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from chalicelib.domain.vocabulary import ACTIVE_STATUSES

DESK = "desk"  # the counters every agent sees; an agent's own are under their id


def counters_of(ticket: Any) -> Counter:
    """``{(owner, counter): 1}`` for each counter an active ticket adds to; empty when it is not active.

    ``ticket`` has status, priority, channel, category, assignee_id and overdue_at (a ticket image).
    """
    if ticket is None or ticket.status not in ACTIVE_STATUSES:
        return Counter()
    found = Counter({(DESK, f"status_{ticket.status}"): 1, (DESK, f"priority_{ticket.priority}"): 1,
                     (DESK, f"channel_{ticket.channel}"): 1, (DESK, f"queue_{ticket.category}"): 1})
    found[(ticket.assignee_id, "mine") if ticket.assignee_id else (DESK, "unassigned")] += 1
    if ticket.overdue_at:
        found[(DESK, "overdue")] += 1
    return found


def moved(old: Any, new: Any) -> Counter:
    """What one stored change adds to (positive) and takes from (negative) each counter; zeros left out."""
    change = Counter(counters_of(new))
    change.subtract(counters_of(old))
    return Counter({key: value for key, value in change.items() if value})


def breakdown(desk: dict[str, int], prefix: str) -> dict[str, int]:
    """``{"status_open": 2, ...}`` with ``prefix="status_"`` → ``{"open": 2}`` (never below 0: see ``recount``)."""
    return {name[len(prefix):]: max(0, value) for name, value in desk.items() if name.startswith(prefix)}
