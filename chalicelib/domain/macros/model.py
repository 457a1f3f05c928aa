"""The macro model and its validation: ``Macro``, ``MacroActions``, the macro-file schema,
and pydantic's errors worded for a macro author. A ``Macro`` cannot exist with a bad
template: the check (``checks._check_body``) runs inside the model.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.domain.macros.checks import _check_body
from chalicelib.domain.macros.errors import MacroError, _did_you_mean
from chalicelib.domain.macros.limits import MAX_BODY
from chalicelib.domain.vocabulary import Language, Priority, SettableStatus

__all__ = ["Macro", "MacroActions", "TicketStatus", "macro_from_dict", "suggested", "validate"]

TicketStatus = SettableStatus

_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")  # as triage's queue names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MacroActions(_Strict):
    """Ticket changes applied with the reply; all optional."""

    set_status: TicketStatus | None = None
    set_priority: Priority | None = None
    add_tags: tuple[str, ...] = Field((), max_length=20)
    remove_tags: tuple[str, ...] = Field((), max_length=20)

    @field_validator("add_tags", "remove_tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not _TAG.match(tag):
                raise ValueError(f"{tag!r} is not a tag (lowercase letters, digits, _ and -, at most 50)")
        twice = sorted({tag for tag in value if value.count(tag) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} listed twice")
        return value

    @model_validator(mode="after")
    def _no_contradiction(self) -> MacroActions:
        both = sorted(set(self.add_tags) & set(self.remove_tags))
        if both:
            raise ValueError(f"tag(s) {', '.join(map(repr, both))} both added and removed")
        return self


class Macro(_Strict):
    """One canned response. Constructing it checks the template (see ``validate``)."""

    id: str = Field(pattern=_SLUG)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=MAX_BODY)
    actions: MacroActions = MacroActions()
    categories: tuple[str, ...] = ()  # queues it is suggested for; () = everywhere
    description: str = Field("", max_length=1_000)
    # The body in other languages ({"da": "Hej ...", "no": "Hei ..."}): a customer reading one of them
    # (``language.for_customer``) gets it; any other customer gets ``body``. Each is checked like ``body``.
    translations: dict[Language, str] = Field(default_factory=dict)

    def body_in(self, language: str | None) -> str:
        """The text for a customer reading ``language``: its translation, else ``body``."""
        return self.translations.get(language, self.body) if language else self.body  # type: ignore[call-overload]

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is blank")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for category in value:
            if not _CATEGORY.match(category):
                raise ValueError(f"{category!r} is not a queue name (lowercase letters, digits, _ . -)")
        return value

    # A field validator rather than a model validator: pydantic then reports the
    # problem at "body", and it runs only once the body has passed its length check.
    @field_validator("body")
    @classmethod
    def _template(cls, value: str) -> str:
        _check_body(value)
        return value

    @field_validator("translations")
    @classmethod
    def _translations(cls, value: dict[str, str]) -> dict[str, str]:
        for language, body in value.items():
            if not body.strip() or len(body) > MAX_BODY:
                raise ValueError(f"{language}: a body of 1-{MAX_BODY} characters")
            try:
                _check_body(body)
            except MacroError as err:
                raise ValueError(f"{language}: {err}") from None
        return value


def validate(macro: Macro) -> Macro:
    """Check ``macro``'s template again (``MacroError`` if bad) and return it.

    Constructing a Macro already does this; call it for one made with
    ``model_construct`` (e.g. read back from storage without validation) before use.
    """
    _check_body(macro.body)
    for body in macro.translations.values():
        _check_body(body)
    return macro


def macro_from_dict(data: Any, source: str = "macro") -> Macro:
    """A Macro from JSON-like data (an API request body); only ever raises ``MacroError``,
    one line per problem, e.g. ``body: line 3: unknown placeholder 'custmer'``."""
    if not isinstance(data, Mapping):
        raise MacroError(f"{source}: expected an object with id, title and body")
    try:
        return Macro.model_validate(dict(data))
    except ValidationError as error:
        raise MacroError([f"{source}: {line}" for e in error.errors() for line in _describe(e)]) from None


def suggested(macros: Iterable[Macro], category: str | None) -> tuple[Macro, ...]:
    """Macros to offer on a ticket in ``category``: those made for it first, then those
    for every queue (no categories); each group in the given order."""
    macros = tuple(macros)
    own = tuple(m for m in macros if category is not None and category in m.categories)
    return own + tuple(m for m in macros if not m.categories)


class _MacroFile(_Strict):
    version: Literal[1] = 1
    macros: tuple[Macro, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> _MacroFile:
        first: dict[str, int] = {}
        problems = []
        for index, macro in enumerate(self.macros):
            if macro.id in first:
                problems.append(f"macro {macro.id!r} (macros[{index}]): id already used by macros[{first[macro.id]}]")
            first.setdefault(macro.id, index)
        if problems:
            raise ValueError("\n".join(problems))
        return self


_KNOWN_FIELDS = sorted({f for model in (_MacroFile, Macro, MacroActions) for f in model.model_fields})


def _describe(error: Any, raw: Any = None) -> list[str]:
    """One pydantic error as a macro author reads it: which macro, which field, what is wrong."""
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "macros" and isinstance(loc[1], int):
        entries = raw.get("macros") if isinstance(raw, dict) else None
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        name = entry.get("id") if isinstance(entry, dict) else None
        where = f"macro {name!r} (macros[{loc[1]}])" if isinstance(name, str) else f"macros[{loc[1]}]"
        loc = loc[2:]
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        name = str(loc.pop())
        message = f"unknown field {name!r}" + _did_you_mean(name, _KNOWN_FIELDS)
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a macro id (lowercase letters, digits and -, at most 63)"
    elif kind in ("literal_error", "string_type", "tuple_type"):
        message += f", got {error['input']!r}"
    path = ".".join(str(part) for part in loc)
    prefix = ": ".join(part for part in (where, path) if part)
    return [f"{prefix}: {line}" if prefix else line for line in message.splitlines()]
