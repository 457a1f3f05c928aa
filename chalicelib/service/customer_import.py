"""The shop's customer import: create or update customers by identity, one outcome per record.

The pipeline finds a customer through identity lookups (``id:<kind>:<value>`` →
``customer_id``), so an import claims only identities nobody owns (or that a
merged-away customer left behind), and copies the customer's ``tier`` onto
every lookup it owns so triage and automation read it with the lookups they
already fetch. Records are validated by ``chalicelib.domain.customers``; the
lookups are read one BatchGetItem per chunk and the writes are conditional
(``chalicelib.storage.customers``), so a record raced by a message is reported,
never overwritten.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from chalicelib import clock
from chalicelib.domain import ids
from chalicelib.domain.customers import MAX_ATTRIBUTES, CustomerRecord, merge_purchases, new_orders
from chalicelib.service.customer_state import CustomerState, customer_update
from chalicelib.storage import customers as stored_customers
from chalicelib.storage.exceptions import ConditionFailed

__all__ = ["ImportResult", "RecordOutcome", "import_customers"]

_BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem limit: one call per import chunk


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
                   customers: dict[str, CustomerState]) -> RecordOutcome:
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
    before = customers.get(customer_id) or CustomerState(customer_id)
    after = CustomerState(
        customer_id, True,
        name=record.name if record.name is not None else before.name,
        tier=record.tier if record.tier is not None else before.tier,
        language=record.language if record.language is not None else before.language,
        attributes={**before.attributes, **(record.attributes or {})},
        purchases=merge_purchases(before.purchases, [p.stored() for p in record.purchases or []]),
        identities=before.identities | set(record.identities),
    )
    if len(after.attributes) > MAX_ATTRIBUTES:
        return RecordOutcome(index, "invalid", customer_id,
                             f"the customer would have {len(after.attributes)} attributes; at most {MAX_ATTRIBUTES}")

    update = customer_update(before, after)
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
        stored_customers.save_customer(update, lookups, at=clock.iso(clock.now()),
                                       orders=new_orders(before.purchases, after.purchases))
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


def _describe(err: ValidationError) -> str:
    problems = []
    for error in err.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "record"
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def _load_customers(customer_ids: Iterable[str]) -> dict[str, CustomerState]:
    return {customer_id: CustomerState.of(customer)
            for customer_id, customer in stored_customers.customers_by_ids(customer_ids).items()}


def _surviving(customer_id: str, known: dict[str, CustomerState]) -> str | None:
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
