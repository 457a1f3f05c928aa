"""The ``process_inbound`` SQS consumer: one record → one pipeline run.

Batches go through ``invocation.process_fifo_batch`` (FIFO partial batch failures). A
message that can never succeed is parked in the DLQ at once with its reason —
a malformed mail, one over a parser limit or its parsing time budget, one whose
items DynamoDB would refuse; a transient failure is retried by SQS, and on its
last allowed receive it is parked with the last error rather than redriven blind.
"""
from __future__ import annotations

import json
from typing import Any

from chalicelib import config
from chalicelib.observability import count, logger
from chalicelib.storage import queues as queue
from chalicelib.invocation import TimeBudgetExceeded, process_fifo_batch, time_budget, time_left

_TIME_MARGIN_SECONDS = 1.0  # kept after a message's parse budget for its writes and the batch report


def process_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_fifo_batch(event, context, _handle)


class UnusableMessage(ValueError):
    """The queue message itself cannot be processed, now or ever."""


class OutOfTime(RuntimeError):
    """Too little of the invocation is left to give this message its full budget: SQS delivers it again."""


def _handle(record: Any) -> None:
    from chalicelib.channels.email.exceptions import MalformedEmail
    from chalicelib.pipeline.runner import FollowUpFailed, run
    from chalicelib.storage.exceptions import BlobMissing, RejectedWrite

    body: Any = record.body
    receives = int(record.attributes.approximate_receive_count or 1)
    message = None
    try:
        envelope = _decode(body)
        body = envelope
        message, blobs = _to_message(envelope)
        logger.remove_keys(["ticket_id"])
        logger.set_correlation_id(message.external_id)
        outcome = run(message, blobs=blobs)
        logger.info("message processed", extra={"outcome": outcome.__dict__})
    except (UnusableMessage, MalformedEmail, BlobMissing, RejectedWrite, TimeBudgetExceeded) as err:
        reason = getattr(err, "reason", None) or str(err)
        queue.park(body, reason, source="process_inbound", group=_group(record), receives=receives)
        count("MessagesParked", channel=_channel(body))
    except OutOfTime:
        # Not the message's fault: never parked by us. SQS delivers it again (its redrive policy
        # still applies if invocations keep running short, and then its DLQ keeps it).
        logger.warning("too little time left in this invocation; the message goes back to SQS")
        raise
    except Exception as err:
        if receives >= config.int_setting("INBOUND_MAX_RECEIVES"):
            logger.exception("giving up after the last allowed receive")
            stored_in = err.ticket_id if isinstance(err, FollowUpFailed) else _stored_earlier(message, body)
            if stored_in is None:
                reason = f"failed {receives} times; last error: {err!r}"
            else:  # the message is in its ticket: what is parked is the work after it
                reason = (f"failed {receives} times after it was stored in ticket {stored_in} (a redrive finishes "
                          f"what follows it); last error: {err.__cause__ or err!r}")
            queue.park(body, reason, source="process_inbound", group=_group(record), receives=receives,
                       stored_in=stored_in)
            count("FollowUpsParked" if stored_in else "MessagesParked", channel=_channel(body))
            return
        raise


def _stored_earlier(message: Any, envelope: Any) -> str | None:
    """Where an earlier delivery stored the message, when this one failed before it could tell (its
    lookups' read failed, or the raw mail could not even be fetched: the message is read again for the
    question); None when it is not stored, or the question fails too (then the record says only what
    failed: a redrive stores nothing twice either way)."""
    from chalicelib.domain.messages import InboundMessage
    from chalicelib.pipeline.runner import stored_in

    try:
        if message is None:
            if not isinstance(envelope, dict):
                return None
            message = _parse_mail(envelope)[0] if envelope.get("kind") == "ses" \
                else InboundMessage.from_dict(envelope["message"])  # no media fetched: only its keys are asked
        return stored_in(message)
    except Exception:
        logger.exception("could not tell whether the message was stored by an earlier delivery")
        return None


def _decode(body: str) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except (TypeError, ValueError) as err:
        raise UnusableMessage(f"queue message is not JSON: {err}") from err
    if not isinstance(envelope, dict) or envelope.get("kind") not in ("ses", "message"):
        raise UnusableMessage("queue message has no known kind (expected 'ses' or 'message')")
    return envelope


def _to_message(envelope: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The InboundMessage and the blobs (email attachments) the pipeline stores if it keeps the message."""
    from chalicelib.channels.email.exceptions import MalformedEmail
    from chalicelib.domain.messages import InboundMessage

    try:
        if envelope["kind"] == "ses":
            return _parse_mail(envelope)
        message = InboundMessage.from_dict(envelope["message"])
    except MalformedEmail:
        raise  # the mail is at fault, not the queue message: keep its own reason
    except KeyError as err:
        raise UnusableMessage(f"queue message lacks a field: {err!r}") from err
    except (TypeError, ValueError, AttributeError) as err:  # ValueError: e.g. an id too long for a key
        raise UnusableMessage(f"queue message is unusable: {err}") from err
    if message.media:
        from chalicelib.channels.media import store_media

        store_media(message)
    return message, []


def _parse_mail(envelope: dict[str, Any]) -> tuple[Any, list[Any]]:
    """Fetch, then parse within the message's time budget (a hostile mail cannot take the invocation's time).

    The mail is parked only if it outran its whole budget; when the invocation had
    less time left than that, it is handed back to SQS for a fresh invocation.
    """
    from chalicelib.channels.email import intake

    raw = intake.fetch(envelope)
    budget = float(config.setting("PARSE_BUDGET_SECONDS"))
    left = time_left() - _TIME_MARGIN_SECONDS
    if left < _TIME_MARGIN_SECONDS:
        raise OutOfTime(f"{time_left():.1f} s left in this invocation: too little to parse a mail")
    try:
        with time_budget(min(budget, left), "parsing the mail"):
            return intake.to_inbound_message(envelope, raw)
    except TimeBudgetExceeded as err:
        if left < budget:
            raise OutOfTime(f"{err.reason}, with {budget:g} s allowed but only {left:.1f} s left") from None
        raise


def _group(record: Any) -> str:
    return record.attributes.message_group_id or "parked"


def _channel(body: Any) -> str:
    if isinstance(body, dict):
        if body.get("kind") == "ses":
            return "email"
        message = body.get("message")
        return str(message.get("channel", "unknown")) if isinstance(message, dict) else "unknown"
    return "unknown"
