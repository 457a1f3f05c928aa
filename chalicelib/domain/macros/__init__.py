"""Macros: an agent's canned responses, with the ticket changes that usually go with them.

A macro is a Jinja2 template for the reply text plus optional actions (status,
priority, tags). The bundled starter set is data (``chalicelib/macros.yaml``, or the
file named by env ``MACROS_FILE``), validated with pydantic when loaded; agents' own
macros come through the API (``macro_from_dict``) and are validated the same way.
A ``Macro`` cannot exist with a bad template: the check runs inside the model.

Templates are written by agents, not by us, so they are treated as untrusted code:

* only the placeholders in ``PLACEHOLDERS`` may be used (``customer``, ``ticket``,
  ``agent``, ``order_number``, ``desk``), and only their listed fields; a typo such as
  ``{{ custmer.name }}`` or ``{{ customer.nmae }}`` is refused when the macro is saved,
  with the line, instead of rendering as an empty gap in front of a customer;
* no ``{% include %}``, ``{% import %}``, ``{% extends %}`` (there are no other
  templates), no ``{% for %}`` and no ``{% macro %}``: placeholders are single values,
  and loops and recursion are how a template burns CPU or memory;
* rendering runs in Jinja's ``ImmutableSandboxedEnvironment`` (no ``_``-attributes, no
  mutation), further narrowed here: a short list of text filters, a short list of
  ``str`` methods, no globals (``range``, ``lipsum``, ``cycler``, ``namespace`` are
  gone), and bounded ``*``, ``**``, ``+``, ``~`` — the stock sandbox computes
  ``'x' * 10**9`` and ``{% set s = s ~ s %}`` doubling without complaint;
* the rendered text is at most ``MAX_OUTPUT`` characters;
* when a macro is created it is also rendered once with ``EXAMPLE_CONTEXT``, so a
  template that always fails (``{{ 1 / 0 }}``, ``{{ 'x' * 10**9 }}``) is refused then.

Missing data renders as empty, never as an error or as "None": a context value that is
unknown (a customer without a name, a ticket without an order) is *undefined* in the
template, and undefined values here print as "", chain (``customer.name.upper()`` is ""),
are false in ``{% if %}`` and are replaced by ``|default("there")``. Arithmetic on a
missing value still fails (``MacroError``). Output is plain text (no HTML escaping):
it goes into email and chat bodies, and the email sender escapes when it builds HTML.

Every failure, at creation or rendering, is a ``MacroError`` (a ``ValueError``) whose
message is safe to show the agent: it names the line and the placeholder or construct,
never a Python type, address or stack trace. The HTTP edge maps it to 400.

The package, one job a module: ``model`` (the ``Macro`` model and its validation),
``checks`` (the static template checks), ``sandbox`` (the Jinja2 environment and the
output bounds), ``context`` (``MacroContext``, the placeholder values), ``rendering``
(``render``), ``files`` (loading macro files), ``limits`` (placeholders, filters, sizes)
and ``errors`` (``MacroError``). Import from ``chalicelib.domain.macros``.
"""
from __future__ import annotations

from chalicelib.domain.macros.context import EXAMPLE_CONTEXT, MacroContext
from chalicelib.domain.macros.errors import MacroError
from chalicelib.domain.macros.files import DEFAULT_MACROS_PATH, load_macros, parse_macros
from chalicelib.domain.macros.limits import FILTERS, MAX_BODY, MAX_OUTPUT, PLACEHOLDERS
from chalicelib.domain.macros.model import (
    _CATEGORY,  # noqa: F401 - api/openapi.py documents the pattern it checks
    _TAG,  # noqa: F401 - api/openapi.py documents the pattern it checks
    Macro,
    MacroActions,
    TicketStatus,
    macro_from_dict,
    suggested,
    validate,
)
from chalicelib.domain.macros.rendering import render

__all__ = [
    "DEFAULT_MACROS_PATH",
    "EXAMPLE_CONTEXT",
    "FILTERS",
    "MAX_BODY",
    "MAX_OUTPUT",
    "PLACEHOLDERS",
    "Macro",
    "MacroActions",
    "MacroContext",
    "MacroError",
    "TicketStatus",
    "load_macros",
    "macro_from_dict",
    "parse_macros",
    "render",
    "suggested",
    "validate",
]
