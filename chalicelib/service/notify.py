"""Notifications to people on the team (not customers): queued for ``send_outbound``.

Targets: ``assignee`` (the owner's email), ``team_lead`` (setting ``TEAM_LEAD``,
e.g. ``email:lead@example.com`` or ``slack:C0123ABCD``), ``email:<address>`` or
``slack:<channel id>``. The message fills ``{{ name }}`` placeholders
(``chalicelib.domain.automation.PLACEHOLDERS``, checked when the rules load): ticket_number (the number people
say, "#1042"; ``number`` is the same), console_url (``{PUBLIC_BASE_URL}/console#ticket/<id>``),
subject, priority, status, queue, assignee and ticket_id (the internal id, for
machines). Plain substitution, not a template language: the rule files' short
messages need nothing more, and nothing in them can execute.

Every notification names the ticket by number in its subject (``[#1042] rule: subject``)
and links it in the console: a message that does not use ``{{ console_url }}`` gets the
link as its last line, so whoever is told can open the ticket in one click.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

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
    text = render_text(message, placeholders(ticket))
    link = console_url(ticket.ticket_id)
    if link not in text:
        text = f"{text.rstrip()}\n\nOpen it in the console: {link}"
    dedup = key or f"notify:{ticket.ticket_id}:{rule}:{hashlib.sha256((target + text).encode()).hexdigest()[:16]}"
    queue.enqueue_reply({"v": 1, "kind": "notify", "ticket_id": ticket.ticket_id, "to": target,
                         "subject": f"[#{int(ticket.number)}] {rule}: {ticket.subject}"[:200], "text": text,
                         "key": dedup}, ticket_id=ticket.ticket_id, dedup_key=dedup)
    return True


def placeholders(ticket: Any) -> dict[str, Any]:
    """The values of every ``{{ name }}`` a notification may use, for this ticket."""
    values = {
        "ticket_id": ticket.ticket_id, "ticket_number": int(ticket.number), "number": int(ticket.number),
        "subject": ticket.subject, "priority": ticket.priority, "status": ticket.status, "queue": ticket.category,
        "assignee": ticket.assignee_name or "nobody", "console_url": console_url(ticket.ticket_id),
    }
    return values  # one per PLACEHOLDERS name (tests/integration/test_alert_text.py checks they agree)


def console_url(ticket_id: str) -> str:
    """The ticket in the agents' console: ``#ticket/<id>`` opens it in a browser signed in to the console
    (one that is not shows the sign-in page, whose emailed link lands on the inbox)."""
    return f"{config.setting('PUBLIC_BASE_URL').rstrip('/')}/console#ticket/{quote(ticket_id, safe='')}"


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def render_text(message: str, values: dict[str, Any]) -> str:
    """``{{ name }}`` → value; unknown names stay as written so a typo is visible, not silent."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), message)
