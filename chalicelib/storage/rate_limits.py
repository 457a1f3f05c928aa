"""Fixed-window request counters on the lookups table: one conditional UpdateItem per counted request.

A counter is one item, ``rl:<scope>:<client>:<window start>``, e.g.
``rl:webchat-session:203.0.113.7:20261123T0900Z``. ``ADD value 1`` under the condition
``attribute_not_exists(value) OR value < :limit`` counts and checks in one atomic call: two Lambda
copies can never both take the last place, and a refused request changes nothing. The window start is
part of the key, so each window begins at zero with no reset write. A fixed window lets a client spend
up to twice the limit across a window boundary; for stopping floods that is enough, at one write a
request and no read.

``expires_at`` (epoch seconds) lets DynamoDB's TTL delete old counters (the lookups table's
TimeToLiveSpecification in infra/resources.yaml;
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from pynamodb.exceptions import UpdateError

from chalicelib.storage.exceptions import condition_failed
from chalicelib.storage.models import LookupModel

__all__ = ["LimitReached", "count_request", "counter_key"]



class LimitReached(Exception):
    """The client used up its window; it may come back after ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"limit reached; the window ends in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def counter_key(scope: str, client: str, window_start: datetime) -> str:
    return f"rl:{scope}:{client}:{window_start.astimezone(timezone.utc):%Y%m%dT%H%MZ}"


def count_request(scope: str, client: str, *, limit: int, window: timedelta, now: datetime) -> int:
    """Count one request by ``client`` in the window holding ``now``; returns how many it has made in it.

    Raises ``LimitReached`` (and counts nothing) when ``limit`` requests were already counted.
    """
    seconds = max(60, int(window.total_seconds()))
    moment = now.timestamp()
    start = int(moment // seconds) * seconds  # windows aligned on the epoch: the same for every Lambda copy
    end = start + seconds
    counter = LookupModel(counter_key(scope, client, datetime.fromtimestamp(start, tz=timezone.utc)))
    try:
        counter.update(
            actions=[
                LookupModel.value.add(1),
                # One window of grace: a copy whose clock runs a little behind still finds the counter.
                LookupModel.expires_at.set(end + seconds),
            ],
            condition=LookupModel.value.does_not_exist() | (LookupModel.value < limit),
        )
    except UpdateError as err:
        if condition_failed(err):
            raise LimitReached(max(1, math.ceil(end - moment))) from None
        raise
    return int(counter.value)
