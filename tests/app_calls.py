"""Reading ``app.py``'s handlers as code: the dotted names their bodies call into.

``tests/integration/test_least_privilege.py`` (what each function's code can reach) and
``tests/unit/test_cold_start.py`` (what a cold start loads) both read ``pipeline.worker.process_batch``
as the root ``pipeline`` and the attributes after it.
"""
from __future__ import annotations

import ast


def attribute_chain(node: ast.expr) -> tuple[str, list[str]] | None:
    """``a.b.c`` as ``("a", ["b", "c"])``; None unless the chain starts at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return (node.id, parts[::-1]) if isinstance(node, ast.Name) else None
