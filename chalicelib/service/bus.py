"""The one dispatcher: each event goes to the reactions registered for it, in order.

Services publish; they never import the services that react (``reactions``
imports them all, so the imports point one way). The table below is the whole
map of what sets what in motion. Handlers are named, not imported, so that a
webhook's cold start does not load every service (the same scheme as
``channels/receive.py``'s adapter table).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chalicelib.service import events

__all__ = ["HANDLERS", "publish"]

#: event type → reactions, as (module, function), run in this order.
HANDLERS: dict[type, tuple[tuple[str, str], ...]] = {
    events.TicketCreated: (("chalicelib.service.reactions", "measure_created"),),
    events.AcknowledgementSent: (("chalicelib.service.reactions", "measure_acknowledgement"),),
    events.StatusChanged: (("chalicelib.service.reactions", "measure_status_change"),),
    events.TicketAssigned: (("chalicelib.service.reactions", "measure_assignment"),),
    events.AgentReplied: (("chalicelib.service.reactions", "measure_reply"),),
    events.TicketDeflected: (("chalicelib.service.reactions", "measure_deflection"),),
    events.AgentFreed: (("chalicelib.service.reactions", "refill_freed_agent"),),
    events.TicketEdited: (("chalicelib.service.reactions", "follow_up_edit"),),
}

_resolved: dict[tuple[str, str], Callable[[Any], None]] = {}


def publish(event: events.Event) -> None:
    """Run every reaction to ``event`` now, in the order of ``HANDLERS``."""
    for name in HANDLERS[type(event)]:
        handler = _resolved.get(name)
        if handler is None:
            handler = _resolved[name] = getattr(importlib.import_module(name[0]), name[1])
        handler(event)
