"""Cold-start cost of ``import app`` against importing the same third-party modules alone.

Every figure comes from a fresh interpreter (``subprocess``, cwd = the project),
timed with ``time.perf_counter`` around the import inside that interpreter, so
interpreter start-up is not in the ratio (it is reported separately as the
process wall time). The baselines are computed, not listed by hand: one probe
process imports ``app`` and reports which modules that loaded; the third-party
ones (neither stdlib nor this project) are what the baselines import.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FUNCTION_EDGES", "HEAVY", "ImportReport", "function_cold_imports", "measure"]

#: Modules a cold start should not pay for (STYLE.md: import heavy modules where they are used).
HEAVY = ("boto3", "botocore", "pynamodb", "moto", "jinja2", "pydantic")

_PROBE = r"""
import json, sys, time
before = set(sys.modules)
started = time.perf_counter()
import app
elapsed = time.perf_counter() - started
loaded = []
for name in list(sys.modules):
    if name in before:
        continue
    module = sys.modules[name]
    path = getattr(module, "__file__", None) or ""
    if not path:
        locations = list(getattr(module, "__path__", []) or [])
        path = locations[0] if locations else ""
    loaded.append([name, path])
print(json.dumps({"elapsed": elapsed, "loaded": loaded, "stdlib": sorted(sys.stdlib_module_names),
                  "preloaded": sorted(before)}))
"""

_GUARD = r"""
import json, socket, sys
calls, connects, clients = [], [], []
import botocore.client, botocore.session

def _no_call(self, operation_name, api_params):
    calls.append(f"{self.meta.service_model.service_name}.{operation_name}")
    raise RuntimeError("AWS API call during import")

_create_client = botocore.session.Session.create_client
def _count_client(self, service_name, *args, **kwargs):
    clients.append(service_name)
    return _create_client(self, service_name, *args, **kwargs)

def _no_connect(self, address, *args):
    connects.append(repr(address))
    raise OSError("network connection during import")

botocore.client.BaseClient._make_api_call = _no_call
botocore.session.Session.create_client = _count_client
socket.socket.connect = _no_connect
socket.socket.connect_ex = _no_connect
error = None
try:
    import app
except BaseException as err:
    error = repr(err)
print(json.dumps({"calls": calls, "connects": connects, "clients": clients, "error": error}))
"""

#: Each function's own edge, what its handler in app.py loads on its first invocation (chalicelib.lazy); the API
#: function's first request also loads the route's module (the ticket list's here).
FUNCTION_EDGES = {
    "ses_inbound": ("chalicelib.channels.email.ses_inbound",),
    "ses_failures": ("chalicelib.channels.email.ses_failures",),
    "ses_events": ("chalicelib.outbound.delivery_events",),
    "process_inbound": ("chalicelib.pipeline.worker",),
    "send_outbound": ("chalicelib.outbound.worker",),
    "ticket_stream": ("chalicelib.pipeline.stream",),
    "kpi_stream": ("chalicelib.pipeline.measure_stream",),
    "sweep": ("chalicelib.pipeline.schedule",),
    "api_handler": ("chalicelib.api.http_api", "chalicelib.api.agent_api"),
}

_TIMED = r"""
import json, sys, time
names = {names!r}
failed = []
started = time.perf_counter()
for name in names:
    try:
        __import__(name)
    except Exception:
        failed.append(name)
