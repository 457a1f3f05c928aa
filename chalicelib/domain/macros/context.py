"""The placeholder values a macro renders with: ``MacroContext`` and ``EXAMPLE_CONTEXT``.

Missing data renders as empty: each mapping holds only the fields that are known, so
an unknown value is undefined in the template (see the package docstring).
"""
from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.macros.limits import _MAX_VALUE, PLACEHOLDERS

__all__ = ["EXAMPLE_CONTEXT", "MacroContext"]


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
