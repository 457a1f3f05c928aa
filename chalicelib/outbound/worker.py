"""The ``send_outbound`` SQS consumer: deliver replies through the ticket's channel.

Each record names a ticket and the text; the route comes from the ticket (what
the customer's own message told us). An acknowledgement already delivered is
not sent again (SQS delivers at least once). A permanent failure (4xx, outside a
platform's messaging window) is recorded on the ticket and parked with its
reason; a transient one is retried by SQS and parked on the last receive.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib import clock, config
from chalicelib.observability import count, logger


def process_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from chalicelib.pipeline.batch import process_fifo_batch

    return process_fifo_batch(event, context, _handle)


def _handle(record: Any) -> None:
    from chalicelib.outbound.http import DeliveryError
    from chalicelib.pipeline import queue

    try:
        reply = json.loads(record.body)
        if not isinstance(reply, dict) or reply.get("kind") != "reply":
            raise ValueError("not a reply")
        missing = [f for f in ("ticket_id", "channel", "purpose", "text", "key") if not isinstance(reply.get(f), str)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
    except (ValueError, TypeError) as err:
        queue.park(record.body, f"unusable outbound message: {err!r}", source="send_outbound",
                   group=record.attributes.message_group_id or "parked", dlq_setting="OUTBOUND_DLQ")
        return
    logger.set_correlation_id(reply["ticket_id"])
    try:
        deliver(reply)
    except DeliveryError as err:
        receives = int(record.attributes.approximate_receive_count or 1)
        if err.permanent or receives >= config.int_setting("INBOUND_MAX_RECEIVES"):
            _record_failure(reply, err.reason)
            queue.park(reply, err.reason, source="send_outbound",
                       group=record.attributes.message_group_id or "parked", dlq_setting="OUTBOUND_DLQ")
            count("RepliesUndeliverable", channel=reply.get("channel", "unknown"))
            return
        raise


def deliver(reply: dict[str, Any]) -> None:
    from chalicelib.outbound import platforms
    from chalicelib.outbound.http import PermanentDeliveryError
    from chalicelib.storage import repository
    from chalicelib.storage.models import MessageModel, TicketModel

    ticket = repository.get_ticket(reply["ticket_id"])
    if ticket is None:
        raise PermanentDeliveryError(f"ticket {reply['ticket_id']} does not exist")
    is_ack = reply["purpose"] == "acknowledgement"
    if is_ack and (ticket.acknowledgement is None or ticket.acknowledgement.status != "pending"):
        logger.info("acknowledgement already delivered; not sending again")
        return
    route = (ticket.reply_routes or {}).get(reply["channel"])
    if not route:
        raise PermanentDeliveryError(f"ticket has no reply route for channel {reply['channel']!r}")
    now = clock.now()
    try:
        last_inbound = clock.parse_iso(route["last_inbound_at"]) if route.get("last_inbound_at") else None
    except (TypeError, ValueError):
        last_inbound = None
    try:
        platform_id = platforms.deliver(route, reply["text"], now, last_inbound)
    except (KeyError, TypeError) as err:  # a route recorded without what this platform needs
        raise PermanentDeliveryError(f"reply route for {reply['channel']!r} is unusable: {err!r}") from err

    writes = repository.Writes()
    writes.save(
        MessageModel(
            ticket.ticket_id,
            f"{clock.iso(now)}#{reply['key']}",
            message_key=reply["key"],
            direction="outbound",
            kind="acknowledgement" if is_ack else "agent",
            channel=reply["channel"],
            sender="desk",
            recipients=[route.get("to") or route.get("recipient") or route.get("chat_id") or route.get("channel")
                        or route.get("session") or ""],
            text=reply["text"],
            message_id=platform_id or None,
            created_at=clock.iso(now),
        )
    )
    if is_ack:
        writes.update(
            ticket,  # the loaded item, so its version moves on instead of restarting
            [TicketModel.acknowledgement.status.set("sent"), TicketModel.acknowledgement.sent_at.set(clock.iso(now)),
             TicketModel.acknowledgement.provider_message_id.set(platform_id)],
            TicketModel.acknowledgement.status == "pending",
            version_check=False,
        )
    repository.commit(writes)
    count("AutoRepliesSent" if is_ack else "RepliesSent", channel=reply["channel"])


def _record_failure(reply: dict[str, Any], reason: str) -> None:
    from chalicelib.storage.models import TicketModel

    failure = {"at": clock.iso(clock.now()), "channel": reply.get("channel", ""), "reason": reason[:500]}
    actions = [TicketModel.delivery_failures.set((TicketModel.delivery_failures | []).append([failure]))]
    if reply.get("purpose") == "acknowledgement":  # so agents see at a glance that it never arrived
        actions += [TicketModel.acknowledgement.status.set("failed"), TicketModel.acknowledgement.reason.set(reason[:500])]
    try:
        from chalicelib.storage import repository

        ticket = repository.get_ticket(reply["ticket_id"])
        if ticket is not None:  # loaded, so PynamoDB moves its version on rather than resetting it
            ticket.update(actions=actions, add_version_condition=False)
    except Exception:  # recording is best effort; the DLQ keeps the reason either way
        logger.exception("could not record the delivery failure on the ticket")
