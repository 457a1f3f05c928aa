"""The tickets table's stream, read back as tickets: each record's image before and after the change.

DynamoDB Streams hands Lambda every stored change of a ticket with both images
(``NEW_AND_OLD_IMAGES``, infra/resources.yaml). Decoding them into ticket models
here keeps the stream's consumer free of DynamoDB's wire format; the service
layer (``service/ticket_stream.py``) decides what a change sets in motion.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import aws

__all__ = ["StoredChange", "batch_token", "recorded_batch", "stored_changes"]

#: GetRecords may answer empty pages before the records a shard holds; this many in a row end a read.
_EMPTY_PAGES = 5


@dataclass(frozen=True)
class StoredChange:
    """One stored change of a ticket: ``old`` is None for a new ticket, ``new`` None for a deleted one."""

    sequence_number: str
    old: Any
    new: Any


def stored_changes(records: Iterable[Mapping[str, Any]]) -> list[StoredChange]:
    """The batch's records as ticket changes, in stream order. A record without images is skipped."""
    from chalicelib.storage.models import TicketModel

    changes = []
    for record in records:
        data = record.get("dynamodb") or {}
        old, new = data.get("OldImage"), data.get("NewImage")
        if old is None and new is None:
            continue
        changes.append(StoredChange(
            sequence_number=str(data.get("SequenceNumber", "")),
            old=TicketModel.from_raw_data(old) if old else None,
            new=TicketModel.from_raw_data(new) if new else None,
        ))
    return changes


def batch_token(changes: Iterable[StoredChange]) -> str:
    """A name for this batch that a retry of the same batch repeats (the aggregates' idempotency token)."""
    digest = hashlib.sha256("|".join(change.sequence_number for change in changes).encode()).hexdigest()
    return digest[:32]


def recorded_batch(stream_arn: str, shard_id: str, first: str, last: str) -> list[dict[str, Any]]:
    """The records of one shard from sequence number ``first`` through ``last``, shaped as Lambda hands them
    to ``ticket_stream``: to replay a batch it gave up on (``admin redrive --queue ticket-stream``).

    DynamoDB Streams keeps a record 24 hours; reading an older one raises ``TrimmedDataAccessException``
    (a ``ClientError``). Reads at most the batch (Lambda's batches are at most 1,000 records, one
    GetRecords page each) and stops after ``_EMPTY_PAGES`` empty pages in a row.
    """
    streams = aws.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id,
                                          ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=first)["ShardIterator"]
    end = int(last)
    records: list[dict[str, Any]] = []
    empty = 0
    while iterator and empty < _EMPTY_PAGES:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        empty = 0 if page["Records"] else empty + 1
        for record in page["Records"]:
            data = dict(record["dynamodb"])
            number = int(data["SequenceNumber"])
            if number > end:
                return records
            created = data.get("ApproximateCreationDateTime")
            if hasattr(created, "timestamp"):  # boto3 parses it; Lambda sends epoch seconds
                data["ApproximateCreationDateTime"] = created.timestamp()
            records.append({**record, "dynamodb": data, "eventSourceARN": stream_arn})
            if number == end:
                return records
        iterator = page.get("NextShardIterator")
    return records
