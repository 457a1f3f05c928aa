"""The pipeline as an ordered list of small steps (Zammad's mail filters, one job each).

Each step takes the ``Context`` and reads or annotates it; AWS is reached only
through ``storage`` and ``outbound``. Adding a rule is adding a function and
one line in ``STEPS``.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from chalicelib import clock, config, configuration
from chalicelib.domain import acknowledgement as ack_policy
from chalicelib.channels.inbound import InboundMessage
from chalicelib.domain import ids, reply_address, threading, vocabulary
from chalicelib.domain.triage import TriageInput
from chalicelib.observability import count, logger
from chalicelib.outbound import email as email_out
from chalicelib.pipeline.context import Context
from chalicelib.service import clocks
from chalicelib.storage import blobs, repository, ticket_keys
from chalicelib.storage.exceptions import DuplicateDelivery
from chalicelib.storage.models import (
    Acknowledgement,
    AuditModel,
    AttachmentInfo,
    CustomerModel,
    LastInquiry,
    LookupModel,
    MessageModel,
    TicketModel,
)

_INLINE_BODY_BYTES = 300_000  # DynamoDB items are at most 400 KB; the rest of the item needs room
_PREVIEW_CHARS = 4_000
_THREAD_IDS_KEPT = 10


def read_lookups(ctx: Context) -> None:
    """Every key this message could need, in one BatchGetItem."""
    message = ctx.message
    keys = [message.dedup_key, f"id:{message.sender.key}"]
    if message.message_id:
        keys.append(threading.message_id_key(message.message_id))
    if message.channel == "email":
        keys += threading.lookup_keys(message.thread_refs, message.subject)
    else:
        keys.append(f"conv:{message.conversation_key}")
    ctx.found = repository.fetch_lookups(keys)


def skip_duplicate(ctx: Context) -> None:
    """SQS redelivers and SES may deliver one mail twice: the same message is stored once.

    A Message-ID we already stored marks a second delivery only when the mail
    says the same thing from the same sender; another mail reusing the id (a
    broken client, or someone probing) is stored as a new message, flagged.
    """
    message = ctx.message
    seen = ctx.found.get(message.dedup_key)
    if seen is None and message.message_id:
        by_id = ctx.found.get(threading.message_id_key(message.message_id))
        if by_id is not None and by_id.ticket_id:
            if _same_message(by_id, message):
                seen = by_id
            else:
                ctx.message_id_reused = True
                logger.warning("Message-ID already used by a different message; stored as a new message",
                               extra={"ticket_id": by_id.ticket_id, "sender": message.sender.key})
    if seen is not None and seen.ticket_id:
        ctx.duplicate, ctx.done = True, True
        ctx.ticket = repository.get_ticket(seen.ticket_id)
        logger.info("duplicate delivery; nothing new stored", extra={"ticket_id": seen.ticket_id})


def _same_message(lookup: LookupModel, message) -> bool:
    """Is the message that stored this Message-ID the one in hand? (Lookups from before digests: assume so.)"""
    if lookup.digest:
        return lookup.digest == _content_digest(message)
    return lookup.sender is None or lookup.sender == message.sender.key


def _content_digest(message) -> str:
    attachments = ",".join(f"{a.filename}:{a.size}" for a in message.attachments)
    return ids.content_digest(message.sender.key, message.subject, message.text, message.html or "", attachments)


def check_sender(ctx: Context) -> None:
    """Sender authentication as policy (``sender_authentication`` in the desk settings; domain/sender_auth.py).

    ``enforce``: mail its sender's domain disowns is held for review (a ``spam``
    ticket of its own with the reason, no acknowledgement) and joins no ticket.
    ``monitor``: only flagged on the message and logged. ``off``: ignored.
    """
    message = ctx.message
    if not (message.sender_auth or "").startswith("fail"):
        return
    mode = ctx.settings.sender_authentication.mode
    if mode == "off":
        message.sender_auth = None
        return
    logger.warning("sender not authenticated", extra={"sender": message.sender.key, "verdict": message.sender_auth,
                                                      "policy": mode})
    if mode == "enforce":
        held = f"sender authentication failed: {message.sender_auth.partition(': ')[2]}"
        message.quarantine_reason = ", ".join(filter(None, [message.quarantine_reason, held]))


def identify_customer(ctx: Context) -> None:
    identity = ctx.found.get(f"id:{ctx.message.sender.key}")
    ctx.customer_id = (identity.customer_id if identity else None) or ids.customer_id_for(ctx.message.sender.key)


def find_thread(ctx: Context) -> None:
    """Email threads by headers, reply address or subject token; chat by conversation."""
    message = ctx.message
    if message.quarantine_reason:  # held mail waits for review on its own; it never joins a conversation
        ctx.is_new = True
        return
    if message.channel != "email":
        _continue_conversation(ctx)
        return
    signed = reply_address.ticket_from_addresses(
        message.recipients, config.support_address(), config.reply_address_secret()
    )
    found = {key: item.ticket_id for key, item in ctx.found.items() if item.ticket_id}
    for candidate in threading.candidates(message.thread_refs, message.subject, found, signed):
        ticket = _survivor(repository.get_ticket(candidate.ticket_id))
        if ticket is None:
            continue
        if candidate.requires_participant and not threading.may_join(
            message.sender.key, ticket.participants or set(), ticket.copied or set()
        ):
            logger.warning(
                f"{candidate.method} ignored: sender is neither a participant of that ticket nor copied on it",
                extra={"ticket_id": ticket.ticket_id, "sender": message.sender.key},
            )
            continue
        ctx.ticket, ctx.thread_method = ticket, candidate.method
        return
    identity = ctx.found.get(f"id:{message.sender.key}")
    if identity is not None and identity.open_ticket_id and not message.auto_reply_reason:
        ticket = repository.get_ticket(identity.open_ticket_id)
        if ticket is not None and ticket.channel != "email" and ticket.status in vocabulary.CONTINUABLE:
            ctx.ticket, ctx.thread_method = ticket, "open-chat-ticket"  # the chat continues by email
            return
    ctx.is_new = True


def _continue_conversation(ctx: Context) -> None:
    """A chat message joins its conversation's ticket while that ticket is not solved or closed."""
    item = ctx.found.get(f"conv:{ctx.message.conversation_key}")
    if item is not None and item.ticket_id:
        ticket = _survivor(repository.get_ticket(item.ticket_id))
        if ticket is not None and ticket.status in vocabulary.CONTINUABLE:
            ctx.ticket, ctx.thread_method = ticket, "conversation"
            return
    ctx.is_new = True


