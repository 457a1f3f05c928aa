"""Recording a ticket an agent opens (``POST /tickets``): every write of it in one transaction.

The service decides (customer, requester, priority, queue, owner, SLA plan); this
module builds the items: the ticket, its audit entry, its first message (the
agent's outbound message, queued for ``send_outbound``, or the record of a phone
call, which is never sent), the ticket-number lookup, the request's idempotency
lookup (``open:<agent>:<key>`` with a digest of the request, so a retried POST
finds the ticket it opened), the customer's identity lookups and record, and the
owner's load (capacity-checked). A second POST with the same key fails on the
idempotency lookup's condition (``DuplicateDelivery``) and nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.storage import repository, ticket_keys
from chalicelib.storage.customers import name_actions
from chalicelib.storage.exceptions import AgentCannotTake, TransactionCancelled
from chalicelib.storage.ticket_changes import LoadChange, load_update

__all__ = ["OpenedTicket", "find_opened", "record_opened_ticket"]


@dataclass(frozen=True)
class OpenedTicket:
    """A ticket an agent opens, as the service decided it (attribute names are the ticket's own)."""

    ticket_id: str
    number: int
    subject: str
    status: str
    priority: str
    category: str
    channel: str
    customer_id: str
    message_channel: str  # the first message's: the ticket's channel, or phone for a call's record
    requester: str  # identity key the ticket's replies go to (email:..., phone:...)
    requester_name: str
    created_at: str
    opened_by: str  # the agent's id
    opened_by_name: str
    message_kind: str  # agent (sent to the customer) | call (the agent's record of a call: never sent)
    message_key: str
    text: str
    idempotency_key: str  # open:<agent>:<key>
    request_digest: str
    identities: frozenset[str]  # the customer's identities this ticket names: claimed when nobody owns them
    known_identities: frozenset[str]  # ...those already the customer's (their lookups stay as they are)
    customer_name: str | None = None  # set when the customer has none yet
    new_customer: bool = False
    tags: frozenset[str] = frozenset()
    triage: dict[str, Any] | None = None
    reply_routes: dict[str, Any] | None = None
    customer_tier: str | None = None
    timeline: list | None = None
    sla: dict[str, Any] | None = None
    sla_check_at: str | None = None
    timer_at: str | None = None
    overdue_at: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    assignment_source: str | None = None
    claim: LoadChange | None = None
    last_agent_reply_at: str | None = None
    agent_reply_count: int = 0

    @property
    def message_sk(self) -> str:
        return f"{self.created_at}#{self.message_key[-16:]}"


def find_opened(idempotency_key: str) -> tuple[str | None, str | None]:
    """The ticket a request with this idempotency key opened, and the digest of that request (or Nones)."""
    found = repository.fetch_lookups([idempotency_key]).get(idempotency_key)
    return (found.ticket_id, found.digest) if found is not None else (None, None)


def record_opened_ticket(opened: OpenedTicket) -> Any:
    """Write the ticket and everything it names in one transaction; returns the ticket as written.

    Raises ``DuplicateDelivery`` when a request with the same idempotency key won,
    ``AgentCannotTake`` when the owner is at capacity or away (nothing written), and
    ``TransactionCancelled`` when one of the customer's identities was claimed meanwhile.
    """
    from chalicelib.storage.models import AgentModel, AuditModel, CustomerModel, LookupModel, MessageModel, TicketModel

    now = opened.created_at
    model = TicketModel(
        opened.ticket_id, number=opened.number, subject=opened.subject, status=opened.status,
        priority=opened.priority, category=opened.category, tags=set(opened.tags) or None, triage=opened.triage,
        channel=opened.channel, channels={opened.channel, opened.message_channel}, customer_id=opened.customer_id,
        requester=opened.requester, requester_name=opened.requester_name, participants={opened.requester},
        thread_message_ids=[], created_at=now, last_activity_at=now, last_customer_message_at=None,
        message_count=1, reply_routes=opened.reply_routes, customer_tier=opened.customer_tier,
        status_changed_at=now, timeline=opened.timeline, assignee_id=opened.assignee_id,
        assignee_name=opened.assignee_name, assigned_at=now if opened.assignee_id else None,
        assignment_source=opened.assignment_source, last_agent_reply_at=opened.last_agent_reply_at,
        agent_reply_count=opened.agent_reply_count, solved_at=now if opened.status in ("solved", "closed") else None,
    )
    model.sla, model.sla_check_at, model.timer_at = opened.sla, opened.sla_check_at, opened.timer_at
    model.overdue_at = opened.overdue_at
    ticket_keys.apply_derived(model)

    writes = repository.Writes(idempotency_key=opened.idempotency_key)
    writes.save(LookupModel(opened.idempotency_key, ticket_id=opened.ticket_id, digest=opened.request_digest,
                            created_at=now), LookupModel.lookup_key.does_not_exist())
    writes.save(model, TicketModel.ticket_id.does_not_exist())
    created = {"status": [None, opened.status], "priority": [None, opened.priority],
               "category": [None, opened.category]}
    if opened.assignee_id:
        created["assignee_id"] = [None, opened.assignee_id]
    what = "logged a phone call" if opened.message_kind == "call" else f"wrote to the customer by {opened.channel}"
    writes.save(AuditModel(opened.ticket_id, f"{now}#created", at=now, actor=opened.opened_by,
                           actor_name=opened.opened_by_name, action="created", changes=created,
                           detail=f"opened by an agent: {what}"))
    sent = opened.message_kind == "agent"
    writes.save(MessageModel(
        opened.ticket_id, opened.message_sk, message_key=opened.message_key,
        direction="outbound" if sent else "internal", kind=opened.message_kind, channel=opened.message_channel,
        sender=f"agent:{opened.opened_by}", sender_name=opened.opened_by_name,
        recipients=[opened.requester] if sent else [], subject=opened.subject, text=opened.text,
        delivery="queued" if sent else None, created_at=now))
    writes.save(LookupModel(f"tno:{opened.number}", ticket_id=opened.ticket_id, created_at=now),
                LookupModel.lookup_key.does_not_exist())
    for identity in sorted(opened.identities - opened.known_identities):  # nobody's yet: this customer's now
        writes.update(LookupModel(f"id:{identity}"),
                      [LookupModel.customer_id.set(opened.customer_id), LookupModel.created_at.set(now)],
                      LookupModel.customer_id.does_not_exist())
    customer_actions = [CustomerModel.identities.add(set(opened.identities)),
                        CustomerModel.first_seen_at.set(CustomerModel.first_seen_at | now),
                        CustomerModel.ticket_count.add(1)]
    if opened.customer_name:
        customer_actions.append(CustomerModel.name.set(CustomerModel.name | opened.customer_name))
        customer_actions += name_actions(opened.customer_name, if_new=True)
    writes.update(CustomerModel(opened.customer_id), customer_actions,
                  CustomerModel.customer_id.does_not_exist() if opened.new_customer
                  else CustomerModel.merged_into.does_not_exist() & CustomerModel.customer_id.exists(),
                  version_check=False)
    if opened.claim is not None:  # last: its position names the agent when the condition fails
        actions, condition = load_update(opened.claim)
        writes.update(AgentModel(opened.claim.agent_id), actions, condition, version_check=False)
    repository.check(writes)
    try:
        repository.commit(writes)
    except TransactionCancelled as err:
        agent_write = len(writes.saves) + len(writes.updates) - 1
        if opened.claim is not None and agent_write in err.failed("ConditionalCheckFailed", "TransactionConflict"):
            raise AgentCannotTake(err.codes) from err
        raise
    return model
