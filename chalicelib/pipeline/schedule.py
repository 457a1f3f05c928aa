"""The ``sweep`` schedule's edge: EventBridge's tick → the minute's sweep (``service/sweeps.py``).

Every Chalice function imports ``app.py``, so a webhook's cold start would pay
for the services (PynamoDB, the rule models) if this module imported them:
they load on the first tick instead, like the API handlers' services.
"""
from __future__ import annotations

from typing import Any

__all__ = ["tick"]


def tick(event: dict[str, Any]) -> dict[str, int]:
    from chalicelib.service import sweeps  # on the first tick, not at every function's cold start

    return sweeps.run(event)
