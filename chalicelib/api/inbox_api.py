"""``GET /tickets/counts``: the numbers beside the console's views (``chalicelib.service.inbox``)."""
from __future__ import annotations

from typing import Any

from chalicelib.api.auth import authenticate
from chalicelib.api.errors import BadRequest, api_endpoint


@api_endpoint
def counts(request: Any) -> dict[str, Any]:
    """Active tickets: mine, unassigned, overdue, and by status, queue, priority and channel."""
    from chalicelib.service import inbox

    agent = authenticate(request.headers)
    if request.query_params:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(request.query_params))}; "
                         "counts take none")
    return inbox.counts(agent.agent_id)
