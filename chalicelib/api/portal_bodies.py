"""The customer portal's request bodies (``portal_api``): built on the first portal request, not at cold start."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.requests import Body

# The same address shape the web chat accepts (channels/webchat.py): it becomes part of an identity key.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$"
DRAFT_PATTERN = r"^[A-Za-z0-9_-]{20,40}$"
MAX_TEXT_CHARS = 20_000
MAX_ATTACHMENTS = 10
Language = Literal["en", "da", "no"]


class PortalTicketBody(Body):
    """``POST /portal/tickets``: the form. ``attachments`` name uploads made with ``draft``."""

    name: str = Field(min_length=1, max_length=120)
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254,
                       description="Where the acknowledgement and replies are mailed; not an identity until proven")
    subject: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    language: Language = "en"
    draft: str | None = Field(default=None, pattern=DRAFT_PATTERN)
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class PortalReplyBody(Body):
    """``POST /portal/tickets/{id}/replies``: the signed-in customer's message on their ticket."""

    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    language: Language = "en"
    draft: str | None = Field(default=None, pattern=DRAFT_PATTERN)
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class PortalUploadBody(Body):
    """``POST /portal/uploads``: a file the browser will PUT; pass ``draft`` back for every file of one form."""

    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=3, max_length=255)
    size: int = Field(ge=1)
    draft: str | None = Field(default=None, pattern=DRAFT_PATTERN)


class PortalLinkBody(Body):
    """``POST /portal/auth/links``: where to mail a sign-in link (if a customer has the address)."""

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    language: Language = "en"


class PortalSessionBody(Body):
    """``POST /portal/auth/sessions``: the token from the link (after ``#signin=``)."""

    token: str = Field(min_length=1, max_length=200)
