"""The pipeline as an ordered list of small steps (Zammad's mail filters, one job each).

Each step takes the ``Context`` and reads or annotates it; AWS is reached only
through ``storage`` and ``outbound``. Adding a rule is adding a function and
one line in ``STEPS``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from chalicelib import clock, config, configuration
from chalicelib.domain import acknowledgement as ack_policy
from chalicelib.domain import bot, ids, reply_address, threading, vocabulary
from chalicelib.domain.messages import InboundMessage
from chalicelib.domain.triage import TriageInput
from chalicelib.observability import count, logger
from chalicelib.outbound import email as email_out
from chalicelib.outbound import profiles
import chalicelib.pipeline.bot_replies as bot_replies
from chalicelib.pipeline.context import Context
from chalicelib.service import bot as bot_service
from chalicelib.service import clocks, customer_language, deliveries, kb_tracking
from chalicelib.storage import customers, inbound, repository
from chalicelib.storage.exceptions import AgentCannotTake, DuplicateDelivery

_MAX_COPIED_PER_TICKET = 100  # people who may join a ticket by reply-all (identity keys on the ticket item)
_THREAD_IDS_KEPT = 10


def read_lookups(ctx: Context) -> None:
    """Every key this message could need, in one BatchGetItem."""
    message = ctx.message
    keys = [message.dedup_key, f"id:{message.sender.key}"]
    if message.message_id:
        keys.append(threading.message_id_key(message.message_id))
    if message.channel == "email":
        keys += threading.lookup_keys(message.thread_refs, message.subject)
        keys.append(inbound.acknowledgement_intent_key(message.dedup_key))  # an earlier attempt's acknowledgement
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
    stored_in = already_stored_in(ctx)
    if stored_in is None and message.message_id:
        by_id = ctx.found.get(threading.message_id_key(message.message_id))
        if by_id is not None and by_id.ticket_id:
            ctx.message_id_reused = True
            logger.warning("Message-ID already used by a different message; stored as a new message",
                           extra={"ticket_id": by_id.ticket_id, "sender": message.sender.key})
    if stored_in is not None:
        ctx.duplicate, ctx.done, ctx.stored_in = True, True, stored_in
        ctx.ticket = repository.get_ticket(stored_in)
        logger.info("duplicate delivery; nothing new stored", extra={"ticket_id": stored_in})


def already_stored_in(ctx: Context) -> str | None:
    """The ticket an earlier delivery stored this message in, from the lookups read (``read_lookups``), or
    None: its own idempotency key, else its Message-ID's lookup when that lookup is of this same mail."""
    message = ctx.message
    seen = ctx.found.get(message.dedup_key)
    if seen is None and message.message_id:
        by_id = ctx.found.get(threading.message_id_key(message.message_id))
        if by_id is not None and by_id.ticket_id and inbound.same_message(by_id, message):
            seen = by_id
    return seen.ticket_id if seen is not None and seen.ticket_id else None


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


def name_sender(ctx: Context) -> None:
    """A chat customer whose message carries no name (Slack without ``user_profile``, Messenger) is named.

    Asked once: the name is stored on the customer with this message (the first name learnt stays), so
    a known customer's next message reads it from the customer record instead of asking the platform.
    The platform's profile (``outbound/profiles.py``) is asked here, behind the queue, never in the
    webhook's request; a failed lookup is logged there and leaves the customer unnamed until next time.
    """
    message = ctx.message
    if message.sender_name or message.quarantine_reason or message.channel not in profiles.LOOKUPS:
        return
    if f"id:{message.sender.key}" in ctx.found:  # a customer we know: their record may have the name
        customer = customers.get_customer(ctx.customer_id)
        if customer is not None and customer.name:
            message.sender_name = customer.name
            return
    message.sender_name = profiles.display_name(message.channel, message.sender.value) or ""


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
    identity = ctx.found.get(f"id:{message.sender.key}")
    for candidate in threading.candidates(message.thread_refs, message.subject, found, signed):
        ticket = _survivor(repository.get_ticket(candidate.ticket_id))
        if ticket is None:
            continue
        # The ticket's own customer writing from another address of theirs (imported or merged) is no stranger.
        own_customer = identity is not None and identity.customer_id == ticket.customer_id
        # A bounce comes from the recipient's mail server, never a participant; it names the mail of
        # ours that bounced (an id only a recipient of that mail knows) and can change nothing on the
        # ticket (machine mail): it joins by that id.
        bounce_of_ours = message.bounce is not None and candidate.method == "message-id"
        if candidate.requires_participant and not own_customer and not bounce_of_ours and not threading.may_join(
            message.sender.key, ticket.participants or set(), ticket.copied or set()
        ):
            logger.warning(
                f"{candidate.method} ignored: sender is neither a participant of that ticket nor copied on it",
                extra={"ticket_id": ticket.ticket_id, "sender": message.sender.key},
            )
            continue
        ctx.ticket, ctx.thread_method = ticket, candidate.method
        return
    if identity is not None and identity.open_ticket_id and not message.auto_reply_reason:
        ticket = repository.get_ticket(identity.open_ticket_id)
        if ticket is not None and ticket.channel != "email" and ticket.status in vocabulary.CONTINUABLE:
            ctx.ticket, ctx.thread_method = ticket, "open-chat-ticket"  # the chat continues by email
            return
    ctx.is_new = True


