"""What agents do to tickets: change fields, reply, add notes, merge duplicates.

Each operation is one ``changes.apply`` (ticket + audit + agent load in one
transaction); an edit's "updated" automation triggers and routing follow from
the event it publishes (``bus``); a freed agent taking a waiting one
(``ticket_stream``) and the response-time measures (``kpi_stream``) follow from
the stored change.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib import clock, config
from chalicelib.domain import attachment_policy, recipients
from chalicelib.domain.messages import AttachmentRef
from chalicelib.errors import BadRequest
from chalicelib.observability import count, logger
from chalicelib.service import bus, changes, uploads
from chalicelib.service.events import TicketEdited
from chalicelib.storage import agents as directory
from chalicelib.storage import queues as queue
from chalicelib.storage import ticket_changes



class NotAllowed(Exception):
    """The change is well-formed but cannot apply to this ticket (merged, spam, same ticket...)."""


@dataclass(frozen=True)
class Update:
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    assignee_id: Any = changes.UNSET  # an agent id, None to unassign, UNSET to leave
    add_tags: frozenset[str] = frozenset()
    remove_tags: frozenset[str] = frozenset()
    force: bool = False  # admin: assign over capacity or to an agent who is away


def update(ticket: Any, request: Update, actor: changes.Actor, *, expected_version: int | None = None,
           now: datetime | None = None) -> changes.Diff:
    """An agent's edit. Manual assignment wins over automatic: automatic claims only unassigned tickets.

    Returns the diff; ``diff.ticket`` is the ticket as the edit wrote it (before its reactions).
    """
    if ticket.merged_into:
        raise NotAllowed(f"ticket was merged into {ticket.merged_into}; change that one")
    claim: Any = changes.UNSET
    if request.assignee_id is None:
        claim = None
    elif request.assignee_id is not changes.UNSET:
        agent = directory.get(request.assignee_id)
        if agent is None or not agent.active:
            raise NotAllowed(f"no active agent {request.assignee_id!r}")
        claim = changes.Claim(agent.agent_id, agent.name, "manual", force=request.force)
    change = changes.TicketChange(status=request.status, priority=request.priority, category=request.category,
                                  assignee=claim, add_tags=request.add_tags, remove_tags=request.remove_tags)
    moment = now or clock.now()
    diff = changes.apply(ticket, change, actor, now=moment, expected_version=expected_version)
    if diff:
        bus.publish(TicketEdited(ticket.ticket_id, dict(diff), actor.id, actor.role, moment, diff.ticket))
    return diff


def reply(ticket: Any, text: str, actor: changes.Actor, *, channel: str | None = None,
          cc: list[str] | tuple[str, ...] = (), upload_ids: list[str] | tuple[str, ...] = (),
          now: datetime | None = None, request_key: str | None = None) -> dict[str, Any]:
    """Queue an agent's reply on the ticket's channel; the first one stamps the first-response time.

    The message is stored with the change (so the agent sees it at once) and sent by
    ``send_outbound``, which records delivery on it. Auto-replies and notes never
    stamp first response: only this function does.

    ``cc`` and ``upload_ids`` (files the agent uploaded for this ticket, ``service.uploads``)
    go by email only: the chat adapters send text, and a link to a file in our bucket
    would expire or leak, so a chat reply with either is refused (400) rather than sent
    without them. Uploads are claimed before anything is stored: a bad one stores nothing.

    ``request_key`` (the request's Idempotency-Key): a client retrying a request whose answer it
    never got stores nothing new. The ticket remembers its last ``_REQUESTS_KEPT`` keys (a digest with
    the agent, and the reply they stored) in the same versioned write as the reply, so two attempts
    racing store one; a repeat queues that reply again under the same key (SQS and the send claim
    make it one delivery), in case the first attempt stored it and died before queueing.
    """
    if ticket.merged_into:
        raise NotAllowed(f"ticket was merged into {ticket.merged_into}; reply there")
    if ticket.status == "spam":
        raise NotAllowed("ticket is spam; mark it open before replying")
    routes = ticket.reply_routes or {}
    target = channel or _reply_channel(ticket)
    if target != "email" and target not in routes:
        raise NotAllowed(f"the customer has not written on {target!r}; replies can go to "
                         f"{', '.join(sorted({'email'} & {ticket.channel} | set(routes))) or 'no channel'}")
    if target == "email" and not ticket.requester.startswith("email:"):
        raise NotAllowed("the customer has no email address on this ticket")
    copied, files = _email_extras(ticket, target, cc, upload_ids)
    moment = now or clock.now()
    stamp = clock.iso(moment)
    requested = _request_digest(actor.id, request_key) if request_key else None
    key = f"reply:{ticket.ticket_id}:{requested or secrets.token_hex(8)}"
    human = actor.role in ("agent", "admin")  # a rule's macro is an automated reply: never a first response
    message = ticket_changes.Reply(ticket.ticket_id, key, stamp, channel=target,
                                   sender=f"agent:{actor.id}" if human else actor.id, sender_name=actor.name,
                                   text=text, kind="agent" if human else "automated",
                                   recipients=(ticket.requester[len("email:"):], *copied) if target == "email"
                                   else (), attachments=tuple(files))
    earlier: list[str] = []  # the reply an earlier attempt of this request stored, if any

    def record(current: Any) -> Any:
        if requested and requested in (current.reply_requests or {}):
            earlier.append(current.reply_requests[requested])
            return current
        remembered = {"reply_requests": _remember(current.reply_requests, requested, message.sk)} if requested else {}
        change = changes.TicketChange(
            sets={**({"last_agent_reply_at": stamp} if human else {}), **remembered},
            set_once={"first_response_at": stamp} if human else {},
            additions={"agent_reply_count": 1} if human else {},
            extra_writes=[message],
            events=[("agent_reply" if human else "auto_reply", None)],
        )
        changes.apply(current, change, actor, action="replied", detail=f"{target}: {text[:200]}", now=moment)
        return current

    ticket = changes.retrying(ticket, record, gave_up="the ticket kept changing; try again")
    if ticket is None:
        raise NotAllowed("the ticket no longer exists")
    message_sk = earlier[0] if earlier else message.sk
    queue.enqueue_reply({"v": 1, "kind": "reply", "ticket_id": ticket.ticket_id, "channel": target,
                         "purpose": "agent" if human else "automated", "text": text, "key": key,
                         "message_sk": message_sk,
                         "agent_name": actor.name,
                         **({"cc": copied} if copied else {}),
                         **({"attachments": [{"filename": f.filename, "content_type": f.content_type,
                                              "size": f.size, "s3_key": f.s3_key} for f in files]}
                            if files else {})},
                        ticket_id=ticket.ticket_id, dedup_key=key)
    first = human and ticket.first_response_at is None and not earlier
    count("AgentReplies" if human else "AutomatedReplies", channel=target, priority=ticket.priority)
    if first:
        logger.info("first response", extra={"ticket_id": ticket.ticket_id})
    return {"message_id": message_sk, "channel": target, "queued": True, "first_response": first, "cc": copied,
            "repeated": bool(earlier),
            "attachments": [{"id": attachment_policy.attachment_id(ticket.ticket_id, message_sk, index),
                             "filename": f.filename, "content_type": f.content_type, "size": f.size}
                            for index, f in enumerate(files)]}


def _email_extras(ticket: Any, target: str, cc: list[str] | tuple[str, ...],
                  upload_ids: list[str] | tuple[str, ...]) -> tuple[list[str], list[AttachmentRef]]:
    """A reply's Cc addresses (checked) and claimed files; only an email reply carries them."""
    if not cc and not upload_ids:
        return [], []
    if target != "email":
        raise BadRequest(f"this reply goes to {target}: cc and attachments go by email only (the {target} "
                         "adapter sends text); reply with channel email, or send the text alone")
    try:
        copied = recipients.cc_addresses(cc, own_addresses=[config.support_address()],
                                         to_address=ticket.requester[len("email:"):])
    except ValueError as err:
        raise BadRequest(str(err)) from None
    files = uploads.claim_uploads(f"ticket:{ticket.ticket_id}", list(upload_ids),
                                  max_total_bytes=attachment_policy.MAX_EMAIL_ATTACHMENT_BYTES) if upload_ids else []
    return copied, files


def _reply_channel(ticket: Any) -> str:
    """Answer where the customer last wrote (a chat continued by email is answered by email)."""
    routes = ticket.reply_routes or {}
    latest = max(routes.items(), key=lambda item: item[1].get("last_inbound_at", ""), default=None)
    if ticket.channel == "email" and (latest is None or ticket.last_customer_message_at is None):
        return "email"
    if latest is None:
        return ticket.channel
    if ticket.requester.startswith("email:") and (ticket.last_customer_message_at or "") > \
            latest[1].get("last_inbound_at", ""):
        return "email"
    return latest[0]


def add_note(ticket: Any, text: str, actor: changes.Actor, *, now: datetime | None = None) -> dict[str, Any]:
    """An internal note: visible to agents, never sent, never a response."""
    moment = now or clock.now()
    stamp = clock.iso(moment)
    note = ticket_changes.Note(ticket.ticket_id, stamp, actor.id, actor.name, text)
    def record(current: Any) -> dict[str, Any]:
        changes.apply(current, changes.TicketChange(extra_writes=[note], events=[("note", None)]), actor,
                      action="note", detail=text[:200], now=moment)
        return {"message_id": note.sk}

    recorded = changes.retrying(ticket, record, gave_up="the ticket kept changing; try again")
    if recorded is None:
        raise NotAllowed("the ticket no longer exists")
    return recorded


def merge(source: Any, target: Any, actor: changes.Actor, *, now: datetime | None = None) -> None:
    """Merge a duplicate into ``target``: the duplicate closes and points at the survivor.

    Messages stay where they are (moving items between partitions buys nothing);
    the survivor's detail shows both, and new messages for the duplicate's
    conversation follow ``merged_into`` in the pipeline.
    """
    if source.ticket_id == target.ticket_id:
        raise NotAllowed("a ticket cannot be merged into itself")
    if target.merged_into:
        raise NotAllowed(f"target was itself merged into {target.merged_into}; merge into that one")
    if source.merged_into:
        raise NotAllowed(f"ticket was already merged into {source.merged_into}")
    moment = now or clock.now()
    changes.apply(source, changes.TicketChange(status="closed", assignee=None if source.assignee_id else changes.UNSET,
                                               sets={"merged_into": target.ticket_id}),
                  actor, action="merged", detail=f"merged into #{int(target.number)}", now=moment)
    def absorb(survivor: Any) -> None:
        changes.apply(survivor, changes.TicketChange(
            additions={"merged_from": {source.ticket_id},
                       "channels": set(source.channels or {source.channel}),
                       "participants": set(source.participants or {source.requester}),
                       **({"copied": set(source.copied)} if source.copied else {})}),
            actor, action="merged", detail=f"#{int(source.number)} merged in", now=moment)

    changes.retrying(target, absorb,
                     gave_up="the target ticket kept changing; the duplicate is closed, merge it again")


_REQUESTS_KEPT = 20  # a client retries within seconds; twenty replies later an old key is long unused


def _request_digest(actor_id: str, request_key: str) -> str:
    """The request's key, scoped to the agent (two agents' clients may pick the same key), short and opaque."""
    return hashlib.sha256(f"{actor_id}\x00{request_key}".encode()).hexdigest()[:16]


def _remember(requests: Any, digest: str, message_sk: str) -> dict[str, str]:
    """The ticket's recent request keys with this one added (the oldest dropped past ``_REQUESTS_KEPT``)."""
    kept = dict(requests or {})
    kept[digest] = message_sk
    return dict(list(kept.items())[-_REQUESTS_KEPT:])
