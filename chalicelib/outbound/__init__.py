"""Outbound: rendering and sending what the desk says to customers.

The edges ``app.py`` calls (``worker``, the outbound queue's; ``delivery_events``, SES's sending events) load on
first use (``chalicelib.lazy``): the other functions never load the senders.
"""
from __future__ import annotations

from chalicelib import lazy

__getattr__ = lazy.submodules(__name__, {"delivery_events", "worker"})
