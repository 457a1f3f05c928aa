"""Mergeable duration histograms: percentiles of response times without keeping every ticket's value.

KPI reports read daily aggregates, never tickets (a scan of every ticket per report
would cost a read per ticket). A median is not additive, so a day's aggregate keeps
a histogram of durations instead: counts per bucket. Histograms of days, channels or
agents add up bucket by bucket (``merge``), and a percentile of the sum is as good
as a percentile of the underlying tickets, within a known error (see ``percentile``).

The bucket scheme is fixed (the DDSketch idea, with a bounded, hard-coded range).
Durations are minutes; bucket indices are small ints, negative below 15 s:

* bucket ``ZERO`` (-71) is ``[0, 1 s)``;
* bucket -70 is ``[1 s, 1.0018 s)`` and buckets -69 .. -1 are log-spaced, each
  ``GROWTH`` (4 %) wider than the last, up to ``LOWEST`` (15 s): chat answers in seconds
  keep their seconds;
* buckets ``1 .. LOG_BUCKETS`` are log-spaced the same way: bucket ``k`` is
  ``[LOWEST * GROWTH**(k-1), LOWEST * GROWTH**k)``, from 15 s up to ``OVERFLOW_FROM``
  (about 91.8 days, the first boundary past 90 days);
* bucket ``OVERFLOW`` is everything from ``OVERFLOW_FROM`` up;
* bucket ``LEGACY_ZERO`` (0) is ``[0, 15 s)`` as one bucket: what the scheme counted
  under 15 s before the sub-15 s buckets existed. Nothing writes it any more; stored
  days that hold it are read as they were counted (see ``percentile``).

A bucket index is therefore a small int whose meaning does not depend on the data or on
the deployment, which is what lets one Lambda's histogram be merged with another's a
year later. **A stored key never changes meaning.** The sub-15 s buckets were added
under keys no earlier reader accepted (negative numbers: an older reader refuses them
loudly, ``from_item``), so ``SCHEME_VERSION`` stayed 1 and days counted before and
after the change merge correctly. Changing ``LOWEST``, ``GROWTH``, a boundary or the
rounding of existing buckets needs a ``SCHEME_VERSION`` bump: stored aggregates say
which scheme wrote them, and merging counts from two schemes would silently mix
different bucket meanings.

Boundaries are rounded to a millionth of a minute (60 µs) when the table is built, so
the table is identical whichever libm computed ``GROWTH**k``; the 1 s boundary is
``1/60`` exactly (a correctly rounded division), so a duration of exactly one second,
``timedelta(seconds=1) / timedelta(minutes=1)``, is in bucket -70, not the zero bucket.

Storage: a DynamoDB map's keys are strings, so ``to_item`` / ``from_item`` convert
``{7: 3, -12: 1}`` to ``{"7": 3, "-12": 1}`` and back (accepting the ``Decimal`` numbers
boto3 returns). The pipeline can also increment one bucket in place: ``ADD #h.#k :one``
with ``#k = item_key(minutes)``.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "BUCKETS",
    "FINEST",
    "GROWTH",
    "LEGACY_ZERO",
    "LEGACY_ZERO_BUCKET_ERROR",
    "LOG_BUCKETS",
    "LOWEST",
    "OVERFLOW",
    "OVERFLOW_FROM",
    "RELATIVE_ERROR",
    "SCHEME_VERSION",
    "ZERO",
    "ZERO_BUCKET_ERROR",
    "bucket_bounds",
    "bucket_of",
    "from_item",
    "from_values",
    "item_key",
    "merge",
    "nearest_rank",
    "percentile",
    "to_item",
]

SCHEME_VERSION = 1
LOWEST = 0.25  # minutes (15 s): where the original log buckets start; their keys are stored, never move them
FINEST = 1 / 60  # minutes (1 s): below it a duration is "immediately" (the zero bucket)
GROWTH = 1.04  # each log bucket is 4 % wider than the one before
_RANGE_TOP = 90 * 24 * 60.0  # 90 days in minutes; the first boundary at or past it ends the log buckets
_ROUNDING = 6  # decimal places of a minute kept in each boundary
_SUB_STEPS = 69  # LOWEST / GROWTH**69 is 1.0018 s: the last 4 % step above one second

LOG_BUCKETS = math.ceil(math.log(_RANGE_TOP / LOWEST) / math.log(GROWTH))
# _BOUNDS[k] is the lower edge of bucket k + 1; the last one is where the overflow bucket starts.
_BOUNDS: tuple[float, ...] = tuple(round(LOWEST * GROWTH**k, _ROUNDING) for k in range(LOG_BUCKETS + 1))
OVERFLOW = LOG_BUCKETS + 1
OVERFLOW_FROM = _BOUNDS[-1]
LEGACY_ZERO = 0  # [0, 15 s) as one bucket: written before the sub-15 s buckets existed, read still
# _SUB_EDGES[j] is the lower edge of bucket j - 70; the last one is LOWEST, where bucket 1 starts.
_SUB_EDGES: tuple[float, ...] = (
    FINEST, *(round(LOWEST * GROWTH**-k, _ROUNDING) for k in range(_SUB_STEPS, 0, -1)), LOWEST)
ZERO = -len(_SUB_EDGES)  # -71: [0, 1 s)
BUCKETS = OVERFLOW - ZERO + 1  # indices ZERO .. OVERFLOW


def _worst_relative_error() -> float:
    # The representative value 2·lo·hi/(lo+hi) is off by at most (hi-lo)/(hi+lo) of the true
    # value anywhere in [lo, hi]; take the widest bucket and round up (float slack) so the
    # published bound is one every estimate meets.
    edges = (*_SUB_EDGES, *_BOUNDS[1:])  # 1 s .. OVERFLOW_FROM, every log bucket's edges in order
    worst = max((hi - lo) / (hi + lo) for lo, hi in zip(edges, edges[1:]))
    return math.ceil(worst * 1e5) / 1e5


RELATIVE_ERROR = _worst_relative_error()  # about 0.0197: a p90 of 100 min is reported as 98.03..101.97
ZERO_BUCKET_ERROR = FINEST / 2  # minutes (0.5 s): absolute error when the percentile is under 1 s
LEGACY_ZERO_BUCKET_ERROR = LOWEST / 2  # minutes (7.5 s): under 15 s in days counted before the 1 s buckets


def bucket_of(minutes: float) -> int:
    """The bucket index of a duration in minutes (``ZERO`` = under 1 s, ``OVERFLOW`` = about 91.8 days or more).

    Never ``LEGACY_ZERO``: durations under 15 s get their own buckets. A negative or NaN
    duration is a bug upstream (clock skew should be clamped where the two timestamps are
    known), so it raises ``ValueError`` instead of being filed somewhere.
    """
    value = _duration(minutes)
    if value < LOWEST:
        return ZERO + bisect_right(_SUB_EDGES, value)
    return bisect_right(_BOUNDS, value)


def item_key(minutes: float) -> str:
    """The DynamoDB map key of the bucket a duration falls in ("57"; "-12" under 15 s)."""
    return str(bucket_of(minutes))


def bucket_bounds(index: int) -> tuple[float, float]:
    """``(lo, hi)`` in minutes: bucket ``index`` holds durations ``lo <= d < hi`` (``hi`` is inf for overflow)."""
    _check_index(index)
    if index == ZERO:
        return 0.0, FINEST
    if index == LEGACY_ZERO:
        return 0.0, LOWEST
    if index < 0:
        return _SUB_EDGES[index - ZERO - 1], _SUB_EDGES[index - ZERO]
    if index == OVERFLOW:
        return OVERFLOW_FROM, math.inf
    return _BOUNDS[index - 1], _BOUNDS[index]


def nearest_rank(n: int, q: float) -> int:
    """The 1-based rank of the nearest-rank ``q``-percentile among ``n`` values: ``max(1, ceil(q·n))``.

    ``q`` is taken as the decimal it is written as (``0.7`` is 7/10, not the binary float just
    below it), so the 0.7-percentile of 10 values is the 7th, not the 8th.
    """
    return max(1, math.ceil(Fraction(repr(float(q))) * n))


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """Estimated ``q``-percentile (``0 <= q <= 1``) in minutes of the durations counted; None when empty.

    The estimate is the representative value ``2·lo·hi/(lo+hi)`` of the bucket that holds
    the exact nearest-rank percentile ``x`` (the bucket is known exactly from the counts),
    which guarantees:

    * ``FINEST <= x < OVERFLOW_FROM`` (1 s to about 91.8 days): ``|estimate - x| <= RELATIVE_ERROR * x``
      (under 2 %);
    * ``x < FINEST``: the estimate is half a second, within ``ZERO_BUCKET_ERROR`` (0.5 s) of ``x``;
    * ``x >= OVERFLOW_FROM``: the estimate is ``OVERFLOW_FROM``, a lower bound ("91.8 days or more").

    One exception, for days counted before the sub-15 s buckets existed: when the counts
    hold some in ``LEGACY_ZERO`` and ``x`` is under 15 s, where ``x`` lies among those is
    unknown, so the estimate is 7.5 s, within ``LEGACY_ZERO_BUCKET_ERROR`` (7.5 s) of ``x``.

    A representative value rather than interpolation inside the bucket: interpolation
    assumes values spread evenly in a bucket, and still only promises the bucket.
    """
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
        raise ValueError(f"percentile q must be a number from 0 to 1, got {q!r}")
    clean = merge(counts)
    total = sum(clean.values())
    if total == 0:
        return None
    rank = nearest_rank(total, q)
    legacy = LEGACY_ZERO in clean
    seen = 0
    for index in sorted(clean):  # value order, but for LEGACY_ZERO, which overlaps every bucket under 15 s
        seen += clean[index]
        if seen >= rank:
            return _representative(LEGACY_ZERO if legacy and index <= LEGACY_ZERO else index)
    raise AssertionError("unreachable: rank is at most the total")  # pragma: no cover


def merge(*counts: Mapping[int, int]) -> dict[int, int]:
    """The histogram of all the durations counted in ``counts`` (bucket-wise sum, empty buckets dropped)."""
    total: dict[int, int] = {}
    for histogram in counts:
        for index, count in histogram.items():
            _check_index(index)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"bucket {index} count must be a non-negative int, got {count!r}")
            if count:
                total[index] = total.get(index, 0) + count
    return dict(sorted(total.items()))


def from_values(minutes: Iterable[float]) -> dict[int, int]:
    """The histogram of some durations in minutes."""
    counts: dict[int, int] = {}
    for value in minutes:
        index = bucket_of(value)
        counts[index] = counts.get(index, 0) + 1
    return dict(sorted(counts.items()))


def to_item(counts: Mapping[int, int]) -> dict[str, int]:
    """The histogram as a DynamoDB map: string keys ("7"), empty buckets left out."""
    return {str(index): count for index, count in merge(counts).items()}


def from_item(item: Mapping[str, object]) -> dict[int, int]:
    """A histogram read back from a DynamoDB map (keys "-71".."338", numbers as int or integral ``Decimal``).

    Raises ``ValueError`` for a key that is not a bucket of this scheme or a count that is
    not a non-negative whole number: a corrupt aggregate should fail the report, not skew it.
    """
    counts: dict[int, int] = {}
    for key, raw in item.items():
        digits = key[1:] if isinstance(key, str) and key.startswith("-") else key
        if not isinstance(key, str) or not digits.isascii() or not digits.isdigit() or str(int(key)) != key:
            raise ValueError(f"histogram key {key!r} is not a bucket index")
        counts[int(key)] = _whole(raw, key)
    return merge(counts)


def _representative(index: int) -> float:
    if index in (ZERO, LEGACY_ZERO):
        return bucket_bounds(index)[1] / 2  # the middle: within half the bucket of anything in it
    if index == OVERFLOW:
        return OVERFLOW_FROM
    lo, hi = bucket_bounds(index)
    return 2 * lo * hi / (lo + hi)


def _duration(minutes: float) -> float:
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float, Decimal)):
        raise ValueError(f"duration must be a number of minutes, got {minutes!r}")
    value = float(minutes)
    if math.isnan(value) or value < 0:
        raise ValueError(f"duration must be zero or more minutes, got {minutes!r}")
    return value


def _check_index(index: object) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not ZERO <= index <= OVERFLOW:
        raise ValueError(f"bucket index must be an int from {ZERO} to {OVERFLOW}, got {index!r}")


def _whole(raw: object, key: str) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"bucket {key} count must be a whole number, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, (Decimal, float)) and math.isfinite(raw) and raw == int(raw):
        value = int(raw)
    else:
        raise ValueError(f"bucket {key} count must be a whole number, got {raw!r}")
    if value < 0:
        raise ValueError(f"bucket {key} count must not be negative, got {raw!r}")
    return value
