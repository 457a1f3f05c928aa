"""Duration histograms: a percentile from merged daily buckets is as good as one from the tickets, within the bound."""
import hashlib
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import histogram
from chalicelib.domain.histogram import (
    FINEST,
    LEGACY_ZERO,
    LEGACY_ZERO_BUCKET_ERROR,
    LOWEST,
    OVERFLOW,
    OVERFLOW_FROM,
    RELATIVE_ERROR,
    ZERO,
    ZERO_BUCKET_ERROR,
    bucket_bounds,
    bucket_of,
    from_item,
    from_values,
    merge,
    nearest_rank,
    percentile,
    to_item,
)

# Log-uniform from a tenth of a second to a year, so every part of the scheme (zero bucket, sub-15 s and log
# buckets, overflow) is drawn.
minutes = st.one_of(
    st.floats(min_value=-2.8, max_value=5.8).map(lambda exponent: 10**exponent),
    st.floats(min_value=0, max_value=OVERFLOW_FROM * 1.2, allow_nan=False),
    st.sampled_from([0.0, FINEST, LOWEST, OVERFLOW_FROM, 60.0, 1440.0]),
)
samples = st.lists(minutes, min_size=1, max_size=200)
quantiles = st.one_of(st.floats(min_value=0, max_value=1), st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))
histograms = st.lists(minutes, max_size=40).map(from_values)


