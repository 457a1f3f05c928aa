"""Reading the desk's rule files (triage, routing, automation, macros, SLA policies): one way for all.

Each file is YAML validated by a pydantic model; a problem stops the load with a
message that names the file and, line by line, the rule and field at fault — a
bad file fails at deploy or test time, not at 3 a.m.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

M = TypeVar("M", bound=BaseModel)


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
