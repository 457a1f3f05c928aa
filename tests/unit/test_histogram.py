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
    LOWEST,
    OVERFLOW,
    OVERFLOW_FROM,
    RELATIVE_ERROR,
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

# Log-uniform from a second to a year, so every part of the scheme (zero bucket, log buckets, overflow) is drawn.
minutes = st.one_of(
    st.floats(min_value=-1.5, max_value=5.8).map(lambda exponent: 10**exponent),
    st.floats(min_value=0, max_value=OVERFLOW_FROM * 1.2, allow_nan=False),
    st.sampled_from([0.0, LOWEST, OVERFLOW_FROM, 60.0, 1440.0]),
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
    table = ",".join(repr(bucket_bounds(index)) for index in range(histogram.BUCKETS))
    fingerprint = hashlib.sha256(table.encode()).hexdigest()[:16]
    assert (histogram.SCHEME_VERSION, histogram.BUCKETS, fingerprint) == (1, 338, "537f422a5edc2e47")


def test_scheme_covers_quarter_minute_to_ninety_days_in_four_percent_steps():
    assert bucket_bounds(0) == (0.0, 0.25)
    assert bucket_bounds(1) == (0.25, 0.26)
    assert bucket_bounds(OVERFLOW) == (OVERFLOW_FROM, math.inf)
    assert 90 * 1440 <= OVERFLOW_FROM < 90 * 1440 * 1.04
    widths = [hi / lo for lo, hi in map(bucket_bounds, range(1, OVERFLOW))]
    assert all(1.039 < ratio < 1.041 for ratio in widths)
    assert all(bucket_bounds(i)[1] == bucket_bounds(i + 1)[0] for i in range(OVERFLOW))  # no gaps, no overlaps
    assert 0.0195 < RELATIVE_ERROR < 0.02


def test_known_durations_land_in_known_buckets():
    assert [bucket_of(m) for m in (0, 0.1, 0.25, 0.26, 60, 1440, OVERFLOW_FROM, math.inf)] == [
        0, 0, 1, 2, 140, 221, OVERFLOW, OVERFLOW,
    ]
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
    if exact < LOWEST:
        assert abs(estimate - exact) <= ZERO_BUCKET_ERROR
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
    for bad in ({OVERFLOW + 1: 1}, {-1: 1}, {"3": 1}, {3: -1}, {3: 1.0}, {3: True}):
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
    [{"x": 1}, {"07": 1}, {"-1": 1}, {str(OVERFLOW + 1): 1}, {"3": Decimal("1.5")}, {"3": -2}, {"3": "4"}, {"٣": 1}],
)
def test_corrupt_maps_are_refused(item):
    with pytest.raises(ValueError):
        from_item(item)
