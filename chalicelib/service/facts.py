"""The automation rules' view of a ticket (``domain.automation.TicketFacts``), from a stored or planned ticket.

Both the rules (``automate``) and the clocks (``clocks``: when the next timer is
due) read a ticket through this one function.
"""
from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.domain.automation import TicketFacts

__all__ = ["facts"]


def facts(ticket: Any, *, event: str, actor: str, changed: frozenset[str] = frozenset(), text: str = "",
          fields: dict[str, Any] | None = None) -> TicketFacts:
    """The rules' view of a ticket; ``fields`` overrides stored values (a ticket not yet written)."""
    values = {name: getattr(ticket, name, None) for name in (
        "ticket_id", "channel", "status", "priority", "category", "tags", "subject", "assignee_id",
        "customer_tier", "created_at", "status_changed_at", "automation_fired")}
    values.update(fields or {})
    created = clock.parse_iso(values["created_at"])
    return TicketFacts(
        ticket_id=values["ticket_id"], event=event, channel=values["channel"], status=values["status"],
        priority=values["priority"], category=values["category"], tags=frozenset(values["tags"] or ()),
        subject=values["subject"] or "", text=text or "", assignee_id=values["assignee_id"],
        customer_tier=values["customer_tier"], created_at=created,
        status_changed_at=clock.parse_iso(values["status_changed_at"]) if values["status_changed_at"] else created,
        changed=changed, actor=actor, fired=frozenset(values["automation_fired"] or ()),
    )
