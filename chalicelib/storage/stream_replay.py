"""A batch of the tickets table's stream read back by its position: for ``admin redrive --queue ticket-stream``
(or ``kpi-stream``).

When ``ticket_stream`` or ``kpi_stream`` gives up on a batch, Lambda's on-failure destination gets
the batch's position (shard, first and last sequence number), not its records.
The stream keeps them 24 hours. Only the admin CLI reads them back, so no
function needs ``dynamodb:GetShardIterator``/``GetRecords`` beyond its own
event source's (tests/integration/test_least_privilege.py checks none reaches
this module).
"""
from __future__ import annotations

from typing import Any

from chalicelib import aws

__all__ = ["as_delivered", "recorded_batch"]

#: GetRecords may answer empty pages before the records a shard holds; this many in a row end a read.
_EMPTY_PAGES = 5


def recorded_batch(stream_arn: str, shard_id: str, first: str, last: str) -> list[dict[str, Any]]:
    """The records of one shard from sequence number ``first`` through ``last``, shaped as Lambda hands them
    to its functions: to replay a batch one gave up on (``admin redrive --queue ticket-stream|kpi-stream``).

    DynamoDB Streams keeps a record 24 hours; reading an older one raises ``TrimmedDataAccessException``
    (a ``ClientError``; a deleted shard, ``ResourceNotFoundException``). Reads pages (1,000 records or 1 MB
    each) until the batch's last record, a closed shard's end, or ``_EMPTY_PAGES`` empty pages in a row;
    the caller checks it got to ``last``.
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
            number = int(record["dynamodb"]["SequenceNumber"])
            if number > end:
                return records
            records.append(as_delivered(record, stream_arn))
            if number == end:
                return records
        iterator = page.get("NextShardIterator")
    return records


def as_delivered(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record as read (GetRecords through boto3, or moto's stream) → as Lambda's event source
    mapping delivers it: ``eventSourceARN`` added, ``ApproximateCreationDateTime`` in epoch seconds."""
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if hasattr(created, "timestamp"):  # a datetime as boto3 parses it and moto keeps it
        data["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": data, "eventSourceARN": stream_arn}
