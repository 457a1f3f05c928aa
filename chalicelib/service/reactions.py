"""What a change sets in motion, one small function per reaction (``bus.HANDLERS`` orders them).

This is the top of the service layer: it may import every service, and no
service imports it. Each reaction does one job with the ticket its event carries.
"""
from __future__ import annotations

from typing import Any

from chalicelib.service import assign, automate
from chalicelib.service.events import AgentFreed, CustomerWrote, TicketEdited
from chalicelib.storage import agents as directory
from chalicelib.storage import customers, repository, tickets

__all__ = ["follow_up_edit", "refill_freed_agent", "remember_contact"]


def refill_freed_agent(event: AgentFreed) -> None:
    """The agent a change freed a slot for takes the oldest waiting ticket of their queues.

    A failure only delays it: the minute's sweep drains every queue too.
    """
    agent = directory.get(event.agent_id, consistent=False)  # only its queues are read
    if agent is None:
        return
    assign.refill(assign.queues_of(agent), now=event.at)


def follow_up_edit(event: TicketEdited) -> None:
    """After a person's edit, in order: automation's "updated" triggers, then routing if it is unassigned."""
    ticket = event.ticket if event.ticket is not None else repository.get_ticket(event.ticket_id)
    if ticket is None:
        return
    ticket = run_update_triggers(ticket, event)
    route_if_unassigned(ticket, event)


def run_update_triggers(ticket: Any, event: TicketEdited) -> Any:
    """Automation's "updated" triggers (rules never trigger on their own changes); the ticket as it is after."""
    if event.actor_id == "system" or event.actor_id.startswith("automation:"):
        return ticket
    outcome = automate.on_updated(ticket, event.diff, event.actor_role, now=event.at)
    return repository.get_ticket(ticket.ticket_id) if outcome.fired else ticket


def route_if_unassigned(ticket: Any, event: TicketEdited) -> str | None:
    """Reopened, unassigned or moved to another queue: the queue's strategy picks an agent (returned) again."""
    if ticket is not None and assign.needs_agent(ticket):
        return assign.auto_assign(ticket, now=event.at)
    return None


def remember_contact(event: CustomerWrote) -> None:
    """The customer who wrote on an existing ticket: their record's last seen and last inquiry follow (and a
    first name, if it has none). The pipeline leaves this to the stream so that a reply's transaction writes
    no per-sender item; a record delivered again, or late, changes nothing (``customers.record_contact``)."""
    at = event.state.last_customer_message_at
    for message in tickets.messages_at(event.ticket_id, at):
        if message.direction != "inbound" or message.kind != "customer":
            continue
        owner = customers.identity_lookups([message.sender]).get(message.sender)
        if owner is None or owner.customer_id is None:
            continue
        customers.record_contact(owner.customer_id, customers.Contact(
            identity=message.sender, at=at, ticket_id=event.ticket_id, channel=message.channel,
            subject=message.subject or "", text=message.reply_text or message.text or "",
            name=message.sender_name or None))
