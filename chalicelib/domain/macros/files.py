"""Loading macro files: the bundled starter set (``DEFAULT_MACROS_PATH``) or a
deployment's own, as YAML (``version: 1`` and a ``macros`` list)."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from chalicelib.domain import rule_files
from chalicelib.domain.macros.errors import MacroError
from chalicelib.domain.macros.model import Macro, _describe, _MacroFile

__all__ = ["DEFAULT_MACROS_PATH", "load_macros", "parse_macros"]

DEFAULT_MACROS_PATH = Path(__file__).resolve().parent.parent.parent / "macros.yaml"


def load_macros(path: str | Path) -> tuple[Macro, ...]:
    """Read and validate a macro file; ``MacroError`` says what is wrong and where."""
    return parse_macros(rule_files.read(path, "macros", MacroError), source=str(path))


def parse_macros(text: str, source: str = "<macros>") -> tuple[Macro, ...]:
    """Validate macro-file text (YAML: ``version: 1`` and a ``macros`` list); ``source``
    names it in error messages."""
    raw = rule_files.load_yaml(text, source, MacroError, top="a 'macros' list")
    try:
        return _MacroFile.model_validate(raw).macros
    except ValidationError as error:
        problems = [line for e in error.errors() for line in _describe(e, raw)]
        heading = f"{source}: {len(problems)} problem(s) in macros:"
        raise MacroError([heading] + [f"  - {p}" for p in problems]) from None
