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

One record per invocation (app.py's ``batch_size``): a hand-over and a park are
one SQS call each, up to ``aws.worst_case_call_seconds()`` with retries, and both
fit the function's 60 s. A receive after the last allowed one means that one died
before answering: the record is parked then, never handed over again (it may have
been parked already: the park's deduplication id is the record's).
"""
from __future__ import annotations

from typing import Any

from chalicelib import config
from chalicelib.channels.email import ses_inbound
from chalicelib.invocation import FailedInvocation, process_standard_batch, read_on_failure_record
from chalicelib.observability import logger
from chalicelib.storage import queues as queue

__all__ = ["process_batch"]


def process_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_standard_batch(event, context, _handle)


def _handle(record: Any) -> None:
    failed = read_on_failure_record(record.body, "ses_inbound")
    if failed.event is None:
        queue.park(record.body, failed.why, source="ses_failures", dedup_key=f"ses_failures:{record.message_id}")
        return
    receives = int(record.attributes.approximate_receive_count or 1)
    last = config.int_setting("INBOUND_MAX_RECEIVES")
    if receives > last:  # the last allowed receive ended without an answer: park, never hand over once more
        _park(record, failed, f"receive {last}, the last allowed, ended without handing it over or parking it",
              receives)
        return
    try:
        ses_inbound.handle(failed.event)  # parks an event of the wrong shape itself, with the reason
    except Exception as err:
        if receives < last:
            raise  # SQS delivers it again after the visibility timeout
        logger.exception("handing an SES event over again failed on the last allowed receive")
        _park(record, failed, f"handing it over again failed {receives} times; last error: {err!r}", receives)


def _park(record: Any, failed: FailedInvocation, what: str, receives: int) -> None:
    """Parked as ses_inbound parks (``admin redrive --queue inbound`` sends it through ses_inbound once more);
    one park per record, however many receives reach here within SQS's deduplication window."""
    queue.park(failed.event, f"{failed.why}; {what}", source="ses_inbound", receives=receives,
               dedup_key=f"ses_failures:{record.message_id}")
