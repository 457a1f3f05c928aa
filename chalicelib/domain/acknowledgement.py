"""When a new ticket gets an instant acknowledgement, and what it promises.

Never to machine-sent mail (RFC 3834 §2: no replies to automatic responses),
never to quarantined mail, and at most ``max_per_sender`` per window so two
auto-responders cannot ping-pong even when every header check misses — and at
most ``max_per_day`` a day, so one sender opening three tickets an hour all day
cannot make us mail an address seventy-five times.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


#: Why a new ticket's email acknowledgement is ``unknown``: an earlier attempt recorded that it was about to send it
#: and then failed before the ticket was written; SES takes no idempotency key, so it is not sent again.
OUTCOME_UNKNOWN = ("an earlier attempt was sending it when it failed; whether SES sent it is unknown, so it is "
                   "not sent again (the customer's answer still threads by the ticket number)")

@dataclass(frozen=True)
class AckDecision:
    send: bool
    reason: str | None = None  # why it was suppressed
    window: str | None = None  # the rate window the count belongs to
    count: int = 0  # acknowledgements to this sender in that window, this one included
    day: str | None = None  # the UTC day of the daily cap
    day_count: int = 0  # acknowledgements to this sender that day, this one included


def window_key(moment: datetime, window_minutes: int) -> str:
    bucket = int(moment.timestamp()) // (window_minutes * 60)
    return f"{window_minutes}m:{bucket}"


def day_key(moment: datetime) -> str:
    """The UTC day, e.g. "2026-12-04": one sender gets at most N acknowledgements in it."""
    return moment.astimezone(timezone.utc).date().isoformat()


def decide(
    *,
    quarantine_reason: str | None,
    auto_reply_reason: str | None,
    window: str,
    observed_window: str | None,
    observed_count: int,
    max_per_sender: int,
    day: str | None = None,
    observed_day: str | None = None,
    observed_day_count: int = 0,
    max_per_day: int | None = None,
) -> AckDecision:
    if quarantine_reason:
        return AckDecision(False, f"quarantined: {quarantine_reason}")
    if auto_reply_reason:
        return AckDecision(False, f"machine-sent: {auto_reply_reason}")
    sent_in_window = observed_count if observed_window == window else 0
    if sent_in_window >= max_per_sender:
        return AckDecision(False, f"rate limit: {sent_in_window} acknowledgements to this sender in window")
    sent_today = observed_day_count if day is not None and observed_day == day else 0
    if max_per_day is not None and sent_today >= max_per_day:
        return AckDecision(False, f"daily limit: {sent_today} acknowledgements to this sender on {day}")
    return AckDecision(True, None, window, sent_in_window + 1, day, sent_today + 1)


def humanise_minutes(minutes: int) -> str:
    """'1 hour', '4 hours', '1 day', '90 minutes' — how the promise reads to a customer."""
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minutes"
