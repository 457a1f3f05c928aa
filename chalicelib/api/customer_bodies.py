"""The customer API's request bodies, validated with the domain's customer types (``customers_api``)."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.api.requests import Body
from chalicelib.domain import customers as customer_rules

MAX_IMPORT_RECORDS = 500  # per request: larger files go through `python -m chalicelib.admin import-customers`


class ImportBody(Body):
    # Records are validated one by one by the service, so one bad row is reported, not a 400 for the file.
    customers: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_IMPORT_RECORDS)


class CustomerPatch(Body):
    name: customer_rules.Name | None = None
    tier: customer_rules.Tier | None = None  # null removes the tier
    language: customer_rules.PreferredLanguage | None = None  # null removes it: detection decides again
    attributes: customer_rules.AttributeChanges | None = None  # merged into the stored ones; null values remove keys
    purchases_add: list[customer_rules.Purchase] = Field(default_factory=list, max_length=customer_rules.MAX_PURCHASES)


class MergeBody(Body):
    into: str = Field(pattern=r"^c-[0-9a-f]{20}$")
