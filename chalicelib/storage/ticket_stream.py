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

__all__ = ["StoredChange", "batch_token", "stored_changes"]


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


def batch_token(changes: Iterable[StoredChange], reader: str) -> str:
    """A name for this batch that a retry of the same batch repeats (the aggregates' idempotency token).

    ``reader`` is the function: ``ticket_stream`` and ``kpi_stream`` read the same stream, and a batch of the
    same records must not share a token (DynamoDB would refuse it with other items, or skip it as applied)."""
    digest = hashlib.sha256("|".join([reader, *(change.sequence_number for change in changes)]).encode()).hexdigest()
    return digest[:32]
