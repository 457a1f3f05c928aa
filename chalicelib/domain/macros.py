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
"""
from __future__ import annotations

import difflib
import functools
import re
import types
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.domain import rule_files
from chalicelib.domain.vocabulary import Priority, SettableStatus

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.nodes import Template as TemplateAst

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

DEFAULT_MACROS_PATH = Path(__file__).resolve().parent.parent / "macros.yaml"

MAX_BODY = 20_000  # characters of template source
MAX_OUTPUT = 20_000  # characters of rendered text; also the cap on any value built while rendering
_MAX_VALUE = 1_000  # characters per context value (a 50 kB subject line must not make every macro fail)
_MAX_INT_BITS = 4_096  # ~1,200 digits: far beyond any order number, far below a slow big-int

# Placeholder → its fields (None: a single value). The ONLY names a template may use.
PLACEHOLDERS: Mapping[str, tuple[str, ...] | None] = types.MappingProxyType({
    "customer": ("name", "first_name", "email", "phone", "tier"),
    "ticket": ("number", "subject", "status", "priority", "category", "channel"),
    "agent": ("name", "first_name", "email"),
    "order_number": None,  # the customer's latest order id, as text
    "desk": ("name", "support_address"),
})

# Filters a template may use; all keep text about the size it was (no center/indent/
# wordwrap/format/join: each turns a short argument into megabytes).
FILTERS: tuple[str, ...] = (
    "capitalize", "count", "d", "default", "first", "float", "int", "last", "length",
    "lower", "replace", "string", "title", "trim", "truncate", "upper", "wordcount",
)

# str methods a template may call, e.g. {{ ticket.subject.removeprefix("Re: ") }}; none
# can make its result much longer than the text it is called on.
_STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "isalnum", "isalpha", "isdecimal",
    "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower", "lstrip",
    "partition", "removeprefix", "removesuffix", "rfind", "rpartition", "rsplit", "rstrip",
    "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
})

TicketStatus = SettableStatus

_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")  # as triage's queue names


class MacroError(ValueError):
    """A macro cannot be created or rendered. ``str(error)`` is safe to show the agent
    (one problem per line); ``problems`` has the same lines as a tuple.

    A ``ValueError`` so that, raised inside the ``Macro`` model, pydantic reports it as a
    validation error of ``body`` alongside any other field's problem.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------- render context


@dataclass(frozen=True)
class MacroContext:
    """What a macro may say about the ticket at hand, as the template sees it.

    Each mapping holds only the fields that are known; a missing field is undefined in
    the template and renders as "". Build one from plain values with ``build``.
    """

    customer: Mapping[str, Any] = field(default_factory=dict)
    ticket: Mapping[str, Any] = field(default_factory=dict)
    agent: Mapping[str, Any] = field(default_factory=dict)
    desk: Mapping[str, Any] = field(default_factory=dict)
    order_number: str | None = None

    def __post_init__(self) -> None:
        for name in ("customer", "ticket", "agent", "desk"):
            given = getattr(self, name)
            allowed = PLACEHOLDERS[name] or ()
            unknown = sorted(set(given) - set(allowed))
            if unknown:
                raise ValueError(f"{name} has no field(s) {', '.join(unknown)} (fields: {', '.join(allowed)})")
            values = {key: _clean(value) for key, value in given.items()}
            if name in ("customer", "agent") and values.get("name") and not values.get("first_name"):
                values["first_name"] = _first_name(values["name"])
            # Read-only copies: a caller's later change to its dict does not leak into
            # a context that may be cached or rendered twice.
            object.__setattr__(self, name, types.MappingProxyType(
                {key: value for key, value in values.items() if value is not None}))
        object.__setattr__(self, "order_number", _clean(self.order_number))

    @classmethod
    def build(
        cls,
        *,
        customer_name: str | None = None,
        customer_first_name: str | None = None,
        customer_email: str | None = None,
        customer_phone: str | None = None,
        customer_tier: str | None = None,
        ticket_number: int | str | None = None,
        ticket_subject: str | None = None,
        ticket_status: str | None = None,
        ticket_priority: str | None = None,
        ticket_category: str | None = None,
        ticket_channel: str | None = None,
        agent_name: str | None = None,
        agent_first_name: str | None = None,
        agent_email: str | None = None,
        order_number: str | int | None = None,
        desk_name: str | None = None,
        desk_support_address: str | None = None,
    ) -> MacroContext:
        """A context from plain values, as the API has them. None, "" and blanks mean
        unknown; the first names are derived from the names unless given."""
        return cls(
            customer={"name": customer_name, "first_name": customer_first_name, "email": customer_email,
                      "phone": customer_phone, "tier": customer_tier},
            ticket={"number": ticket_number, "subject": ticket_subject, "status": ticket_status,
                    "priority": ticket_priority, "category": ticket_category, "channel": ticket_channel},
            agent={"name": agent_name, "first_name": agent_first_name, "email": agent_email},
            desk={"name": desk_name, "support_address": desk_support_address},
            order_number=None if order_number is None else str(order_number),
        )

    def as_template_vars(self) -> dict[str, Any]:
        """The names a template sees; an unknown order number is left out (undefined)."""
        variables: dict[str, Any] = {
            name: dict(getattr(self, name)) for name in ("customer", "ticket", "agent", "desk")}
        if self.order_number is not None:
            variables["order_number"] = self.order_number
        return variables


