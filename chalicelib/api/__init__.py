"""The agent API: authenticated JSON over API Gateway.

Its modules load on first use (PEP 562): every Chalice function imports ``app.py``,
whose routes call ``api.<module>.<handler>``, and only the API function ever runs
one. The queue, stream, schedule and SES functions never load pydantic, the
request bodies or the services behind the routes; the API function loads each
module on its first request for it.
"""
from __future__ import annotations

from chalicelib import lazy

#: The modules app.py's routes call (an explicit list: a typo is an AttributeError, not an import attempt).
ROUTED = frozenset({
    "agent_api", "agents_api", "attachments_api", "customers_api", "http_api", "inbox_api", "kb_api", "kb_links_api",
    "macros_api", "openapi", "portal_api", "reports_api", "search_api", "signin_api", "static", "surveys_api",
    "ticket_api", "ticket_open_api",
})

__getattr__ = lazy.submodules(__name__, ROUTED)
