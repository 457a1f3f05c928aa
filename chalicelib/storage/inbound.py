"""Recording an inbound message: every write the pipeline makes for one customer message.

The pipeline decides (threading, triage, the acknowledgement owed, the SLA plan,
what a reply changes on its ticket); this module turns those decisions into
DynamoDB's items, conditions and update actions. All of one message's writes
— ticket, message, lookups, audit entry, the sender's identity and customer
record, the agent's claim, the acknowledgement's state (an email one already
sent, with SES's Message-ID; a chat one pending) — are one transaction
conditioned on the message's idempotency key (``in:<channel>:<external id>``):
a second delivery finds the key and writes nothing (``DuplicateDelivery``).

Before anything is written the transaction is checked (``repository.check``):
a message DynamoDB can never take is refused (``RejectedWrite``) before its
attachments reach S3, and attachments are stored only for a message that is
written.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain import ids, threading
from chalicelib.domain.acknowledgement import AckDecision
from chalicelib.domain.messages import InboundMessage
from chalicelib.storage import blobs, customers, repository, ticket_keys
from chalicelib.storage.exceptions import (AgentCannotTake, DuplicateDelivery, SenderCountsMoved,
                                         TransactionCancelled, condition_failed)
from chalicelib.storage.ticket_changes import LoadChange, load_update
from chalicelib.storage.models import (
    Acknowledgement,
    AgentModel,
    AttachmentInfo,
    AuditModel,
    CustomerModel,
    LookupModel,
    MessageModel,
    TicketModel,
)

__all__ = [
    "INLINE_BODY_BYTES", "AcknowledgementOwed", "Attachment", "NewTicket", "Sender", "TicketUpdate",
    "PreparedTicket", "acknowledged", "commit_new_ticket", "content_digest", "prepare_new_ticket", "mark_acknowledgement_failed", "mark_acknowledgement_sent", "record_message_on_ticket",
    "record_new_ticket", "same_message",
]

INLINE_BODY_BYTES = 300_000  # DynamoDB items are at most 400 KB; the rest of the item needs room
_PREVIEW_CHARS = 4_000
_REASON_CHARS = 500


class Attachment(Protocol):
    """An attachment's bytes waiting for S3 (e.g. email intake's ``PendingBlob``)."""

    key: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class AcknowledgementOwed:
    """The acknowledgement of a new ticket: ``pending`` (to be sent), ``sent`` (an email one, sent just
    before the ticket is written), ``failed`` or ``suppressed``, with the reason."""

    status: str
    reason: str | None = None
    message_id: str | None = None  # deterministic, so a resend is the same mail (email only)
    to: str | None = None
    provider_message_id: str | None = None  # the id SES gave it, when sent
    sent_at: str | None = None


@dataclass(frozen=True)
class NewTicket:
    """A ticket the pipeline opens for a message, as it decided it.

    The attribute names are the ticket's own, so the SLA clocks can be planned
    from this value (``clocks.schedule(clocks.fields_of(ticket), now)``) before
    it is recorded with the plan (``sla``, ``sla_check_at``, ``timer_at``, ``overdue_at``).
    """

    ticket_id: str
    number: int
    subject: str
    status: str
    priority: str
    category: str
    channel: str
    customer_id: str
    requester: str  # identity key of the customer who opened it
    requester_name: str
    created_at: str  # ISO time; also its first activity and status change
    acknowledgement: AcknowledgementOwed
    tags: set[str] | None = None
    rules_fired: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # why it got its priority and category, one line per rule
    copied: set[str] | None = None  # identity keys the customer copied (To/Cc): colleagues who may join
    thread_message_ids: list[str] = field(default_factory=list)
    customer_wrote: bool = True  # False for machine-sent mail: no customer message to answer
    quarantine_reason: str | None = None
    reply_routes: dict[str, Any] | None = None
    language: str | None = None
    customer_tier: str | None = None
    timeline: list | None = None
    sla: dict[str, Any] | None = None
    sla_check_at: str | None = None
    timer_at: str | None = None
    overdue_at: str | None = None
    # Claimed in the ticket's own transaction (``claim``: the agent's load, capacity-checked there).
    assignee_id: str | None = None
    assignee_name: str | None = None
    assignment_source: str | None = None
    assignment_detail: str | None = None
    claim: LoadChange | None = None
    kb_suggested: tuple[str, ...] = ()  # the knowledge-base articles its acknowledgement links (at most 3)
    bot: dict[str, Any] | None = None  # the chat bot answered it (domain.bot.BotState.as_item())

    @property
    def status_changed_at(self) -> str:
        return self.created_at

    @property
    def previous_assignee_id(self) -> None:
        return None


@dataclass(frozen=True)
class TicketUpdate:
    """What a customer's message changes on the ticket it joins, as the pipeline decided it.

    A machine-sent message (``customer_wrote=False``) only adds itself to the
    ticket: it never changes its state, activity or clocks.
    """

    at: str  # ISO time the message was received
    copied: frozenset[str] = frozenset()  # identity keys the message copies that may now join
    reply_routes: dict[str, Any] | None = None  # the ticket's reply routes, replaced when given
    customer_wrote: bool = True
    status: str | None = None  # the status the ticket goes back to ("open"), None: unchanged
    reopened: bool = False  # a solved or closed ticket reopens (counted; audited as "reopened")
    release_assignee: bool = False  # back to the queue; the owner is remembered for sticky routing
    timeline: list | None = None
    sla: dict[str, Any] | None = None  # the SLA plan after this message (None: no clocks)
    sla_check_at: str | None = None
    timer_at: str | None = None
    overdue_at: str | None = None
    bot: dict[str, Any] | None = None  # the chat bot's state after this message (None: unchanged)


@dataclass(frozen=True)
class Sender:
    """What a message records about who sent it: the identity lookup and the customer record."""

    customer_id: str
    identity: Any = None  # the sender's identity lookup as read before the write (None: first contact)
    opened_ticket: bool = False  # counts on the customer's ticket count
    open_ticket_id: str | None = None  # a chat ticket the sender's email may continue
    contacts_week: str | None = None  # tickets opened in this 7-day bucket (triage's repeat-contact rule)...
    contacts_count: int | None = None  # ...this one included
    acknowledgement: AckDecision | None = None  # an acknowledgement counted against the sender's limits
    name: str | None = None  # the customer's name, if none is known yet (a display name is not an edit)
    last_inquiry: bool = False  # the message becomes the customer's last inquiry
    counted: bool = False  # its identity counts went with the acknowledgement's intent (``intend_acknowledgement``)


def content_digest(message: InboundMessage) -> str:
    """What the Message-ID lookup remembers of the message that carried it."""
    attachments = ",".join(f"{a.filename}:{a.size}" for a in message.attachments)
    return ids.content_digest(message.sender.key, message.subject, message.text, message.html or "", attachments)


def same_message(lookup: Any, message: InboundMessage) -> bool:
    """Is the message that stored this Message-ID lookup the one in hand?

    Our own outgoing ids (acknowledgements, replies) and lookups from before digests
    carry no digest: only the same sender makes them "the same"; anything else is
    stored as a new, flagged message rather than dropped as a duplicate.
    """
    if lookup.digest:
        return lookup.digest == content_digest(message)
    return lookup.sender is not None and lookup.sender == message.sender.key


@dataclass
class PreparedTicket:
    """A new ticket's writes, built and checked once (``prepare_new_ticket``), to commit after the
    acknowledgement went out."""

    writes: repository.Writes
    model: TicketModel
    body: _Body | None
    claimed: bool


def prepare_new_ticket(message: InboundMessage, ticket: NewTicket, sender: Sender, *, flags: Iterable[str] = (),
                       message_id_known: bool = False) -> PreparedTicket:
    """Build the new ticket's writes and check them (``RejectedWrite`` if DynamoDB could never take them).

    The pipeline prepares before the acknowledgement goes out, so no customer is told
    of a ticket that can never be stored; ``acknowledged`` then records it, and
    ``commit_new_ticket`` writes it all.
    """
    writes, model, body = _new_ticket_writes(message, ticket, sender, flags=flags, message_id_known=message_id_known)
    repository.check(writes)
    return PreparedTicket(writes, model, body, ticket.claim is not None)


def acknowledged(prepared: PreparedTicket, acknowledgement: AcknowledgementOwed) -> None:
    """Record the acknowledgement's outcome in the prepared writes: its state, and SES's Message-ID
    (the customer's answer and SES's delivery events find the ticket by it)."""
    stored = prepared.model.acknowledgement
    stored.status, stored.sent_at = acknowledgement.status, acknowledgement.sent_at
    stored.reason = acknowledgement.reason[:_REASON_CHARS] if acknowledgement.reason else None
    stored.provider_message_id = acknowledgement.provider_message_id
    prepared.writes.changed(prepared.model, "acknowledgement")  # checked before: serialise that again
    if acknowledgement.provider_message_id:
        prepared.writes.save(_lookup(threading.message_id_key(acknowledgement.provider_message_id),
                                     prepared.model.ticket_id, prepared.model.created_at))


def acknowledgement_intent_key(dedup_key: str) -> str:
    """The lookup a new ticket's email acknowledgement leaves before SES is asked to send it."""
    return f"ack:{dedup_key}"


