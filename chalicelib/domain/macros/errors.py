"""The one error of the macros package, and the wording helper its messages share.

Every failure, at creation or rendering, is a ``MacroError`` whose message is safe to
show the agent (see the package docstring).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["MacroError"]


class MacroError(ValueError):
    """A macro cannot be created or rendered. ``str(error)`` is safe to show the agent
    (one problem per line); ``problems`` has the same lines as a tuple.

    A ``ValueError`` so that, raised inside the ``Macro`` model, pydantic reports it as a
    validation error of ``body`` alongside any other field's problem.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