def _continue_conversation(ctx: Context) -> None:
    """A chat message joins its conversation's ticket while that ticket is not solved or closed.

    A signed-in portal reply names its ticket (the portal route checked it is the customer's):
    it joins that ticket in any status, and reopens a solved one as a mail reply would.
    """
    named = ctx.message.reply_route.get("ticket_id") if ctx.message.channel == "portal" else None
    if named:
        ticket = _survivor(repository.get_ticket(named))
        if ticket is not None:
            ctx.ticket, ctx.thread_method = ticket, "portal"
            return
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

    ctx.triage = rules.triage(triage_input(ctx.message, repeat_contacts=_repeat_contacts(ctx)),
                              configuration.triage_rules())
    from chalicelib.domain import language

    ctx.language = language.detect(f"{ctx.message.subject}\n{ctx.message.own_words}")


def triage_input(message: InboundMessage, repeat_contacts: int = 0) -> TriageInput:
    """What the triage rules read of a message.

    ``reply_text`` is the new part without quoted history and signature: a quoted
    "urgent" from last month or a "Sent from my iPhone today" footer should not count.
    """
    return TriageInput(channel=message.channel, subject=message.subject, text=message.own_words,
                       sender=message.sender.key, received_at=message.received_at, repeat_contacts=repeat_contacts,
                       machine_kind=message.machine_kind if message.auto_reply_reason else None,
                       machine_reason=message.auto_reply_reason or "")


def _repeat_contacts(ctx: Context) -> int:
    """The sender's new tickets this week before this one: as an earlier attempt read them when it counted
    this one with its acknowledgement's intent (the identity holds this one too by now), else as read now."""
    intent = _acknowledgement_intent(ctx)
    if inbound.counted_intent(intent):
        return int(intent.repeat_contacts)
    identity = ctx.found.get(f"id:{ctx.message.sender.key}")
    week = _contacts_week(ctx.now)
    return int(identity.contacts_count or 0) if identity is not None and identity.contacts_week == week else 0


def _contacts_week(moment) -> str:
    return f"7d:{int(moment.timestamp()) // (7 * 86400)}"


def decide_acknowledgement(ctx: Context) -> None:
    if not ctx.is_new:
        return
    if inbound.counted_intent(_acknowledgement_intent(ctx)):
        # An earlier attempt decided to send it and counted it: the identity's counts include it by now.
        ctx.ack = ack_policy.AckDecision(True)
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
    if ctx.ack.send and ctx.triage is not None and ctx.triage.status is not None:  # nothing to wait for
        ctx.ack = ack_policy.AckDecision(False, f"{ctx.triage.status} by triage rule {ctx.triage.status_rule}")


def consult_bot(ctx: Context) -> None:
    """The 24/7 chat bot (``service/bot.py``, rules in ``domain/bot.py``).

    A new chat question it can answer confidently gets the article instead of an acknowledgement, and
    the ticket waits for the customer (pending, with no agent) until they answer "did this solve it?".
    That answer is read here: yes solves it, anything else hands over to a person (the ticket opens
    and is assigned). An agent who already took or answered the ticket ends the bot's part.
    """
    message = ctx.message
    if message.channel not in bot_service.CHANNELS or message.auto_reply_reason or message.quarantine_reason:
        return
    if ctx.is_new and ctx.triage is not None and ctx.triage.status is not None:  # a rule closed it: nobody asks
        return
    if ctx.is_new:
        language = _customer_language(ctx, ctx.customer_id, ctx.language)
        # A first contact whose message says too little to tell its language: every language's articles are
        # asked, and the best one's language becomes the ticket's (the answer, the hand-off, the survey).
        unsure = ctx.language is None and f"id:{message.sender.key}" not in ctx.found
        decision = bot_service.decide(_question(message), language=None if unsure else language,
                                      settings=ctx.settings)
        if unsure and decision.answer and decision.language:
            ctx.language = language = decision.language
        logger.info("bot decision", extra={"answer": decision.answer, "reason": decision.reason,
                                           "article_id": decision.article_id, "score": decision.score})
        ctx.reply_language = language
        ctx.bot_decision = decision if decision.answer else None
        return
    ticket = ctx.ticket
    state = bot.state_of(ticket.bot)
    if state is None or state.state != bot.ASKED or ticket.assignee_id or ticket.last_agent_reply_at \
            or ticket.status not in vocabulary.RESUMED_BY_CUSTOMER:
        return
    ctx.bot_verdict = bot.understand(message.own_words, message.choice)