def intend_acknowledgement(message: InboundMessage, sender: Sender, ticket_id: str, number: int, *, at: str) -> None:
    """Record, before SES sends a new ticket's acknowledgement, that it is about to be sent and under which ticket
    number, and count it (with the sender's repeat contacts) on their identity: one TransactWriteItems.

    SES takes no idempotency key: if the ticket's write then fails (or the function dies), the
    message's redelivery finds this item (read with the other lookups), reuses the number the
    customer was told, sends no second acknowledgement (its outcome is unknown: at most once) and
    counts nothing again (the ticket's own write then leaves the identity alone: ``Sender.counted``).
    Counting here, before anything is sent, keeps the sender's acknowledgement cap exact when two of
    their messages are processed at once (``EMAIL_FIFO_GROUP=thread``): the later one finds the counts
    moved (``SenderCountsMoved``) with nothing sent, and runs again. The intent keeps the repeat-contact
    count the decision read (``repeat_contacts``): a redelivery reads the identity with this message
    already counted, and must decide as the first attempt did (``counted_intent``).
    Raises ``DuplicateDelivery`` when another copy of the message recorded it first.
    """
    key = acknowledgement_intent_key(message.dedup_key)
    writes = repository.Writes(idempotency_key=key)
    # What the decision read, for a redelivery to decide the same: its own count is in the identity by then.
    repeat = (sender.contacts_count or 1) - 1
    writes.save(LookupModel(key, ticket_id=ticket_id, value=number, created_at=at, repeat_contacts=repeat),
                LookupModel.lookup_key.does_not_exist())
    identity = _identity_write(message, sender, at)
    if identity is not None:
        writes.update(*identity)
    with _sender_counts_checked(writes):
        repository.commit(writes)


