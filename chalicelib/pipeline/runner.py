"""Runs the steps over one message and reports what happened."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from chalicelib import clock
from chalicelib.domain.messages import InboundMessage
from chalicelib.observability import logger
from chalicelib.pipeline.context import Context, Outcome
from chalicelib.pipeline.steps import AFTER, STEPS, already_stored_in, read_lookups
from chalicelib.configuration import desk_settings
from chalicelib.storage.exceptions import SenderCountsMoved


class FollowUpFailed(RuntimeError):
    """The message is stored (in ``ticket_id``), now or by an earlier delivery; a step after it failed.

    The worker keeps this apart from a message that failed before it was stored: when it gives up,
    the parked record says where the message is, so nobody takes it for unstored, and a redrive
    finishes what follows (a redelivered stored message stores nothing twice).
    """

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"stored in ticket {ticket_id}; a step after storing it failed")
        self.ticket_id = ticket_id


#: Runs of one message whose sender's counts another of their messages moved meanwhile (then redelivered).
RUNS_WHEN_COUNTS_MOVE = 3


def run(message: InboundMessage, *, blobs: Sequence[Any] = ()) -> Outcome:
    """``blobs``: the message's attachment bytes, stored only if the message is kept (see ``steps.write``).

    A message that read its sender's counts just before another of theirs moved them stored and sent
    nothing (``SenderCountsMoved``): it runs again at once, from fresh reads, rather than after the queue's
    visibility timeout.
    """
    number = None
    attempt = 1
    while True:
        # A copy: the steps note what they find on the message (a held sender's reason), once a run.
        ctx = Context(message=copy.copy(message), now=clock.now(), settings=desk_settings(), blobs=list(blobs),
                      number=number)
        try:
            return _run_once(ctx)
        except SenderCountsMoved:
            if attempt == RUNS_WHEN_COUNTS_MOVE:
                raise  # the queue delivers it again
            number, attempt = ctx.number, attempt + 1  # the ticket number it took stays this message's
            logger.info("the sender's counts moved meanwhile; running the message again", extra={"run": attempt})


def _run_once(ctx: Context) -> Outcome:
    try:
        for step in STEPS:
            if ctx.done:
                break
            step(ctx)
            if ctx.ticket is not None:
                logger.append_keys(ticket_id=ctx.ticket.ticket_id)
        for step in AFTER:
            step(ctx)
    except Exception as err:
        if ctx.stored_in is None:
            raise
        raise FollowUpFailed(ctx.stored_in) from err
    return _outcome(ctx)


def stored_in(message: InboundMessage) -> str | None:
    """The ticket an earlier delivery stored this message in, or None (one BatchGetItem of its lookups).

    Asked by the worker when it gives up on a delivery that failed before it could tell (its own
    lookups' read failed, say): a parked record of a message that is in a ticket says so.
    """
    ctx = Context(message=message, now=clock.now(), settings=desk_settings(), blobs=[])
    read_lookups(ctx)
    return already_stored_in(ctx)


def _outcome(ctx: Context) -> Outcome:
    ticket = ctx.ticket
    ack = None
    if ticket is not None and ticket.acknowledgement is not None and (ctx.is_new or ctx.duplicate):
        ack = "sent" if ctx.ack_sent else ticket.acknowledgement.status
        if ack == "suppressed":
            ack = f"suppressed: {ticket.acknowledgement.reason}"
    return Outcome(
        ticket_id=ticket.ticket_id if ticket else None,
        ticket_number=int(ticket.number) if ticket else None,
        outcome=ctx.outcome,
        thread_method=ctx.thread_method,
        acknowledgement=ack,
    )
