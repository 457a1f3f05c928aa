"""Running an event's handlers from a table of names: the one way events are dispatched.

A table maps an event type to ``(module, function)`` names, run in order; a handler's
module loads on its first event, not at every function's cold start (the same scheme
as ``channels/receive.py``'s adapter table). Two tables use it, each the whole map of
its kind: ``bus.HANDLERS`` (what a change sets in motion) and ``measures.MEASURES``
(what it measures). They are apart so that the KPI reader, which measures, reaches
none of the services the reactions call (and needs none of their AWS grants).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.service import events

__all__ = ["Table", "run"]

#: event type → its handlers' (module, function) names, in the order they run.
Table = Mapping[type, tuple[tuple[str, str], ...]]

_resolved: dict[tuple[str, str], Callable[[Any], None]] = {}


def run(event: events.Event, table: Table) -> None:
    """Run every handler ``table`` has for ``event`` now, in its order (none: nothing happens)."""
    for name in table.get(type(event), ()):
        handler = _resolved.get(name)
        if handler is None:
            handler = _resolved[name] = getattr(importlib.import_module(name[0]), name[1])
        handler(event)