def write(ctx: Context) -> None:
    """All of this message's writes in one transaction (storage.inbound); a lost race means a duplicate.

    Storage checks the writes before the message's attachments (``ctx.blobs``) reach S3, and stores
    them before the commit: a message that can never be written leaves nothing behind.
    """
    message = ctx.message
    ticket_id = ids.ticket_id_for(message.dedup_key) if ctx.is_new else ctx.ticket.ticket_id
    message_id_known = bool(message.message_id) and threading.message_id_key(message.message_id) in ctx.found
    try:
        if ctx.is_new:
            ctx.ticket = _record_new_ticket(ctx, ticket_id, message_id_known)
        else:
            inbound.record_message_on_ticket(message, ctx.ticket, _ticket_update(ctx), _sender(ctx, ticket_id),
                                             joined_by=ctx.thread_method, flags=_flags(ctx),
                                             message_id_known=message_id_known, attachments=ctx.blobs)
        ctx.stored_in = ticket_id
    except DuplicateDelivery:
        ctx.duplicate, ctx.stored_in = True, ticket_id
        ctx.ticket = repository.get_ticket(ticket_id)
        logger.info("another delivery of this message won the write", extra={"ticket_id": ctx.ticket.ticket_id})


def _record_new_ticket(ctx: Context, ticket_id: str, message_id_known: bool) -> Any:
    """Write the new ticket, claimed by an available agent in the same transaction when one can take it,
    with its email acknowledgement already sent (``_acknowledged_first``).

    If the claim loses its race (another copy took the agent's last slot or turn), the
    ticket is written unclaimed: the assign step then tries again with a fresh directory.
    """
    from chalicelib.service import assign as assignment
    from chalicelib.service import automate as automation

    ticket = _with_suggestions(ctx, _new_ticket(ctx, ticket_id))
    sender = _sender(ctx, ticket_id)
    options = {"flags": _flags(ctx), "message_id_known": message_id_known}
    preview = automation.preview_created(ticket, ctx.message.own_words) if _may_claim(ctx, ticket) else None
    routed_by_rules = preview is None or automation.changes_routing(preview)
    claim = None if routed_by_rules else assignment.plan_claim(ticket, now=ctx.now)
    planned = _planned(ctx, ticket, claim)
    emailed = planned.acknowledgement.status == "pending" and planned.channel == "email"
    intent = _acknowledgement_intent(ctx)
    # An emailed acknowledgement counts the sender with its intent, before SES: the ticket's write leaves them be.
    counted = (emailed and intent is None) or inbound.counted_intent(intent)
    written_sender = dataclasses.replace(sender, counted=True) if counted else sender
    prepared = inbound.prepare_new_ticket(ctx.message, planned, written_sender, **options)  # never stored, never told
    if emailed:
        if intent is not None and not intent.not_sent:  # an earlier attempt may have sent it: at most once
            acknowledgement = dataclasses.replace(planned.acknowledgement, status="unknown",
                                                  reason=ack_policy.OUTCOME_UNKNOWN)
            count("AcknowledgementsUnknown", channel="email")
        else:
            if intent is None:
                inbound.intend_acknowledgement(ctx.message, sender, ticket_id, int(planned.number),
                                               at=clock.iso(ctx.now))
            else:  # an earlier attempt counted it and SES certainly did not send it: send it now
                inbound.resume_acknowledgement(ctx.message.dedup_key)
            acknowledgement = _acknowledged_first(ctx, planned, preview)
        inbound.acknowledged(prepared, acknowledgement)
        ticket = dataclasses.replace(ticket, acknowledgement=acknowledgement)

    def record(new: inbound.NewTicket) -> Any:
        return inbound.record_new_ticket(ctx.message, new, written_sender, attachments=ctx.blobs, **options)

    if claim is not None:
        try:
            stored = inbound.commit_new_ticket(prepared, ctx.blobs)
        except AgentCannotTake:
            logger.info("the new ticket's claim lost a race; it is written unassigned and assigned next",
                        extra={"agent_id": claim.agent_id})
            count("ClaimsLost", channel=ctx.message.channel)
        else:
            assignment.claimed(stored, claim, at=ticket.created_at)
            ctx.assignee_id = claim.agent_id
            return stored
        return record(_planned(ctx, ticket, None))
    return inbound.commit_new_ticket(prepared, ctx.blobs)


