"""An agent opens a ticket for a customer: a phone call logged, or a first message sent out.

``kind="call"``: the agent's record of a call, stored as a message the customer
never receives (no acknowledgement, nothing sent); the caller owns the ticket
unless someone else is named. Its channel is ``phone`` or where follow-ups go
(email, or a chat the customer started); the call's record itself is on ``phone``. ``kind="outbound"``: ``text`` goes to the customer
as the ticket's first agent message through the outbound queue, like any reply —
by email with the ``[#N]`` token and the signed reply address, so the answer
threads onto this ticket; on a chat channel only where the customer has written
to us before (their latest route on that channel), since platforms do not let a
business start a conversation from nothing.

First response: an agent-opened ticket answers no customer message, so it has no
first response to measure. ``first_response_at`` stays empty and the timeline
starts with the agent's contact (``agent_reply``): when the customer answers,
their message starts a next-reply clock, never a first-response one
(``domain/sla.py``: a customer message after an agent's reply is not the first
contact), so outbound work never flatters or spoils the first-response KPIs.
The "created" automation triggers do not run (they are written for customers'
requests: an acknowledgement to a ticket the agent wrote makes no sense).

Idempotency: the request's key (``Idempotency-Key`` or ``request_id``) names the
ticket it opened (``open:<agent>:<key>`` lookup, written in the ticket's own
transaction): the same request again returns that ticket; the same key with a
different request is a conflict.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from chalicelib import clock, configuration
from chalicelib.domain import ids
from chalicelib.domain.customers import normalise_identity
from chalicelib.domain.triage import TriageInput
from chalicelib.domain.vocabulary import holds_capacity
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.observability import count, logger
from chalicelib.service import assign, changes, clocks
from chalicelib.service.customer_state import require_customer
from chalicelib.storage import agents as directory
from chalicelib.storage import customers as stored_customers
from chalicelib.storage import queues as queue
from chalicelib.storage import repository, ticket_open
from chalicelib.storage import tickets as stored_tickets
from chalicelib.storage.exceptions import AgentCannotTake, DuplicateDelivery, TransactionCancelled
from chalicelib.storage.ticket_changes import LoadChange

__all__ = ["CHAT_CHANNELS", "KINDS", "CannotOpen", "Opening", "open_ticket"]

KINDS = ("call", "outbound")
CHAT_CHANNELS = ("sms", "whatsapp", "webchat")  # answered on the customer's own route only
_ROUTE_TICKETS = 10  # the customer's recent tickets searched for a chat route
_MERGE_HOPS = 3


class CannotOpen(Conflict):
    """The request is well-formed but cannot be carried out now (no route, owner full, identity taken)."""


@dataclass(frozen=True)
class Opening:
    """What the agent asked for (validated for shape by the API)."""

    kind: str
    channel: str
    subject: str
    text: str
    email: str | None = None
    phone: str | None = None
    customer_id: str | None = None
    name: str | None = None
    priority: str | None = None
    queue: str | None = None
    assignee_id: str | None = None
    status: str | None = None
    request_key: str | None = None


def open_ticket(opening: Opening, agent: Any, *, now: datetime | None = None) -> tuple[Any, bool]:
    """Open the ticket; returns it and whether this call opened it (False: the same request came before)."""
    _check_kind(opening)
    digest = hashlib.sha256(json.dumps({k: v for k, v in asdict(opening).items() if k != "request_key"},
                                       sort_keys=True).encode()).hexdigest()[:32]
    key = f"open:{agent.agent_id}:{opening.request_key or secrets.token_hex(12)}"
    if opening.request_key:
        earlier = _earlier(key, digest)
        if earlier is not None:
            return earlier, False
    moment = now or clock.now()
    stamp = clock.iso(moment)
    identities = _identities(opening)
    customer, new_customer, known = _customer(opening, identities)
    requester, routes = _requester(opening, customer, identities)
    owned = set(customer.identities or ()) if customer is not None else set()
    customer_id = customer.customer_id if customer is not None else ids.customer_id_for(identities[0])
    triaged = _triage(opening, requester, moment)
    category = opening.queue or triaged.category
    if category not in assign.queues():
        raise BadRequest(f"queue must be one of {', '.join(assign.queues())}")
    priority = opening.priority or triaged.priority
    status = opening.status or ("open" if opening.kind == "call" else "pending")
    owner, source, claim = _owner(opening, agent, status, stamp)
    timeline = clocks.initial_timeline(stamp, priority=priority, customer_wrote=False)
    timeline = clocks.append(timeline, stamp, ([("status", status)] if status != "open" else [])
                             + ([("assigned", owner.agent_id)] if owner is not None else [])
                             + [("agent_reply", None)])
    ticket_id = ids.ticket_id_for(key)
    fields = {"ticket_id": ticket_id, "status": status, "priority": priority, "category": category,
              "channel": opening.channel, "assignee_id": owner.agent_id if owner else None, "created_at": stamp,
              "subject": opening.subject, "customer_tier": customer.tier if customer is not None else None,
              "first_response_at": None, "status_changed_at": stamp, "tags": set(triaged.tags) or None,
              "automation_fired": None, "timeline": timeline, "sla": None}
    planned = clocks.schedule(fields, moment)
    sent = opening.kind == "outbound"
    opened = ticket_open.OpenedTicket(
        ticket_id=ticket_id, number=repository.next_ticket_number(), subject=opening.subject, status=status,
        priority=priority, category=category, channel=opening.channel, customer_id=customer_id,
        message_channel=opening.channel if sent else "phone",
        requester=requester, requester_name=opening.name or (customer.name if customer is not None else None) or "",
        created_at=stamp, opened_by=agent.agent_id, opened_by_name=agent.name,
        message_kind="agent" if sent else "call", message_key=f"reply:{ticket_id}:{secrets.token_hex(8)}",
        text=opening.text, idempotency_key=key, request_digest=digest,
        identities=frozenset(identities) | ({requester} if requester.partition(":")[0] in ("email", "phone") else set()),
        known_identities=frozenset(known | owned), customer_name=opening.name, new_customer=new_customer,
        tags=frozenset(triaged.tags), triage={"rules_fired": list(triaged.rules_fired),
                                              "reasons": list(triaged.reasons)},
        reply_routes=routes, customer_tier=fields["customer_tier"], timeline=timeline, sla=planned["sla"],
        sla_check_at=planned["sla_check_at"], timer_at=planned["timer_at"], overdue_at=planned["overdue_at"],
        assignee_id=owner.agent_id if owner else None, assignee_name=owner.name if owner else None,
        assignment_source=source, claim=claim,
        last_agent_reply_at=stamp if sent else None, agent_reply_count=1 if sent else 0)
    try:
        ticket = ticket_open.record_opened_ticket(opened)
    except DuplicateDelivery:
        earlier = _earlier(key, digest)
        if earlier is None:
            raise CannotOpen("a request with this Idempotency-Key is being written; try again") from None
        return earlier, False
    except AgentCannotTake:
        raise CannotOpen(f"{owner.name} cannot take the ticket now (away, offline or at capacity); "
                         "name someone else or leave assignee_id out") from None
    except TransactionCancelled:
        raise CannotOpen("the customer or one of their identities changed meanwhile; try again") from None
    if sent:
        _send(ticket, opened)
    if assign.needs_agent(ticket):
        assign.auto_assign(ticket, now=moment)
    count("TicketsOpenedByAgents", channel=opening.channel, kind=opening.kind)
    logger.info("ticket opened by an agent", extra={"ticket_id": ticket_id, "kind": opening.kind})
    return repository.get_ticket(ticket_id), True


def _check_kind(opening: Opening) -> None:
    if opening.kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    if opening.channel == "phone" and opening.kind != "call":
        raise BadRequest("channel phone is only for kind call (nothing can be sent on it): an outbound "
                         "ticket goes by email, sms, whatsapp or webchat")
    if not (opening.email or opening.phone or opening.customer_id):
        raise BadRequest("customer needs at least one of email, phone or customer_id")


def _earlier(key: str, digest: str) -> Any | None:
    """The ticket an earlier request with this key opened (its first message queued again if still unsent)."""
    ticket_id, earlier_digest = ticket_open.find_opened(key)
    if ticket_id is None:
        return None
    if earlier_digest != digest:
        raise CannotOpen("this Idempotency-Key (or request_id) already opened a ticket with a different request; "
                         "use a new key for a new ticket")
    ticket = repository.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound(f"the ticket this request opened ({ticket_id}) no longer exists")
    first = next(iter(stored_tickets.messages([ticket_id], limit_each=1)), None)
    if first is not None and first.direction == "outbound" and first.delivery == "queued":
        # The earlier request may have failed between its write and its enqueue; the FIFO queue's
        # deduplication (same key) drops this one if the first got through.
        _enqueue(ticket, first.message_key, first.sk, first.text or "", first.sender_name)
    return ticket


def _identities(opening: Opening) -> list[str]:
    found = []
    for kind, value in (("email", opening.email), ("phone", opening.phone)):
        if value is None:
            continue
        try:
            found.append(normalise_identity(f"{kind}:{value}"))
        except ValueError as err:
            raise BadRequest(f"customer.{kind}: {err}") from None
    return found


def _customer(opening: Opening, identities: list[str]) -> tuple[Any | None, bool, set[str]]:
    """The (surviving) customer the ticket is for, whether it is new, and the identities already theirs."""
    owners = {identity: lookup.customer_id
              for identity, lookup in stored_customers.identity_lookups(identities).items() if lookup.customer_id}
    if opening.customer_id is not None:
        customer = _survivor(require_customer(opening.customer_id))
    elif owners:
        survivors = {_survivor(require_customer(owner)).customer_id for owner in set(owners.values())}
        if len(survivors) > 1:
            who = ", ".join(f"{identity} → {owner}" for identity, owner in sorted(owners.items()))
            raise CannotOpen(f"the identities belong to different customers ({who}); merge them first "
                             "(POST /customers/{id}/merge) or give one customer_id")
        customer = require_customer(survivors.pop())
    else:
        customer = stored_customers.get_customer(ids.customer_id_for(identities[0]), consistent=True)
        if customer is not None and customer.merged_into:
            raise CannotOpen("this customer record was merged away; give the surviving customer_id")
        return customer, customer is None, set()
    foreign = sorted(identity for identity, owner in owners.items()
                     if owner != customer.customer_id and _survivor(require_customer(owner)).customer_id
                     != customer.customer_id)
    if foreign:
        raise CannotOpen(f"{', '.join(foreign)} belongs to another customer; merge the customers first")
    return customer, False, {identity for identity in identities if identity in owners}


def _survivor(customer: Any) -> Any:
    for _ in range(_MERGE_HOPS):
        if not customer.merged_into:
            break
        customer = require_customer(customer.merged_into)
    return customer


def _requester(opening: Opening, customer: Any | None, identities: list[str]) -> tuple[str, dict[str, Any] | None]:
    """Who the ticket's replies go to, and the chat route they travel (chat channels only)."""
    known = sorted(customer.identities or ()) if customer is not None else []
    every = identities + [i for i in known if i not in identities]
    if opening.channel == "email":
        address = next((i for i in every if i.startswith("email:")), None)
        if address is None:
            raise BadRequest("the customer has no email address: give customer.email to write by email")
        return address, None
    if customer is not None and opening.channel != "phone":
        for ticket in stored_tickets.customer_tickets(customer.customer_id, limit=_ROUTE_TICKETS):
            route = (ticket.reply_routes or {}).get(opening.channel)
            if route:
                return ticket.requester, {opening.channel: route}
    if opening.kind == "call":  # nothing is sent now; a later reply on a chat channel needs the customer's route
        preferred = [i for i in every if i.startswith("phone:")] + every
        if not preferred:
            raise BadRequest("the customer has no phone number or address on record: give customer.phone")
        return preferred[0], None
    raise CannotOpen(f"the customer has never written to us on {opening.channel}, so there is no route to "
                     "them there (platforms let a business answer, not start, a chat): write by email instead")