def counted_intent(intent: Any) -> bool:
    """Was this acknowledgement intent written with its sender's counts (so a redelivery counts nothing again)?
    One written before the counts moved into it has no ``repeat_contacts``: its ticket's write counts."""
    return intent is not None and intent.repeat_contacts is not None


def acknowledgement_not_sent(dedup_key: str) -> None:
    """SES certainly did not send the acknowledgement (it answered with an error, or was never reached): the
    redelivery may send it (``resume_acknowledgement``), under the same number, counted once already."""
    LookupModel(acknowledgement_intent_key(dedup_key)).update(
        actions=[LookupModel.not_sent.set(True)], condition=LookupModel.lookup_key.exists())


def resume_acknowledgement(dedup_key: str) -> None:
    """Take up an acknowledgement an earlier delivery certainly did not send, before SES is asked again.
    Raises ``DuplicateDelivery`` when another copy of the message took it up first."""
    from pynamodb.exceptions import UpdateError

    try:
        LookupModel(acknowledgement_intent_key(dedup_key)).update(
            actions=[LookupModel.not_sent.remove()], condition=LookupModel.not_sent == True)  # noqa: E712
    except UpdateError as err:
        if condition_failed(err):
            raise DuplicateDelivery(dedup_key) from None
        raise


def commit_new_ticket(prepared: PreparedTicket, attachments: Iterable[Attachment] = ()) -> TicketModel:
    """Write a prepared new ticket in one transaction; returns the ticket written.

    Raises ``DuplicateDelivery`` when another delivery of the message was recorded first,
    ``AgentCannotTake`` when the ticket's claim lost its race (nothing is written: write it unclaimed), and
    ``SenderCountsMoved`` when the sender's identity counts moved since they were read (nothing is written).
    """
    writes = prepared.writes
    with _sender_counts_checked(writes):  # after the claim's check below: a lost claim is AgentCannotTake
        try:
            _commit(writes, [*attachments, *([prepared.body] if prepared.body else [])])
        except TransactionCancelled as err:
            agent_write = len(writes.saves) + len(writes.updates) - 1
            if prepared.claimed and agent_write in err.failed("ConditionalCheckFailed", "TransactionConflict"):
                raise AgentCannotTake(err.codes) from err
            raise
    return prepared.model