def _clean(value: Any) -> Any:
    """Trimmed text, None for blank; ints (ticket numbers) as they are; long text cut."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = " ".join(str(value).split())
    if not text:
        return None
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "hr", "fru", "frk", "herr"})


def _first_name(name: str) -> str | None:
    """"Ann-Sofie Jensen" → "Ann-Sofie", "Jensen, Ann" → "Ann"; None when the name does not
    start with one ("Mr. Smith", an email address as display name) — a greeting then
    falls back to its default instead of "Dear Mr.," or "Hi ann@example.com,"."""
    if "@" in name:
        return None
    family, comma, given = name.partition(",")
    words = (given if comma and given.strip() else family).replace('"', " ").split()
    if not words or words[0].rstrip(".").casefold() in _HONORIFICS:
        return None
    return words[0].strip("'()[]<>") or None


# A complete context: every new macro is rendered with it once, so a template that can
# never render is refused when it is saved. Also good for a preview in the agent UI.
EXAMPLE_CONTEXT = MacroContext.build(
    customer_name="Ann Example", customer_email="ann@example.com", customer_phone="+45 12 34 56 78",
    customer_tier="vip", ticket_number=1042, ticket_subject="Where is my order?", ticket_status="open",
    ticket_priority="normal", ticket_category="logistics", ticket_channel="email", agent_name="Sam Agent",
    agent_email="sam@example.com", order_number="100234", desk_name="Relay Desk",
    desk_support_address="support@example.com",
)


# --------------------------------------------------------------------------- the macro model


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


def validate(macro: Macro) -> Macro:
    """Check ``macro``'s template again (``MacroError`` if bad) and return it.

    Constructing a Macro already does this; call it for one made with
    ``model_construct`` (e.g. read back from storage without validation) before use.
    """
    _check_body(macro.body)
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


# --------------------------------------------------------------------------- rendering


def render(macro_or_body: Macro | str, context: MacroContext) -> str:
    """The reply text for one ticket. ``MacroError`` says why not (a bad template, output
    over ``MAX_OUTPUT``, a limit hit, or a calculation on a missing value)."""
    body = macro_or_body.body if isinstance(macro_or_body, Macro) else macro_or_body
    if not isinstance(body, str):
        raise MacroError("a macro body must be text")
    if len(body) > MAX_BODY:
        raise MacroError(f"the template is longer than {MAX_BODY} characters")
    return _render(_compile(body), context.as_template_vars())


def _check_body(body: str) -> None:
    template = _compile(body)
    try:
        _render(template, EXAMPLE_CONTEXT.as_template_vars())
    except MacroError as error:
        raise MacroError([f"with example data: {p}" for p in error.problems]) from None


class _Refused(Exception):
    """A limit of ours was hit while rendering; the message is for the agent."""


def _render(template: Template, variables: dict[str, Any]) -> str:
    from jinja2.exceptions import SecurityError, TemplateError, UndefinedError

    pieces: list[str] = []
    size = 0
    try:
        # Streamed, so 5,000 copies of a 20,000-character value stop at MAX_OUTPUT
        # instead of being joined into 100 MB first.
        for piece in template.generate(variables):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise _Refused(f"the reply would be longer than {MAX_OUTPUT} characters")
            pieces.append(piece)
    except _Refused as error:
        reason = str(error)
    except SecurityError as error:
        # Our own SecurityErrors carry an agent-readable message; Jinja's may hold a repr.
        ours = getattr(error, "relay_reason", False)
        reason = str(error) if ours else "the template used something macros may not use"
    except UndefinedError:
        reason = ("a placeholder without a value was used in a calculation or comparison; "
                  "guard it with {% if ... %} or |default(...)")
    except ZeroDivisionError:
        reason = "division by zero"
    except OverflowError:
        reason = "a number got too large"
    except (RecursionError, MemoryError):
        reason = "the template is too complex to render"
    except TemplateError:
        reason = "the template failed while rendering"
    except Exception:  # noqa: BLE001 - agent-written code: any failure is the template's, not a 500
        reason = ("the template failed while rendering (for example text added to a number, "
                  "or a text method given an argument it cannot use)")
    else:
        return "".join(pieces)
    raise MacroError(f"cannot render: {reason}")


# --------------------------------------------------------------------------- template checks


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


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- the sandbox


def _weight(value: Any, budget: int = MAX_OUTPUT) -> int:
    """Roughly how many characters ``value`` prints as; stops counting past ``budget``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if not isinstance(value, (list, tuple, set, frozenset, dict)):
        return 8
    total, stack = 0, [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, dict):
            total += 2 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 * len(item) + 2
            stack.extend(item)
        else:
            total += _weight(item)
    return total


