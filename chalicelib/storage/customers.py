"""Customers and the identity lookups that lead to them: every read and write the customer service makes.

A customer's identities are found through lookups ``id:<kind>:<value>`` →
``customer_id`` (with the customer's ``tier``, so triage needs no extra read).
The service decides *what* changes (``CustomerUpdate``, ``IdentityUpdate``);
this module turns that into DynamoDB's conditional writes and reports a
condition that failed as ``ConditionFailed``.

The API imports the customer service (and so this module) at cold start for
its validation types, so the models and the repository (PynamoDB) are
imported inside the functions that use them.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain import finding
from chalicelib.storage.exceptions import ConditionFailed, TransactionCancelled, condition_failed

__all__ = [
    "KEEP", "Contact", "CustomerUpdate", "IdentityLookup", "IdentityUpdate",
    "add_identities", "contact_actions", "customer_ids_named", "customers_by_ids", "get_customer", "identity_lookups", "index_all",
    "merge_customers", "move_identity", "name_actions", "order_key", "preferred_language", "record_contact",
    "save_customer",
]

KEEP: Any = object()  # "leave the lookup's tier as it is"
_BATCH_GET_KEYS = 100  # DynamoDB BatchGetItem limit
_TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems limit
# The fields an update may set (None removes them); identities and the ticket count are only ever added to.
_FIELDS = frozenset({"name", "tier", "language", "attributes", "purchases", "first_seen_at", "last_seen_at", "last_inquiry"})


@dataclass(frozen=True)
class CustomerUpdate:
    """New values for a customer: ``values`` sets fields (``None`` removes one); identities and tickets add up."""

    customer_id: str
    values: Mapping[str, Any] = field(default_factory=dict)
    add_identities: frozenset[str] = frozenset()
    add_tickets: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.values) - _FIELDS
        if unknown:
            raise ValueError(f"not a customer field: {', '.join(sorted(unknown))}")

    def __bool__(self) -> bool:
        return bool(self.values or self.add_identities or self.add_tickets)


@dataclass(frozen=True)
class Contact:
    """One message as its sender's customer record keeps it: seen at ``at``; with ``inquiry`` also their last
    inquiry (ticket, channel, subject, the start of their own words); a display name it learns if it has none."""

    identity: str
    at: str
    ticket_id: str
    channel: str
    subject: str = ""
    text: str = ""
    name: str | None = None
    inquiry: bool = True  # False: seen, not an inquiry (an out-of-office, held mail)


EXCERPT_CHARS = 280  # the customer's last inquiry, as agents see it in a list


@dataclass(frozen=True)
class IdentityLookup:
    """Who an identity belongs to (None: a lookup nobody claimed yet) and that customer's tier."""

    customer_id: str | None
    tier: str | None


@dataclass(frozen=True)
class IdentityUpdate:
    """Point an identity at ``new_owner`` and/or give it ``tier`` — only if it is still ``expected_owner``'s.

    ``expected_owner`` None means nobody may own it yet; ``new_owner`` None leaves
    the owner; ``tier`` None removes the tier, ``KEEP`` leaves it.
    """

    identity: str
    expected_owner: str | None
    new_owner: str | None = None
    tier: Any = KEEP

    def __bool__(self) -> bool:
        return self.new_owner is not None or self.tier is not KEEP


# --- reads ---------------------------------------------------------------------------------------


