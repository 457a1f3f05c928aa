"""Channel adapters: each one verifies, parses and normalises to ``InboundMessage``.

The types are re-exported lazily (PEP 562), and the webhook edges ``app.py``'s routes
call (``channels.receive``, ``channels.webchat_visitor``) load on first use: every
function imports ``app.py`` and should not pay for what only the API function runs.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AttachmentRef", "Identity", "InboundMessage"]

_ROUTED = frozenset({"receive", "webchat_visitor"})


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chalicelib.domain import messages

        return getattr(messages, name)
    if name in _ROUTED:
        return importlib.import_module(f"{__name__}.{name}")  # also binds it here: later reads skip this
    raise AttributeError(name)