def _acknowledgement_intent(ctx: Context) -> Any:
    """The lookup an earlier attempt left just before SES sent this message's acknowledgement, if any."""
    return ctx.found.get(inbound.acknowledgement_intent_key(ctx.message.dedup_key))


def _ticket_number(ctx: Context) -> int:
    """A new number; or the one an earlier attempt of this message already gave the customer in its
    acknowledgement (their answer threads by its ``[#N]``)."""
    intent = _acknowledgement_intent(ctx)
    if intent is not None and intent.value:
        return int(intent.value)
    if ctx.number is None:
        ctx.number = repository.next_ticket_number()
    return ctx.number


def _with_suggestions(ctx: Context, ticket: inbound.NewTicket) -> inbound.NewTicket:
    """The new ticket with the articles its customer is shown (``kb_suggested``): the bot's answer, or the ones
    its acknowledgement links (searched now, once; the acknowledgement reuses them). Deflection is measured
    against these."""
    if ctx.bot_decision is not None:
        return dataclasses.replace(ticket, kb_suggested=(ctx.bot_decision.article_id,))
    if ticket.acknowledgement.status != "pending":
        return ticket
    hits = _suggested(ctx, ticket, _language(ctx, ticket))
    return dataclasses.replace(ticket, kb_suggested=tuple(hit.id for hit in hits)) if hits else ticket


def _may_claim(ctx: Context, ticket: inbound.NewTicket) -> bool:
    return not ctx.message.auto_reply_reason and ticket.status in vocabulary.ACTIVE_STATUSES and ticket.bot is None


def _acknowledged_first(ctx: Context, ticket: inbound.NewTicket, preview: Any) -> inbound.AcknowledgementOwed:
    """Send a new ticket's email acknowledgement before the ticket is written, and record it sent with it.

    Writing it pending and marking it sent afterwards cost a second transaction per
    ticket; now the write is built and checked first (``prepare_new_ticket``) and carries the
    id SES gave the mail. SES takes no idempotency key, so the caller first records that it is
    about to send (``inbound.intend_acknowledgement``, which also counts it against the sender's
    cap): if the write then fails or the function dies, the redelivery reuses the ticket number and
    sends no second acknowledgement (recorded ``unknown``). When SES certainly did not send (it
    answered with an error, or was never reached), that record says so and the redelivery sends,
    counting nothing again. What remains: a failure between
    the record and SES's answer (a timeout, a crash) leaves the customer with no acknowledgement
    rather than two. The promise is the response time of the priority the "created" triggers will set.
    """
    owed = ticket.acknowledgement
    priority = (preview.changes.get("priority") if preview is not None else None) or ticket.priority
    try:
        mail = email_out.build(_acknowledgement_of(ctx, dataclasses.replace(ticket, priority=priority)))
        provider_id = email_out.send(mail, owed.to)
    except email_out.Undeliverable as err:
        logger.warning("acknowledgement cannot be sent", extra={"reason": err.reason})
        return dataclasses.replace(owed, status="failed", reason=err.reason)
    except (email_out.NotSent, ConnectionError):  # SES said not now, or was never reached: certainly not sent
        inbound.acknowledgement_not_sent(ctx.message.dedup_key)  # so the redelivery sends it
        raise
    ctx.ack_sent = True
    return dataclasses.replace(owed, status="sent", provider_message_id=provider_id, sent_at=clock.iso(clock.now()))


def acknowledge(ctx: Context) -> None:
    """An acknowledgement still pending on the ticket's own record: queue a chat one, send an email one.

    A new email ticket's acknowledgement went out just before its write
    (``_acknowledged_first``); this sends one that a ticket written pending by
    an earlier version still owes, on a redelivery of its message. Only that
    message's deliveries try: a later reply must not inherit the attempt. A mail
    SES will never accept marks the acknowledgement failed instead of retrying.
    """
    ticket = ctx.ticket
    if not (ctx.is_new or ctx.duplicate):
        return
    if ticket is None or ticket.acknowledgement is None or ticket.acknowledgement.status != "pending":
        return
    if ticket.channel != "email":
        _queue_chat_acknowledgement(ctx, ticket)
        return
    try:
        mail = email_out.build(_acknowledgement_of(ctx, ticket))
        provider_id = email_out.send(mail, ticket.acknowledgement.to)
    except email_out.Undeliverable as err:
        logger.warning("acknowledgement cannot be sent", extra={"reason": err.reason})
        inbound.mark_acknowledgement_failed(ticket, err.reason)
        return
    inbound.mark_acknowledgement_sent(ticket, provider_id, sent_at=clock.iso(clock.now()),
                                      recorded_at=clock.iso(ctx.now))
    ctx.ack_sent = True