def _survivor(ticket):
    """A merged duplicate's messages go to the ticket it was merged into."""
    for _ in range(3):
        if ticket is None or not ticket.merged_into:
            return ticket
        ticket = repository.get_ticket(ticket.merged_into)
    return ticket


def triage(ctx: Context) -> None:
    """Priority, category and tags for a new ticket from the deployment's rules (triage_rules.yaml)."""
    if not ctx.is_new:
        return
    from chalicelib.domain import triage as rules

    identity = ctx.found.get(f"id:{ctx.message.sender.key}")
    week = _contacts_week(ctx.now)
    repeat = int(identity.contacts_count or 0) if identity is not None and identity.contacts_week == week else 0
    ctx.triage = rules.triage(triage_input(ctx.message, repeat_contacts=repeat), configuration.triage_rules())
    from chalicelib.domain import language

    ctx.language = language.detect(f"{ctx.message.subject}\n{ctx.message.reply_text or ctx.message.text}")


def triage_input(message: InboundMessage, repeat_contacts: int = 0) -> TriageInput:
    """What the triage rules read of a message.

    ``reply_text`` is the new part without quoted history and signature: a quoted
    "urgent" from last month or a "Sent from my iPhone today" footer should not count.
    """
    return TriageInput(channel=message.channel, subject=message.subject, text=message.reply_text or message.text,
                       sender=message.sender.key, received_at=message.received_at, repeat_contacts=repeat_contacts)


def _contacts_week(moment) -> str:
    return f"7d:{int(moment.timestamp()) // (7 * 86400)}"