def get_customer(customer_id: str, *, consistent: bool = False) -> Any | None:
    """The customer with this id (merged-away ones included), or None."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import CustomerModel

    try:
        return CustomerModel.get(customer_id, consistent_read=consistent)
    except DoesNotExist:
        return None


def preferred_language(customer_id: str) -> str | None:
    """The language the customer asked to be answered in, or None (no preference, or no such customer).

    One GetItem of the one attribute, eventually consistent: a preference set a second ago
    may be missed by a text composed now, never by the next one.
    """
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import CustomerModel

    try:
        return CustomerModel.get(customer_id, attributes_to_get=["language"]).language
    except DoesNotExist:
        return None


def customers_by_ids(customer_ids: Iterable[str]) -> dict[str, Any]:
    """The customers that exist among ``customer_ids``, by id (strongly consistent, 100 per BatchGetItem)."""
    from chalicelib.storage.models import CustomerModel

    found: dict[str, Any] = {}
    for batch in _batches(sorted(set(customer_ids)), _BATCH_GET_KEYS):
        for customer in CustomerModel.batch_get(batch, consistent_read=True):
            found[customer.customer_id] = customer
    return found


def customer_ids_named(start: str, *, limit: int) -> list[str]:
    """Customers whose folded name (``finding.name_key``) starts with ``start``, in name order.

    One Query on the sparse ``by_name`` index (partition: the first two folded
    characters), keys only: the caller reads the customers it shows.
    """
    from chalicelib.storage.models import CustomerModel

    prefix = finding.name_prefix(start)
    if prefix is None:
        return []
    return [entry.customer_id for entry in CustomerModel.by_name.query(
        prefix, CustomerModel.name_key.startswith(start), limit=limit, page_size=limit)]


def order_key(order_id: str) -> str:
    """The lookup key of a shop's order (``order:<id>``, case-folded: agents type order ids as they read them)."""
    return f"order:{order_id.strip().lower()}"


def identity_lookups(identities: Iterable[str]) -> dict[str, IdentityLookup]:
    """The lookups that exist for these identities (``email:ann@example.com`` ...), by identity."""
    from chalicelib.storage import repository

    found: dict[str, IdentityLookup] = {}
    for batch in _batches(list(dict.fromkeys(identities)), _BATCH_GET_KEYS):
        for key, lookup in repository.fetch_lookups(_lookup_key(i) for i in batch).items():
            found[key[len("id:"):]] = IdentityLookup(lookup.customer_id, lookup.tier)
    return found


# --- writes --------------------------------------------------------------------------------------


def save_customer(update: CustomerUpdate | None, identities: Sequence[IdentityUpdate] = (), *, at: str,
                  orders: Iterable[str] = ()) -> None:
    """Write a customer (if it has not been merged away) with its identity changes, all or nothing.

    ``orders``: order ids of purchases this write records; each gets an ``order:<id>``
    lookup → the customer, so an agent finds the buyer by order number (``GET /search``)
    without a Scan. The order's latest buyer wins (a shop does not reuse order ids).
    Transactions hold at most 100 items, the customer's own write in the first.
    ``ConditionFailed`` if the customer was merged or an identity changed hands
    since it was read; nothing of that transaction was written.
    """
    from chalicelib.storage.models import CustomerModel, LookupModel

    writes: list[tuple[Any, list[Any], Any]] = []
    if update:
        writes.append((CustomerModel(update.customer_id), _customer_actions(update),
                       CustomerModel.merged_into.does_not_exist()))
    writes += [_identity_write(change, at) for change in identities if change]
    if update is not None:
        writes += [(LookupModel(key), [LookupModel.customer_id.set(update.customer_id),
                                       LookupModel.created_at.set(LookupModel.created_at | at)], None)
                   for key in sorted({order_key(order_id) for order_id in orders})]
    _commit(writes, "the customer or one of its identities changed meanwhile")


def merge_customers(source_id: str, target: CustomerUpdate) -> None:
    """Mark ``source_id`` merged into the target and write the target's union, in one transaction.

    ``ConditionFailed`` unless both customers exist and neither was merged
    meanwhile; then nothing was written.
    """
    from chalicelib.storage.models import CustomerModel

    unmerged = CustomerModel.customer_id.exists() & CustomerModel.merged_into.does_not_exist()
    # Removing the absent merged_into is a no-op that carries the target's condition when nothing else changes.
    actions = _customer_actions(target) if target else [CustomerModel.merged_into.remove()]
    # The merged-away record leaves the name index: a search finds the survivor once.
    merged = [CustomerModel.merged_into.set(target.customer_id), CustomerModel.name_prefix.remove(),
              CustomerModel.name_key.remove()]
    _commit([(CustomerModel(source_id), merged, unmerged),
             (CustomerModel(target.customer_id), actions, unmerged)],
            "one of the customers changed or was merged meanwhile")


