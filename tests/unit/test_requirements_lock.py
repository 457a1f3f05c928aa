"""The Lambda bundle's dependencies are locked: requirements.lock pins requirements.txt and everything it pulls in,
each with hashes; `make package` builds from it (tools/locked_chalice.py); anything but Python 3.11 is refused."""
from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from tools import locked_chalice
from tools.locked_chalice import Refused, lock_problems, locked_entries, pins

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = (ROOT / "requirements.txt").read_text()
LOCK = (ROOT / "requirements.lock").read_text()
# Lambda's python3.11 on Amazon Linux: the markers the bundle's dependencies are resolved for.
LAMBDA_MARKERS = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux",
                  "os_name": "posix", "python_version": "3.11", "implementation_name": "cpython",
                  "platform_python_implementation": "CPython", "extra": ""}


def test_the_lock_pins_every_requirement_at_its_version_and_every_entry_has_hashes():
    assert lock_problems(REQUIREMENTS, LOCK) == []
    entries = locked_entries(LOCK)
    assert set(pins(REQUIREMENTS)) <= set(entries) and len(entries) > len(pins(REQUIREMENTS))  # transitive ones too
    for name, (version, hashes) in entries.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    assert "--index-url" not in LOCK and "--extra-index-url" not in LOCK  # the machine's indexes stay out of it


def test_the_lock_is_closed_every_dependency_of_a_locked_package_is_locked_too():
    """pip's hash-checking mode refuses a dependency the lock does not name: found here first, from the
    installed packages' own metadata, for Lambda's platform."""
    entries = locked_entries(LOCK)
    missing = []
    for name in entries:
        for spec in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(spec)
            if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
                continue
            locked = entries.get(locked_chalice._name(requirement.name))
            if locked is None or not requirement.specifier.contains(locked[0], prereleases=True):
                missing.append(f"{name} needs {spec}")
    assert missing == []


def test_the_tests_run_against_the_locked_versions():
    installed = {name: importlib.metadata.version(name) for name in locked_entries(LOCK)}
    assert {name: version for name, (version, _) in locked_entries(LOCK).items()} == installed


@pytest.mark.parametrize("requirements, lock, problem", [
    ("boto3==1.44.5\n", "botocore==1.44.5 \\\n    --hash=sha256:" + "a" * 64 + "\n", "boto3==1.44.5 is not in"),
    ("boto3==1.44.5\n", "boto3==1.44.4 \\\n    --hash=sha256:" + "a" * 64 + "\n", "has boto3==1.44.4"),
    ("boto3==1.44.5\n", "boto3==1.44.5\n", "boto3 has no --hash"),
    ("boto3>=1.40\n", "boto3==1.44.5 \\\n    --hash=sha256:" + "a" * 64 + "\n", "not pinned with =="),
    ("Jinja2==3.1.6\n", "jinja2==3.1.6 \\\n    --hash=sha256:" + "b" * 64 + "\n", None),  # PEP 503 names
])
def test_lock_problems_finds_each_kind_of_drift(requirements, lock, problem):
    problems = lock_problems(requirements, lock)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


# --- The packaging path -------------------------------------------------------------------------------


def test_the_bundle_project_is_the_app_with_the_lock_as_its_requirements(tmp_path):
    copy = locked_chalice.bundle_project(tmp_path / "copy")
    assert (copy / "requirements.txt").read_text() == LOCK
    assert (copy / "app.py").read_text() == (ROOT / "app.py").read_text()
    assert (copy / "chalicelib" / "aws.py").exists() and (copy / ".chalice" / "config.json").exists()
    assert not list(copy.rglob("__pycache__"))
    assert (copy / ".chalice" / "deployments").resolve() == (ROOT / ".chalice" / "deployments").resolve()


def test_make_package_builds_through_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^package:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "tools/locked_chalice.py package" in recipe and "chalice package" not in recipe
    install = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "--require-hashes --no-deps -r requirements.lock" in install  # CI installs the bundle's set, checked


def test_chalice_gets_absolute_paths_because_it_changes_into_the_copy(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert locked_chalice._absolute(["--stage", "dev", "--merge-template", "infra/resources.yaml", "build/"]) \
        == ["--stage", "dev", "--merge-template", str(ROOT / "infra" / "resources.yaml"), str(ROOT / "build")]
    assert locked_chalice._absolute(["--single-file", "--stage=prod", "--merge-template=infra/x.yaml", "out"]) \
        == ["--single-file", "--stage=prod", f"--merge-template={ROOT / 'infra' / 'x.yaml'}", str(ROOT / "out")]


def test_a_stale_lock_refuses_to_package(tmp_path):
    (tmp_path / "requirements.txt").write_text("boto3==9.9.9\n")
    (tmp_path / "requirements.lock").write_text(LOCK)
    with pytest.raises(Refused, match=r"run make lock$"):
        locked_chalice.check_lock(tmp_path)


# --- Python 3.11 only ---------------------------------------------------------------------------------


def test_the_packager_refuses_another_python_in_one_line():
    with pytest.raises(Refused) as refusal:
        locked_chalice.check_python((3, 12, 1))
    assert "\n" not in str(refusal.value) and "make PYTHON=python3.11" in str(refusal.value)
    locked_chalice.check_python((3, 11, 7))


def _fake_python(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def _make(*arguments: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(["make", "--no-print-directory", "-s", *arguments], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=60)


def _said(result: subprocess.CompletedProcess) -> list[str]:
    """What the Makefile printed on stderr, without make's own "make: *** [...] Error 1" line."""
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("make:")]


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode != 0, reason="no make")
def test_make_refuses_another_python_and_says_how_to_fix_it(tmp_path):
    python312 = _fake_python(tmp_path / "bin" / "python3.12", "3.12")
    refused = _make("python-check", f"PYTHON={python312}", f"VENV={tmp_path / 'no-venv'}")
    assert refused.returncode != 0
    [line] = _said(refused)
    assert "needs Python 3.11" in line and "is 3.12" in line and "run make PYTHON=python3.11" in line

    _fake_python(tmp_path / "venv" / "bin" / "python", "3.10")  # a .venv made earlier with another Python
    refused = _make("python-check", f"VENV={tmp_path / 'venv'}")
    [line] = _said(refused)
    assert refused.returncode != 0 and f"rm -rf {tmp_path / 'venv'} && make PYTHON=python3.11" in line

    python311 = _fake_python(tmp_path / "bin" / "python3.11", "3.11")
    accepted = _make("python-check", f"PYTHON={python311}", f"VENV={tmp_path / 'no-venv'}")
    assert accepted.returncode == 0 and accepted.stderr == ""


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode != 0, reason="no make")
def test_every_target_that_installs_or_packages_checks_python_first(tmp_path):
    python312 = _fake_python(tmp_path / "bin" / "python3.12", "3.12")
    venv = tmp_path / "no-venv"
    for target in ("demo", "test", "package", "local"):
        refused = _make(target, f"PYTHON={python312}", f"VENV={venv}")
        assert refused.returncode != 0 and "needs Python 3.11" in refused.stderr, target
        assert not venv.exists(), target  # refused before anything was made
