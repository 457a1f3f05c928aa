"""The one place the code reads the time, so tests and LocalDesk can move it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_offset = timedelta(0)  # moved only by LocalDesk.advance(): production never sets it


def now() -> datetime:
    return datetime.now(timezone.utc) + _offset


def advance(by: timedelta) -> None:
    """Move the desk's clock forward (offline SLA and timer tests); never goes back."""
    global _offset
    if by < timedelta(0):
        raise ValueError("the clock only moves forward")
    _offset += by


def reset() -> None:
    global _offset
    _offset = timedelta(0)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601, so strings sort like the instants they name (GSI range keys)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
