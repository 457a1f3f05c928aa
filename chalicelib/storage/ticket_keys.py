"""The derived attributes that put a ticket into its views and sweeps.

Every write that changes a ticket's status, priority, queue, channel or owner
also rewrites these, through this one module, so the indexes never disagree
with the fields they are derived from.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain import bot
from chalicelib.domain.vocabulary import ACTIVE_STATUSES
from chalicelib.storage import shards

ACTIVE = ACTIVE_STATUSES  # statuses that hold an agent's capacity
CLOCK_KEYS = ("sla_check_at", "timer_at", "overdue_at")  # due times the sweeps find tickets by


def shard_count() -> int:
    """Partitions of each time index (``TIME_SHARDS``, default 16): the sweeps read that many small ones,
    never one hot one. Shard names keep their spelling as the count grows (``s07`` stays ``s07``), so
    raising the count leaves every stored entry in a shard the sweeps still read; lowering it needs
    ``python -m chalicelib.admin rekey-tickets``."""
    return shards.count("TIME_SHARDS")


def shard(ticket_id: str) -> str:
    return f"s{shards.index(ticket_id, shard_count()):02d}"


def all_shards() -> list[str]:
    return [f"s{n:02d}" for n in range(shard_count())]


def view_shard_count() -> int:
    """Partitions of each agent view (``VIEW_SHARDS``, default 1): at 10,000 new tickets a second every one of
    them enters ``open``, ``none#open`` and its queue's lines, 20x what one partition takes (docs/scaling.md)."""
    return shards.count("VIEW_SHARDS")


def view_keys(key: str) -> list[str]:
    """Every key a view's entries may be stored under (``shards.spellings``).

    Raising ``VIEW_SHARDS`` hides no ticket written before (its entries move to a shard the next time
    the ticket changes, or with ``admin rekey-tickets``); lowering it hides the higher shards until
    ``rekey-tickets`` has run.
    """
    return shards.spellings(key, view_shard_count())


def derived(fields: dict[str, Any]) -> dict[str, Any]:
    """View and sweep keys from a ticket's fields; ``None`` means the attribute must not exist.

    ``fields`` needs ticket_id, status, priority, category, channel, assignee_id, created_at,
    and optionally last_customer_message_at, sla_check_at / timer_at / overdue_at (ISO strings or None).
    """
    status = fields["status"]
    assignee = fields.get("assignee_id")
    active = status in ACTIVE
    bot_holds = bot_asking(fields.get("bot"))  # the bot waits for the customer's yes or no: no agent wanted yet
    suffix = shards.suffix(fields["ticket_id"], view_shard_count())
    return {
        "view_order": fields.get("last_customer_message_at") or fields["created_at"],
        "view_status": f"{status}{suffix}",
        "view_assignee": f"{assignee or 'none'}#{status}{suffix}",
        "view_queue": f"{fields['category']}#{status}{suffix}",
        "waiting_queue": f"{fields['category']}{suffix}" if active and not assignee and not bot_holds else None,
        "sla_shard": shard(fields["ticket_id"]) if active and fields.get("sla_check_at") else None,
        "sla_check_at": fields.get("sla_check_at") if active else None,
        "timer_shard": shard(fields["ticket_id"]) if fields.get("timer_at") else None,
        "timer_at": fields.get("timer_at"),
        "overdue_shard": shard(fields["ticket_id"]) if active and fields.get("overdue_at") else None,
        "overdue_at": fields.get("overdue_at") if active else None,
    }


def fields_of(ticket: Any) -> dict[str, Any]:
    """The fields ``derived`` reads, from a loaded TicketModel."""
    return {
        "ticket_id": ticket.ticket_id,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "channel": ticket.channel,
        "assignee_id": ticket.assignee_id,
        "sla_check_at": ticket.sla_check_at,
        "timer_at": ticket.timer_at,
        "overdue_at": ticket.overdue_at,
        "created_at": ticket.created_at,
        "last_customer_message_at": ticket.last_customer_message_at,
        "bot": ticket.bot,
    }


def bot_asking(stored: Any) -> bool:
    """Does the chat bot hold this ticket (asked "did this solve it?" and waits)? ``stored``: the ticket's ``bot``."""
    state = bot.state_of(stored)
    return state is not None and state.state == bot.ASKED


def update_actions(ticket: Any, after: dict[str, Any]) -> list[Any]:
    """PynamoDB update actions that move the derived keys from the loaded ticket's to ``after``'s."""
    from chalicelib.storage.models import TicketModel

    before = derived(fields_of(ticket))
    wanted = derived({**fields_of(ticket), **after})
    actions = []
    for name, value in wanted.items():
        if value == before[name] and getattr(ticket, name) == value:
            continue
        attribute = getattr(TicketModel, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def apply_derived(ticket: Any) -> None:
    """Set the derived keys from the ticket's own fields (a ticket being created, or a copy as written)."""
    for name, value in derived(fields_of(ticket)).items():
        setattr(ticket, name, value)
