"""Calling the agent API in tests: JSON in, ``(status, JSON body)`` out, through ``desk.http``."""
from __future__ import annotations

import json
from typing import Any


def call(desk: Any, method: str, path: str, token: str | None = None, body: Any = None, *,
         headers: dict[str, str] | None = None, raw: str | bytes | None = None) -> tuple[int, Any]:
    """``raw`` sends the body as given (malformed JSON, oversized payloads); ``body`` is JSON-encoded."""
    sent = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {})}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    response = getattr(desk.http, method)(path, headers=sent, body=data)
    return response.status_code, json.loads(response.body or b"null")
