"""Weighted header lists (RFC 9110 §12.4.2): ``Accept: text/html,*/*;q=0.8``, ``Accept-Language: da,en;q=0.5``.

What a public page needs to choose between its answers (HTML for a browser, JSON for
an API caller; the customer's language) without a web framework. Lenient, as a
recipient should be: a malformed weight counts as 0 (not acceptable), never as an error.
"""
from __future__ import annotations

__all__ = ["weights"]

_MAX_HEADER_CHARS = 1024  # the sender's to make long; the first few entries decide
_MAX_ENTRIES = 32


def weights(header: str | None) -> dict[str, float]:
    """Each listed value (lower-cased, parameters other than q dropped) → its weight 0–1; the highest if repeated."""
    found: dict[str, float] = {}
    for item in (header or "")[:_MAX_HEADER_CHARS].split(",")[:_MAX_ENTRIES]:
        value, _, params = item.partition(";")
        value = value.strip().lower()
        if value:
            found[value] = max(found.get(value, 0.0), _quality(params))
    return found


def _quality(params: str) -> float:
    """The ``q`` parameter (RFC 9110 §12.4.2: 0 to 1, at most three decimals); 1 when absent, 0 when malformed."""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0  # NaN fails both comparisons
    return 1.0
