"""One SQS FIFO batch → one handler call per record, with partial batch failures.

``SqsFifoPartialProcessor`` because both queues are FIFO: after a failure the
rest of that message group waits for the retry (order kept) while other groups
go on. HTTP retries inside the handlers are bounded by the invocation's time.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

_processors: dict[Callable[[Any], None], Any] = {}


def process_fifo_batch(event: dict[str, Any], context: Any, handler: Callable[[Any], None]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    from chalicelib.outbound import http
    from chalicelib.pipeline import watchdog

    processor = _processors.get(handler)
    if processor is None:
        processor = _processors[handler] = SqsFifoPartialProcessor(skip_group_on_error=True)
    http.set_deadline(context)
    watchdog.set_deadline(context)
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