def decide_acknowledgement(ctx: Context) -> None:
    if not ctx.is_new:
        return
    limit = ctx.settings.acknowledgement_limit
    identity = ctx.found.get(f"id:{ctx.message.sender.key}")
    ctx.ack = ack_policy.decide(
        quarantine_reason=ctx.message.quarantine_reason,
        auto_reply_reason=ctx.message.auto_reply_reason,
        window=ack_policy.window_key(ctx.now, limit.window_minutes),
        observed_window=identity.ack_window if identity else None,
        observed_count=int(identity.ack_count or 0) if identity else 0,
        max_per_sender=limit.max_per_sender,
        day=ack_policy.day_key(ctx.now),
        observed_day=identity.ack_day if identity else None,
        observed_day_count=int(identity.ack_day_count or 0) if identity else 0,
        max_per_day=limit.max_per_sender_per_day,
    )


def write(ctx: Context) -> None:
    """All of this message's writes in one transaction; a lost race means a duplicate."""
    writes = repository.Writes(idempotency_key=ctx.message.dedup_key)
    if ctx.is_new:
        _new_ticket(ctx, writes)
    else:
        _append(ctx, writes)
    repository.check(writes)  # a message DynamoDB can never take is refused before anything reaches S3
    for blob in ctx.blobs:  # same key, same bytes: a redelivery that loses the race rewrites them harmlessly
        blobs.put(blob.key, blob.content, blob.content_type)
    try:
        repository.commit(writes)
    except DuplicateDelivery:
        ctx.duplicate = True
        ctx.ticket = repository.get_ticket(ctx.ticket.ticket_id)
        logger.info("another delivery of this message won the write", extra={"ticket_id": ctx.ticket.ticket_id})


def acknowledge(ctx: Context) -> None:
    """Send the acknowledgement owed by the ticket's own record, then mark it sent.

    The owed acknowledgement was written with the ticket, so a crash before or
    during sending is repaired by the next delivery of the same message. Only
    that message's deliveries try: a later reply must not inherit the attempt.
    A mail SES will never accept (a non-ASCII local part, a rejected address)
    marks the acknowledgement failed instead of retrying for ever.
    """
    ticket = ctx.ticket
    if not (ctx.is_new or ctx.duplicate):
        return
    if ticket is None or ticket.acknowledgement is None or ticket.acknowledgement.status != "pending":
        return
    if ticket.channel != "email":
        _queue_chat_acknowledgement(ticket, ctx.settings)
        return
    try:
        mail = email_out.build(_acknowledgement_of(ticket, ctx.settings))
        provider_id = email_out.send(mail, ticket.acknowledgement.to)
    except email_out.Undeliverable as err:
        logger.warning("acknowledgement cannot be sent", extra={"reason": err.reason})
        _mark_acknowledgement(ticket, [TicketModel.acknowledgement.status.set("failed"),
                                       TicketModel.acknowledgement.reason.set(err.reason[:500])])
        return
    _mark_acknowledgement(
        ticket,
        [
            TicketModel.acknowledgement.status.set("sent"),
            TicketModel.acknowledgement.sent_at.set(clock.iso(clock.now())),
            TicketModel.acknowledgement.provider_message_id.set(provider_id),
        ],
        also=LookupModel(threading.message_id_key(provider_id), ticket_id=ticket.ticket_id, created_at=clock.iso(ctx.now)),
    )
    ctx.ack_sent = True


def _mark_acknowledgement(ticket: TicketModel, actions: list, also: LookupModel | None = None) -> None:
    """Record the outcome on the loaded ticket (its version moves on; no version check: agents may edit meanwhile)."""
    writes = repository.Writes()
    writes.update(ticket, actions, TicketModel.acknowledgement.status == "pending", version_check=False)
    if also is not None:
        writes.save(also)
    repository.commit(writes)


