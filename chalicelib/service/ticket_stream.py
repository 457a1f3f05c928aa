"""Reading a stored ticket change for what it sets in motion: the tickets table's stream, as events.

Measuring and refilling used to run inside the request or message that changed
the ticket: a new email ticket paid a KPI transaction, an agent's PATCH paid
for the freed agent's queue Queries. The stream's consumer does it after the
change is stored, from the images before and after, so the same rules apply
whoever wrote (pipeline, agent, automation, sweep) and a whole batch of changes
is counted with one aggregate update per series and day. Two functions read the
stream, each on its own: ``ticket_stream`` reacts here within ~30 s,
``kpi_stream`` measures (``service/kpi_stream.py``) over up to 5 minutes of changes.

Events come out in stream order per ticket (``change_events.events_of``); each
carries the ticket as written.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from chalicelib.domain import inbox_counts
from chalicelib.service import assign, bus, contacts
from chalicelib.service.change_events import publish_all
from chalicelib.storage import aggregates, ticket_counts
from chalicelib.storage.ticket_stream import StoredChange, batch_token

__all__ = ["react"]


def react(stored: Iterable[StoredChange]) -> int:
    """``ticket_stream``: run the reactions (``bus.HANDLERS``) to every event of the batch's changes, and
    record how they moved the inbox counters (``domain.inbox_counts``) in one go. Returns the events.

    A reaction that fails is logged and the batch goes on (the sweep refills and
    re-checks every minute); only the counters' write and the customers' records
    (``contacts.batched``: nothing else would redo them) fail the batch, and the
    stream delivers it again (the counters under the same token, counted once; the
    records conditionally). Agents freed in the batch are refilled once per queue,
    after its events (``assign.refills_batched``); each customer who wrote is
    written once.
    """
    stored = list(stored)
    with assign.refills_batched(), contacts.batched():
        published = publish_all(stored, bus.publish)
    moves: Counter = Counter()
    for change in stored:
        moves.update(inbox_counts.moved(change.old, change.new))
    aggregates.record_all((), token=batch_token(stored, "ticket_stream"),
                          adjustments=ticket_counts.adjustments(moves))
    return published
