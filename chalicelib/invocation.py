"""One Lambda invocation of a queue consumer: its deadline, its records, each message's time budget.

The FIFO queues' consumers (``process_inbound``, ``send_outbound``) run their
batches through ``process_fifo_batch``, ``ses_failures`` through
``process_standard_batch``; anything that must finish inside the invocation
(HTTP retries, a message's parsing) asks ``time_left``.

A per-message time budget: one hostile message may not use the invocation's time.
The parsers' work is bounded by input limits (``channels/email/mime.py``); this
is the second line. If parsing one message still runs past its budget, a
``SIGALRM`` interrupts it and the worker parks that message at once with the
reason, so the rest of the batch — and the sender's FIFO group — go on instead
of timing out, being redelivered and timing out again five times.

CPython checks for signals between bytecodes and inside the ``re`` engine, so
regular expressions and pure-Python parsers are interrupted; native code that
never returns to the interpreter is bounded by the input limits alone.
Signals reach only the main thread: elsewhere (a threaded local server) the
budget is not enforced and the input limits are all there is.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

__all__ = ["FailedInvocation", "TimeBudgetExceeded", "deadline_of", "process_fifo_batch", "process_standard_batch",
           "read_on_failure_record", "set_deadline", "time_budget", "time_left"]

_deadline: float | None = None  # time.monotonic() when the current invocation times out
_length = 0.0  # the invocation's time, in seconds, when it started
_processors: dict[Callable[[Any], None], Any] = {}


def process_fifo_batch(event: dict[str, Any], context: Any, handler: Callable[[Any], None]) -> dict[str, Any]:
    """One SQS FIFO batch → one ``handler`` call per record, with partial batch failures.

    ``SqsFifoPartialProcessor`` because both queues are FIFO: after a failure the
    rest of that message group waits for the retry (order kept) while other groups
    go on (``skip_group_on_error``).
    """
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor

    return _process(event, context, handler, lambda: SqsFifoPartialProcessor(skip_group_on_error=True))


class FailedInvocation(NamedTuple):
    """An on-failure record read: the event Lambda gave up on (``None`` when the record holds none) and why.
    (A NamedTuple: every function imports this module at its cold start, and a dataclass costs ~0.4 ms.)"""

    why: str  # what the function's last try said, or why the record is not an on-failure record
    event: Any = None


def read_on_failure_record(body: str, function: str) -> FailedInvocation:
    """A queue message from ``function``'s on-failure destination → the event and the last try's error.

    Lambda writes ``{"requestContext": {"condition": …}, "requestPayload": <the event>,
    "responsePayload": {"errorMessage": …}, …}`` once every try of an asynchronous invocation failed;
    anything else has no event to give back.
    """
    try:
        document = json.loads(body)
    except ValueError as err:
        return FailedInvocation(why=f"not a Lambda on-failure record (not JSON: {err})")
    if not isinstance(document, dict) or "requestPayload" not in document:
        return FailedInvocation(why="not a Lambda on-failure record (no requestPayload)")
    response = document.get("responsePayload")
    error = response.get("errorMessage") if isinstance(response, dict) else None
    context = document.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    return FailedInvocation(why=f"{function} failed: {error or condition or 'unknown'}",
                            event=document["requestPayload"])


def process_standard_batch(event: dict[str, Any], context: Any, handler: Callable[[Any], None]) -> dict[str, Any]:
    """One SQS standard-queue batch (no order to keep) → one ``handler`` call per record, partial failures."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return _process(event, context, handler, lambda: BatchProcessor(event_type=EventType.SQS))


def _process(event: dict[str, Any], context: Any, handler: Callable[[Any], None],
             new_processor: Callable[[], Any]) -> dict[str, Any]:
    """The batch through ``handler``'s processor (made once per process) under the invocation's deadline."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    processor = _processors.get(handler)
    if processor is None:
        processor = _processors[handler] = new_processor()
    with deadline_of(context):
        return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)


@contextlib.contextmanager
def deadline_of(context: Any) -> Iterator[None]:
    """The invocation's deadline while it runs; none after it (a warm container's next event brings its own,
    and code run between invocations must not inherit "no time left")."""
    set_deadline(context)
    try:
        yield
    finally:
        set_deadline(None)


def set_deadline(context: Any) -> None:
    """Remember when this invocation ends (Lambda's context; none under some test clients)."""
    global _deadline, _length
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    _length = remaining() / 1000 if callable(remaining) else 0.0
    _deadline = time.monotonic() + _length if callable(remaining) else None


def time_left(*, keep: float = 0.0) -> float:
    """Seconds until the invocation times out, less ``keep`` (a share of its whole time); infinity when unknown."""
    return float("inf") if _deadline is None else _deadline - time.monotonic() - keep * _length


class TimeBudgetExceeded(BaseException):
    """Raised inside the budgeted block when its time is up.

    A ``BaseException`` on purpose: parsers catch ``Exception`` to survive broken
    input ("never lose the mail"), and must not swallow the watchdog too.
    """

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(f"{what} took longer than {seconds:g} s")
        self.seconds = seconds
        self.what = what
        self.reason = str(self)


@contextlib.contextmanager
def time_budget(seconds: float, what: str) -> Iterator[None]:
    """Run the block with at most ``seconds`` of wall time, else raise ``TimeBudgetExceeded``."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    import signal  # on the first parse, not at every function's cold start (app.py imports this module)

    def expire(signum: int, frame: object) -> None:
        raise TimeBudgetExceeded(seconds, what)

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # disarmed first: an alarm past here has nothing to stop
    finally:
        signal.signal(signal.SIGALRM, previous)