def automate(ctx: Context) -> None:
    """The automation rules' triggers: on a new ticket, and on a customer's message to an existing one."""
    from chalicelib.service import automate as automation

    if ctx.duplicate or ctx.ticket is None or ctx.message.auto_reply_reason:
        return
    text = ctx.message.reply_text or ctx.message.text
    if ctx.is_new:
        outcome = automation.on_created(ctx.ticket, text, now=ctx.now)
    else:
        ticket = repository.get_ticket(ctx.ticket.ticket_id)
        outcome = automation.on_customer_message(ticket, text, frozenset({"status"}) if ctx.reopened else frozenset(),
                                                 now=ctx.now)
    if outcome.fired:
        ctx.ticket = repository.get_ticket(ctx.ticket.ticket_id)


def assign(ctx: Context) -> None:
    """A new (or reopened) ticket goes to an available agent by its queue's strategy, or waits.

    Runs for duplicate deliveries too: a crash between the ticket's write and
    its assignment is repaired by the redelivery (the claim is conditional).
    """
    from chalicelib.service import assign as assignment

    if ctx.ticket is None or not (ctx.is_new or ctx.reopened or ctx.duplicate):
        return
    ticket = ctx.ticket if ctx.is_new else repository.get_ticket(ctx.ticket.ticket_id)  # the stored state
    if assignment.needs_agent(ticket):
        ctx.assignee_id = assignment.auto_assign(ticket)


def measure(ctx: Context) -> None:
    from chalicelib.service import measure as measured

    channel = ctx.message.channel
    if ctx.duplicate:
        count("DuplicatesIgnored", channel=channel)
    elif ctx.is_new:
        measured.ticket_created(ctx.ticket, ctx.now, acknowledged=ctx.ack_sent)
    else:
        count("RepliesThreaded", channel=channel)
        if ctx.reopened:
            measured.status_changed(ctx.ticket, "solved", "open", ctx.now)
    if ctx.ack_sent and not ctx.is_new:  # a redelivery finished sending it
        measured.auto_reply_sent(ctx.ticket, ctx.now)
    elif ctx.ack is not None and not ctx.ack.send and not ctx.duplicate:
        count("AutoRepliesSuppressed", channel=channel)


STEPS: list[Callable[[Context], None]] = [
    read_lookups,
    skip_duplicate,
    check_sender,
    identify_customer,
    find_thread,
    triage,
    decide_acknowledgement,
    write,
]
AFTER: list[Callable[[Context], None]] = [automate, assign, acknowledge, measure]  # also run for duplicates


# --- building the writes ------------------------------------------------------


def _new_ticket(ctx: Context, writes: repository.Writes) -> None:
    message, now = ctx.message, clock.iso(ctx.now)
    number = repository.next_ticket_number()
    ticket_id = ids.ticket_id_for(message.dedup_key)
    decision = ctx.ack
    ack = Acknowledgement(status="suppressed", reason=decision.reason if decision else "not owed")
    if decision is not None and decision.send:
        ack = Acknowledgement(
            status="pending",
            message_id=ids.acknowledgement_message_id(ticket_id, config.support_domain())
            if message.channel == "email"
            else None,
            to=message.sender.value,
        )
    ticket = TicketModel(
        ticket_id,
        number=number,
        subject=message.subject,
        status="spam" if message.quarantine_reason else "open",
        priority=ctx.triage.priority,
        category=ctx.triage.category,
        tags=set(ctx.triage.tags) or None,
        triage={"rules_fired": list(ctx.triage.rules_fired), "reasons": list(ctx.triage.reasons)},
        channel=message.channel,
        channels={message.channel},
        customer_id=ctx.customer_id,
        requester=message.sender.key,
        requester_name=message.sender_name,
        participants={message.sender.key},
        copied=set(_copied(message)) or None,
        thread_message_ids=_thread_ids(message),
        created_at=now,
        last_activity_at=now,
        last_customer_message_at=None if message.auto_reply_reason else now,
        message_count=1,
        quarantine_reason=message.quarantine_reason,
        acknowledgement=ack,
        reply_routes=_routes_with(None, message, now),
        language=ctx.language,
        customer_tier=_tier(ctx),
        auto_submitted=bool(message.auto_reply_reason) or None,
        status_changed_at=now,
        timeline=clocks.initial_timeline(now, priority=ctx.triage.priority,
                                         customer_wrote=not message.auto_reply_reason),
    )
    planned = clocks.schedule(clocks.fields_of(ticket), ctx.now)
    ticket.sla, ticket.sla_check_at, ticket.timer_at = planned["sla"], planned["sla_check_at"], planned["timer_at"]
    ticket.overdue_at = planned["overdue_at"]
    ticket_keys.apply_to_new(ticket)
    ctx.ticket = ticket
    writes.save(ticket, TicketModel.ticket_id.does_not_exist())
    writes.save(AuditModel(ticket_id, f"{now}#created", at=now, actor="customer", actor_name=message.sender_name,
                           action="created", changes={"status": [None, ticket.status], "priority": [None, ticket.priority],
                                                      "category": [None, ticket.category]},
                           detail="; ".join(ctx.triage.reasons)[:2000] or None))
    writes.save(_message_item(ctx, ticket_id))
    writes.save(_lookup(message.dedup_key, ticket_id, now), LookupModel.lookup_key.does_not_exist())
    writes.save(_lookup(f"tno:{number}", ticket_id, now), LookupModel.lookup_key.does_not_exist())
    if message.message_id and threading.message_id_key(message.message_id) not in ctx.found:
        writes.save(_message_id_lookup(message, ticket_id, now))
    if ack.message_id:
        writes.save(_lookup(threading.message_id_key(ack.message_id), ticket_id, now))
    if message.channel != "email":
        writes.save(_lookup(f"conv:{message.conversation_key}", ticket_id, now))
    _identity_and_customer(ctx, writes, new_ticket=True)


