"""Runs the steps over one message and reports what happened."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib import clock
from chalicelib.domain.messages import InboundMessage
from chalicelib.observability import logger
from chalicelib.pipeline.context import Context, Outcome
from chalicelib.pipeline.steps import AFTER, STEPS
from chalicelib.configuration import desk_settings


def run(message: InboundMessage, *, blobs: Sequence[Any] = ()) -> Outcome:
    """``blobs``: the message's attachment bytes, stored only if the message is kept (see ``steps.write``)."""
    ctx = Context(message=message, now=clock.now(), settings=desk_settings(), blobs=list(blobs))
    for step in STEPS:
        if ctx.done:
            break
        step(ctx)
        if ctx.ticket is not None:
            logger.append_keys(ticket_id=ctx.ticket.ticket_id)
    for step in AFTER:
        step(ctx)
    return _outcome(ctx)


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
