"""Run the atheris harness for a fixed budget, as CI does: no crash, no input over 2 s.

Skipped when atheris is not installed (it is a dev-only dependency). Crashing or
slow inputs land in a temporary directory; the failure message names them so
they can be copied to tests/fixtures/mail/hostile/ and replayed for good.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_parse_email.py")
RUNS = 3000
BUDGET_SECONDS = 20


def test_fuzzing_parse_email_finds_no_crash_and_no_slow_input(tmp_path):
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    sys.path.insert(0, str(HARNESS.parent))
    try:
        import fuzz_parse_email
    finally:
        sys.path.remove(str(HARNESS.parent))
    fuzz_parse_email.seed_corpus(corpus)

    result = subprocess.run(
        [sys.executable, str(HARNESS), f"-runs={RUNS}", f"-max_total_time={BUDGET_SECONDS}", "-timeout=2",
         "-max_len=65536", "-seed=1", f"-artifact_prefix={artifacts}/", str(corpus)],
        capture_output=True, text=True, timeout=BUDGET_SECONDS + 60,
    )

    found = sorted(path.name for path in artifacts.iterdir())
    assert result.returncode == 0 and not found, (found, result.stderr[-3000:])
