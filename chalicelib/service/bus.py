"""The one dispatcher: each event goes to the reactions registered for it, in order.

Services publish; they never import the services that react (``reactions``
imports them all, so the imports point one way). The tables below are the whole
map of what sets what in motion. Handlers are named, not imported, so that a
webhook's cold start does not load every service (the same scheme as
``channels/receive.py``'s adapter table).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chalicelib.service import events

__all__ = ["HANDLERS", "MEASURES", "publish"]

#: event type → reactions, as (module, function), run in this order: by ``ticket_stream`` within ~30 s of
#: the change (the agent a change freed takes the next waiting ticket), or by the code that published it.
HANDLERS: dict[type, tuple[tuple[str, str], ...]] = {
    events.AgentFreed: (("chalicelib.service.reactions", "refill_freed_agent"),),
    events.TicketEdited: (("chalicelib.service.reactions", "follow_up_edit"),),
}

#: event type → what it measures (EMF metrics and the KPI aggregates), run by ``kpi_stream``: its batches
#: gather up to 5 minutes of changes, so each aggregate item is written once for all of them.
MEASURES: dict[type, tuple[tuple[str, str], ...]] = {
    events.TicketCreated: (("chalicelib.service.reactions", "measure_created"),),
    events.AcknowledgementSent: (("chalicelib.service.reactions", "measure_acknowledgement"),),
    events.StatusChanged: (("chalicelib.service.reactions", "measure_status_change"),),
    events.TicketAssigned: (("chalicelib.service.reactions", "measure_assignment"),),
    events.AgentReplied: (("chalicelib.service.reactions", "measure_reply"),),
    events.TicketDeflected: (("chalicelib.service.reactions", "measure_deflection"),),
}

_resolved: dict[tuple[str, str], Callable[[Any], None]] = {}


def publish(event: events.Event, table: dict[type, tuple[tuple[str, str], ...]] = HANDLERS) -> None:
    """Run every reaction ``table`` (``HANDLERS`` or ``MEASURES``) has for ``event`` now, in its order."""
    for name in table.get(type(event), ()):
        handler = _resolved.get(name)
        if handler is None:
            handler = _resolved[name] = getattr(importlib.import_module(name[0]), name[1])
        handler(event)
