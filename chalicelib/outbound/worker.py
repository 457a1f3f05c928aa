"""The ``send_outbound`` SQS consumer: deliver replies through the ticket's channel.

Each record names a ticket and the text; the route comes from the ticket (what
the customer's own message told us). An acknowledgement already delivered is
not sent again (SQS delivers at least once). A permanent failure (4xx, outside a
platform's messaging window) or a send whose outcome is unknown (``http.DeliveryOutcomeUnknown``:
sent, then no answer; never sent twice) is recorded on the ticket and parked with its
reason; a transient one is retried by SQS and parked on the last receive.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any

from chalicelib import clock, config
from chalicelib.invocation import process_fifo_batch
from chalicelib.observability import count, logger


def process_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_fifo_batch(event, context, _handle)


def _handle(record: Any) -> None:
    from chalicelib.outbound.http import DeliveryError
    from chalicelib.storage import queues as queue

    try:
        reply = json.loads(record.body)
        if not isinstance(reply, dict) or reply.get("kind") not in ("reply", "notify", "signin", "portal_signin"):
            raise ValueError("not a reply, notification or sign-in link")
        required = ("ticket_id", "channel", "purpose", "text", "key") if reply["kind"] == "reply" \
            else ("email", "key") if reply["kind"] in ("signin", "portal_signin") else ("ticket_id", "to", "subject", "text", "key")
        missing = [f for f in required if not isinstance(reply.get(f), str)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
    except (ValueError, TypeError) as err:
        queue.park(record.body, f"unusable outbound message: {err!r}", source="send_outbound",
                   group=record.attributes.message_group_id or "parked", dlq_setting="OUTBOUND_DLQ")
        return
    receives = int(record.attributes.approximate_receive_count or 1)
    last_try = receives >= config.int_setting("INBOUND_MAX_RECEIVES")
    try:
        _dispatch(reply)
    except _AlreadyDelivered:
        return
    except DeliveryError as err:
        if not (err.permanent or last_try):
            raise
        _give_up(record, reply, err.reason)
    except Exception as err:
        if not last_try:
            raise
        # A transient failure on the last allowed receive (SES throttling, DynamoDB unavailable): parked with
        # the reason by us, not moved blind by SQS on the spare receive. The send claims still hold, so a
        # redrive never sends twice.
        logger.exception("giving up after the last allowed receive")
        _give_up(record, reply, f"failed {receives} times; last error: {err!r}")


def _dispatch(reply: dict[str, Any]) -> None:
    if reply["kind"] == "signin":  # a console sign-in link (outbound/signin_mail.py): no ticket
        from chalicelib.outbound import signin_mail

        logger.set_correlation_id(reply["key"])
        signin_mail.send_links(reply)
    elif reply["kind"] == "portal_signin":  # a customer portal sign-in link (outbound/portal_mail.py): no ticket
        from chalicelib.outbound import portal_mail

        logger.set_correlation_id(reply["key"])
        portal_mail.send_link(reply)
    else:
        logger.set_correlation_id(reply["ticket_id"])
        (notify if reply["kind"] == "notify" else deliver)(reply)


def _give_up(record: Any, reply: dict[str, Any], reason: str) -> None:
    """Park the message with the reason, and say on its ticket (if it has one) that it never went out."""
    from chalicelib.storage import queues as queue

    if "ticket_id" in reply:
        _record_failure(reply, reason)
    queue.park(reply, reason, source="send_outbound", group=record.attributes.message_group_id or "parked",
               dlq_setting="OUTBOUND_DLQ")
    count("RepliesUndeliverable", channel=reply.get("channel", "unknown"))


def deliver(reply: dict[str, Any]) -> None:
    from chalicelib.outbound import platforms
    from chalicelib.outbound.http import PermanentDeliveryError
    from chalicelib.storage import deliveries, repository

    ticket = repository.get_ticket(reply["ticket_id"])
    if ticket is None:
        raise PermanentDeliveryError(f"ticket {reply['ticket_id']} does not exist")
    is_ack = reply["purpose"] == "acknowledgement"
    if is_ack and (ticket.acknowledgement is None or ticket.acknowledgement.status != "pending"):
        logger.info("acknowledgement already delivered; not sending again")
        return
    now = clock.now()
    if reply["channel"] == "email":
        _deliver_email(ticket, reply, now)
        return
    route = (ticket.reply_routes or {}).get(reply["channel"])
    if not route:
        raise PermanentDeliveryError(f"ticket has no reply route for channel {reply['channel']!r}")
    try:
        last_inbound = clock.parse_iso(route["last_inbound_at"]) if route.get("last_inbound_at") else None
    except (TypeError, ValueError):
        last_inbound = None
    choices = _choices(reply)  # checked before the claim: an unusable reply is refused, not "unknown"
    _claim_sending(ticket, reply, now)
    try:
        with _released_if_not_sent(reply):
            platform_id = platforms.deliver(route, reply["text"], now, last_inbound, choices)
    except (KeyError, TypeError) as err:  # a route recorded without what this platform needs
        raise PermanentDeliveryError(f"reply route for {reply['channel']!r} is unusable: {err!r}") from err

    if reply.get("message_sk"):  # an agent's reply, stored when it was written: record its delivery
        _mark_delivered(ticket.ticket_id, reply, platform_id, now)
        count("RepliesSent", channel=reply["channel"])
        return
    deliveries.record_sent_message(
        ticket, key=reply["key"], at=clock.iso(now), channel=reply["channel"],
        kind="acknowledgement" if is_ack else "bot" if reply["purpose"] == "bot" else "agent",
        recipient=route.get("to") or route.get("recipient") or route.get("chat_id") or route.get("channel")
        or route.get("session") or "",
        text=reply["text"], provider_message_id=platform_id, acknowledgement=is_ack,
        choices=reply.get("choices") if reply["purpose"] == "bot" else None)
    if not is_ack:  # an acknowledgement is measured off the ticket stream, once it is marked sent
        count("RepliesSent", channel=reply["channel"])


def _deliver_email(ticket: Any, reply: dict[str, Any], now: Any) -> None:
    """An agent's reply by email, threaded into the customer's conversation."""
    from chalicelib.domain import reply_address, threading
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound.http import PermanentDeliveryError

    if not (ticket.requester or "").startswith("email:"):
        raise PermanentDeliveryError("the ticket's customer has no email address")
    message_id = f"reply.{reply['key'].rpartition(':')[2]}.{ticket.ticket_id}@{config.support_domain()}"
    _claim_sending(ticket, reply, now)
    try:
        mail = email_out.build_reply(
            ticket_id=ticket.ticket_id, ticket_number=int(ticket.number), to_address=ticket.requester[len("email:"):],
            customer_name=ticket.requester_name or "", subject=ticket.subject, text=reply["text"],
            agent_name=reply.get("agent_name") or "", message_id=message_id,
            thread_message_ids=list(ticket.thread_message_ids or []),
            reply_to=reply_address.reply_address(ticket.ticket_id, config.support_address(),
                                                 config.reply_address_secret()),
            sent_at=now, cc=_cc(reply), attachments=_files(reply))
        with _released_if_not_sent(reply):
            provider_id = email_out.send(mail, ticket.requester[len("email:"):], cc=_cc(reply))
    except email_out.Undeliverable as err:
        raise PermanentDeliveryError(err.reason) from err
    from chalicelib.storage import deliveries

    # The customer's answer threads by the id SES gave the mail (it replaces ours on the way out).
    keys = [threading.message_id_key(provider_id)]
    deliveries.remember_message_ids(ticket.ticket_id, keys, at=clock.iso(now), message_sk=reply.get("message_sk"))
    _mark_delivered(ticket.ticket_id, reply, provider_id, now)
    count("RepliesSent", channel="email")


def _choices(reply: dict[str, Any]) -> list[dict[str, str]]:
    """The bot's answer buttons as queued (``domain.bot.choices_in``): what every platform's buttons can hold."""
    from chalicelib.outbound import platforms
    from chalicelib.outbound.http import PermanentDeliveryError

    choices = reply.get("choices")
    if choices is None:
        return []
    if not (isinstance(choices, list) and len(choices) <= platforms.MAX_CHOICES
            and all(isinstance(choice, dict) and set(choice) == {"value", "label"} for choice in choices)):
        raise PermanentDeliveryError(f"the reply's choices are not a list of at most {platforms.MAX_CHOICES} "
                                     f"{{value, label}} objects: {choices!r:.200}")
    for choice in choices:
        value, label = choice["value"], choice["label"]
        if not (isinstance(value, str) and value == value.strip() and value
                and len(value.encode("utf-8", "surrogatepass")) <= platforms.MAX_CHOICE_VALUE_BYTES):
            raise PermanentDeliveryError(f"choice value {value!r:.100} is not 1-{platforms.MAX_CHOICE_VALUE_BYTES} "
                                         "bytes of text without surrounding spaces")
        if not (isinstance(label, str) and label.strip() and "\n" not in label
                and len(label) <= platforms.MAX_CHOICE_LABEL_CHARS):
            raise PermanentDeliveryError(f"choice label {label!r:.100} is not one line of 1-"
                                         f"{platforms.MAX_CHOICE_LABEL_CHARS} characters")
    if len({choice["value"] for choice in choices}) < len(choices):
        raise PermanentDeliveryError("the reply's choices repeat a value")
    return choices


UNKNOWN_OUTCOME = ("an earlier attempt to send this reply did not finish, and whether the platform delivered it "
                   "is unknown; it is not sent again so the customer does not get it twice")


def _claim_sending(ticket: Any, reply: dict[str, Any], now: Any) -> None:
    """At most once (``storage.send_claims``): claim the reply's key before sending. A claim an earlier
    attempt left means that attempt may have sent it: done if its delivery was recorded, else parked
    with the reason (``UNKNOWN_OUTCOME``), never sent twice."""
    from chalicelib.outbound.http import PermanentDeliveryError
    from chalicelib.storage import deliveries, send_claims

    if send_claims.claim(reply["key"], ticket_id=ticket.ticket_id, now=now):
        return
    if reply.get("message_sk") and deliveries.reply_delivered(ticket.ticket_id, reply["message_sk"]):
        logger.info("reply already delivered by an earlier attempt; not sending again")
        raise _AlreadyDelivered()
    raise PermanentDeliveryError(UNKNOWN_OUTCOME)


@contextlib.contextmanager
def _released_if_not_sent(reply: dict[str, Any]) -> Any:
    """Around the send itself: a failure that certainly sent nothing — the platform refused the connection or
    answered 429/503 (a transient ``DeliveryError``), or SES answered with an error or was never reached
    (``email.NotSent``) — gives the claim back, so SQS's next delivery may send. A read timeout, a reset
    or a 5xx other than 503 leave the outcome unknown and the claim in place."""
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound.http import DeliveryError
    from chalicelib.storage import send_claims

    try:
        yield
    except DeliveryError as err:
        if not err.permanent:
            send_claims.release(reply["key"])
        raise
    except email_out.NotSent:
        send_claims.release(reply["key"])
        raise


class _AlreadyDelivered(Exception):
    """An earlier attempt delivered the reply and recorded it: nothing is owed."""


def _cc(reply: dict[str, Any]) -> list[str]:
    """The reply's Cc addresses as ``service.tickets.reply`` queued them (checked there)."""
    from chalicelib.outbound.http import PermanentDeliveryError

    cc = reply.get("cc") or []
    if not isinstance(cc, list) or not all(isinstance(address, str) for address in cc):
        raise PermanentDeliveryError("the reply's cc is not a list of addresses")
    return cc


