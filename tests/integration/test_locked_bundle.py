"""`make package`'s path (tools/locked_chalice.py) puts exactly requirements.lock into the Lambda bundle, and pip's
hash check stops a build whose downloaded file is not the one locked."""
from __future__ import annotations

import importlib.util
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from tools import locked_chalice
from tools.locked_chalice import locked_entries

ROOT = Path(__file__).resolve().parents[2]

requires_chalice = pytest.mark.skipif(importlib.util.find_spec("chalice") is None, reason="chalice is not installed")


def _distributions(bundle: Path) -> dict[str, str]:
    """name → version of every distribution in a deployment zip, from its ``*.dist-info`` directory."""
    with zipfile.ZipFile(bundle) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    found = {}
    for top in tops:
        match = re.fullmatch(r"(.+)-([^-]+)\.dist-info", top)
        if match:
            found[locked_chalice._name(match.group(1))] = match.group(2)
    return found


@requires_chalice
def test_the_packaged_bundle_holds_exactly_the_locked_distributions(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "build"
    returncode = locked_chalice.package(["--stage", "dev", "--merge-template", "infra/resources.yaml", str(out)])
    assert returncode == 0 and (out / "sam.yaml").exists()
    locked = {name: version for name, (version, _) in locked_entries((ROOT / "requirements.lock").read_text()).items()}
    assert _distributions(out / "deployment.zip") == locked
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = set(archive.namelist())
    assert {"app.py", "chalicelib/aws.py", "chalicelib/outbound/http.py"} <= names
    assert not any(name.startswith(("tests/", "tools/", "infra/")) for name in names)


@requires_chalice
def test_a_file_that_is_not_the_one_locked_stops_the_build(tmp_path, capfd):
    """A project whose one dependency's locked hash differs from the file on the index (a stand-in for a
    tampered or substituted file): Chalice's pip download refuses it and nothing is packaged."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(ROOT / "app.py", project / "app.py")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deployments"))
    (project / "requirements.txt").write_text("six==1.17.0\n")
    (project / "requirements.lock").write_text("six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    out = tmp_path / "build"

    returncode = locked_chalice.package(["--stage", "dev", str(out)], project=project)

    assert returncode != 0 and not (out / "deployment.zip").exists()
    assert "DO NOT MATCH THE HASHES" in "".join(capfd.readouterr())