def automate(ctx: Context) -> None:
    """The automation rules' triggers: on a new ticket, and on a customer's message to an existing one."""
    from chalicelib.service import automate as automation

    if ctx.duplicate or ctx.ticket is None or ctx.message.auto_reply_reason:
        return
    text = ctx.message.own_words
    if ctx.is_new:
        outcome = automation.on_created(ctx.ticket, text, now=ctx.now)
    else:
        outcome = automation.on_customer_message(ctx.ticket, text, frozenset({"status"}) if ctx.reopened
                                                 else frozenset(), after=ctx.changed, now=ctx.now)
    if outcome.fired:
        ctx.ticket = repository.get_ticket(ctx.ticket.ticket_id)


def assign(ctx: Context) -> None:
    """A new (or reopened) ticket goes to an available agent by its queue's strategy, or waits.

    Runs for duplicate deliveries too: a crash between the ticket's write and
    its assignment is repaired by the redelivery (the claim is conditional).
    """
    from chalicelib.service import assign as assignment

    handed_off = ctx.bot_verdict is not None and ctx.bot_verdict != "yes"
    if ctx.ticket is None or not (ctx.is_new or ctx.reopened or ctx.duplicate or handed_off):
        return
    ticket = ctx.ticket if ctx.is_new else repository.get_ticket(ctx.ticket.ticket_id)  # the stored state
    if assignment.needs_agent(ticket):
        ctx.assignee_id = assignment.auto_assign(ticket)


def bot_reply(ctx: Context) -> None:
    """What the bot says once the message is stored: its answer, its thanks, or the hand-off and when a
    person will answer. Queued under one key per ticket and kind, so a redelivery says nothing twice;
    a duplicate delivery says it again only if the first one's queueing was lost (the same key)."""
    ticket = ctx.ticket
    if ctx.duplicate and ticket is not None:
        _finish_bot_reply(ctx, ticket)
        return
    if ticket is None or (ctx.bot_decision is None and ctx.bot_verdict is None):
        return
    language = _language(ctx, ticket)
    if ctx.bot_decision is not None:
        decision = ctx.bot_decision
        bot_replies.answer(ticket, decision, language=language,
                                 article_url=_article_url(ticket.ticket_id, decision.article_id))
    elif ctx.bot_verdict == "yes":
        state = bot.state_of(ticket.bot)
        kb_tracking.confirm_solved(ticket.ticket_id, article_id=state.article_id if state else None, via="bot")
        bot_replies.solved(ticket, language=language)
    else:
        bot_replies.handoff(ticket, reason=_handoff_reason(ctx.bot_verdict), language=language, now=ctx.now)


def _finish_bot_reply(ctx: Context, ticket: Any) -> None:
    """A redelivered message whose first delivery stored what the bot decided and then crashed: say it now.

    The stored state tells what was owed. Asked, on the ticket's first message: the answer (searched
    again; the same article). Solved or handed off by the customer's latest message: the solve (if
    not yet done) and the thanks, or the hand-off. The outbound queue drops a copy already sent within
    its five-minute deduplication window (one key per ticket and kind); later, at least once.
    """
    state = bot.state_of(ticket.bot)
    if state is None or ctx.message.channel not in bot_service.CHANNELS:
        return
    language = _language(ctx, ticket)
    latest = bool(state.at) and state.at >= (ticket.last_customer_message_at or "")  # this message moved it
    if state.state == bot.ASKED and int(ticket.message_count or 0) == 1 and not ticket.assignee_id:
        decision = bot_service.decide(_question(ctx.message), language=language, settings=ctx.settings)
        if decision.answer and decision.article_id == state.article_id:
            bot_replies.answer(ticket, decision, language=language,
                                     article_url=_article_url(ticket.ticket_id, decision.article_id))
    elif state.state == bot.SOLVED and latest:
        kb_tracking.confirm_solved(ticket.ticket_id, article_id=state.article_id, via="bot")  # once, if not yet
        bot_replies.solved(ticket, language=language)
    elif state.state == bot.HANDED_OFF and latest:
        bot_replies.handoff(ticket, reason=state.reason or "", language=language, now=ctx.now)


def _handoff_reason(verdict: str | None) -> str:
    return {"no": "the article did not solve it", "person": "asked for a person"}.get(
        verdict or "", "the customer wrote something else")


def record_bounce(ctx: Context) -> None:
    """A delivery-status notification for one of our mails: recorded on that mail, flagged on its ticket,
    exactly as SES's own bounce event would be (``service.deliveries``)."""
    bounce = ctx.message.bounce
    if bounce is None or ctx.duplicate or not bounce.original_message_id:
        return
    permanent = bounce.status.startswith("5") or bounce.action == "failed"
    stamp = clock.iso(ctx.now)
    event = deliveries.DeliveryEvent(
        status="bounced" if permanent else "delayed", provider_message_id=bounce.original_message_id,
        sent_at=stamp, at=stamp, recipients=(bounce.recipient.lower(),) if bounce.recipient else (),
        bounce_type="Permanent" if permanent else "Transient", bounce_subtype=bounce.status or None,
        diagnostic=bounce.diagnostic or None)
    outcome = deliveries.record(event)
    logger.info("delivery-status notification recorded", extra={"outcome": outcome})


