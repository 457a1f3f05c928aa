"""Reading the desk's rule files (triage, routing, automation, macros, SLA policies): one way for all.

Each file is YAML validated by a pydantic model; a problem stops the load with a
message that names the file and, line by line, the rule and field at fault — a
bad file fails at deploy or test time, not at 3 a.m.
"""
from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)

#: Names in rule files — rules, queues, tags, policies (``describe`` words a mismatch as this).
NAME = r"^[a-z0-9][a-z0-9_.-]*$"


def checked_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """``tags`` if each is a name; ``ValueError`` naming the first that is not."""
    for tag in tags:
        if not re.match(NAME, tag):
            raise ValueError(f"{tag!r} is not a tag (lowercase letters, digits, _ . -)")
    return tags


class Strict(BaseModel):
    """Base of every rule-file model: unknown keys are errors, and so are empty ones.

    YAML reads ``any_words:`` with nothing after it as null; taken as "not set" that
    would silently drop a condition (or turn a filtered policy into a catch-all).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_empty_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            empty = [key for key, value in data.items() if value is None]
            if empty:
                raise ValueError(f"{', '.join(map(str, empty))} has no value (remove the key or give one)")
        return data


def read(path: str | Path, what: str, error: type[Exception]) -> str:
    """The file's text, or ``error`` saying it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"{path}: cannot read {what}: {problem}") from None


def load_yaml(text: str, source: str, error: type[Exception], *, top: str, loader: type | None = None) -> dict:
    """The YAML mapping in ``text``; ``top`` says what the mapping should hold, for the error."""
    import yaml  # only where rules are read, not on every cold start's import

    try:
        raw = yaml.load(text, Loader=loader or unique_key_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as problem:
        raise error(f"{source}: not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise error(f"{source}: expected a mapping with {top} at the top")
    return raw


def validate(model: type[M], raw: dict, source: str, what: str, error: type[Exception],
             describe: Callable[[Any, dict], str]) -> M:
    """``raw`` as ``model``, or ``error`` listing every problem, one line each, as ``describe`` words it."""
    try:
        return model.model_validate(raw)
    except ValidationError as problem:
        lines = [line for e in problem.errors() for line in describe(e, raw).splitlines()]
        raise error(f"{source}: {len(lines)} problem(s) in {what}:\n  - " + "\n  - ".join(lines)) from None


#: Error kinds whose message is clearer with the value the author wrote.
_SHOW_INPUT = ("literal_error", "string_type", "int_type", "bool_type", "greater_than_equal", "less_than_equal",
               "string_too_long", "string_too_short")


def describe(error: Any, raw: dict[str, Any], *, known_fields: Iterable[str], lists: Mapping[str, str] = {},  # noqa: B006
             maps: Mapping[str, str] = {}, refine: Callable[[Any, str], str] | None = None) -> str:  # noqa: B006
    """One pydantic error as a rule author reads it: which entry, which field, what is wrong.

    ``lists``: a top-level list → what one entry is called (``{"rules": "rule"}``), named by
    its ``name``; ``maps``: a top-level mapping → what one entry is called, named by its key.
    An unknown field suggests the closest of ``known_fields``; ``refine(error, message)``
    words a file's own traps (e.g. a trigger-only field in a timer).
    """
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] in lists and isinstance(loc[1], int):
        entries = raw.get(loc[0])
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"{lists[loc[0]]} {name!r} ({loc[0]}[{loc[1]}])" if name else f"{loc[0]}[{loc[1]}]"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] in maps:
        where = f"{maps[loc[0]]} {loc[1]!r}"
        loc = loc[2:]
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        field = str(loc.pop())
        close = difflib.get_close_matches(field, list(known_fields), n=1)
        message = f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "string_pattern_mismatch":
        message = f"{error['input']!r} is not a valid name (lowercase letters, digits, _ . -)"
    elif kind in _SHOW_INPUT:
        message += f", got {error['input']!r}"
        if kind == "string_type" and isinstance(error["input"], bool):
            message += " (YAML reads unquoted yes/no/on/off as true/false: quote it, e.g. \"no\")"
    if refine is not None:
        message = refine(error, message)
    # Literal[True] reports its own value as a "union" path step; it says nothing to an author.
    path = ".".join(str(part) for part in loc if not str(part).startswith(("literal[", "function-")))
    return ": ".join(part for part in (where, path, message) if part)


@functools.lru_cache(maxsize=1)
def unique_key_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys: PyYAML keeps the last one silently,
        so a rule with two ``when:`` blocks (or a queue listed twice) would lose one
        without a word."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            keys = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in keys:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                keys.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader
