"""What ``make local`` shows: one short line per event on the terminal, everything else in a log file.

The functions print their JSON log lines and EMF metrics to ``sys.stdout`` (as in Lambda, where
CloudWatch reads them), and warnings and tracebacks go to ``sys.stderr``. ``LogFile`` points both
at a file for the run; ``Console`` keeps the terminal for lines a person reads
(``07:31:02  POST /webhooks/slack 200``). ``DeskEvents`` turns the pipeline's own log records
("message processed", "message parked …") into such lines, so what the console says is what the
functions logged, not a second opinion.
"""
from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Console", "DeskEvents", "LogFile", "clip"]

WIDTH = 110  # a console line, time included; longer text is cut at a word


def clip(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters, cut at a word with an ellipsis."""
    flat = " ".join(str(text).split())
    if len(flat) <= width:
        return flat
    cut = flat[:width - 1]
    if " " in cut[width // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;:.- ") + "…"


class Console:
    """The terminal: ``say`` writes one time-stamped line, whole, from any thread."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        line = f"{datetime.now():%H:%M:%S}  {clip(text, WIDTH - 10)}"
        self.write(line)

    def write(self, text: str = "") -> None:
        """Text as it is (the banner), no time stamp."""
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()


class LogFile:
    """``sys.stdout`` and ``sys.stderr`` into ``path`` from ``open()`` until ``close()`` (a new file each run)."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._file: TextIO | None = None
        self._saved: tuple[Any, Any] | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path.parent / ".gitignore"
        if self.path.parent.name == ".local" and not ignore.exists():
            ignore.write_text("# make local's log files; created by chalicelib/local/console.py\n*\n")
        self._file = open(self.path, "w", encoding="utf-8", buffering=1, errors="backslashreplace")
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = self._file

    def write(self, text: str) -> None:
        if self._file is not None and not self._file.closed:
            self._file.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None
        if self._file is not None:
            self._file.close()


class DeskEvents(logging.Handler):
    """The pipeline's log records that a person watching the desk wants to see, as console lines."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.line(record)
            if line:
                self._console.say(line)
        except Exception:  # a console line is never worth failing an invocation for
            self.handleError(record)

    @staticmethod
    def line(record: logging.LogRecord) -> str | None:
        message = record.getMessage()
        if message == "message processed":
            outcome = getattr(record, "outcome", None) or {}
            number = outcome.get("ticket_number")
            what = {"created": "new ticket", "threaded": "threaded", "duplicate": "duplicate, ignored"}.get(
                outcome.get("outcome"), outcome.get("outcome") or "?")
            if outcome.get("outcome") == "threaded" and outcome.get("thread_method"):
                what += f" by {outcome['thread_method']}"
            ack = outcome.get("acknowledgement")
            if ack:
                what += f"; acknowledgement {ack}"
            return f"message received → ticket #{number} ({what})"
        if message == "message parked in dead-letter queue":
            return f"message parked in the dead-letter queue: {getattr(record, 'reason', '?')}"
        return None
