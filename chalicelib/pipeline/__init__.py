"""The pipeline: one inbound message → thread or create → acknowledge → measure.

``run`` is re-exported lazily (PEP 562) so that importing the queue helpers
from a webhook does not load PynamoDB and the steps on every cold start.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Outcome", "run"]


def __getattr__(name: str) -> Any:
    if name == "run":
        from chalicelib.pipeline.runner import run

        return run
    if name == "Outcome":
        from chalicelib.pipeline.context import Outcome

        return Outcome
    raise AttributeError(name)
