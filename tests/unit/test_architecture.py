"""The layer rules of README "Architecture", as contracts the suite enforces.

``.importlinter`` holds the contracts (layers point down, only storage imports
PynamoDB, a pure domain, no cycles between packages); this test runs
import-linter on them and, with the same import graph, refuses a cycle
between any two modules.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and "KEPT" in result.stdout


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("chalicelib", cache_dir=None)
    assert len(graph.modules) > 50  # the whole package was read
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.append(" -> ".join([module, *chain]))
    assert cycles == [], "\n".join(cycles[:10])
