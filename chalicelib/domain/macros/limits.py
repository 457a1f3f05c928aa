"""What a macro template may use, and how large things may get.

The placeholders and their fields, the filters and ``str`` methods a template may call,
and the size bounds the sandbox (``sandbox``) and the checks (``checks``) enforce.
"""
from __future__ import annotations

import types
from collections.abc import Mapping

__all__ = ["FILTERS", "MAX_BODY", "MAX_OUTPUT", "PLACEHOLDERS"]

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