def _append(ctx: Context, writes: repository.Writes) -> None:
    message, ticket, now = ctx.message, ctx.ticket, clock.iso(ctx.now)
    writes.save(_message_item(ctx, ticket.ticket_id))
    writes.save(_lookup(message.dedup_key, ticket.ticket_id, now), LookupModel.lookup_key.does_not_exist())
    if message.message_id and threading.message_id_key(message.message_id) not in ctx.found:
        writes.save(_message_id_lookup(message, ticket.ticket_id, now))
    actions = [
        TicketModel.message_count.add(1),
        TicketModel.channels.add({message.channel}),
        TicketModel.participants.add({message.sender.key}),
    ]
    copied = set(_copied(message)) - set(ticket.participants or ())
    if copied and not message.auto_reply_reason:
        actions.append(TicketModel.copied.add(copied))
    if message.reply_route:
        actions.append(TicketModel.reply_routes.set(_routes_with(ticket.reply_routes, message, now)))
    if not message.auto_reply_reason:  # an out-of-office never changes the ticket's state
        actions += [TicketModel.last_activity_at.set(now), TicketModel.last_customer_message_at.set(now)]
        after: dict = {"last_customer_message_at": now}
        if ticket.status in vocabulary.REOPENABLE and ctx.settings.reopen_on_reply:
            actions += [TicketModel.status.set("open"), TicketModel.reopen_count.add(1),
                        TicketModel.status_changed_at.set(now), TicketModel.automation_fired.remove()]
            after.update(status="open", status_changed_at=now, automation_fired=None)
            if ticket.assignee_id:  # back to the queue; sticky routing prefers the previous owner
                actions += [TicketModel.previous_assignee_id.set(ticket.assignee_id), TicketModel.assignee_id.remove(),
                            TicketModel.assignee_name.remove(), TicketModel.assigned_at.remove(),
                            TicketModel.assignment_source.remove()]
                after["assignee_id"] = None
            ctx.reopened = True
        elif ticket.status in vocabulary.RESUMED_BY_CUSTOMER:
            actions += [TicketModel.status.set("open"), TicketModel.status_changed_at.set(now),
                        TicketModel.automation_fired.remove()]
            after.update(status="open", status_changed_at=now, automation_fired=None)
        events = ([("status", "open")] if "status" in after else []) \
            + ([("assigned", None)] if "assignee_id" in after else []) + [("customer_message", None)]
        after["timeline"] = clocks.append(ticket.timeline, now, events)
        actions.append(TicketModel.timeline.set(after["timeline"]))
        clock_actions, clock_keys = clocks.recompute(ticket, after, ctx.now)
        actions += clock_actions + ticket_keys.update_actions(ticket, {**after, **clock_keys})
        if "status" in after:
            writes.save(AuditModel(ticket.ticket_id, f"{now}#{ids.message_key_digest(message.dedup_key)[:8]}", at=now,
                                   actor="customer", actor_name=message.sender_name,
                                   action="reopened" if ctx.reopened else "updated",
                                   changes={"status": [ticket.status, "open"]}, detail="the customer wrote again"))
    writes.update(ticket, actions)
    _identity_and_customer(ctx, writes, new_ticket=False)