def move_identity(change: IdentityUpdate, *, at: str) -> None:
    """One identity's change on its own; ``ConditionFailed`` if another customer claimed it meanwhile."""
    from pynamodb.exceptions import UpdateError

    if not change:
        return
    model, actions, condition = _identity_write(change, at)
    try:
        model.update(actions=actions, condition=condition)
    except UpdateError as err:
        if not condition_failed(err):
            raise
        raise ConditionFailed(f"{change.identity} is no longer {change.expected_owner or 'unclaimed'}") from err


def record_contact(customer_id: str, contact: Contact) -> bool:
    """A known sender's message on an existing ticket, read off the tickets' stream (``contact_actions``).

    Not applied (False) when the record already holds a later inquiry: a stream record delivered again,
    or after a newer one, never moves the last inquiry back. "Last seen" is left as it is when something
    later was seen meanwhile (an out-of-office written with its own message): then a second, conditional
    write records the inquiry alone. Nothing is written to a customer that does not exist.
    """
    from pynamodb.exceptions import UpdateError

    from chalicelib.storage.models import CustomerModel

    exists = CustomerModel.customer_id.exists()
    inquiry_later = CustomerModel.last_inquiry.does_not_exist() | (CustomerModel.last_inquiry.at <= contact.at)
    seen_later = CustomerModel.last_seen_at.does_not_exist() | (CustomerModel.last_seen_at <= contact.at)
    for seen, condition in ((True, exists & inquiry_later & seen_later), (False, exists & inquiry_later)):
        try:
            CustomerModel(customer_id).update(actions=contact_actions(contact, seen=seen), condition=condition)
        except UpdateError as err:
            if not condition_failed(err):
                raise
        else:
            return True
    return False


def add_identities(customer_id: str, identities: Iterable[str]) -> None:
    """Add identities to a customer's list (a set: adding one it has is a no-op)."""
    from chalicelib.storage.models import CustomerModel

    wanted = set(identities)
    if wanted:
        CustomerModel(customer_id).update(actions=[CustomerModel.identities.add(wanted)])


# --- building the writes -------------------------------------------------------------------------