def measure(ctx: Context) -> None:
    """What only the message knows (duplicates, threaded replies, suppressed acknowledgements); what the
    stored ticket shows (created, acknowledged, reopened) is measured off the ticket stream."""
    channel = ctx.message.channel
    if ctx.duplicate:
        count("DuplicatesIgnored", channel=channel)
    elif not ctx.is_new:
        count("RepliesThreaded", channel=channel)
    if ctx.ack is not None and not ctx.ack.send and not ctx.duplicate:
        count("AutoRepliesSuppressed", channel=channel)


STEPS: list[Callable[[Context], None]] = [
    read_lookups,
    skip_duplicate,
    check_sender,
    identify_customer,
    name_sender,
    find_thread,
    triage,
    decide_acknowledgement,
    consult_bot,
    write,
]
# also run for duplicates
AFTER: list[Callable[[Context], None]] = [automate, assign, acknowledge, bot_reply, record_bounce, measure]


# --- deciding what is written (storage.inbound builds the items) ----------------------------


def _new_ticket(ctx: Context, ticket_id: str) -> inbound.NewTicket:
    """The ticket this message opens: numbered, triaged, its acknowledgement decided (``_planned`` adds
    its owner and SLA clocks)."""
    message, now = ctx.message, clock.iso(ctx.now)
    decision = ctx.ack
    ack = inbound.AcknowledgementOwed(status="suppressed", reason=decision.reason if decision else "not owed")
    answered = ctx.bot_decision  # the bot's answer stands in for the acknowledgement
    if answered is not None:
        ack = inbound.AcknowledgementOwed(status="suppressed", reason="the bot answered")
    elif decision is not None and decision.send:
        ack = inbound.AcknowledgementOwed(
            status="pending",
            message_id=ids.acknowledgement_message_id(ticket_id, config.support_domain())
            if message.channel == "email"
            else None,
            to=message.sender.value,
        )
    ticket = inbound.NewTicket(
        ticket_id=ticket_id,
        number=_ticket_number(ctx),
        subject=message.subject,
        status="spam" if message.quarantine_reason else "open",
        priority=ctx.triage.priority,
        category=ctx.triage.category,
        tags=set(ctx.triage.tags) or None,
        rules_fired=tuple(ctx.triage.rules_fired),
        reasons=tuple(ctx.triage.reasons),
        channel=message.channel,
        customer_id=ctx.customer_id,
        requester=message.sender.key,
        requester_name=message.sender_name,
        copied=set(_copied(message)) or None,
        thread_message_ids=_thread_ids(message),
        created_at=now,
        customer_wrote=not message.auto_reply_reason,
        quarantine_reason=message.quarantine_reason,
        acknowledgement=ack,
        reply_routes=_routes_with(None, message, now),
        language=ctx.language,
        customer_tier=_tier(ctx),
        timeline=clocks.initial_timeline(now, priority=ctx.triage.priority,
                                         customer_wrote=not message.auto_reply_reason),
    )
    if ctx.triage.status is not None and not message.quarantine_reason:  # e.g. bulk mail: recorded closed
        ticket = dataclasses.replace(ticket, status=ctx.triage.status,
                                     timeline=clocks.append(ticket.timeline, now, [("status", ctx.triage.status)]))
    if answered is not None:  # waits for the customer's yes or no, with no agent (storage.ticket_keys)
        ticket = dataclasses.replace(
            ticket, status="pending", timeline=clocks.append(ticket.timeline, now, [("status", "pending")]),
            bot=bot.BotState(bot.ASKED, article_id=answered.article_id, at=now).as_item())
    return ticket


def _planned(ctx: Context, ticket: inbound.NewTicket, claim: Any) -> inbound.NewTicket:
    """The new ticket with its owner (when ``claim``) and its SLA clocks planned from that."""
    if claim is not None:
        ticket = dataclasses.replace(
            ticket, assignee_id=claim.agent_id, assignee_name=claim.name, assignment_source=claim.source,
            assignment_detail=claim.detail,
            timeline=clocks.append(ticket.timeline, ticket.created_at, [("assigned", claim.agent_id)]),
            claim=inbound.LoadChange(claim.agent_id, 1, cursor=ticket.created_at,
                                     expected_cursor=claim.expected_last_assigned_at))
    planned = clocks.schedule(clocks.fields_of(ticket), ctx.now)
    return dataclasses.replace(ticket, sla=planned["sla"], sla_check_at=planned["sla_check_at"],
                               timer_at=planned["timer_at"], overdue_at=planned["overdue_at"])