def record_new_ticket(message: InboundMessage, ticket: NewTicket, sender: Sender, *, flags: Iterable[str] = (),
                      message_id_known: bool = False, attachments: Iterable[Attachment] = ()) -> TicketModel:
    """Open ``ticket`` with ``message`` as its first message, in one transaction (prepare, then commit).

    ``message_id_known``: a lookup for the message's Message-ID exists already (it stays as it is).
    """
    return commit_new_ticket(prepare_new_ticket(message, ticket, sender, flags=flags,
                                                message_id_known=message_id_known), attachments)


def _new_ticket_writes(message: InboundMessage, ticket: NewTicket, sender: Sender, *, flags: Iterable[str],
                       message_id_known: bool) -> tuple[repository.Writes, TicketModel, _Body | None]:
    now = ticket.created_at
    model = _ticket_item(message, ticket)
    ticket_id = ticket.ticket_id
    # The ticket's id derives from the message's key (ids.ticket_id_for): its own condition refuses a second
    # delivery, which is then a duplicate like a failed idempotency lookup (``guard``).
    guarded = ticket_id == ids.ticket_id_for(message.dedup_key)
    writes = repository.Writes(idempotency_key=message.dedup_key, guard=model if guarded else None)
    writes.save(model, TicketModel.ticket_id.does_not_exist())
    created = {"status": [None, model.status], "priority": [None, model.priority],
               "category": [None, model.category]}
    if ticket.assignee_id:
        created["assignee_id"] = [None, ticket.assignee_id]
    detail = "; ".join([*ticket.reasons, *([ticket.assignment_detail] if ticket.assignment_detail else [])])
    writes.save(AuditModel(ticket_id, f"{now}#created", at=now, actor="customer", actor_name=message.sender_name,
                           action="created", changes=created, detail=detail[:2000] or None))
    item, body = _message_item(message, ticket_id, now, joined_by="new-ticket", flags=flags)
    writes.save(item)
    marked_by_message_id = bool(message.message_id) and not message_id_known
    if not (guarded and marked_by_message_id):
        # Without its own Message-ID lookup (the same sender and digest: ``same_message``) nothing else
        # tells skip_duplicate that a redelivery is one, before it would acknowledge it again.
        writes.save(_lookup(message.dedup_key, ticket_id, now), LookupModel.lookup_key.does_not_exist())
    writes.save(_lookup(f"tno:{ticket.number}", ticket_id, now), LookupModel.lookup_key.does_not_exist())
    if marked_by_message_id:
        writes.save(_message_id_lookup(message, ticket_id, now))
    # The acknowledgement's Message-ID as SES sent it (SES replaces ours): the customer's answer
    # and SES's delivery events find the ticket by it.
    if ticket.acknowledgement.provider_message_id:
        writes.save(_lookup(threading.message_id_key(ticket.acknowledgement.provider_message_id), ticket_id, now))
    if message.channel != "email":
        _conversation_lookup(writes, message.conversation_key, ticket_id, now)
    _sender(writes, message, sender, ticket_id, now)
    if ticket.claim is not None:  # last: its position names the agent when the condition fails
        actions, condition = load_update(ticket.claim)
        writes.update(AgentModel(ticket.claim.agent_id), actions, condition, version_check=False)
    return writes, model, body


