"""EventBridge for ``make local``: every ``@app.schedule`` function on its own cadence, in a background thread.

Cadences are read from the app (``rate(1 minute)``, ``cron(0 8 ? * MON-FRI *)``) and kept on
the desk's clock (``chalicelib.clock``), not the wall clock: moving the desk's clock forward
(``LocalDesk.advance``) makes whatever is due run at the next check, as it would have in AWS.
A jump runs a schedule once, not once per period it skipped; the sweep acts on everything
due up to now, so one run catches up. Cron fields are UTC, as EventBridge's are.
"""
from __future__ import annotations

import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["Cadence", "Scheduler", "cadence"]

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MONTHS = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_CRON_SEARCH_DAYS = 366 * 5  # a cron that never matches within five years (e.g. only 30 February) is refused


@dataclass(frozen=True)
class Cadence:
    """When a schedule runs next: ``next_after(moment)`` is the first run strictly after ``moment``."""

    expression: str
    _period: timedelta | None = None
    _fields: tuple[frozenset[int], ...] | None = None  # minute, hour, day of month, month, day of week, year

    def next_after(self, moment: datetime) -> datetime:
        if self._period is not None:
            return moment + self._period
        assert self._fields is not None
        minutes, hours, days, months, weekdays, years = self._fields
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(_CRON_SEARCH_DAYS):
            # EventBridge's day of week: 1 = Sunday … 7 = Saturday; Python's weekday(): 0 = Monday.
            if (day.year in years and day.month in months and day.day in days
                    and (day.weekday() + 1) % 7 + 1 in weekdays):
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise ValueError(f"{self.expression}: no run within {_CRON_SEARCH_DAYS // 366} years")


def cadence(expression: str) -> Cadence:
    """Parse an EventBridge schedule expression; ``ValueError`` for one this local scheduler cannot run."""
    text = expression.strip()
    rate = _RATE.fullmatch(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ValueError(f"{expression}: a rate must be at least 1")
        return Cadence(text, _period=value * _UNITS[unit])
    if text.startswith("cron(") and text.endswith(")"):
        parts = text[5:-1].split()
        if len(parts) != 6:
            raise ValueError(f"{expression}: EventBridge cron has six fields (minutes hours day-of-month month "
                             "day-of-week year)")
        minute, hour, day, month, weekday, year = parts
        if (day == "?") == (weekday == "?"):
            raise ValueError(f"{expression}: exactly one of day-of-month and day-of-week must be ?")
        fields = (_field(minute, 0, 59), _field(hour, 0, 23), _field(day, 1, 31),
                  _field(month, 1, 12, _MONTHS), _field(weekday, 1, 7, _WEEKDAYS), _field(year, 1970, 2199))
        found = Cadence(text, _fields=fields)
        found.next_after(datetime.now(timezone.utc))  # a cron that never runs is refused at start, not later
        return found
    raise ValueError(f"{expression}: not a rate(...) or cron(...) expression")


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """One cron field: ``*``, ``?``, ``5``, ``1-5``, ``MON-FRI``, ``*/15``, ``0/15``, lists of those."""
    spelled = text.upper()
    for name, number in (names or {}).items():
        spelled = re.sub(rf"\b{name}\b", str(number), spelled)
    if re.search(r"[LW#]", spelled):
        raise ValueError(f"cron field {text!r}: L, W and # are not supported locally")
    values: set[int] = set()
    for part in spelled.split(","):
        body, _, step_text = part.partition("/")
        if body in ("*", "?"):
            first, last = low, high
        elif "-" in body:
            first, last = (_number(bound, text) for bound in body.split("-", 1))
        else:
            first = _number(body, text)
            last = high if step_text else first
        step = _number(step_text, text) if step_text else 1
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(f"cron field {text!r}: outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, field: str) -> int:
    if not text.isdigit():
        raise ValueError(f"cron field {field!r}: {text!r} is not a number or a name")
    return int(text)


class Scheduler:
    """Runs each schedule when it is due on the desk's clock, checking every ``poll`` seconds.

    ``run(name)`` invokes the function (``LocalDesk.run_schedule``); ``on_ran(name, result)`` and
    ``on_failed(name, error)`` report each run. A failing run is reported and the schedule
    runs again at its next time, as EventBridge would.
    """

    def __init__(self, schedules: dict[str, str], run: Callable[[str], Any], *, now: Callable[[], datetime],
                 on_ran: Callable[[str, Any], None], on_failed: Callable[[str, BaseException], None],
                 poll: float = 0.5) -> None:
        self._cadences = {name: cadence(expression) for name, expression in schedules.items()}
        self._run, self._now, self._on_ran, self._on_failed, self._poll = run, now, on_ran, on_failed, poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        start = now()
        self.due = {name: found.next_after(start) for name, found in self._cadences.items()}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="schedules", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop after the run in progress, if any (the sweep is short: bounded per shard)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._poll):
            self.run_due()

    def run_due(self) -> list[str]:
        """Run every schedule due now; returns their names."""
        ran = []
        for name, found in self._cadences.items():
            now = self._now()
            if now < self.due[name]:
                continue
            try:
                result = self._run(name)
            except Exception as err:  # one failed run; EventBridge invokes again next time
                traceback.print_exc()
                self._on_failed(name, err)
            else:
                self._on_ran(name, result)
            ran.append(name)
            following = found.next_after(self.due[name])
            self.due[name] = following if following > now else found.next_after(now)
        return ran
