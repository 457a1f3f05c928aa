"""What a cold start pays for: ``import app`` loads no function's edge, and every edge ``app.py`` names resolves.

Every Chalice function imports ``app.py`` and runs one trigger; the packages it calls into load
their modules on first use (``chalicelib.lazy``), so one function's cold start does not load the
others' code. A handler that names a module wrongly would only fail on its first invocation in
AWS: the second test resolves every name the handlers use.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import lazy
from tests.app_calls import attribute_chain

ROOT = Path(__file__).resolve().parents[2]
#: The packages app.py's handlers reach into (``pipeline.worker.process_batch``).
EDGE_PACKAGES = ("api", "channels", "outbound", "pipeline")
#: What only one function (or none at import) should load: each edge, and the heavy libraries behind them.
NOT_AT_IMPORT = (
    "chalicelib.pipeline.worker", "chalicelib.pipeline.stream", "chalicelib.pipeline.measure_stream",
    "chalicelib.pipeline.schedule", "chalicelib.outbound.worker", "chalicelib.outbound.delivery_events",
    "chalicelib.channels.email.ses_inbound", "chalicelib.channels.email.ses_failures",
    "chalicelib.channels.receive", "chalicelib.channels.webchat_visitor", "chalicelib.api.agent_api",
    "chalicelib.api.http_api", "chalicelib.storage", "chalicelib.service",
    "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.data_classes",
    "pydantic", "pynamodb", "boto3", "jinja2",
)


def _loaded_by_import_app() -> set[str]:
    code = "import json, sys; import app; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_app_loads_no_functions_edge_and_no_heavy_library():
    loaded = _loaded_by_import_app()
    assert "chalicelib.lazy" in loaded and "chalice" in loaded  # the probe really imported app
    assert sorted(name for name in NOT_AT_IMPORT if name in loaded) == []


def _edge_names(*, routes: bool = True) -> list[str]:
    """Every dotted name app.py's functions read from the edge packages, e.g. ``pipeline.worker.process_batch``
    (``routes=False``: only the event triggers', not the API function's routes and HTTP API entry)."""
    names = set()
    for function in ast.parse((ROOT / "app.py").read_text()).body:
        if not isinstance(function, ast.FunctionDef):
            continue
        decorators = [d.func.attr for d in function.decorator_list
                      if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)]
        if not routes and ("route" in decorators or not decorators):
            continue
        for node in ast.walk(function):
            chain = attribute_chain(node) if isinstance(node, ast.Attribute) else None
            if chain is not None and chain[0] in EDGE_PACKAGES:
                names.add(".".join([chain[0], *chain[1]]))
    # only the longest chains: pipeline.worker.process_batch covers pipeline.worker
    return sorted(n for n in names if not any(other.startswith(n + ".") for other in names))


def test_every_edge_app_py_names_resolves_to_a_function():
    import app

    names = _edge_names()
    assert "pipeline.worker.process_batch" in names and "api.ticket_api.update_ticket" in names
    assert len(names) > 50  # 56 today: every trigger and route
    for name in names:
        target = app
        for part in name.split("."):
            target = getattr(target, part)
        assert callable(target), name


def test_a_lazy_package_imports_a_listed_module_once_and_refuses_any_other_name(monkeypatch):
    imported = []
    real = lazy.importlib.import_module

    def counting(name: str):
        imported.append(name)
        return real(name)

    monkeypatch.setattr(lazy.importlib, "import_module", counting)
    getattr_ = lazy.submodules("json", {"decoder"})
    assert getattr_("decoder") is sys.modules["json.decoder"]
    assert imported == ["json.decoder"]
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'encoderr'"):
        getattr_("encoderr")  # a typo is not an import attempt
    assert imported == ["json.decoder"]


def test_the_benchmarks_edges_are_every_functions_own():
    """``make bench`` times each function's cold import with its edge (``benchmarks/importcost.FUNCTION_EDGES``):
    one entry per Chalice function, and together the modules app.py's triggers name."""
    import app
    from benchmarks.importcost import FUNCTION_EDGES

    functions = {e.name for e in app.app.event_sources} | {f.name for f in app.app.pure_lambda_functions}
    assert set(FUNCTION_EDGES) == functions | {"api_handler"}
    named = {f"chalicelib.{name.rpartition('.')[0]}" for name in _edge_names(routes=False)}
    listed = {module for name, edges in FUNCTION_EDGES.items() if name != "api_handler" for module in edges}
    assert listed == named
