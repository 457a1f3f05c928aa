"""The checks a macro template passes before it is used: compiled only after a static
review (allowed constructs, known placeholders and fields, known filters), and rendered
once with ``EXAMPLE_CONTEXT`` when a macro is created.
"""
from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

from chalicelib.domain.macros.context import EXAMPLE_CONTEXT
from chalicelib.domain.macros.errors import MacroError, _did_you_mean
from chalicelib.domain.macros.limits import FILTERS, PLACEHOLDERS
from chalicelib.domain.macros.sandbox import _environment, _Refused, _render

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.nodes import Template as TemplateAst

__all__: list[str] = []  # internal to the package: _compile, _check_body


def _check_body(body: str) -> None:
    template = _compile(body)
    try:
        _render(template, EXAMPLE_CONTEXT.as_template_vars())
    except MacroError as error:
        raise MacroError([f"with example data: {p}" for p in error.problems]) from None


@functools.lru_cache(maxsize=256)
def _compile(body: str) -> Template:
    """The compiled template for ``body``, after every check; ``MacroError`` otherwise.
    Cached: the API renders the same few macros all day. A failure is not cached."""
    from jinja2.exceptions import TemplateSyntaxError

    env = _environment()
    try:
        ast = env.parse(body)
    except TemplateSyntaxError as error:
        raise MacroError(f"line {error.lineno}: {error.message or 'syntax error'}") from None
    except (RecursionError, MemoryError):
        raise MacroError("the template is nested too deeply") from None
    problems = _static_problems(ast)
    if problems:
        raise MacroError(problems)
    try:
        with warnings.catch_warnings():
            # Python warns when it compiles "0[0]" (Jinja emits slices as plain Python);
            # the template then fails at render with a MacroError, the warning is log noise.
            warnings.simplefilter("ignore", SyntaxWarning)
            return env.from_string(ast)
    except TemplateSyntaxError as error:  # also TemplateAssertionError: an unknown test, say
        raise MacroError(f"line {error.lineno}: {error.message or 'syntax error'}") from None
    except _Refused as error:  # a limit hit while the compiler folded constants
        raise MacroError(str(error)) from None
    except (RecursionError, MemoryError, SyntaxError):  # Python's own compiler on deep nesting
        raise MacroError("the template is nested too deeply") from None


_NOT_ALLOWED = {
    "Extends": "{% extends %} is not allowed: a macro is one self-contained text, there are no other templates",
    "Include": "{% include %} is not allowed: a macro is one self-contained text, there are no other templates",
    "Import": "{% import %} is not allowed: a macro is one self-contained text, there are no other templates",
    "FromImport": "{% from ... import %} is not allowed: a macro is one self-contained text, "
                  "there are no other templates",
    "For": "loops ({% for %}) are not supported in macros: every placeholder is a single value",
    "Macro": "{% macro %} is not supported inside a canned response",
    "CallBlock": "{% call %} is not supported inside a canned response",
    "Block": "{% block %} is not supported: there is no template to extend",
    "FilterBlock": "{% filter %} blocks are not supported; use a filter inside {{ }}, e.g. {{ customer.name|upper }}",
    "AssignBlock": "{% set %}...{% endset %} blocks are not supported; use {% set name = ... %}",
    "NSRef": "setting an attribute ({% set a.b = ... %}) is not supported",
    "ScopedEvalContextModifier": "{% autoescape %} is not supported: macros are plain text",
}

# Every other node type the parser can produce is refused: new Jinja syntax stays off
# until someone has thought about what it can do.
_ALLOWED = frozenset({
    "Template", "Output", "TemplateData", "Const", "Name", "Getattr", "Getitem", "Slice",
    "Tuple", "List", "Dict", "Pair", "Keyword", "CondExpr", "And", "Or", "Not", "Neg", "Pos",
    "Compare", "Operand", "Add", "Sub", "Mul", "Div", "FloorDiv", "Mod", "Pow", "Concat",
    "Filter", "Test", "Call", "If", "Assign", "With", "Scope",
})
_LITERAL = frozenset({"Const", "List", "Tuple", "Dict", "Pair", "Neg", "Pos"})


def _static_problems(ast: TemplateAst) -> list[str]:
    """What is wrong with a parsed template, one line per problem, in line order."""
    from jinja2 import meta, nodes
    from jinja2.exceptions import TemplateSyntaxError

    problems: list[tuple[int, str]] = []
    constructs_ok = True
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in ast.find_all(nodes.Node):
        kind, line = type(node).__name__, node.lineno or 1
        if kind in _NOT_ALLOWED:
            problems.append((line, _NOT_ALLOWED[kind]))
            constructs_ok = False
        elif kind not in _ALLOWED:
            problems.append((line, f"this construct ({kind}) is not supported in macros"))
            constructs_ok = False
        elif kind in ("List", "Dict") or (kind == "Tuple" and node.ctx == "load"):
            # A list holding a value, nested a few times, is a value a million times
            # larger than it looks; fixed lists such as ("Re:", "SV:") are all a reply needs.
            if any(type(inner).__name__ not in _LITERAL for inner in node.find_all(nodes.Node)):
                problems.append((line, "lists and dicts may only hold fixed values such as \"Re:\" or 1"))
        elif kind == "Filter" and node.name not in FILTERS:
            problems.append((line, f"unknown filter {node.name!r}{_did_you_mean(node.name, FILTERS)} "
                                   f"(available: {', '.join(FILTERS)})"))
        elif kind in ("Getattr", "Getitem"):
            attr = node.attr if kind == "Getattr" else getattr(node.arg, "value", None)
            if isinstance(attr, str) and attr.startswith("_"):
                problems.append((line, f"{attr!r} is not allowed: names starting with _ are internal"))
            elif isinstance(attr, str) and isinstance(node.node, nodes.Name) and node.node.name not in assigned:
                fields = PLACEHOLDERS.get(node.node.name)
                if fields and attr not in fields:
                    problems.append((line, f"{node.node.name} has no field {attr!r}{_did_you_mean(attr, fields)} "
                                           f"(fields: {', '.join(fields)})"))
    if constructs_ok:  # Jinja's name analysis assumes constructs it can compile
        try:
            # Names read before any {% set %}, wherever they are. 'self' (the template
            # reference) is special in Jinja and never reported, so it is added here.
            unknown = meta.find_undeclared_variables(ast) - set(PLACEHOLDERS)
        except TemplateSyntaxError as error:
            problems.append((error.lineno or 1, error.message or "syntax error"))
            unknown = set()
        unknown |= {"self"} & {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"} - assigned
        for name in unknown:
            problems.append((_first_line(ast, name), f"unknown placeholder {name!r}"
                             f"{_did_you_mean(name, PLACEHOLDERS)} (available: {', '.join(PLACEHOLDERS)})"))
    return list(dict.fromkeys(f"line {line}: {message}" for line, message in sorted(problems, key=lambda p: p[0])))


def _first_line(ast: TemplateAst, name: str) -> int:
    from jinja2 import nodes

    return min((n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"), default=1)