elapsed = time.perf_counter() - started
print(json.dumps([elapsed, failed]))
"""


@dataclass
class Variant:
    label: str
    code: str
    modules: int
    import_s: list[float] = field(default_factory=list)
    process_s: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def median_import(self) -> float:
        return statistics.median(self.import_s)

    @property
    def median_process(self) -> float:
        return statistics.median(self.process_s)


@dataclass
class ImportReport:
    repeats: int
    app: Variant
    baselines: list[Variant]  # [top-level packages, every third-party module]
    third_party_top: list[str]
    third_party_modules: int
    project_modules: int
    stdlib_modules: int
    heavy_loaded: list[str]
    heavy_not_loaded: list[str]
    aws_calls: list[str]
    clients_created: list[str]
    connects: list[str]
    guard_error: str | None
    heavy_counts: dict[str, int] = field(default_factory=dict)  # heavy package → modules of it loaded
    heavy_loaded_by: dict[str, str] = field(default_factory=dict)  # heavy package → who imported it first
    extra: dict[str, object] = field(default_factory=dict)  # what app adds over the baseline (-X importtime)


def _python(code: str, project: Path, env: dict[str, str], *flags: str) -> tuple[str, float]:
    out, _, wall = _python_full(code, project, env, *flags)
    return out.strip().splitlines()[-1], wall


def _python_full(code: str, project: Path, env: dict[str, str], *flags: str) -> tuple[str, str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *flags, "-c", code], cwd=project, env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"subprocess failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout, done.stderr, wall


def _importtime(code: str, project: Path, env: dict[str, str]) -> list[tuple[str, int, int]]:
    """(module, self µs, depth) per line of ``-X importtime``, in its order (children before parents)."""
    _, err, _ = _python_full(code, project, env, "-X", "importtime")
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        head, _cumulative, name = line.split("|", 2)
        self_us = int(head.split(":", 1)[1])
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2  # one space after "|", then 2 per level
        rows.append((name.strip(), self_us, depth))
    return rows


def _importers(rows: list[tuple[str, int, int]]) -> dict[str, str]:
    """module → the module whose import loaded it (the next line with a smaller depth)."""
    parents: dict[str, str] = {}
    for index, (name, _, depth) in enumerate(rows):
        for later, _, later_depth in rows[index + 1:]:
            if later_depth < depth:
                parents[name] = later
                break
    return parents


def _classify(loaded: list[list[str]], stdlib: set[str], project: Path) -> dict[str, str]:
    """top-level name → stdlib | project | third-party (by where its module lives)."""
    venv_markers = ("site-packages", "dist-packages")
    tops: dict[str, str] = {}
    for name, path in loaded:
        top = name.split(".", 1)[0]
        if top in tops:
            continue
        if top in stdlib or top in sys.builtin_module_names:
            tops[top] = "stdlib"
        elif any(marker in path for marker in venv_markers):
            tops[top] = "third-party"
        elif top == "app" or (path and Path(path).resolve().is_relative_to(project)):
            tops[top] = "project"
        else:
            tops[top] = "third-party"
    return tops


def measure(project: Path, repeats: int = 9, env: dict[str, str] | None = None) -> ImportReport:
    env = dict(env or os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    probe_out, _ = _python(_PROBE, project, env)
    probe = json.loads(probe_out)
    preloaded = set(probe["preloaded"])
    loaded = [item for item in probe["loaded"] if item[0] not in preloaded]
    tops = _classify(loaded, set(probe["stdlib"]), project)

    def kind(name: str) -> str:
        return tops[name.split(".", 1)[0]]

    third = [name for name, _ in loaded if kind(name) == "third-party"]
    third_top = [name for name in dict.fromkeys(n.split(".", 1)[0] for n in third)]
    loaded_tops = {name.split(".", 1)[0] for name, _ in loaded} | {n.split(".", 1)[0] for n in preloaded}

    guard = json.loads(_python(_GUARD, project, env)[0])

    app_variant = Variant("import app", _TIMED.format(names=["app"]), len(loaded))
    baselines = [
        Variant(f"third-party top-level packages ({len(third_top)})", _TIMED.format(names=third_top), len(third_top)),
        Variant(f"every third-party module app loads ({len(third)})", _TIMED.format(names=third), len(third)),
    ]
    variants = [*baselines, app_variant]
    for round_ in range(repeats + 1):  # round 0 warms the page cache and .pyc files; not counted
        for variant in variants if round_ % 2 == 0 else reversed(variants):
            out, wall = _python(variant.code, project, env)
            elapsed, failed = json.loads(out)
            if round_ == 0:
                variant.failed = failed
                continue
            variant.import_s.append(elapsed)
            variant.process_s.append(wall)

    app_rows = [_importtime(app_variant.code, project, env) for _ in range(3)]
    base_rows = [_importtime(baselines[-1].code, project, env) for _ in range(3)]
    in_base = {name for rows in base_rows for name, _, _ in rows}
    self_us: dict[str, list[int]] = {}
    for rows in app_rows:
        for name, micros, _ in rows:
            self_us.setdefault(name, []).append(micros)
    added = {name: statistics.median(v) for name, v in self_us.items()
             if name not in in_base and name.split(".", 1)[0] in tops}
    origin = {name: kind(name) for name in added}
    extra = {
        "top": sorted(((n, origin[n], us) for n, us in added.items()), key=lambda row: -row[2])[:12],
        "project_us": sum(us for n, us in added.items() if origin[n] == "project"),
        "stdlib_us": sum(us for n, us in added.items() if origin[n] == "stdlib"),
        "third_us": sum(us for n, us in added.items() if origin[n] == "third-party"),
    }
    importers = _importers(app_rows[0])
    heavy_counts = {m: sum(1 for name, _ in loaded if name.split(".", 1)[0] == m) for m in HEAVY}
    heavy_by = {m: importers.get(m, "") for m in HEAVY if heavy_counts[m]}

    return ImportReport(
        repeats=repeats,
        app=app_variant,
        baselines=baselines,
        third_party_top=third_top,
        third_party_modules=len(third),
        project_modules=sum(1 for name, _ in loaded if kind(name) == "project"),
        stdlib_modules=sum(1 for name, _ in loaded if kind(name) == "stdlib"),
        heavy_loaded=[m for m in HEAVY if m in loaded_tops],
        heavy_not_loaded=[m for m in HEAVY if m not in loaded_tops],
        aws_calls=guard["calls"],
        clients_created=guard["clients"],
        connects=guard["connects"],
        guard_error=guard["error"],
        heavy_counts=heavy_counts,
        heavy_loaded_by=heavy_by,
        extra=extra,
    )


def function_cold_imports(project: Path, repeats: int = 9, env: dict[str, str] | None = None) -> dict[str, float]:
    """function → median seconds of ``import app`` and then its own edge (``FUNCTION_EDGES``), each in a fresh
    interpreter: what a cold start of that function imports before its handler runs."""
    env = dict(env or os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    variants = {name: _TIMED.format(names=["app", *edges]) for name, edges in FUNCTION_EDGES.items()}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(repeats + 1):  # round 0 warms the page cache and .pyc files; not counted
        for name, code in variants.items():
            out, _ = _python(code, project, env)
            elapsed, failed = json.loads(out)
            if failed:
                raise RuntimeError(f"{name}: could not import {failed}")
            if round_:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}
