"""The SQS queues: inbound and outbound FIFO queues and their dead-letter queues.

Below the services, beside DynamoDB and S3: channels enqueue inbound messages,
services enqueue replies and notifications, the workers park what they cannot
process — and none of them needs the pipeline to do it.

SQS FIFO keeps order per ``MessageGroupId`` (one group per conversation) and
drops a repeated ``MessageDeduplicationId`` within 5 minutes; the pipeline's
conditional writes cover redeliveries after that. Parked messages carry the
reason in their body so nobody has to dig through logs to learn why.
"""
from __future__ import annotations

import json
import os
from typing import Any

from chalicelib import aws, clock, config
from chalicelib.observability import logger

_queue_urls: dict[str, str] = {}


def _url(name: str) -> str:
    """The queue's URL: from ``<queue setting>_URL`` when the deployment set it (no call), else looked up once."""
    if name not in _queue_urls:
        given = {config.setting(s): os.environ.get(f"{s}_URL") for s in ("INBOUND_QUEUE", "INBOUND_DLQ",
                                                                          "OUTBOUND_QUEUE", "OUTBOUND_DLQ")}
        _queue_urls[name] = given.get(name) or aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return _queue_urls[name]


def reset() -> None:
    _queue_urls.clear()


def _sha256(text: str) -> str:
    import hashlib  # on use: ses_inbound imports this module at every cold start

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()  # JSON allows lone surrogates


def group_id(conversation_key: str) -> str:
    """A stable, opaque MessageGroupId (max 128 chars) that keeps addresses out of SQS metadata."""
    return _sha256(conversation_key)[:40]


def _dedup_id(text: str) -> str:
    return _sha256(text)  # 64 chars ≤ SQS's 128


def enqueue(envelope: dict[str, Any], *, conversation_key: str, dedup_key: str) -> None:
    aws.client("sqs").send_message(
        QueueUrl=_url(config.setting("INBOUND_QUEUE")),
        MessageBody=json.dumps(envelope, separators=(",", ":")),
        MessageGroupId=group_id(conversation_key),
        MessageDeduplicationId=_dedup_id(dedup_key),
    )


def enqueue_reply(reply: dict[str, Any], *, ticket_id: str, dedup_key: str) -> None:
    """A reply for the outbound sender; one group per ticket keeps a ticket's replies in order."""
    aws.client("sqs").send_message(
        QueueUrl=_url(config.setting("OUTBOUND_QUEUE")),
        MessageBody=json.dumps(reply, separators=(",", ":")),
        MessageGroupId=group_id(ticket_id),
        MessageDeduplicationId=_dedup_id(dedup_key),
    )


def park(body: Any, reason: str, *, source: str, group: str = "parked", dlq_setting: str = "INBOUND_DLQ",
         receives: int | None = None, stored_in: str | None = None, dedup_key: str | None = None) -> None:
    """Put a message we cannot process in a dead-letter queue, with the reason (and on which delivery).

    ``stored_in``: the message itself is in that ticket, and what is parked is the work after storing it.
    ``dedup_key``: parks of one message within SQS's 5-minute window are one (default: this park's text).
    """
    parked = {"reason": reason, "source": source, "parked_at": clock.iso(clock.now()), "body": body}
    if receives is not None:
        parked["receives"] = receives
    if stored_in is not None:
        parked["stored_in"] = stored_in
    text = json.dumps(parked, separators=(",", ":"), default=str)
    logger.error("message parked in dead-letter queue", extra={"reason": reason, "source": source})
    aws.client("sqs").send_message(
        QueueUrl=_url(config.setting(dlq_setting)),
        MessageBody=text,
        MessageGroupId=group,
        MessageDeduplicationId=_dedup_id(dedup_key or text),
    )


def enqueue_messages(messages: list[Any]) -> None:
    """Chat messages from one webhook: one SendMessageBatch per 10 (SQS's batch limit)."""
    sqs = aws.client("sqs")
    url = _url(config.setting("INBOUND_QUEUE"))
    for start in range(0, len(messages), 10):
        chunk = messages[start:start + 10]
        entries = [
            {
                "Id": str(index),
                "MessageBody": json.dumps({"v": 1, "kind": "message", "message": m.to_dict()}, separators=(",", ":")),
                "MessageGroupId": group_id(m.conversation_key),
                "MessageDeduplicationId": _dedup_id(m.dedup_key),
            }
            for index, m in enumerate(chunk)
        ]
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused {len(response['Failed'])} message(s): {response['Failed'][0]}")


# --- Redrive (``python -m chalicelib.admin redrive``): read a dead-letter queue, put a message back ----------


def hold_parked(queue_name: str, *, count: int, seconds: int) -> list[dict[str, Any]]:
    """Up to ``count`` (≤ 10, SQS's limit) messages of a dead-letter or failure queue, hidden from other readers
    for ``seconds``; each with its attributes (``MessageGroupId`` on a FIFO queue). Polls for up to a second:
    a short poll samples only some of SQS's servers and may answer nothing while messages wait."""
    return aws.client("sqs").receive_message(
        QueueUrl=_url(queue_name), MaxNumberOfMessages=min(count, 10), VisibilityTimeout=seconds,
        WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])


def drop_parked(queue_name: str, receipt_handle: str) -> None:
    aws.client("sqs").delete_message(QueueUrl=_url(queue_name), ReceiptHandle=receipt_handle)


def release_parked(queue_name: str, receipt_handle: str) -> None:
    """Visible again at once (a dry run, a message left where it is): its FIFO group is no longer held."""
    aws.client("sqs").change_message_visibility(QueueUrl=_url(queue_name), ReceiptHandle=receipt_handle,
                                                VisibilityTimeout=0)


def parked_count(queue_name: str) -> int:
    """Messages in the queue, visible or held (SQS's approximate counts)."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=_url(queue_name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def put_back(queue_name: str, text: str, *, group: str, parked_message_id: str) -> str:
    """A dead-lettered message back on its FIFO queue; returns the new message's id.

    The deduplication id comes from the parked copy's SQS message id: a second run that meets the same
    copy (its delete failed, or two operators ran at once) is dropped by SQS within 5 minutes, and the
    pipeline's own deduplication by message key covers later. Not the original's id: a message parked
    within 5 minutes of its first send would be dropped silently. A copy parked again later is a new
    message with a new id, so a second redrive after a second fix is not swallowed.
    """
    return aws.client("sqs").send_message(
        QueueUrl=_url(queue_name), MessageBody=text, MessageGroupId=group,
        MessageDeduplicationId=_dedup_id(f"redrive:{parked_message_id}"))["MessageId"]
