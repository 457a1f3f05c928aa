"""Console sign-in over HTTP: ask for a link, use it for a session, who am I, sign out (``service/signin.py``).

``POST /auth/links`` and ``POST /auth/sessions`` take no token (the emailed link is the
credential); ``GET /auth/me`` and ``DELETE /auth/sessions/current`` take either kind of
bearer token. The request bodies (``signin_bodies``) load on the first request.
"""
from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.api.agents_api import view
from chalicelib.api.auth import authenticate, caller
from chalicelib.api.errors import Accepted, Created, api_endpoint
from chalicelib.api.requests import parse

__all__ = ["me", "request_link", "sign_in", "sign_out"]


@api_endpoint
def request_link(request: Any) -> Any:
    """202 ``{"sent": true}`` for any well-formed address: whether an agent has it is never told (429 past
    the per-address or per-client limit)."""
    from chalicelib.api.signin_bodies import LinkRequest
    from chalicelib.channels.receive import client_address
    from chalicelib.service import signin

    body = parse(request, LinkRequest)
    signin.ask_for_link(body.email, client=client_address(request.context), now=clock.now())
    return Accepted({"sent": True})


@api_endpoint
def sign_in(request: Any) -> Any:
    """201 with a session token for a valid, unused, unexpired link; 401 otherwise (nothing changed)."""
    from chalicelib.api.signin_bodies import SessionRequest
    from chalicelib.service import signin

    body = parse(request, SessionRequest)
    signed_in = signin.sign_in(body.token, now=clock.now())
    return Created({"session_token": signed_in.session_token, "expires_at": clock.iso(signed_in.expires_at),
                    "agent": view(signed_in.agent)})


@api_endpoint
def me(request: Any) -> Any:
    """The calling agent, as ``GET /agents/{id}`` shows it: the console asks on load whether its token still works."""
    return view(authenticate(request.headers))


@api_endpoint
def sign_out(request: Any) -> Any:
    """End the calling console session. An API token (``rd_``) is no session: ``{"signed_out": false}``, and it
    keeps working (removing the agent revokes it)."""
    from chalicelib.service import signin

    current = caller(request.headers)
    if current.session_hash is None:
        return {"signed_out": False}
    signin.sign_out(current.agent.agent_id, current.session_hash)
    return {"signed_out": True}
