"""A customer record's rules: identities as the channels write them, tiers, attributes and purchases.

Shared by the shop's import, the admin CLI and the API bodies, so a record is
valid or refused the same way wherever it comes from. Identities are
normalised to the exact keys the channel adapters write (lower-cased email
addresses, E.164 phones): the pipeline matches lookups by exact key, so an
identity spelled differently would never find its customer.

Plain Python and pydantic, no storage: the models keep ``defer_build=True``
because the API imports them at cold start and builds them on first use.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from chalicelib import clock
from chalicelib.domain.vocabulary import Language

__all__ = [
    "IMPORTABLE_KINDS", "MAX_ATTRIBUTES", "MAX_IDENTITIES", "MAX_PURCHASES",
    "AttributeChanges", "Attributes", "CustomerRecord", "Name", "PreferredLanguage", "Purchase", "Tier",
    "merge_purchases", "new_orders", "normalise_identity",
]

MAX_IDENTITIES = 20  # per imported record
MAX_ATTRIBUTES = 50
MAX_PURCHASES = 200  # kept per customer, newest first
# Bounds that keep a customer item under DynamoDB's 400 KB item limit even with
# 200 purchases and 50 attributes (about 250 KB at the worst).
_MAX_ORDER_ID = 64
_MAX_ITEMS_PER_PURCHASE = 10
_MAX_ITEM_CHARS = 100
_MAX_ATTRIBUTE_KEY = 64
_MAX_ATTRIBUTE_TEXT = 500
_MAX_NAME = 200
# The kinds the channel adapters produce (chalicelib/channels) that a shop can know:
# a web-chat session id is not something a shop's records hold.
IMPORTABLE_KINDS = ("email", "phone", "whatsapp", "messenger", "telegram", "slack")
_EMAIL = re.compile(r"^[^@\s\"<>,;()\[\]\\]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")  # ITU-T E.164: at most 15 digits, no leading zero
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_OPAQUE_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # platform ids: printable ASCII, no spaces
_TIER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def normalise_identity(key: str) -> str:
    """The identity key exactly as the channel adapters write it, or ValueError.

    The pipeline matches lookups by exact key: adapters lower-case email
    addresses and give phones as E.164, so an import must too or the
    customer's next message would not find the imported record.
    """
    kind, separator, value = key.partition(":")
    kind = kind.strip().lower()
    if not separator or kind not in IMPORTABLE_KINDS:
        raise ValueError(f"{key[:80]!r} is not <kind>:<value> with kind one of {', '.join(IMPORTABLE_KINDS)}")
    value = value.strip()
    if kind == "email":
        value = value.lower()
        if len(value) > 254 or not _EMAIL.match(value):
            raise ValueError(f"{key[:80]!r} is not a valid email address")
    elif kind == "phone":
        value = _PHONE_PUNCTUATION.sub("", value)
        if not _E164.match(value):
            raise ValueError(f"{key[:80]!r} is not an E.164 phone number (+ and country code, e.g. +4512345678)")
    elif not _OPAQUE_ID.match(value):
        raise ValueError(f"{key[:80]!r}: a {kind} id is 1-200 printable characters without spaces")
    return f"{kind}:{value}"


def _tier(value: str) -> str:
    slug = value.strip().lower()  # triage compares tiers case-insensitively; store one spelling
    if not _TIER.match(slug):
        raise ValueError("tier must be a slug: letters, digits, - or _, at most 32 characters")
    return slug


def _name(value: str) -> str:
    name = value.strip()
    if not name:
        raise ValueError("name must not be blank")
    return name


def _attribute_value(key: str, value: Any, *, allow_null: bool) -> None:
    if value is None and allow_null:
        return
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"attribute {key!r} must be a finite number")
        return
    if isinstance(value, str):
        if len(value) > _MAX_ATTRIBUTE_TEXT:
            raise ValueError(f"attribute {key!r} is longer than {_MAX_ATTRIBUTE_TEXT} characters")
        return
    kinds = "a string, number, boolean or null (to remove it)" if allow_null else "a string, number or boolean"
    raise ValueError(f"attribute {key!r} must be {kinds}, not {type(value).__name__}")


def _attributes(value: dict[str, Any], *, allow_null: bool = False) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    for key, item in value.items():
        if not 1 <= len(key) <= _MAX_ATTRIBUTE_KEY or not key.isprintable():
            raise ValueError(f"attribute name {key[:80]!r} must be 1-{_MAX_ATTRIBUTE_KEY} printable characters")
        _attribute_value(key, item, allow_null=allow_null)
    return value


Name = Annotated[str, Field(min_length=1, max_length=_MAX_NAME), AfterValidator(_name)]
Tier = Annotated[str, Field(max_length=64), AfterValidator(_tier)]
#: The language a customer asked to be answered in: one of ``vocabulary.LANGUAGES`` (the texts we have).
PreferredLanguage = Language
Attributes = Annotated[dict[str, Any], AfterValidator(_attributes)]
AttributeChanges = Annotated[dict[str, Any], AfterValidator(lambda value: _attributes(value, allow_null=True))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)  # built on first use: cold start


class Purchase(_Strict):
    """One order as the shop knows it; ``at`` is stored as a date or a UTC instant so lists sort by time."""

    order_id: str = Field(min_length=1, max_length=_MAX_ORDER_ID)
    at: str | None = Field(None, max_length=40)
    total: float | None = Field(None, allow_inf_nan=False)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    items: list[Annotated[str, Field(min_length=1, max_length=_MAX_ITEM_CHARS)]] = Field(
        default_factory=list, max_length=_MAX_ITEMS_PER_PURCHASE)

    @field_validator("at")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            if _DATE.match(value):
                return date.fromisoformat(value).isoformat()
            if _DATETIME.match(value):
                moment = datetime.fromisoformat(value)
                return clock.iso(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
        except ValueError:
            pass
        raise ValueError("must be an ISO 8601 date (2024-05-01) or date-time (2024-05-01T10:30:00Z)")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    def stored(self) -> dict[str, Any]:
        return self.model_dump()


class CustomerRecord(_Strict):
    """One record of the shop's customer file."""

    identities: list[Annotated[str, Field(max_length=300), AfterValidator(normalise_identity)]] = Field(
        min_length=1, max_length=MAX_IDENTITIES)
    name: Name | None = None
    tier: Tier | None = None
    language: PreferredLanguage | None = None
    attributes: Attributes | None = None
    purchases: list[Purchase] | None = Field(None, max_length=MAX_PURCHASES)

    @field_validator("identities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # "Ann@x" and "ann@x" are one identity once normalised


def merge_purchases(kept: list[dict[str, Any]], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Union by order_id (``incoming`` wins), newest first, the newest 200 kept.

    A deterministic order (time, then order id) makes a repeated import compare
    equal and write nothing.
    """
    by_order = {p["order_id"]: p for p in kept}
    by_order.update({p["order_id"]: p for p in incoming})
    ordered = sorted(by_order.values(), key=lambda p: (p.get("at") or "", p["order_id"]), reverse=True)
    return ordered[:MAX_PURCHASES]


def new_orders(kept: list[dict[str, Any]], merged: list[dict[str, Any]]) -> list[str]:
    """Order ids in ``merged`` that ``kept`` did not have: the orders a write must make findable (``order:`` lookups)."""
    known = {p["order_id"] for p in kept}
    return [p["order_id"] for p in merged if p["order_id"] not in known]