def _identity_and_customer(ctx: Context, writes: repository.Writes, *, new_ticket: bool) -> None:
    message, now = ctx.message, clock.iso(ctx.now)
    key = f"id:{message.sender.key}"
    identity = ctx.found.get(key)
    actions = [
        LookupModel.customer_id.set(LookupModel.customer_id | ctx.customer_id),
        LookupModel.created_at.set(LookupModel.created_at | now),
    ]
    if ctx.is_new and message.channel != "email":
        actions.append(LookupModel.open_ticket_id.set(ctx.ticket.ticket_id))
    if ctx.is_new:
        week = _contacts_week(ctx.now)
        same_week = identity is not None and identity.contacts_week == week
        actions += [LookupModel.contacts_week.set(week),
                    LookupModel.contacts_count.set(int(identity.contacts_count or 0) + 1 if same_week else 1)]
    condition = None
    if ctx.ack is not None and ctx.ack.send:
        actions += [LookupModel.ack_window.set(ctx.ack.window), LookupModel.ack_count.set(ctx.ack.count),
                    LookupModel.ack_day.set(ctx.ack.day), LookupModel.ack_day_count.set(ctx.ack.day_count)]
        if identity is None:  # first contact: nobody else may have counted meanwhile
            condition = LookupModel.lookup_key.does_not_exist()
        elif identity.ack_window is None:
            condition = LookupModel.ack_window.does_not_exist()
        else:
            condition = (LookupModel.ack_window == identity.ack_window) & (
                LookupModel.ack_count == identity.ack_count
            )
    writes.update(LookupModel(key), actions, condition)

    customer_actions = [
        CustomerModel.identities.add({message.sender.key}),
        CustomerModel.first_seen_at.set(CustomerModel.first_seen_at | now),
        CustomerModel.last_seen_at.set(now),
    ]
    held = bool(message.quarantine_reason)  # a forger must not name the customer or write their last inquiry
    if message.sender_name and not held:  # the first name we learn (or import) stays: a display name is not an edit
        customer_actions.append(CustomerModel.name.set(CustomerModel.name | message.sender_name))
    if not message.auto_reply_reason and not held:
        customer_actions.append(
            CustomerModel.last_inquiry.set(
                LastInquiry(
                    ticket_id=ctx.ticket.ticket_id,
                    channel=message.channel,
                    subject=message.subject,
                    excerpt=(message.reply_text or message.text)[:280],
                    at=now,
                )
            )
        )
    if new_ticket:
        customer_actions.append(CustomerModel.ticket_count.add(1))
    writes.update(CustomerModel(ctx.customer_id), customer_actions)


def _message_item(ctx: Context, ticket_id: str) -> MessageModel:
    message = ctx.message
    digest = ids.message_key_digest(message.dedup_key)
    text, reply_text, html, body_key = message.text, message.reply_text, message.html, None
    size = sum(len((part or "").encode("utf-8", "replace"))
               for part in (text, reply_text, html, message.subject, " ".join(message.recipients)))
    if size > _INLINE_BODY_BYTES:
        body = json.dumps({"text": text, "reply_text": reply_text, "html": html}).encode("utf-8")
        body_key = blobs.put(f"bodies/{digest}.json", body, "application/json")
        text, reply_text, html = text[:_PREVIEW_CHARS], reply_text[:_PREVIEW_CHARS], None
    return MessageModel(
        ticket_id,
        f"{clock.iso(ctx.now)}#{digest}",  # receipt order: FIFO processes a conversation in order
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
        joined_by=ctx.thread_method or "new-ticket",
        flags=_flags(ctx) or None,
        sender_auth=message.sender_auth,
        created_at=clock.iso(ctx.now),
    )