def record_message_on_ticket(message: InboundMessage, ticket: Any, update: TicketUpdate, sender: Sender, *,
                             joined_by: str, flags: Iterable[str] = (), message_id_known: bool = False,
                             attachments: Iterable[Attachment] = ()) -> None:
    """Add ``message`` to the loaded ``ticket`` with what it changes there, in one transaction.

    The ticket's update is conditioned on its version (an agent's edit meanwhile is a lost race).
    Raises ``DuplicateDelivery`` when another delivery of the message was recorded first.
    """
    now = update.at
    by_id = _message_id_lookup(message, ticket.ticket_id, now) if message.message_id and not message_id_known else None
    writes = repository.Writes(idempotency_key=message.dedup_key, guard=by_id)
    item, body = _message_item(message, ticket.ticket_id, now, joined_by=joined_by, flags=flags)
    writes.save(item)
    if by_id is None:
        writes.save(_lookup(message.dedup_key, ticket.ticket_id, now), LookupModel.lookup_key.does_not_exist())
    else:
        # The message's own Message-ID lookup marks it (no separate idempotency item): a second delivery
        # finds it with the same digest (``same_message``) and is a duplicate. A different mail that took
        # the id meanwhile has another digest and is overwritten, as an unconditional save did.
        writes.save(by_id, LookupModel.lookup_key.does_not_exist() | LookupModel.digest.does_not_exist()
                    | (LookupModel.digest != by_id.digest))
    actions = [
        TicketModel.message_count.add(1),
        TicketModel.channels.add({message.channel}),
        TicketModel.participants.add({message.sender.key}),
    ]
    if update.copied:
        actions.append(TicketModel.copied.add(set(update.copied)))
    if update.reply_routes is not None:
        actions.append(TicketModel.reply_routes.set(update.reply_routes))
    if update.customer_wrote:  # an out-of-office never changes the ticket's state
        actions += [TicketModel.last_activity_at.set(now), TicketModel.last_customer_message_at.set(now)]
        after: dict[str, Any] = {"last_customer_message_at": now}
        if update.status is not None:
            actions.append(TicketModel.status.set(update.status))
            if update.reopened:
                actions.append(TicketModel.reopen_count.add(1))
            actions += [TicketModel.status_changed_at.set(now), TicketModel.automation_fired.remove()]
            after.update(status=update.status, status_changed_at=now, automation_fired=None)
            if update.release_assignee:
                actions += [TicketModel.previous_assignee_id.set(ticket.assignee_id), TicketModel.assignee_id.remove(),
                            TicketModel.assignee_name.remove(), TicketModel.assigned_at.remove(),
                            TicketModel.assignment_source.remove()]
                after["assignee_id"] = None
        after["timeline"] = update.timeline
        actions.append(TicketModel.timeline.set(update.timeline))
        actions.append(TicketModel.sla.set(update.sla) if update.sla else TicketModel.sla.remove())
        clock_keys = {"sla_check_at": update.sla_check_at, "timer_at": update.timer_at,
                      "overdue_at": update.overdue_at}
        if update.bot is not None:
            actions.append(TicketModel.bot.set(update.bot))
            after["bot"] = update.bot
        actions += ticket_keys.update_actions(ticket, {**after, **clock_keys})
        if update.status is not None:
            writes.save(AuditModel(ticket.ticket_id, f"{now}#{ids.message_key_digest(message.dedup_key)[:8]}", at=now,
                                   actor="customer", actor_name=message.sender_name,
                                   action="reopened" if update.reopened else "updated",
                                   changes={"status": [ticket.status, update.status]},
                                   detail="the customer wrote again"))
    writes.update(ticket, actions)
    _sender(writes, message, sender, ticket.ticket_id, now)
    with _sender_counts_checked(writes):
        _commit(writes, [*attachments, *([body] if body else [])])


