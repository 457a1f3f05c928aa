"""Channel adapters: each one verifies, parses and normalises to ``InboundMessage``.

The types are re-exported lazily (PEP 562), and the edges ``app.py`` calls (the webhooks'
``channels.receive`` and ``channels.webchat_visitor``, SES's ``channels.email``) load on
first use (``chalicelib.lazy``): every function imports ``app.py`` and should not pay for
what only another function runs.
"""
from __future__ import annotations

from typing import Any

from chalicelib import lazy

__all__ = ["AttachmentRef", "Identity", "InboundMessage"]

_routed = lazy.submodules(__name__, {"email", "receive", "webchat_visitor"})


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chalicelib.domain import messages

        return getattr(messages, name)
    return _routed(name)