def _flags(ctx: Context) -> set[str]:
    flags = set()
    if ctx.message_id_reused:
        flags.add("message-id-reused")
    if (ctx.message.sender_auth or "").startswith("fail"):
        flags.add("sender-unauthenticated")
    return flags


def _copied(message) -> list[str]:
    """Identity keys of the people a customer's mail copies (To/Cc), our own addresses left out."""
    if message.channel != "email" or message.quarantine_reason:
        return []
    return threading.copied_identities(message.recipients, config.support_address(), message.sender.key)


def _routes_with(routes: dict | None, message, now: str) -> dict | None:
    """The ticket's reply routes with this message's channel updated (and when it last wrote)."""
    if not message.reply_route:
        return routes
    updated = dict(routes or {})
    updated[message.channel] = {**message.reply_route, "last_inbound_at": now}
    return updated


def _tier(ctx: Context) -> str | None:
    identity = ctx.found.get(f"id:{ctx.message.sender.key}")
    return identity.tier if identity is not None else None


def _lookup(key: str, ticket_id: str, now: str) -> LookupModel:
    return LookupModel(key, ticket_id=ticket_id, created_at=now)


def _message_id_lookup(message, ticket_id: str, now: str) -> LookupModel:
    """The inbound Message-ID's lookup, with who sent it and what it said (see ``skip_duplicate``)."""
    return LookupModel(threading.message_id_key(message.message_id), ticket_id=ticket_id, created_at=now,
                       sender=message.sender.key, digest=_content_digest(message))


def _thread_ids(message) -> list[str]:
    """The References chain our replies carry: theirs oldest → newest, then their message."""
    chain = list(reversed(message.thread_refs))
    if message.message_id:
        chain.append(message.message_id)
    return chain[-_THREAD_IDS_KEPT:]


def _queue_chat_acknowledgement(ticket: TicketModel, settings) -> None:
    """Chat acknowledgements are short and go out through the outbound sender, like every chat reply."""
    from chalicelib.outbound.templates import render
    from chalicelib.storage import queues as queue

    text = render(
        "acknowledgement.chat.j2",
        customer_name=(ticket.requester_name or "").split(" ")[0],
        ticket_number=int(ticket.number),
        response_time=_promise(ticket),
        links=[{"title": link.title, "url": str(link.url)} for link in settings.self_help_links],
    ).strip()
    key = f"ack:{ticket.ticket_id}"
    reply = {"v": 1, "kind": "reply", "ticket_id": ticket.ticket_id, "channel": ticket.channel,
             "purpose": "acknowledgement", "text": text, "key": key}
    queue.enqueue_reply(reply, ticket_id=ticket.ticket_id, dedup_key=key)


def _promise(ticket: TicketModel) -> str:
    """The first-response promise, from the ticket's own SLA policy ("4 business hours", "1 hour")."""
    from chalicelib.domain import sla

    policy = sla.policy_for(ticket.priority, ticket.channel, ticket.customer_tier, ticket.category,
                            configuration.sla_policies())
    if policy.first_response is None:
        return "as soon as we can"
    promise = ack_policy.humanise_minutes(policy.first_response)
    return promise.replace(" ", " business ", 1) if policy.business_hours else promise


def _acknowledgement_of(ticket: TicketModel, settings) -> email_out.Acknowledgement:
    return email_out.Acknowledgement(
        ticket_id=ticket.ticket_id,
        ticket_number=int(ticket.number),
        to_address=ticket.acknowledgement.to,
        customer_name=ticket.requester_name or "",
        subject=ticket.subject,
        priority=ticket.priority,
        response_time=_promise(ticket),
        links=[{"title": link.title, "url": str(link.url)} for link in settings.self_help_links],
        message_id=ticket.acknowledgement.message_id,
        thread_message_ids=list(ticket.thread_message_ids or []),
        reply_to=reply_address.reply_address(ticket.ticket_id, config.support_address(), config.reply_address_secret()),
        created_at=clock.parse_iso(ticket.created_at),
    )
