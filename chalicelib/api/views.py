"""How tickets, messages and customers look in the API (and in ``LocalDesk.tickets()``).

The API function loads this module with its first ticket route; the storage reads
a ticket's full view needs load in ``ticket_detail``, on the first such request.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

from chalicelib import clock
from chalicelib.api.errors import BadRequest

_MESSAGES_SHOWN = 200
_PAST_TICKETS_SHOWN = 10
_PURCHASES_SHOWN = 20
_AUDIT_SHOWN = 200


def ticket_summary(ticket: Any) -> dict[str, Any]:
    ack = ticket.acknowledgement
    return {
        "id": ticket.ticket_id,
        "number": int(ticket.number),
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "tags": sorted(ticket.tags or []),
        "triage": ticket.triage.as_dict() if ticket.triage is not None else None,
        "channel": ticket.channel,
        "channels": sorted(ticket.channels or []),
        "customer_id": ticket.customer_id,
        "requester": ticket.requester,
        "requester_name": ticket.requester_name,
        "created_at": ticket.created_at,
        "last_activity_at": ticket.last_activity_at,
        "last_customer_message_at": ticket.last_customer_message_at,
        "first_response_at": ticket.first_response_at,
        "message_count": int(ticket.message_count or 0),
        "reopen_count": int(ticket.reopen_count or 0),
        "quarantine_reason": ticket.quarantine_reason,
        "acknowledgement": None
        if ack is None
        else {
            "status": ack.status,
            "reason": ack.reason,
            "message_id": ack.message_id,
            "provider_message_id": ack.provider_message_id,
            "to": ack.to,
            "sent_at": ack.sent_at,
            "delivery": ack.delivery,
            "delivery_report": delivery_report_view(ack.delivery_report),
        },
        "delivery_problem": delivery_problem_view(ticket.delivery_problem),
        "language": ticket.language,
        "customer_tier": ticket.customer_tier,
        "assignee_id": ticket.assignee_id,
        "assignee_name": ticket.assignee_name,
        "assigned_at": ticket.assigned_at,
        "assignment_source": ticket.assignment_source,
        "status_changed_at": ticket.status_changed_at,
        "last_agent_reply_at": ticket.last_agent_reply_at,
        "agent_reply_count": int(ticket.agent_reply_count or 0),
        "solved_at": ticket.solved_at,
        "sla": ticket.sla,
        **sla_clock(ticket),
        "merged_into": ticket.merged_into,
        "merged_from": sorted(ticket.merged_from or []),
        "survey": _survey(ticket.survey),
        "bot": ticket.bot,  # the chat bot's part: {state: asked | handed_off | solved, article_id, at, reason}
        # Self-service: the articles suggested, what the customer opened and answered, and the deflection.
        "kb_suggested": sorted(ticket.kb_suggested or []),
        "kb_links": ticket.kb_links,
        "deflection": ticket.deflection,
        "version": int(ticket.version or 0),
    }


def sla_clock(ticket: Any) -> dict[str, Any]:
    """What the console's SLA clock shows: the running target's due time, and whether the ticket is past it.

    ``sla_due_at``: the next due deadline of the running clock (ISO), null when no clock runs (paused,
    solved, no policy). ``sla_breached``: a running clock is past due now (the stored state is as of the
    ticket's last write, so the due time is compared with the clock here too), or the ticket is on the
    overdue list. A breach already answered (recorded in ``sla.breaches``) no longer counts.
    """
    state = ticket.sla or {}
    due = state.get("due_at")
    running = any(b.get("running") for b in state.get("breaches") or [] if isinstance(b, dict))
    past_due = due is not None and due <= clock.iso(clock.now())
    return {"sla_due_at": due, "sla_breached": bool(ticket.overdue_at) or running or past_due}


def _survey(survey: dict[str, Any] | None) -> dict[str, Any] | None:
    """The CSAT survey without its nonce (the nonce is half of a valid answer link)."""
    return None if survey is None else {k: v for k, v in survey.items() if k != "nonce"}


def message_view(message: Any) -> dict[str, Any]:
    from chalicelib.domain.attachment_policy import attachment_id  # see the module docstring: not at cold start

    return {
        "id": message.sk,
        "direction": message.direction,
        "kind": message.kind,
        "channel": message.channel,
        "from": message.sender,
        "from_name": message.sender_name,
        "to": list(message.recipients or []),
        "subject": message.subject,
        "text": message.reply_text or message.text,
        "full_text": message.text,
        "html": message.html,
        "body_s3_key": message.body_s3_key,
        # "id" is what GET /tickets/{id}/attachments/{attachment_id} takes; the S3 key stays inside storage.
        "attachments": [
            {"id": attachment_id(message.ticket_id, message.sk, index), "filename": a.filename,
             "content_type": a.content_type, "size": int(a.size), "ref": a.ref}
            for index, a in enumerate(message.attachments or [])
        ],
        "message_id": message.message_id,
        "auto_reply_reason": message.auto_reply_reason,
        "joined_by": message.joined_by,
        "flags": sorted(message.flags or []),
        "sender_auth": message.sender_auth,
        "delivery": message.delivery,
        "choices": message.choices,  # the bot's buttons on its question
        "delivery_report": delivery_report_view(message.delivery_report),
        "created_at": message.created_at,
    }


_REPORT_FIELDS = ("status", "at", "recipient", "bounce_type", "bounce_subtype", "diagnostic")


def delivery_report_view(report: Any) -> dict[str, Any] | None:
    """What SES last reported about a mail we sent (``chalicelib.service.deliveries``), or None."""
    return None if report is None else {name: getattr(report, name, None) for name in _REPORT_FIELDS}


def delivery_problem_view(problem: Any) -> dict[str, Any] | None:
    """The ticket's newest bounced, rejected or complained-about mail: which message, sent when."""
    if problem is None:
        return None
    return {**delivery_report_view(problem), "message": problem.message, "sent_at": problem.sent_at}


def customer_view(customer: Any) -> dict[str, Any] | None:
    if customer is None:
        return None
    inquiry = customer.last_inquiry
    return {
        "id": customer.customer_id,
        "name": customer.name,
        "identities": sorted(customer.identities or []),
        "first_seen_at": customer.first_seen_at,
        "last_seen_at": customer.last_seen_at,
        "ticket_count": int(customer.ticket_count or 0),
        "last_inquiry": None if inquiry is None else inquiry.as_dict(),
        "tier": customer.tier,
        "attributes": customer.attributes or {},
        "purchases": (customer.purchases or [])[:_PURCHASES_SHOWN],
        "merged_into": customer.merged_into,
    }


def ticket_detail(ticket: Any) -> dict[str, Any]:
    """The ticket with its messages (and merged duplicates'), audit trail, customer and their other tickets."""
    from chalicelib.storage import customers as stored_customers
    from chalicelib.storage import tickets as stored_tickets

    sources = [ticket.ticket_id, *sorted(ticket.merged_from or [])]
    messages = sorted((message_view(m) for m in stored_tickets.messages(sources, limit_each=_MESSAGES_SHOWN)),
                      key=lambda m: m["created_at"])
    audit = [audit_view(entry) for entry in stored_tickets.audit_trail(ticket.ticket_id, limit=_AUDIT_SHOWN)]
    customer_id = ticket.customer_id
    customer = None
    for _ in range(3):  # follow a customer merge to the survivor
        customer = stored_customers.get_customer(customer_id)
        if customer is None or not customer.merged_into:
            break
        customer_id = customer.merged_into
    past = [
        {"id": t.ticket_id, "number": int(t.number), "subject": t.subject, "status": t.status, "created_at": t.created_at}
        for t in stored_tickets.customer_tickets(customer_id, limit=_PAST_TICKETS_SHOWN + 1)
        if t.ticket_id != ticket.ticket_id
    ][:_PAST_TICKETS_SHOWN]
    return {**ticket_summary(ticket), "messages": messages[:_MESSAGES_SHOWN], "audit": audit,
            "customer": customer_view(customer), "customer_tickets": past}


def audit_view(entry: Any) -> dict[str, Any]:
    return {"at": entry.at, "actor": entry.actor, "actor_name": entry.actor_name, "action": entry.action,
            "changes": entry.changes, "detail": entry.detail}


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as err:  # RecursionError: "[[[[..."
        raise BadRequest("cursor is not one this API issued") from err
    if not isinstance(key, dict) or not key or len(key) > 8 or not all(_key_value(v) for v in key.values()):
        raise BadRequest("cursor is not one this API issued")
    return key


_MAX_CURSOR_MAP = 257  # a sharded view's page key: a position per shard (VIEW_SHARDS + the unsharded key)


def _key_value(value: Any) -> bool:
    """A DynamoDB key attribute as a cursor carries it: {"S": text}, {"N": number text}, {"NULL": true} (a
    shard read to its end) or nested {"M": {...}}."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (kind, inner), = value.items()
    if kind == "S":
        return isinstance(inner, str)
    if kind == "N":
        return isinstance(inner, str) and bool(re.fullmatch(r"-?\d{1,38}(\.\d{1,38})?", inner))
    if kind == "NULL":
        return inner is True
    if kind == "M":
        return isinstance(inner, dict) and 0 < len(inner) <= _MAX_CURSOR_MAP and all(
            _key_value(v) for v in inner.values())
    return False
