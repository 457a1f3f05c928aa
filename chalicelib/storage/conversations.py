"""What a chat visitor may read back: their conversation's tickets and those tickets' messages, by key.

A conversation (``webchat:<session id>``) has one lookup item, ``conv:<conversation>``,
naming its current ticket and every ticket it has had (``conversation_tickets``,
written by ``storage.inbound`` with each new ticket). Reading the conversation is
that one GetItem, then one Query per ticket on the messages table from a sort key
on: no Scan, no index. Both reads are eventually consistent (half the cost): a
reply shows up a poll later at worst, and the next poll reads again.

The models are imported inside the functions: the web-chat routes import this
module at cold start, and PynamoDB costs ~250 ms to import.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MAX_MESSAGES_PER_TICKET", "conversation_tickets", "messages_after"]

MAX_MESSAGES_PER_TICKET = 1_000  # a chat longer than this shows its first thousand messages per ticket


def conversation_tickets(conversation_key: str) -> list[str]:
    """Every ticket of the conversation, oldest first (empty until its first message became a ticket).

    A lookup written before the list existed names only its current ticket.
    """
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import LookupModel

    try:
        item = LookupModel.get(f"conv:{conversation_key}", attributes_to_get=["ticket_id", "conversation_tickets"])
    except DoesNotExist:
        return []
    listed = list(item.conversation_tickets or [])
    if item.ticket_id and item.ticket_id not in listed:
        listed.append(item.ticket_id)
    return list(dict.fromkeys(listed))


def messages_after(ticket_id: str, after_sk: str | None) -> list[Any]:
    """The ticket's messages whose sort key (``<iso time>#<digest>``) is greater than ``after_sk``, oldest
    first; all of them when ``after_sk`` is None. One Query (more pages only for long conversations)."""
    from chalicelib.storage.models import MessageModel

    condition = MessageModel.sk > after_sk if after_sk else None
    return list(MessageModel.query(ticket_id, condition, limit=MAX_MESSAGES_PER_TICKET))