def exact_percentile(values, q):
    """Nearest-rank percentile, the textbook way: sort and pick the ceil(q·n)-th value."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(repr(q)) * len(ordered)))
    return ordered[rank - 1]


def test_scheme_is_pinned_to_its_version():
    # Changing the buckets without bumping SCHEME_VERSION would corrupt every stored aggregate:
    # this fingerprint must only ever change together with the version.
    # The keys stored before the sub-15 s buckets (0 .. OVERFLOW) keep exactly the meaning they had; the
    # sub-15 s buckets (negative keys) are pinned on their own.
    stored = ",".join(repr(bucket_bounds(index)) for index in range(0, OVERFLOW + 1))
    seconds = ",".join(repr(bucket_bounds(index)) for index in range(ZERO, 0))
    fingerprints = [hashlib.sha256(table.encode()).hexdigest()[:16] for table in (stored, seconds)]
    assert (histogram.SCHEME_VERSION, histogram.BUCKETS, ZERO, OVERFLOW) == (1, 409, -71, 337)
    assert fingerprints[0] == "537f422a5edc2e47"  # scheme 1 as first released: never changes
    assert fingerprints[1] == "8bd2f3f078cd25aa"


def test_scheme_covers_one_second_to_ninety_days_in_four_percent_steps():
    assert bucket_bounds(ZERO) == (0.0, 1 / 60)
    assert bucket_bounds(ZERO + 1)[0] == 1 / 60  # a duration of exactly one second is not "immediately"
    assert bucket_bounds(-1)[1] == LOWEST == bucket_bounds(1)[0] == 0.25
    assert bucket_bounds(1) == (0.25, 0.26)
    assert bucket_bounds(LEGACY_ZERO) == (0.0, 0.25)  # read from days counted before the 1 s buckets
    assert bucket_bounds(OVERFLOW) == (OVERFLOW_FROM, math.inf)
    assert 90 * 1440 <= OVERFLOW_FROM < 90 * 1440 * 1.04
    log_buckets = [*range(ZERO + 2, 0), *range(1, OVERFLOW)]  # all but the zero bucket and [1 s, 1.0018 s)
    widths = [hi / lo for lo, hi in map(bucket_bounds, log_buckets)]
    assert all(1.039 < ratio < 1.041 for ratio in widths)
    ordered = [*range(ZERO, 0), *range(1, OVERFLOW + 1)]  # LEGACY_ZERO overlaps, by design
    assert all(bucket_bounds(i)[1] == bucket_bounds(j)[0] for i, j in zip(ordered, ordered[1:]))  # no gaps
    assert 0.0195 < RELATIVE_ERROR < 0.02


def test_known_durations_land_in_known_buckets():
    second = 1 / 60
    durations = (0, 0.5 * second, second, 42 * second, 0.25, 0.26, 60, 1440, OVERFLOW_FROM, math.inf)
    assert [bucket_of(m) for m in durations] == [ZERO, ZERO, ZERO + 1, 27, 1, 2, 140, 221, OVERFLOW, OVERFLOW]
    assert histogram.item_key(42 * second) == "27"
    assert histogram.item_key(5 * second) == "-29"
    assert LEGACY_ZERO not in {bucket_of(m * second) for m in range(0, 15)}  # nothing is counted there any more
    lo, hi = bucket_bounds(bucket_of(60))
    assert lo <= 60 < hi
    assert histogram.item_key(0.26) == "2"


@pytest.mark.parametrize("bad", [-0.001, -5, math.nan, "12", None, True])
def test_negative_nan_or_non_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        bucket_of(bad)


@given(minutes)
def test_every_duration_lies_inside_the_bounds_of_its_bucket(value):
    lo, hi = bucket_bounds(bucket_of(value))
    assert lo <= value < hi


@settings(max_examples=150)
@given(samples, quantiles)
def test_percentile_is_within_the_documented_bound_of_the_exact_nearest_rank(values, q):
    exact = exact_percentile(values, q)
    estimate = percentile(from_values(values), q)
    if exact < FINEST:
        assert abs(estimate - exact) <= ZERO_BUCKET_ERROR
    elif exact >= OVERFLOW_FROM:
        assert estimate == OVERFLOW_FROM <= exact
    else:
        assert abs(estimate - exact) <= RELATIVE_ERROR * exact


SECOND = 1 / 60  # minutes
# What chat and mail measure: one second to thirty days, log-uniform so seconds are drawn as often as weeks.
one_second_to_thirty_days = st.floats(min_value=0, max_value=math.log10(30 * 86400)).map(
    lambda exponent: 10**exponent * SECOND)


@settings(max_examples=300)
@given(st.lists(one_second_to_thirty_days, min_size=1, max_size=60), quantiles)
def test_from_one_second_to_thirty_days_every_percentile_is_within_two_percent(values, q):
    exact = exact_percentile(values, q)
    estimate = percentile(from_values(values), q)
    assert abs(estimate - exact) <= RELATIVE_ERROR * exact
    assert RELATIVE_ERROR < 0.02


@given(one_second_to_thirty_days)
def test_a_single_duration_comes_back_within_two_percent(value):
    assert percentile(from_values([value]), 0.5) == pytest.approx(value, rel=RELATIVE_ERROR)


def test_chat_answers_in_seconds_keep_their_seconds():
    waits = [s * SECOND for s in (3, 8, 12, 20, 42)]
    counts = from_values(waits)
    assert percentile(counts, 0.5) * 60 == pytest.approx(12, rel=RELATIVE_ERROR)
    assert percentile(counts, 0.9) * 60 == pytest.approx(42, rel=RELATIVE_ERROR)
    assert percentile(from_values([0.2 * SECOND]), 0.5) * 60 == 0.5  # under a second: "immediately", ±0.5 s


def test_days_counted_before_the_one_second_buckets_are_read_as_they_were_counted():
    # A day stored by the first release: "0" held everything under 15 s, "27" a 42 s answer.
    legacy_day = from_item({"0": Decimal(3), "27": Decimal(1)})
    assert legacy_day == {LEGACY_ZERO: 3, 27: 1}
    assert percentile(legacy_day, 0.5) == LOWEST / 2  # somewhere under 15 s: 7.5 s, within 7.5 s
    assert percentile(legacy_day, 1.0) * 60 == pytest.approx(42, rel=RELATIVE_ERROR)
    # Merged with a day counted with seconds: under 15 s stays coarse while old counts are in it ...
    new_day = from_values([2 * SECOND, 5 * SECOND, 600.0])
    merged = merge(legacy_day, new_day)
    assert percentile(merged, 0.5) == LOWEST / 2
    assert percentile(merged, 1.0) == pytest.approx(600, rel=RELATIVE_ERROR)  # ... and above 15 s is exact
    # ... and a range of new days alone has its seconds.
    assert percentile(new_day, 0.5) * 60 == pytest.approx(5, rel=RELATIVE_ERROR)


@settings(max_examples=150)
@given(st.lists(st.floats(min_value=0, max_value=LOWEST, exclude_max=True), min_size=1, max_size=20),
       st.lists(minutes, max_size=40), quantiles)
def test_legacy_counts_keep_their_own_bound(legacy_values, values, q):
    exact = exact_percentile(legacy_values + values, q)
    counts = merge({LEGACY_ZERO: len(legacy_values)}, from_values(values))
    estimate = percentile(counts, q)
    if exact < LOWEST:
        assert abs(estimate - exact) <= LEGACY_ZERO_BUCKET_ERROR
    elif exact >= OVERFLOW_FROM:
        assert estimate == OVERFLOW_FROM <= exact
    else:
        assert abs(estimate - exact) <= RELATIVE_ERROR * exact


def test_hand_checked_percentiles():
    counts = from_values([10.0] * 5 + [100.0] * 4 + [1000.0])
    assert percentile(counts, 0.5) == pytest.approx(10, rel=RELATIVE_ERROR)
    assert percentile(counts, 0.9) == pytest.approx(100, rel=RELATIVE_ERROR)
    assert percentile(counts, 1.0) == pytest.approx(1000, rel=RELATIVE_ERROR)
    assert percentile(counts, 0.0) == percentile(counts, 0.1)  # rank is at least 1: the smallest value


def test_nearest_rank_reads_q_as_written():
    assert [nearest_rank(10, q) for q in (0.0, 0.1, 0.5, 0.7, 0.9, 1.0)] == [1, 1, 5, 7, 9, 10]
    assert nearest_rank(3, 0.5) == 2


def test_empty_histogram_has_no_percentile_and_bad_q_is_refused():
    assert percentile({}, 0.5) is None
    assert percentile({4: 0}, 0.5) is None
    for bad_q in (-0.1, 1.5, math.nan, True, "0.5"):
        with pytest.raises(ValueError):
            percentile({4: 1}, bad_q)


@given(histograms, histograms, histograms)
def test_merge_is_commutative_and_associative(a, b, c):
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c)) == merge(a, b, c)
    assert merge(a) == a and merge() == {}


@settings(max_examples=75)
@given(st.lists(st.lists(minutes, max_size=30), min_size=1, max_size=5), quantiles)
def test_merged_days_give_the_percentile_of_all_their_tickets(days, q):
    merged = merge(*(from_values(day) for day in days))
    everything = [value for day in days for value in day]
    assert merged == from_values(everything)
    assert percentile(merged, q) == percentile(from_values(everything), q)


def test_merge_refuses_foreign_buckets_and_negative_counts():
    for bad in ({OVERFLOW + 1: 1}, {ZERO - 1: 1}, {"3": 1}, {3: -1}, {3: 1.0}, {3: True}):
        with pytest.raises(ValueError):
            merge(bad)


@given(histograms)
def test_dynamodb_map_round_trip(counts):
    item = to_item(counts)
    assert all(isinstance(key, str) for key in item)
    assert from_item(item) == counts
    assert from_item({key: Decimal(value) for key, value in item.items()}) == counts  # what boto3 hands back


@pytest.mark.parametrize(
    "item",
    [{"x": 1}, {"07": 1}, {"-0": 1}, {"-07": 1}, {"+3": 1}, {str(ZERO - 1): 1}, {str(OVERFLOW + 1): 1},
     {"3": Decimal("1.5")}, {"3": -2}, {"3": "4"}, {"٣": 1}],
)
def test_corrupt_maps_are_refused(item):
    with pytest.raises(ValueError):
        from_item(item)
