"""The agent API's request bodies (``agents_api``): built on the first agent request, not at cold start."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.api.requests import Body

SKILL_PATTERN = r"^(\*|[a-z0-9][a-z0-9_-]{0,49})$"
EMAIL_PATTERN = r"^[^\s@]{1,64}@[^\s@]{1,255}$"  # an agent's address; console sign-in asks with the same


class WorkingHours(Body):
    timezone: str = Field(min_length=1, max_length=64)
    days: str | list[str]
    start: str = Field(pattern=r"^\d\d:\d\d$")
    end: str = Field(pattern=r"^\d\d:\d\d$")


class AgentFields(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, pattern=EMAIL_PATTERN)
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
            if not re.match(SKILL_PATTERN, skill):
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
    email: str = Field(pattern=EMAIL_PATTERN)
