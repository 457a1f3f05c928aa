"""Console sign-in's request bodies (``signin_api``): built on the first sign-in request, not at cold start."""
from __future__ import annotations

from pydantic import Field

from chalicelib.api.agent_bodies import EMAIL_PATTERN
from chalicelib.api.requests import Body

# Longer than any token we make (rdl_ + agent id + 64 hex = 83), short enough to refuse junk before any read.
MAX_TOKEN_CHARS = 200


class LinkRequest(Body):
    """``POST /auth/links``: the address to mail a sign-in link to, if it is an active agent's."""

    email: str = Field(pattern=EMAIL_PATTERN, max_length=320,
                       description="The agent's address; the answer is the same whether or not it is one.")


class SessionRequest(Body):
    """``POST /auth/sessions``: the token from the sign-in link (after ``#signin=``)."""

    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS, description="The link's token, rdl_...")
