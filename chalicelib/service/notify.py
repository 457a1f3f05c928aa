"""Notifications to people on the team (not customers): queued for ``send_outbound``.

Targets: ``assignee`` (the owner's email), ``team_lead`` (setting ``TEAM_LEAD``,
e.g. ``email:lead@example.com`` or ``slack:C0123ABCD``), ``email:<address>`` or
``slack:<channel id>``. The message fills ``{{ name }}`` placeholders: ticket_id,
number, subject, priority, status, queue, assignee. Plain substitution, not a
template language: the rule files' short messages need nothing more, and
nothing in them can execute.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from chalicelib import config
from chalicelib.observability import logger
from chalicelib.storage import agents as directory
from chalicelib.storage import queues as queue


def resolve(ticket: Any, to: str) -> str | None:
    """The concrete ``email:``/``slack:`` target, or None when there is nobody to tell."""
    if to == "assignee":
        if not ticket.assignee_id:
            return None
        agent = directory.get(ticket.assignee_id, consistent=False)
        return f"email:{agent.email}" if agent is not None and agent.email else None
    if to == "team_lead":
        return config.setting("TEAM_LEAD") or None
    return to


def send(ticket: Any, to: str, message: str, *, rule: str, key: str | None = None) -> bool:
    """Queue one notification; ``key`` makes a repeat (a retried sweep) the same SQS message."""
    target = resolve(ticket, to)
    if target is None:
        logger.info("notification has nobody to go to", extra={"to": to, "rule": rule})
        return False
    text = render_text(message, {
        "ticket_id": ticket.ticket_id, "number": int(ticket.number), "subject": ticket.subject,
        "priority": ticket.priority, "status": ticket.status, "queue": ticket.category,
        "assignee": ticket.assignee_name or "nobody",
    })
    dedup = key or f"notify:{ticket.ticket_id}:{rule}:{hashlib.sha256((target + text).encode()).hexdigest()[:16]}"
    queue.enqueue_reply({"v": 1, "kind": "notify", "ticket_id": ticket.ticket_id, "to": target,
                         "subject": f"[#{int(ticket.number)}] {rule}: {ticket.subject}"[:200], "text": text,
                         "key": dedup}, ticket_id=ticket.ticket_id, dedup_key=dedup)
    return True


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def render_text(message: str, values: dict[str, Any]) -> str:
    """``{{ name }}`` → value; unknown names stay as written so a typo is visible, not silent."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), message)
