"""Channel adapters: each one verifies, parses and normalises to ``InboundMessage``.

The types are re-exported lazily (PEP 562): ``app.py`` imports the webhook edge
from this package on every cold start and should not pay for what it does not use.
"""
from __future__ import annotations

from typing import Any

__all__ = ["AttachmentRef", "Identity", "InboundMessage"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chalicelib.domain import messages

        return getattr(messages, name)
    raise AttributeError(name)