def _ticket_update(ctx: Context) -> inbound.TicketUpdate:
    """What the customer's message changes on the ticket it joins: reopen or resume, activity, clocks."""
    message, ticket, now = ctx.message, ctx.ticket, clock.iso(ctx.now)
    room = _MAX_COPIED_PER_TICKET - len(ticket.copied or ())  # a ticket item must stay far below 400 KB
    newcomers = [key for key in _copied(message) if key not in (ticket.participants or ()) and
                 key not in (ticket.copied or ())]
    copied = set(newcomers[:max(room, 0)])
    update = inbound.TicketUpdate(
        at=now,
        copied=frozenset(copied) if copied and not message.auto_reply_reason else frozenset(),
        reply_routes=_routes_with(ticket.reply_routes, message, now) if message.reply_route else None,
        customer_wrote=not message.auto_reply_reason,
    )
    if message.auto_reply_reason:  # an out-of-office never changes the ticket's state
        return update
    after: dict = {"last_customer_message_at": now}
    if ctx.bot_verdict == "yes":  # the article solved it: it stays with the bot until solved (bot_reply)
        update = dataclasses.replace(update, bot=bot.BotState(
            bot.SOLVED, article_id=bot.state_of(ticket.bot).article_id, at=now).as_item())
    elif ctx.bot_verdict is not None:  # a person takes over: resumed below (pending → open), then assigned
        update = dataclasses.replace(update, bot=bot.BotState(
            bot.HANDED_OFF, article_id=bot.state_of(ticket.bot).article_id, at=now,
            reason=_handoff_reason(ctx.bot_verdict)).as_item())
    if ticket.status in vocabulary.REOPENABLE and ctx.settings.reopen_on_reply:
        after.update(status="open", status_changed_at=now, automation_fired=None)
        if ticket.assignee_id:  # back to the queue; sticky routing prefers the previous owner
            after["assignee_id"] = None
        ctx.reopened = True
    elif ticket.status in vocabulary.RESUMED_BY_CUSTOMER and ctx.bot_verdict != "yes":
        after.update(status="open", status_changed_at=now, automation_fired=None)
    events = ([("status", "open")] if "status" in after else []) \
        + ([("assigned", None)] if "assignee_id" in after else []) + [("customer_message", None)]
    after["timeline"] = clocks.append(ticket.timeline, now, events)
    ctx.changed = after
    planned = clocks.schedule({**clocks.fields_of(ticket), **after}, ctx.now)
    return dataclasses.replace(
        update, status=after.get("status"), reopened=ctx.reopened, release_assignee="assignee_id" in after,
        timeline=after["timeline"], sla=planned["sla"], sla_check_at=planned["sla_check_at"],
        timer_at=planned["timer_at"], overdue_at=planned["overdue_at"],
    )


def _sender(ctx: Context, ticket_id: str) -> inbound.Sender:
    """What this message records about its sender: contacts, acknowledgements counted, name, last inquiry."""
    message = ctx.message
    identity = ctx.found.get(f"id:{message.sender.key}")
    held = bool(message.quarantine_reason)  # a forger must not name the customer or write their last inquiry
    contacts_week = contacts_count = None
    if ctx.is_new and not held:  # forged mail must not count as the customer's contacts (triage's repeat rule)
        contacts_week, contacts_count = _contacts_week(ctx.now), _repeat_contacts(ctx) + 1
    return inbound.Sender(
        customer_id=ctx.customer_id,
        identity=identity,
        opened_ticket=ctx.is_new and not held,
        open_ticket_id=ticket_id if ctx.is_new and message.channel != "email" else None,
        contacts_week=contacts_week,
        contacts_count=contacts_count,
        # Counted against the sender's acknowledgement limits only when one goes out (the bot's answer is none).
        acknowledgement=ctx.ack if ctx.ack is not None and ctx.ack.send and ctx.bot_decision is None else None,
        name=message.sender_name if message.sender_name and not held else None,
        last_inquiry=not message.auto_reply_reason and not held,
    )


def _flags(ctx: Context) -> set[str]:
    """What an agent should know about the message, shown beside it."""
    return {flag for flag, raised in (
        ("message-id-reused", ctx.message_id_reused),
        ("sender-unauthenticated", (ctx.message.sender_auth or "").startswith("fail")),
    ) if raised}


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


def _thread_ids(message) -> list[str]:
    """The References chain our replies carry: theirs oldest → newest, then their message."""
    chain = list(reversed(message.thread_refs))
    if message.message_id:
        chain.append(message.message_id)
    return chain[-_THREAD_IDS_KEPT:]


