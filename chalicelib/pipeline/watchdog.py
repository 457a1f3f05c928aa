"""A per-message time budget: one hostile message may not use the invocation's time.

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
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["TimeBudgetExceeded", "set_deadline", "time_budget", "time_left"]

_deadline: float | None = None  # time.monotonic() when the current invocation times out


def set_deadline(context: Any) -> None:
    """Remember when this invocation ends (Lambda's context; none under some test clients)."""
    global _deadline
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    _deadline = time.monotonic() + remaining() / 1000 if callable(remaining) else None


def time_left() -> float:
    """Seconds until the invocation times out; infinity when unknown."""
    return float("inf") if _deadline is None else _deadline - time.monotonic()


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

    def expire(signum: int, frame: object) -> None:
        raise TimeBudgetExceeded(seconds, what)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