def _customer_actions(update: CustomerUpdate) -> list[Any]:
    from chalicelib.storage.models import CustomerModel

    actions: list[Any] = []
    for name, value in update.values.items():
        attribute = getattr(CustomerModel, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
        if name == "name":
            actions += name_actions(value)
    if update.add_identities:
        actions.append(CustomerModel.identities.add(set(update.add_identities)))
    if update.add_tickets:
        actions.append(CustomerModel.ticket_count.add(update.add_tickets))
    return actions


def contact_actions(contact: Contact, *, seen: bool = True) -> list[Any]:
    """What one message changes on its sender's customer record: the identity listed, first and last seen,
    the first name learned, and the last inquiry. The pipeline writes them with a new ticket (in its
    transaction); a known sender's later messages, ``record_contact`` from the stream."""
    from chalicelib.storage.models import CustomerModel, LastInquiry

    actions = [
        CustomerModel.identities.add({contact.identity}),
        CustomerModel.first_seen_at.set(CustomerModel.first_seen_at | contact.at),
    ]
    if seen:  # False: something later was seen meanwhile
        actions.append(CustomerModel.last_seen_at.set(contact.at))
    if contact.name:  # the first name we learn (or import) stays
        actions.append(CustomerModel.name.set(CustomerModel.name | contact.name))
        actions += name_actions(contact.name, if_new=True)  # found by name (GET /search)
    if contact.inquiry:
        actions.append(CustomerModel.last_inquiry.set(LastInquiry(
            ticket_id=contact.ticket_id, channel=contact.channel, subject=contact.subject,
            excerpt=contact.text[:EXCERPT_CHARS], at=contact.at)))
    return actions


def name_actions(name: str | None, *, if_new: bool = False) -> list[Any]:
    """Update actions that keep the ``by_name`` index keys in step with ``name`` (None: out of the index).

    ``if_new``: only where the customer has no name key yet (the pipeline's "the first
    name we learn stays"), so a known customer's later messages rewrite no index entry.
    """
    from chalicelib.storage.models import CustomerModel

    key = finding.name_key(name) if name else ""
    prefix = finding.name_prefix(key)
    if prefix is None:
        return [] if if_new else [CustomerModel.name_prefix.remove(), CustomerModel.name_key.remove()]
    if if_new:
        return [CustomerModel.name_prefix.set(CustomerModel.name_prefix | prefix),
                CustomerModel.name_key.set(CustomerModel.name_key | key)]
    return [CustomerModel.name_prefix.set(prefix), CustomerModel.name_key.set(key)]


def index_all(*, at: str) -> tuple[int, int]:
    """Give every customer the ``by_name`` keys its name derives, and every purchase its ``order:`` lookup.

    A migration tool (``python -m chalicelib.admin index-customers``) for customers
    stored before search existed: they are found only by reading the table, so this
    one Scan is deliberate and never runs on a request's path. Repeatable: a
    customer whose keys are right, or an order already pointing at its buyer,
    is not written again. Returns (customers re-keyed, order lookups written).
    """
    from chalicelib.storage import repository
    from chalicelib.storage.models import CustomerModel, LookupModel

    rekeyed = orders = 0
    for customer in CustomerModel.scan():
        key = finding.name_key(customer.name) if customer.name and not customer.merged_into else ""
        prefix = finding.name_prefix(key)
        if (customer.name_prefix, customer.name_key) != ((prefix, key) if prefix else (None, None)):
            actions = name_actions(customer.name if not customer.merged_into else None)
            customer.update(actions=actions)  # no condition: the name keys follow the name as read now
            rekeyed += 1
        if customer.merged_into:
            continue
        wanted = sorted({order_key(p["order_id"]) for p in customer.purchases or [] if p.get("order_id")})
        for batch in _batches(wanted, _BATCH_GET_KEYS):
            found = repository.fetch_lookups(batch)
            for lookup_key in batch:
                if found.get(lookup_key) is None or found[lookup_key].customer_id != customer.customer_id:
                    LookupModel(lookup_key).update(actions=[
                        LookupModel.customer_id.set(customer.customer_id),
                        LookupModel.created_at.set(LookupModel.created_at | at)])
                    orders += 1
    return rekeyed, orders


def _identity_write(change: IdentityUpdate, at: str) -> tuple[Any, list[Any], Any]:
    from chalicelib.storage.models import LookupModel

    actions: list[Any] = []
    if change.new_owner is not None:
        # created_at is when the identity was first claimed: kept if the lookup already has one.
        actions += [LookupModel.customer_id.set(change.new_owner),
                    LookupModel.created_at.set(LookupModel.created_at | at)]
    if change.tier is not KEEP:
        actions.append(LookupModel.tier.set(change.tier) if change.tier else LookupModel.tier.remove())
    # The lookup must still be as read: an identity is never taken from a customer that claimed it meanwhile.
    condition = (LookupModel.customer_id == change.expected_owner if change.expected_owner
                 else LookupModel.customer_id.does_not_exist())
    return LookupModel(_lookup_key(change.identity)), actions, condition


def _commit(writes: list[tuple[Any, list[Any], Any]], reason: str) -> None:
    from pynamodb.exceptions import TransactWriteError

    from chalicelib.storage import repository

    for batch in _batches(writes, _TRANSACTION_ITEMS):
        transaction = repository.Writes()
        for model, actions, condition in batch:
            transaction.update(model, actions, condition, version_check=False)
        try:
            repository.commit(transaction)
        except (TransactionCancelled, TransactWriteError) as err:  # a cancellation, or one DynamoDB gave no reasons for
            raise ConditionFailed(reason) from err


def _lookup_key(identity: str) -> str:
    return f"id:{identity}"


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
