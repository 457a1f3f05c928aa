"""The pipeline: one inbound message → thread or create → acknowledge → measure (``runner.run``), and the
queue and stream edges around it. The package imports nothing itself: the edges ``app.py`` calls
(``worker``, ``stream``, ``measure_stream``, ``schedule``) load on first use (``chalicelib.lazy``), so a function
that runs one edge (``measure_stream``) does not load the others.
"""
from __future__ import annotations

from chalicelib import lazy

__getattr__ = lazy.submodules(__name__, {"measure_stream", "schedule", "stream", "worker"})
