"""The KPI aggregates' stored names: every histogram has its inline code, and a stored name reads back as what
was written (an agent's day keeps its histograms on its counters item, ``storage.models.AggregateModel``)."""
from __future__ import annotations

import pytest

from chalicelib.domain import histogram, kpis
from chalicelib.storage.models import AggregateModel


def _item(day: str, numbers: dict[str, int]) -> AggregateModel:
    return AggregateModel.from_raw_data({"series": {"S": "agent#a-1"}, "day": {"S": day},
                                         **{name: {"N": str(value)} for name, value in numbers.items()}})


def test_every_histogram_has_its_own_inline_code() -> None:
    codes = AggregateModel.INLINE_CODES
    assert set(codes) == set(kpis.HISTOGRAMS)
    assert len(set(codes.values())) == len(codes)
    assert all(code.isalpha() and code.islower() for code in codes.values())  # "_" separates the bucket key


@pytest.mark.parametrize("minutes", [0.0, 0.2, 7.0, 95.0, 60 * 24 * 40])
def test_an_inline_bucket_reads_back_as_the_histogram_and_bucket_written(minutes: float) -> None:
    key = histogram.item_key(minutes)
    names = {AggregateModel.inline_bucket(name, key).attr_name: name for name in kpis.HISTOGRAMS}
    item = _item("2025-03-03", {"c_solved": 2, **{attr: 3 for attr in names}})
    assert item.counter_values() == {"solved": 2}
    assert item.bucket_values() == {name: {key: 3} for name in kpis.HISTOGRAMS}


def test_a_histograms_own_item_and_an_old_days_item_still_read_as_before() -> None:
    assert _item("2025-03-03#resolution_minutes", {"b57": 4}).bucket_values() == {"resolution_minutes": {"57": 4}}
    assert _item("2025-03-03", {"h_resolution_minutes_57": 4}).bucket_values() == {"resolution_minutes": {"57": 4}}


@pytest.mark.parametrize("name", ["bz_57", "bf_", "bfx57"])
def test_an_inline_bucket_of_no_histogram_fails_the_read(name: str) -> None:
    with pytest.raises(ValueError, match="is no histogram bucket"):
        _item("2025-03-03", {name: 1}).bucket_values()
