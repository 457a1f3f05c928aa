"""Customers: the shop's import, merging duplicates, and the context an agent reads.

The pipeline finds a customer through identity lookups (``id:<kind>:<value>`` →
``customer_id``), so everything here keeps those lookups right: an import claims
only identities nobody owns, a merge moves the merged-away customer's lookups
to the survivor (or its next message would open a ticket on the old customer),
and the customer's ``tier`` is copied onto every lookup so triage and automation
read it with the lookups they already fetch.

Every read and write goes through ``chalicelib.storage.customers`` (and
``storage.tickets`` for the customer's tickets): this module says what changes,
storage builds the conditional writes. The API imports this module at cold start
for its validation types; the storage modules imported here keep PynamoDB out of
their module-level imports, and the repository and ticket changes (which import
it) are imported inside the functions that use them.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib import clock
from chalicelib.domain import ids
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.storage import customers as stored_customers
from chalicelib.storage import tickets as stored_tickets
from chalicelib.storage.exceptions import ConditionFailed

if TYPE_CHECKING:
    from chalicelib.service.changes import Actor

__all__ = [
    "IMPORTABLE_KINDS", "MAX_ATTRIBUTES", "MAX_IDENTITIES", "MAX_PURCHASES", "UNSET",
    "Attributes", "AttributeChanges", "CustomerRecord", "ImportResult", "InvalidMerge", "MergeConflict",
    "MergeResult", "Name", "Purchase", "RecordOutcome", "Tier", "UnknownCustomer",
    "customer_context", "import_customers", "merge_customers", "normalise_identity", "update_customer",
]

MAX_IDENTITIES = 20  # per imported record
MAX_ATTRIBUTES = 50
MAX_PURCHASES = 200  # kept per customer, newest first
PURCHASES_SHOWN = 20
PAST_TICKETS_SHOWN = 10
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
_BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem limit: one call per import chunk
_TICKET_RETRIES = 3
_CUSTOMER_ID = re.compile(r"^c-[0-9a-f]{20}$")
_EMAIL = re.compile(r"^[^@\s\"<>,;()\[\]\\]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")  # ITU-T E.164: at most 15 digits, no leading zero
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_OPAQUE_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # platform ids: printable ASCII, no spaces
_TIER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
UNSET: Any = object()  # "leave the tier alone" (None removes it)


# --- errors: each is also the HTTP refusal the API answers with ----------------------------------


class UnknownCustomer(NotFound):
    """No customer has this id."""


class InvalidMerge(BadRequest):
    """The merge asked for makes no sense (a customer into itself)."""


class MergeConflict(Conflict):
    """The merge cannot apply now: one side was already merged elsewhere, or changed meanwhile."""


class CustomerConflict(Conflict):
    """The customer was merged away or changed during the write; change the survivor or retry."""


# --- validation: shared by the import, the CLI and the API bodies ---------------------------------


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
    attributes: Attributes | None = None
    purchases: list[Purchase] | None = Field(None, max_length=MAX_PURCHASES)

    @field_validator("identities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # "Ann@x" and "ann@x" are one identity once normalised


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordOutcome:
    index: int  # the record's position in the input, from 0
    status: str  # created | updated | unchanged | conflict | invalid
    customer_id: str | None = None
    reason: str | None = None


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    invalid: int = 0
    records: list[RecordOutcome] = field(default_factory=list)

    def add(self, outcome: RecordOutcome) -> None:
        counter = {"conflict": "conflicts"}.get(outcome.status, outcome.status)
        setattr(self, counter, getattr(self, counter) + 1)
        self.records.append(outcome)

    @property
    def ok(self) -> bool:
        return not (self.conflicts or self.invalid)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "conflicts": self.conflicts, "invalid": self.invalid,
            "records": [asdict(r) for r in sorted(self.records, key=lambda r: r.index)],
        }


@dataclass(frozen=True)
class MergeResult:
    source_id: str
    target_id: str
    identities_moved: int
    tickets_moved: int
    repeated: bool  # the source was already merged into the target: this call only finished the moves
    identities_skipped: tuple[str, ...] = ()  # lookups another customer owns: never taken over

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identities_skipped": list(self.identities_skipped)}


# --- import -------------------------------------------------------------------------------------


@dataclass
class _Customer:
    """What the import and merge compare against: a customer as stored, or about to be."""

    customer_id: str
    exists: bool = False
    name: str | None = None
    tier: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    purchases: list[dict[str, Any]] = field(default_factory=list)
    identities: set[str] = field(default_factory=set)
    merged_into: str | None = None

    @classmethod
    def of(cls, model: Any) -> _Customer:
        return cls(model.customer_id, True, model.name, model.tier, dict(model.attributes or {}),
                   list(model.purchases or []), set(model.identities or ()), model.merged_into)


def import_customers(records: Sequence[Any]) -> ImportResult:
    """Create or update customers by identity; a record's problem is reported for that record only.

    Idempotent: the same records imported again write nothing and come back
    ``unchanged``. Records whose identities belong to two different customers
    are refused (merging is an agent's decision, not an import side effect).
    """
    result = ImportResult()
    valid: list[tuple[int, CustomerRecord]] = []
    for index, raw in enumerate(records):
        try:
            valid.append((index, CustomerRecord.model_validate(raw)))
        except ValidationError as err:
            result.add(RecordOutcome(index, "invalid", reason=_describe(err)))
    for chunk in _chunks(valid):
        _import_chunk(chunk, result)
    result.records.sort(key=lambda r: r.index)
    return result


def _chunks(records: list[tuple[int, CustomerRecord]]) -> Iterator[list[tuple[int, CustomerRecord]]]:
    """Groups whose identity lookups fit one BatchGetItem (100 keys)."""
    chunk: list[tuple[int, CustomerRecord]] = []
    size = 0
    for index, record in records:
        if chunk and size + len(record.identities) > _BATCH_GET_KEYS:
            yield chunk
            chunk, size = [], 0
        chunk.append((index, record))
        size += len(record.identities)
    if chunk:
        yield chunk


def _import_chunk(chunk: list[tuple[int, CustomerRecord]], result: ImportResult) -> None:
    lookups = stored_customers.identity_lookups(i for _, record in chunk for i in record.identities)
    owners = {identity: lookup.customer_id for identity, lookup in lookups.items() if lookup.customer_id}
    tiers = {identity: lookup.tier for identity, lookup in lookups.items()}
    candidates = set(owners.values()) | {ids.customer_id_for(record.identities[0]) for _, record in chunk}
    customers = _load_customers(candidates)
    for index, record in chunk:
        result.add(_import_record(index, record, owners, tiers, customers))


def _import_record(index: int, record: CustomerRecord, owners: dict[str, str], tiers: dict[str, str | None],
                   customers: dict[str, _Customer]) -> RecordOutcome:
    found = {identity: _surviving(owners[identity], customers) for identity in record.identities if identity in owners}
    if any(survivor is None for survivor in found.values()):
        return RecordOutcome(index, "conflict", reason="an identity points at a chain of merged customers; "
                                                       "fix the merge first")
    distinct = sorted(set(found.values()))
    if len(distinct) > 1:
        who = ", ".join(f"{identity} → {customer_id}" for identity, customer_id in sorted(found.items()))
        return RecordOutcome(index, "conflict", reason=f"identities belong to different customers ({who}); "
                                                       f"merge them first (POST /customers/{{id}}/merge)")
    customer_id = distinct[0] if distinct else _surviving(ids.customer_id_for(record.identities[0]), customers)
    if customer_id is None:
        return RecordOutcome(index, "conflict", reason="the customer was merged into a merged customer; "
                                                       "fix the merge first")
    before = customers.get(customer_id) or _Customer(customer_id)
    after = _Customer(
        customer_id, True,
        name=record.name if record.name is not None else before.name,
        tier=record.tier if record.tier is not None else before.tier,
        attributes={**before.attributes, **(record.attributes or {})},
        purchases=_merge_purchases(before.purchases, [p.stored() for p in record.purchases or []]),
        identities=before.identities | set(record.identities),
    )
    if len(after.attributes) > MAX_ATTRIBUTES:
        return RecordOutcome(index, "invalid", customer_id,
                             f"the customer would have {len(after.attributes)} attributes; at most {MAX_ATTRIBUTES}")

    update = _customer_update(before, after)
    lookups: list[stored_customers.IdentityUpdate] = []
    identities = list(record.identities)
    if after.tier != before.tier:  # every lookup of the customer carries its tier, not only this record's
        identities += sorted(before.identities - set(identities))
        _learn_lookups(before.identities - set(owners) - set(tiers), owners, tiers)
    for identity in identities:
        owner = owners.get(identity)
        if owner not in (None, customer_id) and identity not in record.identities:
            continue  # only this record's identities may be taken over from a merged-away owner
        # Written only if the lookup is still as read: an identity is never taken from a customer that claimed it.
        change = stored_customers.IdentityUpdate(
            identity, expected_owner=owner, new_owner=customer_id if owner != customer_id else None,
            tier=after.tier if (tiers.get(identity) or None) != after.tier else stored_customers.KEEP)
        if change:
            lookups.append(change)
    if not update and not lookups:
        return RecordOutcome(index, "unchanged", customer_id)
    try:
        stored_customers.save_customer(update, lookups, at=clock.iso(clock.now()))
    except ConditionFailed:
        return RecordOutcome(index, "conflict", customer_id,
                             "the customer or one of its identities changed during the import; import this record again")
    for identity in identities:
        if owners.get(identity) in (None, customer_id) or identity in record.identities:
            owners[identity], tiers[identity] = customer_id, after.tier
    customers[customer_id] = after
    return RecordOutcome(index, "updated" if before.exists else "created", customer_id)


def _learn_lookups(identities: Iterable[str], owners: dict[str, str], tiers: dict[str, str | None]) -> None:
    for identity, lookup in stored_customers.identity_lookups(sorted(identities)).items():
        if lookup.customer_id:
            owners[identity] = lookup.customer_id
        tiers[identity] = lookup.tier


def _customer_update(before: _Customer, after: _Customer) -> stored_customers.CustomerUpdate:
    values: dict[str, Any] = {}
    if after.name != before.name and after.name is not None:
        values["name"] = after.name
    if after.tier != before.tier:
        values["tier"] = after.tier or None  # None removes it
    if after.attributes != before.attributes:
        values["attributes"] = after.attributes
    if after.purchases != before.purchases:
        values["purchases"] = after.purchases
    return stored_customers.CustomerUpdate(after.customer_id, values,
                                           add_identities=frozenset(after.identities - before.identities))


def _merge_purchases(kept: list[dict[str, Any]], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Union by order_id (``incoming`` wins), newest first, the newest 200 kept.

    A deterministic order (time, then order id) makes a repeated import compare
    equal and write nothing.
    """
    by_order = {p["order_id"]: p for p in kept}
    by_order.update({p["order_id"]: p for p in incoming})
    ordered = sorted(by_order.values(), key=lambda p: (p.get("at") or "", p["order_id"]), reverse=True)
    return ordered[:MAX_PURCHASES]


def _describe(err: ValidationError) -> str:
    problems = []
    for error in err.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "record"
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


# --- shared storage helpers --------------------------------------------------------------------


def _load_customers(customer_ids: Iterable[str]) -> dict[str, _Customer]:
    return {customer_id: _Customer.of(customer)
            for customer_id, customer in stored_customers.customers_by_ids(customer_ids).items()}


def _surviving(customer_id: str, known: dict[str, _Customer]) -> str | None:
    """Follow ``merged_into`` one hop (merges refuse chains); None for a chain left by a race."""
    customer = known.get(customer_id)
    if customer is None or not customer.merged_into:
        return customer_id
    survivor = customer.merged_into
    if survivor not in known:
        known.update(_load_customers([survivor]))
    if survivor in known and known[survivor].merged_into:
        return None
    return survivor


def _get(customer_id: str) -> Any:
    customer = stored_customers.get_customer(customer_id, consistent=True) if _CUSTOMER_ID.match(
        customer_id or "") else None
    if customer is None:
        raise UnknownCustomer(f"no customer {customer_id!r}")
    return customer


# --- update (PATCH) -----------------------------------------------------------------------------


def update_customer(customer_id: str, *, name: str | None = None, tier: str | None | Any = UNSET,
                    attributes: dict[str, Any] | None = None,
                    purchases_add: Sequence[Purchase] = ()) -> dict[str, Any]:
    """An admin's edit; returns the customer's context. ``None`` attribute values remove the attribute.

    A tier change is written to the customer and to every identity lookup it
    owns in one transaction, so triage never sees the old tier on one channel
    and the new one on another.
    """
    model = _get(customer_id)
    if model.merged_into:
        raise CustomerConflict(f"customer {customer_id} was merged into {model.merged_into}; change that one")
    before = _Customer.of(model)
    merged_attributes = {**before.attributes, **(attributes or {})}
    after = _Customer(
        customer_id, True,
        name=name if name is not None else before.name,
        tier=before.tier if tier is UNSET else tier,
        attributes={k: v for k, v in merged_attributes.items() if v is not None},
        purchases=_merge_purchases(before.purchases, [p.stored() for p in purchases_add]),
        identities=before.identities,
    )
    if len(after.attributes) > MAX_ATTRIBUTES:
        raise BadRequest(f"the customer would have {len(after.attributes)} attributes; at most {MAX_ATTRIBUTES}")
    update = _customer_update(before, after)
    if not update:
        return customer_context(customer_id)
    lookups: list[stored_customers.IdentityUpdate] = []
    if after.tier != before.tier:
        owned = stored_customers.identity_lookups(sorted(before.identities))
        lookups = [stored_customers.IdentityUpdate(identity, expected_owner=customer_id, tier=after.tier)
                   for identity, lookup in sorted(owned.items()) if lookup.customer_id == customer_id]
    try:
        stored_customers.save_customer(update, lookups, at=clock.iso(clock.now()))
    except ConditionFailed:
        raise CustomerConflict("the customer changed (or was merged) meanwhile; GET it again and retry") from None
    return customer_context(customer_id)


# --- merge --------------------------------------------------------------------------------------


def merge_customers(source_id: str, target_id: str, actor: Actor) -> MergeResult:
    """Fold ``source`` into ``target``: one customer with both histories, and new messages find the survivor.

    Crash-safe and idempotent: the customers' union and the source's
    ``merged_into`` are written in one transaction (so ``ticket_count`` is added
    once); the lookups and tickets are moved after it, by steps that skip what
    is already moved, so repeating the call finishes an interrupted merge.
    """
    if source_id == target_id:
        raise InvalidMerge("a customer cannot be merged into itself")
    source, target = _get(source_id), _get(target_id)
    if target.merged_into:
        raise MergeConflict(f"customer {target_id} was itself merged into {target.merged_into}; merge into that one")
    repeated = bool(source.merged_into)
    if source.merged_into and source.merged_into != target_id:
        raise MergeConflict(f"customer {source_id} was already merged into {source.merged_into}")
    if not repeated:
        try:
            stored_customers.merge_customers(source_id, _union(source, target))
        except ConditionFailed:
            raise MergeConflict("one of the customers changed or was merged meanwhile; try again") from None
        target = _get(target_id)
    moved, skipped = _move_identities(source, target)
    tickets = _move_tickets(source_id, target_id, actor)
    return MergeResult(source_id, target_id, moved, tickets, repeated, tuple(skipped))


def _union(source: Any, target: Any) -> stored_customers.CustomerUpdate:
    """The target's update: the union of both customers, the target's values winning."""
    values: dict[str, Any] = {}
    purchases = _merge_purchases(list(source.purchases or []), list(target.purchases or []))
    if purchases != list(target.purchases or []):
        values["purchases"] = purchases
    attributes = dict(target.attributes or {})
    for key, value in (source.attributes or {}).items():  # target wins; the item stays within its bounds
        if key not in attributes and len(attributes) < MAX_ATTRIBUTES:
            attributes[key] = value
    if attributes != dict(target.attributes or {}):
        values["attributes"] = attributes
    if source.name and not target.name:
        values["name"] = source.name
    if source.tier and not target.tier:
        values["tier"] = source.tier
    if source.first_seen_at and (not target.first_seen_at or source.first_seen_at < target.first_seen_at):
        values["first_seen_at"] = source.first_seen_at
    if source.last_seen_at and (not target.last_seen_at or source.last_seen_at > target.last_seen_at):
        values["last_seen_at"] = source.last_seen_at
    if source.last_inquiry is not None and (
            target.last_inquiry is None or source.last_inquiry.at > target.last_inquiry.at):
        values["last_inquiry"] = source.last_inquiry
    return stored_customers.CustomerUpdate(target.customer_id, values,
                                           add_identities=frozenset(source.identities or ()),
                                           add_tickets=int(source.ticket_count or 0))


def _move_identities(source: Any, target: Any) -> tuple[int, list[str]]:
    """Point the source's lookups at the target, and give every lookup of the survivor its tier.

    Each lookup is conditioned on the owner read, so an identity another
    customer owns is reported, never taken.
    """
    mine = set(source.identities or ())
    everyone = sorted(mine | set(target.identities or ()))
    lookups = stored_customers.identity_lookups(everyone)
    moved, skipped = 0, []
    for identity in everyone:
        lookup = lookups.get(identity)
        owner = lookup.customer_id if lookup is not None else None
        if owner not in (None, source.customer_id, target.customer_id):
            skipped.append(identity)
            continue
        if owner is None and identity not in mine and lookup is None:
            continue  # a target identity without a lookup: nothing to correct
        change = stored_customers.IdentityUpdate(
            identity, expected_owner=owner, new_owner=target.customer_id if owner != target.customer_id else None,
            tier=target.tier if (lookup.tier if lookup is not None else None) != target.tier else stored_customers.KEEP)
        if not change:
            continue
        try:
            stored_customers.move_identity(change, at=clock.iso(clock.now()))
        except ConditionFailed:
            skipped.append(identity)  # claimed meanwhile; a repeated merge looks again
            continue
        moved += int(owner != target.customer_id)
    missing = mine - set(target.identities or ()) - set(skipped)
    if missing:  # identities the source gained after the union was written (a message raced the merge)
        stored_customers.add_identities(target.customer_id, missing)
    return moved, skipped


def _move_tickets(source_id: str, target_id: str, actor: Actor) -> int:
    """Every ticket of the source onto the target, each with its audit entry, through ``changes.apply``."""
    ticket_ids = stored_tickets.customer_ticket_ids(source_id)
    return sum(_repoint(ticket_id, source_id, target_id, actor) for ticket_id in ticket_ids)


def _repoint(ticket_id: str, source_id: str, target_id: str, actor: Actor) -> int:
    from chalicelib.service import changes
    from chalicelib.storage import repository

    for _ in range(_TICKET_RETRIES):
        ticket = repository.get_ticket(ticket_id)  # the index may lag: the ticket itself says where it is
        if ticket is None or ticket.customer_id != source_id:
            return 0
        try:
            changes.apply(ticket, changes.TicketChange(sets={"customer_id": target_id}), actor,
                          action="customer_merged", detail=f"customer merged: {source_id} → {target_id}")
            return 1
        except changes.Conflict:
            continue
    raise MergeConflict(f"ticket {ticket_id} kept changing; merge again to finish moving the tickets")


# --- context ------------------------------------------------------------------------------------


def customer_context(customer_id: str) -> dict[str, Any]:
    """Everything an agent needs about a customer, for the surviving customer of a merge.

    ``redirected_from`` names the id asked for when it was merged away, so a
    client holding an old id learns the new one.
    """
    customer = _get(customer_id)
    redirected_from = None
    for _ in range(3):  # merges refuse chains; a bound keeps a raced one from looping
        if not customer.merged_into:
            break
        redirected_from = redirected_from or customer_id
        customer = _get(customer.merged_into)
    identities = sorted(customer.identities or ())
    channels: dict[str, list[str]] = {}
    for identity in identities:
        kind, _, value = identity.partition(":")
        channels.setdefault(kind, []).append(value)
    purchases = list(customer.purchases or [])
    previous = [
        {"id": t.ticket_id, "number": int(t.number), "subject": t.subject, "status": t.status,
         "channel": t.channel, "created_at": t.created_at}
        for t in stored_tickets.customer_tickets(customer.customer_id, limit=PAST_TICKETS_SHOWN)
    ]
    inquiry = customer.last_inquiry
    return {
        "id": customer.customer_id,
        "name": customer.name,
        "tier": customer.tier,
        "identities": identities,
        "channels": channels,
        "attributes": dict(customer.attributes or {}),
        "purchases": purchases[:PURCHASES_SHOWN],
        "purchase_count": len(purchases),
        "last_inquiry": None if inquiry is None else inquiry.as_dict(),
        "previous_tickets": previous,
        "ticket_count": int(customer.ticket_count or 0),
        "first_seen_at": customer.first_seen_at,
        "last_seen_at": customer.last_seen_at,
        "redirected_from": redirected_from,
    }