def mark_acknowledgement_sent(ticket: Any, provider_message_id: str, *, sent_at: str, recorded_at: str) -> None:
    """The pending acknowledgement went out: mark it sent, and thread replies to the id the provider gave it.

    No version check: agents may edit the ticket meanwhile; only a pending acknowledgement is marked.
    """
    writes = repository.Writes()
    writes.update(
        ticket,
        [
            TicketModel.acknowledgement.status.set("sent"),
            TicketModel.acknowledgement.sent_at.set(sent_at),
            TicketModel.acknowledgement.provider_message_id.set(provider_message_id),
        ],
        TicketModel.acknowledgement.status == "pending",
        version_check=False,
    )
    writes.save(_lookup(threading.message_id_key(provider_message_id), ticket.ticket_id, recorded_at))
    repository.commit(writes)


def mark_acknowledgement_failed(ticket: Any, reason: str) -> None:
    """The pending acknowledgement can never be sent (e.g. an address SES refuses): mark it failed, with why."""
    writes = repository.Writes()
    writes.update(ticket, [TicketModel.acknowledgement.status.set("failed"),
                           TicketModel.acknowledgement.reason.set(reason[:_REASON_CHARS])],
                  TicketModel.acknowledgement.status == "pending", version_check=False)
    repository.commit(writes)


# --- the items ------------------------------------------------------------------


def _commit(writes: repository.Writes, attachments: Iterable[Attachment]) -> None:
    repository.check(writes)  # a message DynamoDB can never take is refused before anything reaches S3
    for attachment in attachments:  # same key, same bytes: a redelivery that loses the race rewrites them harmlessly
        blobs.put(attachment.key, attachment.content, attachment.content_type)
    repository.commit(writes)


def _ticket_item(message: InboundMessage, ticket: NewTicket) -> TicketModel:
    now = ticket.created_at
    acknowledgement = ticket.acknowledgement
    model = TicketModel(
        ticket.ticket_id,
        number=ticket.number,
        subject=ticket.subject,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        tags=ticket.tags,
        triage={"rules_fired": list(ticket.rules_fired), "reasons": list(ticket.reasons)},
        channel=ticket.channel,
        channels={ticket.channel},
        customer_id=ticket.customer_id,
        requester=ticket.requester,
        requester_name=ticket.requester_name,
        participants={ticket.requester},
        copied=ticket.copied,
        thread_message_ids=list(ticket.thread_message_ids),
        created_at=now,
        last_activity_at=now,
        last_customer_message_at=now if ticket.customer_wrote else None,
        message_count=1,
        quarantine_reason=ticket.quarantine_reason,
        acknowledgement=Acknowledgement(status=acknowledgement.status,
                                        reason=acknowledgement.reason[:_REASON_CHARS] if acknowledgement.reason else None,
                                        message_id=acknowledgement.message_id, to=acknowledgement.to,
                                        provider_message_id=acknowledgement.provider_message_id,
                                        sent_at=acknowledgement.sent_at),
        reply_routes=ticket.reply_routes,
        language=ticket.language,
        customer_tier=ticket.customer_tier,
        auto_submitted=None if ticket.customer_wrote else True,
        status_changed_at=now,
        timeline=ticket.timeline,
        assignee_id=ticket.assignee_id,
        assignee_name=ticket.assignee_name,
        assigned_at=now if ticket.assignee_id else None,
        assignment_source=ticket.assignment_source,
        kb_suggested=set(ticket.kb_suggested) or None,
        bot=ticket.bot,
    )
    model.sla, model.sla_check_at, model.timer_at = ticket.sla, ticket.sla_check_at, ticket.timer_at
    model.overdue_at = ticket.overdue_at
    ticket_keys.apply_derived(model)
    return model


