"""Submodules that load on first use (PEP 562), for the packages ``app.py`` calls into.

Every Chalice function imports ``app.py``, and each runs one of its triggers. ``app.py``
names its edges as ``<package>.<module>.<handler>`` (``pipeline.worker.process_batch``,
``api.ticket_api.update_ticket``); the package's ``__getattr__`` imports the module the
first time a handler reaches for it. So a function's cold start loads its own edge and
what that needs, not the other functions' (the API function never loads the SQS batch
processor, the queue workers never load pydantic).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType

__all__ = ["submodules"]


def submodules(package: str, names: Iterable[str]) -> Callable[[str], ModuleType]:
    """A module ``__getattr__`` for ``package`` that imports ``package.<name>`` for each of ``names`` on first use.

    An explicit list: a typo is an ``AttributeError``, not an import attempt. ``import_module`` also binds the
    submodule on the package, so later reads find it there and skip this."""
    known = frozenset(names)

    def __getattr__(name: str) -> ModuleType:
        if name in known:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
