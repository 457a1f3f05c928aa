"""Business time: when a desk is open, and clocks that only tick while it is.

A ``Schedule`` says when the desk is staffed, in its own time zone: either one
opening interval on the listed days (``days: mon-fri``, ``start: "08:00"``,
``end: "17:00"``, the format triage has always read) or per-day intervals
(``hours: {mon-thu: [["08:00", "16:00"]], fri: ["08:00-12:00", "13:00-15:00"]}``).
Closed all day: explicit local dates (``holidays``) and public holidays from the
``holidays`` package (``holiday_calendars: [DK]``, ``["NO"]``, ``[{country: DE,
subdivision: BY}]``, ``[{country: DK, categories: [public, optional]}]`` to add
Christmas Eve and New Year's Eve, which Denmark does not make public holidays).

Arithmetic (``add_business_minutes``, ``business_minutes_between``) is done on
instants in UTC, never on wall-clock times: an aware ``datetime`` subtraction in one
``ZoneInfo`` is naive wall-clock subtraction and is wrong by an hour across a DST
switch. Each local day's opening intervals are turned into UTC instants with
zoneinfo, so the spring-forward day is an hour shorter and the fall-back day an
hour longer, exactly as the clock on the wall says. The walk goes interval by
interval (a due time 5 business days ahead is ~7 steps), never minute by minute.

``CALENDAR`` is a schedule that is always open: callers that run a clock on
calendar time (a 24/7 urgent policy) use the same functions with it, and it takes a
shortcut instead of walking days.

Pauses (e.g. while a ticket waits for the customer) are ``(start, end)`` pairs of
aware datetimes; a clock does not tick during them even when the desk is open.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import PrivateAttr, field_validator, model_validator

from chalicelib.domain import rule_files

__all__ = [
    "CALENDAR",
    "HolidayCalendar",
    "Pause",
    "Schedule",
    "ScheduleError",
    "add_business_minutes",
    "business_minutes_between",
    "next_open",
]

Pause = tuple[datetime, datetime]  # a stretch the clock stands still, start inclusive, end exclusive

# Longest run of consecutive closed days a walk accepts before it calls the schedule
# never-open: a year of holidays, plus a week so a weekly schedule still finds its day.
_MAX_CLOSED_DAYS = 366 + 7
_UTC = timezone.utc
_FAR_FUTURE = datetime(9999, 12, 1, tzinfo=_UTC)  # "open until forever" without overflowing

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_DAY_MINUTES = 24 * 60

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class ScheduleError(ValueError):
    """A business-time computation cannot be done: a never-open schedule, a naive datetime."""


# --------------------------------------------------------------------------- schema helpers


_Strict = rule_files.Strict  # unknown and empty keys are errors


def _day(name: str) -> str:
    """"mon", "Monday", "MON" → "mon"; anything else unchanged, for the error message."""
    folded = name.strip().lower()
    for short, full in zip(_DAYS, _DAY_NAMES):
        if len(folded) >= 3 and full.startswith(folded):
            return short
    return name


def _expand_days(value: Any) -> Any:
    """"mon-fri", ["mon-wed", "fri"], "mon, wed" → day names; ranges may wrap ("fri-mon")."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return value
    days: list[Any] = []
    for item in items:
        if isinstance(item, str) and "-" in item:
            first, _, last = (_day(part) for part in item.partition("-"))
            if first not in _DAYS or last not in _DAYS:
                raise ValueError(f"{item!r} is not a day range such as mon-fri")
            i, j = _DAYS.index(first), _DAYS.index(last)
            days.extend(_DAYS[(i + k) % 7] for k in range((j - i) % 7 + 1))
        else:
            days.append(_day(item) if isinstance(item, str) else item)
    if not days:
        raise ValueError("needs at least one day")
    return tuple(dict.fromkeys(days))