@dataclass(frozen=True)
class _Body:
    """A message's bodies too large for its item, stored in S3 with the attachments (after the check)."""

    key: str
    content: bytes
    content_type: str = "application/json"


def _message_item(message: InboundMessage, ticket_id: str, now: str, *, joined_by: str,
                  flags: Iterable[str]) -> tuple[MessageModel, _Body | None]:
    """The message's item, and its bodies for S3 when they are too large for it (a preview stays)."""
    digest = ids.message_key_digest(message.dedup_key)
    text, reply_text, html, body_key = message.text, message.reply_text, message.html, None
    size = sum(len((part or "").encode("utf-8", "replace"))
               for part in (text, reply_text, html, message.subject, " ".join(message.recipients)))
    if size > INLINE_BODY_BYTES:  # read at call time: a test may lower or raise it
        body = _Body(f"bodies/{digest}.json",
                     json.dumps({"text": text, "reply_text": reply_text, "html": html}).encode("utf-8"))
        body_key = body.key
        text, reply_text, html = text[:_PREVIEW_CHARS], reply_text[:_PREVIEW_CHARS], None
    else:
        body = None
    return MessageModel(
        ticket_id,
        f"{now}#{digest}",  # receipt order: FIFO processes a conversation in order
        message_key=message.dedup_key,
        direction="inbound",
        kind="auto_reply" if message.auto_reply_reason else "customer",
        channel=message.channel,
        sender=message.sender.key,
        sender_name=message.sender_name,
        recipients=message.recipients,
        subject=message.subject,
        text=text,
        reply_text=reply_text,
        html=html,
        body_s3_key=body_key,
        attachments=[
            AttachmentInfo(filename=a.filename, content_type=a.content_type, size=a.size, s3_key=a.s3_key,
                           ref=a.ref or None)
            for a in message.attachments
        ],
        message_id=message.message_id,
        auto_reply_reason=message.auto_reply_reason,
        joined_by=joined_by,
        flags=set(flags) or None,
        sender_auth=message.sender_auth,
        created_at=now,
    ), body


def _sender(writes: repository.Writes, message: InboundMessage, sender: Sender, ticket_id: str, now: str) -> None:
    """The sender's identity lookup (customer, open chat, contact and acknowledgement counts) and customer record.

    A known sender's message on an existing ticket writes neither: nothing on the identity changes,
    and ``ticket_stream`` brings the customer's last inquiry up to date from the stored change
    (``reactions.remember_contact``). 4 write units saved per reply, and a loud sender's replies no
    longer all write the same two items (docs/scaling.md, "the loud sender's FIFO group").
    """
    _identity(writes, message, sender, now)
    _customer(writes, message, sender, ticket_id, now)


def _identity(writes: repository.Writes, message: InboundMessage, sender: Sender, now: str) -> None:
    if sender.counted:
        return  # written with the acknowledgement's intent
    identity = _identity_write(message, sender, now)
    if identity is not None:
        writes.update(*identity)


def _identity_write(message: InboundMessage, sender: Sender, now: str) -> tuple[Any, list[Any], Any] | None:
    """The sender's identity update (model, actions, condition), or None when it would change nothing."""
    identity = sender.identity
    if _known(identity) and sender.open_ticket_id is None and sender.contacts_week is None \
            and sender.acknowledgement is None:
        return None  # every action below would leave the item as it is
    actions = [
        LookupModel.customer_id.set(LookupModel.customer_id | sender.customer_id),
        LookupModel.created_at.set(LookupModel.created_at | now),
    ]
    if sender.open_ticket_id is not None:
        actions.append(LookupModel.open_ticket_id.set(sender.open_ticket_id))
    counted: list[str] = []  # the counts this message moves, from what was read: nobody may count meanwhile
    if sender.contacts_week is not None:
        actions += [LookupModel.contacts_week.set(sender.contacts_week),
                    LookupModel.contacts_count.set(sender.contacts_count)]
        counted += ["contacts_week", "contacts_count"]
    ack = sender.acknowledgement
    if ack is not None:
        actions += [LookupModel.ack_window.set(ack.window), LookupModel.ack_count.set(ack.count),
                    LookupModel.ack_day.set(ack.day), LookupModel.ack_day_count.set(ack.day_count)]
        counted += ["ack_window", "ack_count"]
    return LookupModel(f"id:{message.sender.key}"), actions, _as_read(identity, counted) if counted else None


