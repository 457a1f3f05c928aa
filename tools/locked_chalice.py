"""``chalice package`` with the locked, hash-checked dependency set: the Lambda bundle gets exactly requirements.lock.

Why a wrapper: Chalice packages the ``requirements.txt`` of the project directory and has no option to name another
file (``chalice/deploy/packager.py``: ``_get_requirements_filename`` is ``<project>/requirements.txt``; it
``pip download``\\s what that file lists, then Lambda-compatible wheels of anything that is not). Our
``requirements.txt`` names what the app needs directly; ``requirements.lock`` (``make lock``: ``pip-compile
--generate-hashes``) pins those and every transitive dependency, each with its sha256 hashes. So this runs Chalice
on a copy of the project — ``app.py``, ``chalicelib/``, ``vendor/`` if there is one, ``.chalice/`` — whose
``requirements.txt`` *is* the lock: pip sees ``--hash`` options and downloads in hash-checking mode, so a package
whose file differs from the one locked (or a dependency the lock does not name) stops the build. The copy's
``.chalice/deployments`` is the project's own, so Chalice's cache of built dependencies (keyed by the
requirements file's content) survives between builds.

It also refuses any Python but the runtime's (3.11): Chalice takes the Lambda runtime from the interpreter it runs
on and picks wheels for it, so a build on 3.12 would ship a python3.12 function with 3.12 wheels.

    python tools/locked_chalice.py package --stage dev --merge-template infra/resources.yaml build/
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
REQUIREMENTS = PROJECT / "requirements.txt"
LOCK = PROJECT / "requirements.lock"
LAMBDA_PYTHON = (3, 11)  # the functions' runtime, python3.11
_COPIED = ("app.py", "chalicelib", "vendor", ".chalice")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\#]+)")


class Refused(Exception):
    """A one-line reason not to build."""


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def pins(text: str) -> dict[str, str]:
    """``name == version`` lines of a requirements file (continuations and comments skipped), by PEP 503 name."""
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            found[_name(match.group(1))] = match.group(2)
    return found


def locked_entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """The lock's entries: name → (version, its ``--hash`` values), joining backslash-continued lines."""
    entries: dict[str, tuple[str, list[str]]] = {}
    for logical in re.sub(r"\\\n", " ", text).splitlines():
        match = _PIN.match(logical.strip())
        if match:
            entries[_name(match.group(1))] = (match.group(2), re.findall(r"--hash=(sha256:[0-9a-f]{64})", logical))
    return entries


def lock_problems(requirements: str, lock: str) -> list[str]:
    """Why the lock does not fit requirements.txt: a requirement missing or at another version, an entry without
    hashes, a requirement that is not pinned with ``==``."""
    problems = []
    wanted, entries = pins(requirements), locked_entries(lock)
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-") and not _PIN.match(line):
            problems.append(f"requirements.txt: {line!r} is not pinned with ==")
    for name, version in sorted(wanted.items()):
        if name not in entries:
            problems.append(f"{name}=={version} is not in requirements.lock")
        elif entries[name][0] != version:
            problems.append(f"requirements.lock has {name}=={entries[name][0]}, requirements.txt {version}")
    problems += [f"requirements.lock: {name} has no --hash" for name, (_, hashes) in sorted(entries.items())
                 if not hashes]
    return problems


def check_python(version: Sequence[int] = sys.version_info) -> None:
    if tuple(version[:2]) != LAMBDA_PYTHON:
        wanted = ".".join(map(str, LAMBDA_PYTHON))
        raise Refused(f"Python {version[0]}.{version[1]} cannot build the Lambda bundle: the functions run on "
                      f"python{wanted} and Chalice builds for the Python it runs on; run make PYTHON=python{wanted} "
                      "(rm -rf .venv first if .venv was made with another Python)")


def check_lock(project: Path = PROJECT) -> None:
    problems = lock_problems((project / "requirements.txt").read_text(), (project / "requirements.lock").read_text())
    if problems:
        raise Refused(f"requirements.lock does not match requirements.txt ({problems[0]}): run make lock")


def bundle_project(destination: Path, project: Path = PROJECT) -> Path:
    """A copy of the project for Chalice, with requirements.lock as its requirements.txt."""
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments")
    for name in _COPIED:
        source = project / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / name)
    cache = project / ".chalice" / "deployments"
    cache.mkdir(parents=True, exist_ok=True)
    (destination / ".chalice" / "deployments").symlink_to(cache, target_is_directory=True)
    shutil.copy2(project / "requirements.lock", destination / "requirements.txt")
    return destination


_VALUED_OPTIONS = ("--pkg-format", "--stage", "--template-format", "--profile")  # chalice package's, besides paths


def _absolute(arguments: Sequence[str]) -> list[str]:
    """``chalice package``'s paths (``--merge-template`` and the output directory) made absolute: Chalice changes
    into the project directory before it reads them."""
    absolute, rest = [], list(arguments)
    while rest:
        argument = rest.pop(0)
        if argument == "--merge-template" and rest:
            absolute += [argument, str(Path(rest.pop(0)).resolve())]
        elif argument.startswith("--merge-template="):
            absolute.append("--merge-template=" + str(Path(argument.partition("=")[2]).resolve()))
        elif argument in _VALUED_OPTIONS and rest:
            absolute += [argument, rest.pop(0)]
        elif argument.startswith("-"):
            absolute.append(argument)
        else:  # the one positional argument: the output directory
            absolute.append(str(Path(argument).resolve()))
    return absolute


def package(arguments: Sequence[str], *, project: Path = PROJECT) -> int:
    check_python()
    check_lock(project)
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice)] if chalice.exists() else [sys.executable, "-m", "chalice.cli"]
    with tempfile.TemporaryDirectory(prefix="relay-desk-bundle-") as temporary:
        copy = bundle_project(Path(temporary), project)
        return subprocess.run([*command, "--project-dir", str(copy), "package", *_absolute(arguments)],
                              env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION")
                                   or os.environ.get("AWS_REGION") or "us-east-1"}).returncode


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "package":
        print("usage: python tools/locked_chalice.py package [chalice package options] OUT", file=sys.stderr)
        return 2
    try:
        return package(argv[1:])
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
