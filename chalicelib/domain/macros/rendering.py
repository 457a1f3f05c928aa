"""Rendering a macro for one ticket: ``render``."""
from __future__ import annotations

from chalicelib.domain.macros.checks import _compile
from chalicelib.domain.macros.context import MacroContext
from chalicelib.domain.macros.errors import MacroError
from chalicelib.domain.macros.limits import MAX_BODY
from chalicelib.domain.macros.model import Macro
from chalicelib.domain.macros.sandbox import _render

__all__ = ["render"]


def render(macro_or_body: Macro | str, context: MacroContext, language: str | None = None) -> str:
    """The reply text for one ticket, in ``language`` when the macro has that translation (the
    customer's: ``language.for_customer``). ``MacroError`` says why not (a bad template, output
    over ``MAX_OUTPUT``, a limit hit, or a calculation on a missing value)."""
    body = macro_or_body.body_in(language) if isinstance(macro_or_body, Macro) else macro_or_body
    if not isinstance(body, str):
        raise MacroError("a macro body must be text")
    if len(body) > MAX_BODY:
        raise MacroError(f"the template is longer than {MAX_BODY} characters")
    return _render(_compile(body), context.as_template_vars())