@contextmanager
def _sender_counts_checked(writes: repository.Writes) -> Iterator[None]:
    """A transaction of ``writes`` that failed on a sender's identity (``id:`` lookup), i.e. on counts that
    moved since they were read, raises ``SenderCountsMoved``; any other failure as it was."""
    try:
        yield
    except TransactionCancelled as err:
        failed = set(err.failed("ConditionalCheckFailed", "TransactionConflict"))
        if any(model.lookup_key.startswith("id:") and position in failed
               for position, model in writes.positions() if isinstance(model, LookupModel)):
            raise SenderCountsMoved(err.codes) from err
        raise


def _as_read(identity: Any, names: list[str]) -> Any:
    """The condition that the identity's ``names`` are still as read (a first contact: that there is none yet).

    One sender's mail is processed one at a time in their FIFO group; with ``EMAIL_FIFO_GROUP=thread``, or mail
    and a portal form at once, two messages can count at the same instant: the later write then fails and its
    message is delivered again, to count from the new figures.
    """
    if identity is None:
        return LookupModel.lookup_key.does_not_exist()
    condition = None
    for name in names:
        attribute, value = getattr(LookupModel, name), getattr(identity, name)
        clause = attribute.does_not_exist() if value is None else attribute == value
        condition = clause if condition is None else condition & clause
    return condition


def _customer(writes: repository.Writes, message: InboundMessage, sender: Sender, ticket_id: str, now: str) -> None:
    if not sender.opened_ticket and sender.last_inquiry and _known(sender.identity):
        return  # a known sender's message on a ticket: ticket_stream records it (reactions.remember_contact)
    actions = customers.contact_actions(customers.Contact(
        identity=message.sender.key, at=now, ticket_id=ticket_id, channel=message.channel, subject=message.subject,
        text=message.reply_text or message.text, name=sender.name, inquiry=sender.last_inquiry))
    if sender.opened_ticket:
        actions.append(CustomerModel.ticket_count.add(1))
    writes.update(CustomerModel(sender.customer_id), actions)


def _known(identity: Any) -> bool:
    """An identity lookup that already leads to a customer (its ``customer_id`` and ``created_at`` are set)."""
    return identity is not None and bool(identity.customer_id) and bool(identity.created_at)


def _conversation_lookup(writes: repository.Writes, conversation_key: str, ticket_id: str, now: str) -> None:
    """The conversation's current ticket, and the list of every ticket it has had.

    An update, not a put: when a solved conversation opens a new ticket the earlier ones stay
    listed, so the web chat shows the visitor the whole conversation with one key read.
    """
    tickets = LookupModel.conversation_tickets
    writes.update(LookupModel(f"conv:{conversation_key}"),
                  [LookupModel.ticket_id.set(ticket_id), LookupModel.created_at.set(now),
                   tickets.set((tickets | []).append([ticket_id]))], version_check=False)


def _lookup(key: str, ticket_id: str, now: str) -> LookupModel:
    return LookupModel(key, ticket_id=ticket_id, created_at=now)


def _message_id_lookup(message: InboundMessage, ticket_id: str, now: str) -> LookupModel:
    """The inbound Message-ID's lookup, with who sent it and what it said (see ``same_message``)."""
    return LookupModel(threading.message_id_key(message.message_id), ticket_id=ticket_id, created_at=now,
                       sender=message.sender.key, digest=content_digest(message))