def _queue_chat_acknowledgement(ctx: Context, ticket: Any) -> None:
    """Chat acknowledgements are short and go out through the outbound sender, like every chat reply; outside
    business hours they say when a person will answer ("Monday from 08:30 CET")."""
    from chalicelib.outbound.templates import render, template_in
    from chalicelib.storage import queues as queue

    language = _language(ctx, ticket)
    text = render(
        template_in("acknowledgement.chat.j2", language),
        customer_name=(ticket.requester_name or "").split(" ")[0],
        ticket_number=int(ticket.number),
        response_time=clocks.response_promise(ticket),
        opens=bot_service.desk_opens(ticket, ctx.now, language=language),
        links=_self_help(ctx, ticket, language),
    ).strip()
    key = f"ack:{ticket.ticket_id}"
    reply = {"v": 1, "kind": "reply", "ticket_id": ticket.ticket_id, "channel": ticket.channel,
             "purpose": "acknowledgement", "text": text, "key": key}
    queue.enqueue_reply(reply, ticket_id=ticket.ticket_id, dedup_key=key)


def _question(message: InboundMessage) -> str:
    """What the customer asked, in their own words (no quoted history): what the suggestions search for."""
    return f"{message.subject or ''}\n{message.own_words}".strip()


def _language(ctx: Context, ticket: Any) -> str:
    """The language the customer reads (``customer_language``), read once per message."""
    if ctx.reply_language is None:
        ctx.reply_language = _customer_language(ctx, ticket.customer_id, ticket.language)
    return ctx.reply_language


def _customer_language(ctx: Context, customer_id: str, detected: str | None) -> str:
    """``customer_language.of_customer``, without its read for a first contact: a sender no identity lookup
    knows has no customer record, so no stated preference (one GetItem saved on most new tickets)."""
    if ctx.is_new and f"id:{ctx.message.sender.key}" not in ctx.found:
        return customer_language.of_preference(None, detected)
    return customer_language.of_customer(customer_id, detected)


def _suggested(ctx: Context, ticket: Any, language: str) -> list[Any]:
    """The knowledge-base articles that answer the customer's question in their language (at most 3, each
    scoring ``kb_suggestion_min_score``), searched once per message.

    The acknowledgement matters more than its links: a search that fails (no index in S3, a broken
    index, a throttled marker read) is logged and counted, and the fixed links go out instead.
    """
    from chalicelib.service import kb as knowledge_base

    if ctx.suggested is None:
        try:
            ctx.suggested = knowledge_base.suggested_for(_question(ctx.message), language=language,
                                                         min_score=ctx.settings.kb_suggestion_min_score)
        except Exception:  # any failure of the search must leave the acknowledgement intact
            logger.warning("knowledge-base suggestions failed; the fixed self-help links are sent", exc_info=True)
            count("KbSuggestionsFailed", channel=ticket.channel)
            ctx.suggested = []
    return ctx.suggested


def _self_help(ctx: Context, ticket: Any, language: str) -> list[dict[str, str]]:
    """The suggested articles, linked for this ticket; the desk's fixed self-help links (titled in the
    customer's language) when none scores high enough."""
    hits = _suggested(ctx, ticket, language)
    if hits:
        return [{"title": hit.title, "url": _article_url(ticket.ticket_id, hit.id)} for hit in hits]
    return [{"title": link.title_in(language), "url": str(link.url)} for link in ctx.settings.self_help_links]


def _article_url(ticket_id: str, article_id: str) -> str:
    """The link to an article a ticket's customer was given: tracked, so opening it and answering "did this
    solve it?" count for deflection (``kb_tracking``); the plain portal link when links cannot be signed."""
    try:
        return kb_tracking.tracked_url(ticket_id, article_id)
    except (kb_tracking.LinkNotConfigured, ValueError):
        logger.warning("article link not tracked", extra={"article_id": article_id}, exc_info=True)
        return f"{config.setting('PUBLIC_BASE_URL').rstrip('/')}/portal#article/{quote(article_id, safe='')}"


def _acknowledgement_of(ctx: Context, ticket: Any) -> email_out.Acknowledgement:
    language = _language(ctx, ticket)
    return email_out.Acknowledgement(
        ticket_id=ticket.ticket_id,
        ticket_number=int(ticket.number),
        to_address=ticket.acknowledgement.to,
        customer_name=ticket.requester_name or "",
        subject=ticket.subject,
        priority=ticket.priority,
        response_time=clocks.response_promise(ticket),
        links=_self_help(ctx, ticket, language),
        message_id=ticket.acknowledgement.message_id,
        thread_message_ids=list(ticket.thread_message_ids or []),
        reply_to=reply_address.reply_address(ticket.ticket_id, config.support_address(), config.reply_address_secret()),
        created_at=clock.parse_iso(ticket.created_at),
        language=language,
    )
