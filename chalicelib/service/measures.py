"""What an event measures, one small function each (``MEASURES`` orders them): ``kpi_stream``'s handlers.

EMF metrics and the KPI aggregates (``measure``). Apart from ``reactions`` so that
the KPI reader reaches ``measure`` and nothing the reactions call.
"""
from __future__ import annotations

from chalicelib.service import dispatch, measure
from chalicelib.service.events import (AcknowledgementSent, AgentReplied, Event, StatusChanged, TicketAssigned,
                                       TicketCreated, TicketDeflected)

__all__ = ["MEASURES", "measure_acknowledgement", "measure_assignment", "measure_created", "measure_deflection",
           "measure_reply", "measure_status_change", "publish"]

#: event type → what it measures, as (module, function), run in this order by ``kpi_stream``: its batches
#: gather up to 5 minutes of changes, so each aggregate item is written once for all of them.
MEASURES: dispatch.Table = {
    TicketCreated: (("chalicelib.service.measures", "measure_created"),),
    AcknowledgementSent: (("chalicelib.service.measures", "measure_acknowledgement"),),
    StatusChanged: (("chalicelib.service.measures", "measure_status_change"),),
    TicketAssigned: (("chalicelib.service.measures", "measure_assignment"),),
    AgentReplied: (("chalicelib.service.measures", "measure_reply"),),
    TicketDeflected: (("chalicelib.service.measures", "measure_deflection"),),
}


def publish(event: Event) -> None:
    """Measure ``event`` now, in the order of ``MEASURES``."""
    dispatch.run(event, MEASURES)


def measure_created(event: TicketCreated) -> None:
    measure.ticket_created(event.state, event.at)


def measure_acknowledgement(event: AcknowledgementSent) -> None:
    measure.auto_reply_sent(event.state, event.at)


def measure_status_change(event: StatusChanged) -> None:
    """Solved: resolution and handle time; reopened: counted (EMF and the KPI aggregates)."""
    measure.status_changed(event.state, event.old, event.new, event.at)


def measure_assignment(event: TicketAssigned) -> None:
    """An agent got the ticket: their volume in the KPI report."""
    measure.ticket_assigned(event.state, event.at)


def measure_reply(event: AgentReplied) -> None:
    """First response, or the next reply that ended the customer's wait."""
    measure.agent_replied(event.state, event.at)


def measure_deflection(event: TicketDeflected) -> None:
    """Self-service answered it (the portal's "yes", the bot's, or the customer's silence): counted once."""
    measure.ticket_deflected(event.state, event.at)
