"""The facts a rule reads: one ticket as it is now, and what the latest update did."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.vocabulary import PRIORITIES, STATUSES

__all__ = ["TicketFacts"]


@dataclass(frozen=True)
class TicketFacts:
    """What the rules look at: one ticket as it is now, and what the latest update did."""

    ticket_id: str
    event: str  # "created" | "updated"
    channel: str  # email, slack, webchat, ...
    status: str  # one of STATUSES
    priority: str  # one of PRIORITIES
    category: str  # queue slug
    tags: frozenset[str]
    subject: str
    text: str  # the latest customer message, "" when the update had none
    assignee_id: str | None
    customer_tier: str | None  # e.g. "vip"; None when the customer has none
    created_at: datetime  # timezone-aware
    status_changed_at: datetime  # timezone-aware; the start of the current status period
    changed: frozenset[str] = frozenset()  # fields this update changed; empty when created
    actor: str = "customer"  # "customer" | "agent" | "system": who made this update
    fired: frozenset[str] = frozenset()  # timers already fired in the current status period

    def __post_init__(self) -> None:
        # Callers build these from stored items and API input: sets or lists are fine,
        # but a frozen value must be hashable and must not change under the rules.
        for name in ("tags", "changed", "fired"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"{name} must be a set of strings, not one string")
            object.__setattr__(self, name, frozenset(value))
        for name, allowed in (("event", ("created", "updated")), ("status", STATUSES),
                              ("priority", PRIORITIES), ("actor", ("customer", "agent", "system"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("created_at", "status_changed_at"):
            moment = getattr(self, name)
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware: timers compare instants")