def _triage(opening: Opening, requester: str, moment: datetime) -> Any:
    from chalicelib.domain import triage as rules

    return rules.triage(TriageInput(channel=opening.channel, subject=opening.subject, text=opening.text,
                                    sender=requester, received_at=moment, repeat_contacts=0),
                        configuration.triage_rules())


def _owner(opening: Opening, agent: Any, status: str, stamp: str) -> tuple[Any | None, str | None,
                                                                          LoadChange | None]:
    """The ticket's owner: the one named; for a call, the agent who took it; otherwise routing decides later."""
    if opening.assignee_id is not None:
        owner = directory.get(opening.assignee_id)
        if owner is None or not owner.active:
            raise BadRequest(f"assignee_id: no active agent {opening.assignee_id!r}")
        force = False
    elif opening.kind == "call":
        owner, force = agent, True  # they are on the phone with the customer: capacity does not refuse it
    else:
        return None, None, None
    claim = LoadChange(owner.agent_id, 1, force=force) if holds_capacity(status, owner.agent_id) else None
    return owner, "manual", claim


def _send(ticket: Any, opened: ticket_open.OpenedTicket) -> None:
    _enqueue(ticket, opened.message_key, opened.message_sk, opened.text, opened.opened_by_name)


def _enqueue(ticket: Any, key: str, message_sk: str, text: str, agent_name: str) -> None:
    queue.enqueue_reply({"v": 1, "kind": "reply", "ticket_id": ticket.ticket_id, "channel": ticket.channel,
                         "purpose": "agent", "text": text, "key": key, "message_sk": message_sk,
                         "agent_name": agent_name}, ticket_id=ticket.ticket_id, dedup_key=key)
