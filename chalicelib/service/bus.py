"""The reactions: each event goes to what it sets in motion, in order (``dispatch.run``).

Services publish; they never import the services that react (``reactions``
imports them all, so the imports point one way). ``HANDLERS`` below is the whole
map of what sets what in motion; what an event measures is ``measures.MEASURES``.
Handlers are named, not imported, so that a webhook's cold start does not load
every service.
"""
from __future__ import annotations

from chalicelib.service import dispatch, events

__all__ = ["HANDLERS", "publish"]

#: event type → reactions, as (module, function), run in this order: by ``ticket_stream`` within ~30 s of
#: the change (the agent a change freed takes the next waiting ticket), or by the code that published it.
HANDLERS: dispatch.Table = {
    events.AgentFreed: (("chalicelib.service.reactions", "refill_freed_agent"),),
    events.TicketEdited: (("chalicelib.service.reactions", "follow_up_edit"),),
    events.CustomerWrote: (("chalicelib.service.reactions", "remember_contact"),),
}


def publish(event: events.Event) -> None:
    """Run every reaction to ``event`` now, in the order of ``HANDLERS``."""
    dispatch.run(event, HANDLERS)
