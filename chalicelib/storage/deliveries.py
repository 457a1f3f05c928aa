"""Recording outbound delivery: what ``send_outbound`` writes after (or instead of) a send.

The outbound worker decides (send, park, retry); this module builds the items,
conditions and update actions: a message sent on a platform with the ticket's
acknowledgement marked sent, an agent's stored reply marked delivered, the
Message-IDs a customer's answer threads by, a permanent failure on the ticket.

Like storage's other modules that edges reach, the models (PynamoDB) are
imported inside the functions that use them.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.storage import repository

__all__ = ["mark_reply_delivered", "record_delivery_failure", "record_sent_message", "remember_message_ids"]


def record_sent_message(ticket: Any, *, key: str, at: str, channel: str, kind: str, recipient: str, text: str,
                        provider_message_id: str | None, acknowledgement: bool) -> None:
    """Store a message the desk just sent (``kind``: acknowledgement or agent); for the ticket's pending
    acknowledgement, mark it sent in the same transaction.

    The acknowledgement's update needs no version check (agents may edit the ticket
    meanwhile): only a pending acknowledgement is marked.
    """
    from chalicelib.storage.models import MessageModel, TicketModel

    writes = repository.Writes()
    writes.save(MessageModel(ticket.ticket_id, f"{at}#{key}", message_key=key, direction="outbound", kind=kind,
                             channel=channel, sender="desk", recipients=[recipient], text=text,
                             message_id=provider_message_id or None, created_at=at))
    if acknowledgement:
        writes.update(
            ticket,  # the loaded item, so its version moves on instead of restarting
            [TicketModel.acknowledgement.status.set("sent"), TicketModel.acknowledgement.sent_at.set(at),
             TicketModel.acknowledgement.provider_message_id.set(provider_message_id)],
            TicketModel.acknowledgement.status == "pending",
            version_check=False,
        )
    repository.commit(writes)


def mark_reply_delivered(ticket_id: str, message_sk: str, provider_message_id: str | None, *, at: str) -> None:
    """An agent's reply (stored when it was written) went out: record when, and the id the provider gave it."""
    from chalicelib.storage.models import MessageModel

    MessageModel(ticket_id, message_sk).update(actions=[
        MessageModel.delivery.set("sent"), MessageModel.delivered_at.set(at),
        MessageModel.message_id.set(provider_message_id or None),
    ])


def remember_message_ids(ticket_id: str, message_id_keys: Iterable[str], *, at: str) -> None:
    """Lookups that thread a customer's answer to the ticket, by the sent mail's Message-ID keys."""
    from chalicelib.storage.models import LookupModel

    for key in message_id_keys:
        LookupModel(key, ticket_id=ticket_id, created_at=at).save()


def record_delivery_failure(ticket: Any, failure: dict[str, Any], *, acknowledgement_reason: str | None = None) -> None:
    """Append ``failure`` to the loaded ticket's delivery failures; with ``acknowledgement_reason`` its
    acknowledgement is marked failed too (so agents see at a glance that it never arrived).

    No version check: the loaded item's version moves on rather than resetting.
    """
    from chalicelib.storage.models import TicketModel

    actions = [TicketModel.delivery_failures.set((TicketModel.delivery_failures | []).append([failure]))]
    if acknowledgement_reason is not None:
        actions += [TicketModel.acknowledgement.status.set("failed"),
                    TicketModel.acknowledgement.reason.set(acknowledgement_reason)]
    ticket.update(actions=actions, add_version_condition=False)