def _bounded(value: Any, what: str) -> Any:
    if _weight(value) > MAX_OUTPUT:
        raise _Refused(f"{what} would be longer than {MAX_OUTPUT} characters")
    return value


def _finalize(value: Any) -> Any:
    """Every {{ }} value passes here: None prints as "", nothing prints past the bound."""
    return "" if value is None else _bounded(value, "a value")


def _guard_filter(name: str, function: Any) -> Any:
    @functools.wraps(function)  # keeps Jinja's pass_environment marker (wraps copies __dict__)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(function(*args, **kwargs), f"the result of |{name}")

    return guarded


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    """|replace, sized before it runs: "xxxx"|replace("x", <a long text>) multiplies."""
    from jinja2.runtime import Undefined

    text, old, new = ("" if isinstance(v, Undefined) or v is None else str(v) for v in (value, old, new))
    hits = text.count(old) if count is None or count < 0 else min(count, text.count(old))
    if len(text) + hits * max(len(new) - len(old), 0) > MAX_OUTPUT:
        raise _Refused(f"the result of |replace would be longer than {MAX_OUTPUT} characters")
    return text.replace(old, new, -1 if count is None else count)


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """The one Jinja environment for macros (built on first use: Jinja costs import time)."""
    from jinja2 import ChainableUndefined
    from jinja2.compiler import CodeGenerator, optimizeconst
    from jinja2.defaults import DEFAULT_FILTERS
    from jinja2.exceptions import SecurityError
    from jinja2.runtime import Undefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def refuse(reason: str) -> SecurityError:
        error = SecurityError(reason)
        error.relay_reason = True  # type: ignore[attr-defined]  (agent-readable, see _render)
        return error

    class Blank(ChainableUndefined):
        """Missing data: prints "", chains, and calling it (``.upper()``) gives itself."""

        __slots__ = ()

        def __call__(self, *args: Any, **kwargs: Any) -> Blank:
            return self

    class Generator(CodeGenerator):
        @optimizeconst
        def visit_Concat(self, node: Any, frame: Any) -> None:
            # `~` is not an interceptable operator; route it through the environment so
            # `{% set s = s ~ s %}` repeated stops at MAX_OUTPUT instead of doubling to GBs.
            self.write("environment.bounded_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class MacroEnvironment(ImmutableSandboxedEnvironment):
        code_generator_class = Generator
        # Intercepted operators are also never folded at compile time, so `'x' * 10**9`
        # is not even computed by the compiler.
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                times, seq = (left, right) if isinstance(left, int) else (right, left)
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    if _weight(seq) * max(times, 0) > MAX_OUTPUT:
                        raise _Refused(f"repeating text with * would make more than {MAX_OUTPUT} characters")
                elif isinstance(left, int) and isinstance(right, int) \
                        and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                    raise _Refused("a number got too large")
            elif operator == "**":
                if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0 \
                        and left.bit_length() * right > _MAX_INT_BITS:
                    raise _Refused("a number got too large")
            elif operator == "+":
                if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) \
                        and _weight(left) + _weight(right) > MAX_OUTPUT:
                    raise _Refused(f"joining text with + would make more than {MAX_OUTPUT} characters")
            elif operator == "%" and isinstance(left, str):
                # '%999999999d' % 1 is a gigabyte; ~ joins text without that risk.
                raise refuse("formatting text with % is not supported in macros; join text with ~")
            return self.binop_table[operator](left, right)

        def bounded_concat(self, parts: tuple[Any, ...]) -> str:
            total = 0
            for part in parts:
                total += _weight(part)
                if total > MAX_OUTPUT:
                    raise _Refused(f"joining text with ~ would make more than {MAX_OUTPUT} characters")
            return "".join("" if part is None else str(part) for part in parts)

        def is_safe_callable(self, obj: Any) -> bool:
            if isinstance(obj, Undefined):
                return True
            return (isinstance(obj, types.BuiltinMethodType) and isinstance(obj.__self__, str)
                    and obj.__name__ in _STR_METHODS)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805,B902
            if not __self.is_safe_callable(__obj):
                name = getattr(__obj, "__name__", None)
                what = f"{name!r}" if isinstance(name, str) and name.isidentifier() else "this"
                raise refuse(f"calling {what} is not allowed in macros; only text methods such as "
                             ".upper(), .strip() or .removeprefix() may be called")
            return _bounded(__context.call(__obj, *args, **kwargs), "the result of a call")

        def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
            # The stock sandbox returns an Undefined that prints as "" — a probe such as
            # {{ ''.__class__ }} would pass unnoticed. Refuse it loudly instead.
            raise refuse(f"{attribute!r} is not allowed in macros")

    env = MacroEnvironment(
        autoescape=False,  # plain text for email and chat
        undefined=Blank,
        finalize=_finalize,
        trim_blocks=True,  # a line holding only {% if %} leaves no blank line
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        cache_size=0,  # _compile caches; Jinja's cache is for loaders, and there is none
    )
    env.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict
    env.filters = {name: _guard_filter(name, DEFAULT_FILTERS[name]) for name in FILTERS if name != "replace"}
    env.filters["replace"] = _replace
    return env


# --------------------------------------------------------------------------- loading


def load_macros(path: str | Path) -> tuple[Macro, ...]:
    """Read and validate a macro file; ``MacroError`` says what is wrong and where."""
    return parse_macros(rule_files.read(path, "macros", MacroError), source=str(path))


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
