"""The Jinja2 sandbox macros render in, and the bounds on what rendering may build.

Rendering runs in Jinja's ``ImmutableSandboxedEnvironment``, further narrowed here: a
short list of text filters, a short list of ``str`` methods, no globals, bounded ``*``,
``**``, ``+`` and ``~``, and at most ``MAX_OUTPUT`` characters of output. Jinja2 is
imported inside the functions that use it: it costs import time on a cold start.
"""
from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

from chalicelib.domain.macros.errors import MacroError
from chalicelib.domain.macros.limits import _MAX_INT_BITS, _STR_METHODS, FILTERS, MAX_OUTPUT

if TYPE_CHECKING:
    from jinja2 import Template

__all__: list[str] = []  # internal to the package: _environment, _render, _Refused


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