def _files(reply: dict[str, Any]) -> list[Any]:
    """The reply's attachments, read from S3 (claimed uploads: ``service.uploads``)."""
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound.http import PermanentDeliveryError
    from chalicelib.storage import blobs
    from chalicelib.storage.exceptions import BlobMissing

    files = []
    for attachment in reply.get("attachments") or []:
        try:
            files.append(email_out.FileToSend(attachment["filename"], attachment["content_type"],
                                              blobs.read(attachment["s3_key"])))
        except (KeyError, TypeError) as err:
            raise PermanentDeliveryError(f"the reply's attachment {attachment!r:.200} is unusable") from err
        except BlobMissing as err:
            raise PermanentDeliveryError(f"attachment {attachment['filename']!r} is no longer stored") from err
    return files


def _mark_delivered(ticket_id: str, reply: dict[str, Any], provider_id: str, now: Any) -> None:
    from chalicelib.storage import deliveries

    if not reply.get("message_sk"):
        return
    deliveries.mark_reply_delivered(ticket_id, reply["message_sk"], provider_id, at=clock.iso(now))


def notify(note: dict[str, Any]) -> None:
    """A notification to an agent or team lead: by email (SES) or to a Slack channel."""
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound import platforms
    from chalicelib.outbound.http import PermanentDeliveryError

    kind, _, target = note["to"].partition(":")
    if kind == "email":
        try:
            email_out.send(email_out.build_notification(target, note["subject"], note["text"]), target)
        except email_out.Undeliverable as err:
            raise PermanentDeliveryError(err.reason) from err
    elif kind == "slack":
        platforms.send_slack({"channel": target}, f"*{note['subject']}*\n{note['text']}", platforms.timedelta(0))
    else:
        raise PermanentDeliveryError(f"cannot notify {note['to']!r}: use email:<address> or slack:<channel id>")
    count("NotificationsSent", channel=kind)


def _record_failure(reply: dict[str, Any], reason: str) -> None:
    failure = {"at": clock.iso(clock.now()), "channel": reply.get("channel", ""), "reason": reason[:500]}
    is_ack = reply.get("purpose") == "acknowledgement"  # so agents see at a glance that it never arrived
    try:
        from chalicelib.storage import deliveries, repository

        ticket = repository.get_ticket(reply["ticket_id"])
        if ticket is not None:  # loaded, so PynamoDB moves its version on rather than resetting it
            deliveries.record_delivery_failure(ticket, failure, acknowledgement_reason=reason[:500] if is_ack else None)
    except Exception:  # recording is best effort; the DLQ keeps the reason either way
        logger.exception("could not record the delivery failure on the ticket")