def _clock_time(value: Any) -> str:
    """A validated "HH:MM" ("24:00" allowed, meaning the next midnight)."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020.
        hint = f"{value // 60:02d}:{value % 60:02d}" if 0 <= value < _DAY_MINUTES else "17:00"
        raise ValueError(f"write times in quotes, e.g. \"{hint}\" (YAML read this one as the number {value})")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time of day as \"HH:MM\"")
    value = value.strip()
    if not (_TIME.match(value) or value == "24:00"):
        raise ValueError(f"{value!r} is not a time of day as \"HH:MM\"")
    return value


def _minutes(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes)


def _interval(value: Any) -> tuple[str, str]:
    """["08:00", "12:00"] or "08:00-12:00" → ("08:00", "12:00"), start before end."""
    if isinstance(value, str) and value.count("-") == 1:
        value = value.split("-")
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{value!r} is not an interval: write [\"08:00\", \"12:00\"] or \"08:00-12:00\"")
    start, end = _clock_time(value[0]), _clock_time(value[1])
    if _minutes(start) >= _minutes(end):
        raise ValueError(f"interval {start}-{end}: start must be before end (the same day; "
                         f"split a night shift at \"24:00\" and \"00:00\")")
    return start, end


# --------------------------------------------------------------------------- public holidays


class HolidayCalendar(_Strict):
    """Public holidays of one country (optionally one subdivision) from the ``holidays`` package."""

    country: str  # ISO 3166-1 alpha-2: DK, NO, SE, DE
    subdivision: str | None = None  # as the holidays package names it: DE "BY", NO "03"
    categories: tuple[str, ...] = ("public",)

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, data: Any) -> Any:
        if data is False:
            # YAML 1.1 reads an unquoted NO (Norway) as false: the classic "Norway problem".
            raise ValueError('YAML read this country code as false: quote it, e.g. "NO"')
        if isinstance(data, str):
            return {"country": data}
        return data

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @model_validator(mode="after")
    def _known(self) -> HolidayCalendar:
        import holidays  # ~100 ms: only where a schedule with public holidays is read

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"unknown country {self.country!r} for holiday calendars "
                             "(an ISO 3166-1 code the holidays package knows, e.g. DK, NO, SE)")
        subdivisions = supported[self.country]
        if self.subdivision is not None and self.subdivision not in subdivisions:
            known = ", ".join(subdivisions) or "none"
            raise ValueError(f"{self.country} has no subdivision {self.subdivision!r} (known: {known})")
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, categories=self.categories)
        except (NotImplementedError, ValueError) as error:
            known = ", ".join(sorted(holidays.country_holidays(self.country).supported_categories))
            raise ValueError(f"{self.country}: {error} ({self.country} has categories: {known})") from None
        return self

    def dates(self, year: int) -> frozenset[date]:
        return _holiday_dates(self.country, self.subdivision, self.categories, year)


@functools.lru_cache(maxsize=512)
def _holiday_dates(country: str, subdivision: str | None, categories: tuple[str, ...], year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year, categories=categories))


# --------------------------------------------------------------------------- schedule


class Schedule(_Strict):
    """When the desk is staffed, in its own time zone (DST handled by zoneinfo).

    Either ``days`` + ``start`` + ``end`` (one interval on each listed day; ``end`` is
    exclusive, "24:00" for midnight) or ``hours`` (intervals per day or day range).
    """

    timezone: str
    days: tuple[Day, ...] | None = None
    start: str | None = None  # "08:00", local time, inclusive
    end: str | None = None  # "17:00", local time, exclusive; "24:00" for midnight
    hours: dict[str, tuple[tuple[str, str], ...]] | None = None  # {"mon-fri": (("08:00", "17:00"),)}
    holidays: tuple[date, ...] = ()  # local dates the desk is closed all day
    holiday_calendars: tuple[HolidayCalendar, ...] = ()

    _open: _OpenTimes = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Copenhagen)") from None
        return value

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return _expand_days(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        return _clock_time(value)

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if not value:
            raise ValueError("needs at least one day with opening hours")
        week: dict[str, tuple[tuple[str, str], ...]] = {}
        for key, intervals in value.items():
            days = _expand_days(str(key))
            unknown = [d for d in days if d not in _DAYS]
            if unknown:
                raise ValueError(f"{key!r} is not a day or day range such as mon-fri")
            if not isinstance(intervals, (list, tuple)) or not intervals:
                raise ValueError(f"{key}: needs a list of intervals, e.g. [[\"08:00\", \"17:00\"]]")
            parsed = sorted((_interval(i) for i in intervals), key=lambda i: _minutes(i[0]))
            for (_, end), (start, _) in zip(parsed, parsed[1:]):
                if _minutes(start) < _minutes(end):
                    raise ValueError(f"{key}: intervals overlap ({end} is after {start})")
            for day in days:
                if day in week:
                    raise ValueError(f"{day} has opening hours twice (in {key!r} and an earlier key)")
                week[day] = tuple(parsed)
        return {day: week[day] for day in _DAYS if day in week}

    @model_validator(mode="after")
    def _one_format(self) -> Schedule:
        simple = [name for name in ("days", "start", "end") if getattr(self, name) is not None]
        if self.hours is not None and simple:
            raise ValueError(f"give either hours or days/start/end, not both (also has {', '.join(simple)})")
        if self.hours is None:
            if len(simple) < 3:
                missing = [n for n in ("days", "start", "end") if n not in simple]
                raise ValueError(f"needs {', '.join(missing)} (or hours per day)")
            if _minutes(self.start) >= _minutes(self.end):  # type: ignore[arg-type]
                raise ValueError(f"start {self.start} must be before end {self.end} (the same day)")
        return self

    def model_post_init(self, context: Any) -> None:
        if self.hours is None and (self.start is None or self.end is None):
            return  # pydantic runs this before the after-validators; _one_format reports it
        if self.hours is not None:
            per_day = {day: tuple((_minutes(s), _minutes(e)) for s, e in spans) for day, spans in self.hours.items()}
        else:
            interval = ((_minutes(self.start), _minutes(self.end)),)  # type: ignore[arg-type]
            per_day = {day: interval for day in self.days or ()}
        self._open = _OpenTimes(self.timezone, tuple(per_day.get(day, ()) for day in _DAYS),
                                frozenset(self.holidays), self.holiday_calendars)

    # Equality and hashing by the fields only: pydantic would also compare the private
    # per-day cache, so two identical schedules could differ depending on their use.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        hours = tuple(self.hours.items()) if self.hours is not None else None
        return hash((self.timezone, self.days, self.start, self.end, hours, self.holidays,
                     self.holiday_calendars))

    @property
    def _times(self) -> _OpenTimes:
        # Read from the private dict directly: pydantic's attribute path for a private
        # attribute costs ~10 µs a read, more than the rest of is_open together.
        return self.__pydantic_private__["_open"]  # type: ignore[index]

    @property
    def always_open(self) -> bool:
        """True for a 24/7 schedule without holidays: its business time is calendar time."""
        return self._times.always

    def is_holiday(self, day: date) -> bool:
        """Closed all day on this local date (listed, or a public holiday of a calendar)."""
        return self._times.is_holiday(day)

    def is_open(self, moment: datetime) -> bool:
        """Whether the desk is staffed at this instant (start inclusive, end exclusive)."""
        return self._times.is_open(_aware(moment, "moment"))


class _OpenTimes:
    """A schedule compiled for the walk, with plain attributes: the walk reads them per
    day, and a pydantic private attribute is slow to read."""

    __slots__ = ("always", "cache", "calendars", "closed", "timezone", "week", "zone")

    def __init__(self, timezone: str, week: tuple[tuple[tuple[int, int], ...], ...], closed: frozenset[date],
                 calendars: tuple[HolidayCalendar, ...]) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.week = week  # per weekday, Monday first: (start, end) in minutes after local midnight
        self.closed = closed
        self.calendars = calendars
        self.always = not closed and not calendars and all(spans == ((0, _DAY_MINUTES),) for spans in week)
        self.cache: dict[date, tuple[Pause, ...]] = {}

    def is_holiday(self, day: date) -> bool:
        return day in self.closed or any(day in calendar.dates(day.year) for calendar in self.calendars)

    def is_open(self, moment: datetime) -> bool:
        if self.always:
            return True
        # The day before may hold an interval ending at "24:00" = this midnight: never this
        # instant (end is exclusive), so the local date alone decides.
        day = moment.astimezone(self.zone).date()
        return bool(self.week[day.weekday()]) and any(start <= moment < end for start, end in self.open_on(day))

    def open_on(self, day: date) -> tuple[Pause, ...]:
        """The UTC instants the desk is open on one local date, in order."""
        cached = self.cache.get(day)
        if cached is not None:
            return cached
        spans: list[Pause] = []
        if self.week[day.weekday()] and not self.is_holiday(day):
            for start, end in self.week[day.weekday()]:
                first, last = self.instant(day, start), self.instant(day, end)
                if last <= first:  # an interval inside a spring-forward gap never happens
                    continue
                if spans and first <= spans[-1][1]:  # back-to-back intervals are one stretch
                    spans[-1] = (spans[-1][0], max(last, spans[-1][1]))
                else:
                    spans.append((first, last))
        if len(self.cache) > 4096:  # a long-lived Lambda must not grow without bound
            self.cache.clear()
        self.cache[day] = result = tuple(spans)
        return result

    def instant(self, day: date, minutes: int) -> datetime:
        # Wall-clock time → instant. In a spring-forward gap zoneinfo (fold=0) uses the
        # offset before the switch, so 02:30 that day reads as 03:30 summer time.
        if minutes == _DAY_MINUTES:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(_UTC)

    def spans(self, start: datetime, until: datetime | None = None) -> Iterator[Pause]:
        """Open stretches (UTC) from ``start`` on, in order, clipped to start. With ``until``
        it stops there; without it, it raises ``ScheduleError`` after a year of closed days
        instead of walking forever."""
        if self.always:
            yield start, (until or _FAR_FUTURE)
            return
        day = start.astimezone(self.zone).date()
        closed_days = 0
        while True:
            if until is not None and self.instant(day, 0) >= until:
                return
            spans = self.open_on(day)
            for first, last in spans:
                if last > start:
                    yield max(first, start), last
            closed_days = 0 if spans else closed_days + 1
            if until is None and closed_days > _MAX_CLOSED_DAYS:
                raise ScheduleError(
                    f"the schedule ({self.timezone}) is not open on any of the {_MAX_CLOSED_DAYS} days before "
                    f"{day.isoformat()}: check its days and holidays")
            day += timedelta(days=1)


CALENDAR = Schedule(timezone="UTC", days=("mon-sun",), start="00:00", end="24:00")
"""Always open: business time is calendar time. For 24/7 policies and calendar clocks."""


# --------------------------------------------------------------------------- clock arithmetic


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleError(f"{what} must be timezone-aware: business time depends on the instant")
    return moment.astimezone(_UTC)


def _merged(pauses: Iterable[Pause]) -> list[Pause]:
    """Pauses in UTC, sorted, overlapping ones merged, empty ones dropped."""
    cleaned = sorted((_aware(s, "pause start"), _aware(e, "pause end")) for s, e in pauses)
    merged: list[Pause] = []
    for start, end in cleaned:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _running(spans: Iterable[Pause], pauses: list[Pause]) -> Iterator[Pause]:
    """The open stretches less the paused ones: when the clock actually ticks."""
    first = 0
    for start, end in spans:
        while first < len(pauses) and pauses[first][1] <= start:
            first += 1  # spans only move forward, so a pause that ended is never needed again
        cursor = start
        for pause_start, pause_end in pauses[first:]:
            if pause_start >= end or cursor >= end:
                break
            if pause_start > cursor:
                yield cursor, pause_start
            cursor = max(cursor, pause_end)
        if cursor < end:
            yield cursor, end


def add_business_minutes(start: datetime, minutes: float, schedule: Schedule,
                         pauses: Iterable[Pause] = ()) -> datetime:
    """The instant ``minutes`` of open, unpaused time after ``start``: an SLA's due time.

    Closed time and pauses are skipped; a start in closed time counts from the next
    opening. The result is in ``start``'s time zone. Raises ``ScheduleError`` when the
    schedule is never open (a year of closed days in a row).
    """
    start_utc = _aware(start, "start")
    if minutes < 0:
        raise ValueError(f"minutes must not be negative, got {minutes}")
    remaining = timedelta(minutes=minutes)
    if not remaining:
        return start
    for first, last in _running(schedule._times.spans(start_utc), _merged(pauses)):
        if last - first >= remaining:
            return (first + remaining).astimezone(start.tzinfo)
        remaining -= last - first
    raise AssertionError("unreachable: the span walk ends only by raising")  # pragma: no cover


def business_minutes_between(a: datetime, b: datetime, schedule: Schedule,
                             pauses: Iterable[Pause] = ()) -> float:
    """Open, unpaused minutes from ``a`` to ``b``; negative when ``b`` is before ``a``
    (so "minutes left until due" and "minutes overdue" are one call)."""
    a_utc, b_utc = _aware(a, "a"), _aware(b, "b")
    if b_utc < a_utc:
        return -business_minutes_between(b, a, schedule, pauses)
    total = timedelta()
    for first, last in _running(schedule._times.spans(a_utc, until=b_utc), _merged(pauses)):
        if first >= b_utc:
            break
        total += min(last, b_utc) - first
    return total / timedelta(minutes=1)


def next_open(moment: datetime, schedule: Schedule) -> datetime:
    """The first open instant at or after ``moment`` (``moment`` itself while open),
    in ``moment``'s time zone: "we are back Monday 08:00"."""
    moment_utc = _aware(moment, "moment")
    for first, _ in schedule._times.spans(moment_utc):
        return first.astimezone(moment.tzinfo)
    raise AssertionError("unreachable: the span walk ends only by raising")  # pragma: no cover
