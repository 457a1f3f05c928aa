"""The agent directory over HTTP: admins manage agents; agents set their own status."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib.api.auth import authenticate, require_role
from chalicelib.api.errors import BadRequest, Conflict, Created, NotFound, api_endpoint
from chalicelib.api.requests import Body, parse

_AGENT_ID = re.compile(r"^a-[0-9a-f]{12}$")
_SLUG = r"^(\*|[a-z0-9][a-z0-9_-]{0,49})$"


class WorkingHours(Body):
    timezone: str = Field(min_length=1, max_length=64)
    days: str | list[str]
    start: str = Field(pattern=r"^\d\d:\d\d$")
    end: str = Field(pattern=r"^\d\d:\d\d$")


class AgentFields(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, pattern=r"^[^\s@]{1,64}@[^\s@]{1,255}$")
    role: Literal["agent", "admin"] | None = None
    skills: list[str] | None = Field(None, max_length=50)
    languages: list[str] | None = Field(None, max_length=20)
    capacity: int | None = Field(None, ge=0, le=1000)
    status: Literal["online", "away", "offline"] | None = None
    working_hours: WorkingHours | None = None

    @field_validator("skills")
    @classmethod
    def _skills(cls, value: list[str] | None) -> list[str] | None:
        for skill in value or ():
            if not re.match(_SLUG, skill):
                raise ValueError(f"skill {skill!r} must be a queue name (lower-case slug) or *")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str] | None) -> list[str] | None:
        for language in value or ():
            if not re.match(r"^[a-z]{2}$", language):
                raise ValueError(f"language {language!r} must be a two-letter ISO 639-1 code such as en, da, no")
        return value


class NewAgent(AgentFields):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^\s@]{1,64}@[^\s@]{1,255}$")


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


def _profile(body: AgentFields, *, clear_hours: bool = False) -> Any:
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
