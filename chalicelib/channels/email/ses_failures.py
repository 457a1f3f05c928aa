"""ses_inbound's failure queue → the pipeline again: the ``ses_failures`` SQS consumer.

SES invokes ``ses_inbound`` asynchronously. When every one of Lambda's tries fails
(SQS throttled or down, the function timed out or died), Lambda's on-failure
destination puts a record holding the SES event in the failure queue. Left there,
a mail is either in no place a customer's message belongs — or in two: a try that
handed the pointer over and then died (its answer lost) leaves a stored mail with a
failure record too (the 10,000-event proof found one).

So every record is handed over again through ``ses_inbound``, as soon as it
arrives. The pointer's deduplication id is the SES message id and the pipeline
stores a message once, so a mail an earlier try handed over is not stored twice,
and the record leaves the failure queue either way. What is not an on-failure
record of an SES event is parked in the inbound dead-letter queue with its reason;
a hand-over that still fails on the last allowed receive is parked there too, with
both errors. Every mail ends in exactly one place: a ticket, or the inbound
dead-letter queue with its reason (``admin redrive --queue inbound``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib import config
from chalicelib.channels.email import ses_inbound
from chalicelib.invocation import process_standard_batch
from chalicelib.observability import logger
from chalicelib.storage import queues as queue

__all__ = ["FailedEvent", "process_batch", "read"]


@dataclass(frozen=True)
class FailedEvent:
    """One failure-queue record read: the SES event (``None`` when the record holds none) and why it is here."""

    why: str  # what ses_inbound's last try said, or why the record is not an on-failure record
    event: Any = None


def read(body: str) -> FailedEvent:
    """A failure-queue message body → the SES event Lambda gave up on, with the last try's error.

    Lambda's on-failure record is ``{"requestContext": {"condition": …}, "requestPayload": <the event>,
    "responsePayload": {"errorMessage": …}, …}``; anything else has no event to hand over.
    """
    try:
        document = json.loads(body)
    except ValueError as err:
        return FailedEvent(why=f"not a Lambda on-failure record (not JSON: {err})")
    if not isinstance(document, dict) or "requestPayload" not in document:
        return FailedEvent(why="not a Lambda on-failure record (no requestPayload)")
    response = document.get("responsePayload")
    error = response.get("errorMessage") if isinstance(response, dict) else None
    context = document.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    return FailedEvent(why=f"ses_inbound failed: {error or condition or 'unknown'}", event=document["requestPayload"])


def process_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_standard_batch(event, context, _handle)


def _handle(record: Any) -> None:
    failed = read(record.body)
    if failed.event is None:
        queue.park(record.body, failed.why, source="ses_failures")
        return
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        ses_inbound.handle(failed.event)  # parks an event of the wrong shape itself, with the reason
    except Exception as err:
        if receives < config.int_setting("INBOUND_MAX_RECEIVES"):
            raise  # SQS delivers it again after the visibility timeout
        logger.exception("handing an SES event over again failed on the last allowed receive")
        # source ses_inbound: `admin redrive --queue inbound` sends it through ses_inbound once more
        queue.park(failed.event, f"{failed.why}; handing it over again failed {receives} times; last error: {err!r}",
                   source="ses_inbound", receives=receives)
