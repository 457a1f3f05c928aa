"""Recording a survey answer once: the marker ``survey:<nonce>`` written with the ticket's change.

The ticket's survey and its audit entry are written by the ticket change
(``chalicelib.service.changes``); this module adds the one item that makes a
second answer to the same link fail (the transaction is then cancelled with
``ConditionalCheckFailed`` on that write).

Like storage's other modules that the API reaches, the models (PynamoDB) are
imported inside the functions that use them: no cost at cold start.
"""
from __future__ import annotations

from typing import Any

__all__ = ["answer_marker"]


def answer_marker(nonce: str, ticket_id: str, *, at: str) -> tuple[Any, Any]:
    """The write that claims the survey ``nonce`` as answered, for the ticket change's ``extra_writes``.

    It is put only if absent: of two answers to one link, the second's whole transaction fails.
    """
    from chalicelib.storage.models import LookupModel

    return (LookupModel(f"survey:{nonce}", ticket_id=ticket_id, created_at=at),
            LookupModel.lookup_key.does_not_exist())
