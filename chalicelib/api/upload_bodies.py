"""The body of a request to upload a file (``POST /tickets/{id}/uploads``; the web chat's uploads too)."""
from __future__ import annotations

from pydantic import Field

from chalicelib.api.requests import Body


class UploadBody(Body):
    """What the browser declares before it PUTs the bytes; ``domain.attachment_policy`` judges it."""

    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=3, max_length=255)
    size: int = Field(ge=1)  # bytes; above the policy's maximum is a 413 with the limit, not a 400
