"""Storage failures the pipeline treats differently from a transient AWS error, and what DynamoDB answered."""
from __future__ import annotations

from typing import Any

CONDITION_FAILED = "ConditionalCheckFailedException"


def error_code(err: Any) -> str | None:
    """The error code DynamoDB answered a PynamoDB call with, or None when there was no answer.

    A read timeout's cause carries ``response = None``, on which PynamoDB's own ``cause_response_code``
    raises AttributeError: an applied write answered by a timeout became an AttributeError (the
    10,000-event proof parked a message with "'NoneType' object has no attribute 'get'").
    """
    return _answered(err).get("Code")


def error_message(err: Any) -> str:
    return str(_answered(err).get("Message") or err)


def _answered(err: Any) -> dict[str, Any]:
    """The ``Error`` part of the answer behind a PynamoDB error; empty when there was none."""
    response = getattr(getattr(err, "cause", None), "response", None) or {}
    return response.get("Error") or {}


def condition_failed(err: Any) -> bool:
    """Did DynamoDB refuse the write because its condition did not hold (the item moved on)?"""
    return error_code(err) == CONDITION_FAILED


class BlobMissing(LookupError):
    """The S3 object (e.g. the raw mail SES should have stored) does not exist."""


class DuplicateDelivery(Exception):
    """A conditional write found the message already stored: another delivery won."""


class RejectedWrite(ValueError):
    """DynamoDB will never accept these writes (a key over 2 KB, an item over 400 KB): retrying cannot help.

    Recognised before the first attempt where the size can be known, else from
    DynamoDB's ``ValidationException``; the message is parked with ``reason``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransactionCancelled(Exception):
    """DynamoDB cancelled a transaction; ``codes`` has one entry per write, in order (None: that write was fine).

    ``ConditionalCheckFailed`` and ``TransactionConflict`` mean the item moved on
    since it was read: the caller reloads and decides.
    """

    def __init__(self, codes: list[str | None]) -> None:
        super().__init__(f"transaction cancelled: {codes}")
        self.codes = codes

    def failed(self, *codes: str) -> list[int]:
        """The positions of the writes that failed with one of ``codes``."""
        return [i for i, code in enumerate(self.codes) if code in codes]


class SenderCountsMoved(Exception):
    """The sender's identity counts (acknowledgements, repeat contacts) moved since the message read them:
    another of their messages counted at the same instant. Nothing of this one was stored or sent: run it again."""


class ConditionFailed(Exception):
    """A conditional write found the item not as the caller read it: changed, merged, claimed or already there.

    Nothing of the write was stored; the caller decides whether to read again and retry or to refuse.
    """


class BadCursor(ValueError):
    """A page cursor that does not continue this query (made up, or from another list)."""


class TicketMoved(TransactionCancelled):
    """A ticket change's transaction found the ticket moved on since it was read (another version, assigned
    meanwhile, no longer active) or being written by another transaction at that instant."""


class AgentCannotTake(TransactionCancelled):
    """A ticket change's transaction found an agent unable to take the ticket: offline, removed, at capacity,
    or round robin's cursor moved (another copy assigned them first)."""
