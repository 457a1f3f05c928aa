"""The agent directory over HTTP: admins manage agents; agents set their own status.

The request bodies (``agent_bodies``: pydantic models, ~6 ms to build) load on
the first request that sends one, not when the API function loads this module
(on its first agent request: app.py's routes load their modules on first use).
"""
from __future__ import annotations

import re
from typing import Any

from chalicelib.api.auth import authenticate, require_role
from chalicelib.api.errors import BadRequest, Conflict, Created, NotFound, api_endpoint
from chalicelib.api.requests import parse

_AGENT_ID = re.compile(r"^a-[0-9a-f]{12}$")


def view(agent: Any) -> dict[str, Any]:
    return {
        "id": agent.agent_id,
        "name": agent.name,
        "email": agent.email,
        "role": agent.role,
        "skills": sorted(agent.skills or ()),
        "languages": sorted(agent.languages or ()),
        "capacity": int(agent.capacity or 0),
        "open_count": int(agent.open_count or 0),
        "status": agent.status,
        "working_hours": agent.working_hours,
        "last_assigned_at": agent.last_assigned_at or None,
        "active": bool(agent.active),
        "created_at": agent.created_at,
    }


@api_endpoint
def collection(request: Any) -> Any:
    from chalicelib.api.agent_bodies import NewAgent
    from chalicelib.service import agents
    from chalicelib.storage import agents as directory

    caller = authenticate(request.headers)
    if request.method == "GET":
        return {"agents": [view(a) for a in directory.directory(fresh=True) if a.active]}
    require_role(caller, "admin")
    body = parse(request, NewAgent)
    agent, token = agents.create(_profile(body))
    return Created({"agent": view(agent), "token": token})


@api_endpoint
def item(request: Any, agent_id: str) -> Any:
    from chalicelib.api.agent_bodies import AgentFields
    from chalicelib.service import agents
    from chalicelib.storage import agents as directory

    caller = authenticate(request.headers)
    agent = directory.get(agent_id) if _AGENT_ID.match(agent_id or "") else None
    if agent is None or not agent.active:
        raise NotFound(f"no agent {agent_id!r}")
    if request.method == "GET":
        return view(agent)
    if request.method == "DELETE":
        require_role(caller, "admin")
        if agent.agent_id == caller.agent_id:
            raise Conflict("an admin cannot remove themselves; ask another admin")
        return view(agents.remove(agent))
    body = parse(request, AgentFields)
    changed = body.model_fields_set
    if not changed:
        raise BadRequest("nothing to change")
    if caller.role != "admin" and (caller.agent_id != agent.agent_id or changed - {"status"}):
        require_role(caller, "admin")  # agents may only set their own status
    return view(agents.update(agent, _profile(body, clear_hours="working_hours" in changed)))


def _profile(body: Any, *, clear_hours: bool = False) -> Any:
    from chalicelib.domain import assignment
    from chalicelib.service.agents import Profile

    hours = body.working_hours.model_dump() if body.working_hours is not None else None
    if hours is not None:
        try:
            assignment.parse_working_hours(hours)
        except ValueError as err:
            raise BadRequest(f"working_hours: {err}") from None
    return Profile(name=body.name, email=body.email, role=body.role,
                   skills=frozenset(body.skills) if body.skills is not None else None,
                   languages=frozenset(body.languages) if body.languages is not None else None,
                   capacity=body.capacity, status=body.status, working_hours=hours,
                   clear_working_hours=clear_hours and hours is None)
