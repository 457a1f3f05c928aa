"""A customer's record follows their messages on existing tickets: read off the tickets' stream.

A known sender's reply writes no per-sender item in its own transaction
(``storage.inbound._sender``), so one loud sender's replies never queue on one
item. ``ticket_stream`` brings their customer record's last seen, last inquiry
and a first learned name up to date here instead, once per customer per batch:
their latest message in it.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from chalicelib.service.events import CustomerWrote
from chalicelib.storage import customers, tickets

__all__ = ["batched", "record", "remember"]

_batch: ContextVar[list[CustomerWrote] | None] = ContextVar("contacts_batch", default=None)


@contextmanager
def batched() -> Iterator[None]:
    """Inside, ``remember`` only notes the events; when the block ends each customer is written once.

    A write that fails raises, and the stream delivers the whole batch again: every write is
    conditional (``customers.record_contact``), so one applied before is not applied twice, and
    nothing the reply brought is lost to a throttled write. Nothing is written when the block raises.
    """
    events: list[CustomerWrote] = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    record(events)


def remember(event: CustomerWrote) -> None:
    """The customer wrote on an existing ticket: record it at the end of the batch being read (now outside one)."""
    batch = _batch.get()
    if batch is None:
        record([event])
    else:
        batch.append(event)


def record(events: Iterable[CustomerWrote]) -> None:
    """Each customer's latest message among these events, on their record (messages read by key, one
    BatchGetItem of the senders' identities, one conditional UpdateItem per customer)."""
    latest: dict[str, str] = {}  # ticket → its latest customer message among the events
    for event in events:
        at = event.state.last_customer_message_at
        if at > latest.get(event.ticket_id, ""):
            latest[event.ticket_id] = at
    contacts = [customers.Contact(identity=message.sender, at=at, ticket_id=ticket_id, channel=message.channel,
                                  subject=message.subject or "", text=message.reply_text or message.text or "",
                                  name=message.sender_name or None)
                for ticket_id, at in latest.items() for message in tickets.messages_at(ticket_id, at)
                if message.direction == "inbound" and message.kind == "customer"]
    owners = customers.identity_lookups({contact.identity for contact in contacts})
    newest: dict[str, customers.Contact] = {}  # customer → their latest contact
    for contact in contacts:
        owner = owners.get(contact.identity)
        if owner is None or owner.customer_id is None:
            continue
        current = newest.get(owner.customer_id)
        if current is None or contact.at > current.at:
            newest[owner.customer_id] = contact
    for customer_id, contact in newest.items():
        customers.record_contact(customer_id, contact)
