"""The fast subset of ``make proof`` (benchmarks/proof.py): a mixed stream of inbound events and agent actions with
10 % of the app's AWS calls failing and 2 % of invocations dying mid-way, then every promise checked: nothing lost,
nothing duplicated, nothing both stored and parked, agents within capacity, numbers unique, KPIs equal to tickets.

Seeded, so a failure is repeatable (``benchmarks/proof.py --events 90 --seed 3``)."""
from __future__ import annotations

import pytest

from benchmarks.proof import prove


@pytest.mark.timeout(600)
def test_nothing_is_lost_or_duplicated_under_faults_and_crashes():
    report = prove(events=90, faults=0.10, crashes=0.02, seed=3)

    assert report.faults.get("above", 0) + report.faults.get("below", 0) > 20  # the faults really happened
    assert report.ok, report.failures
    assert not report.lost and not report.duplicated and not report.stored_and_parked
    assert report.kpi_created[0] == report.kpi_created[1] > 20
