"""Finding tickets and customers from one search box: a number, an address, a phone, an order or a name.

Every kind is a key lookup or one index Query, never a Scan
(``chalicelib.domain.finding`` says how a query is read):

- ticket number: the ``tno:<number>`` lookup the pipeline writes with every ticket;
- email / phone: the identity lookup ``id:email:<address>`` / ``id:phone:<E.164>``
  (SMS and WhatsApp senders are keyed ``phone:``) → the customer → their tickets
  (``by_customer`` index, newest first);
- order: the ``order:<id>`` lookup the customer import and the customer PATCH write
  for each purchase → the buyer → their tickets;
- name: the customers' ``by_name`` index (folded name prefix), then one BatchGetItem.

A customer merged into another is shown as the survivor (its tickets moved there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain import finding
from chalicelib.storage import customers as stored_customers
from chalicelib.storage import repository
from chalicelib.storage import tickets as stored_tickets

__all__ = ["MAX_RESULTS", "Found", "QueryError", "find"]

MAX_RESULTS = 25
QueryError = finding.QueryError
_MERGE_HOPS = 3  # merges refuse chains; a bound keeps a raced one from looping


@dataclass
class Found:
    """What a search found: its kind, the tickets (newest first) and the customers (surviving records)."""

    kind: str
    tickets: list[Any] = field(default_factory=list)
    customers: list[Any] = field(default_factory=list)


def find(text: str) -> Found:
    """The tickets and customers ``text`` names; ``QueryError`` when it names nothing searchable."""
    query = finding.classify(text)
    keys = {"number": f"tno:{query.value}", "email": f"id:email:{query.value}",
            "phone": f"id:phone:{query.value}", "order": stored_customers.order_key(query.value)}
    wanted = [keys[query.kind]] if query.kind in keys else []
    if query.order_too:
        wanted.append(stored_customers.order_key(query.order_too))
    found = repository.fetch_lookups(wanted) if wanted else {}
    own = found.get(keys.get(query.kind, ""))
    if query.kind == "number" and own is not None and own.ticket_id:
        tickets = stored_tickets.tickets_by_ids([own.ticket_id])
        customers = _survivors([t.customer_id for t in tickets])
        return Found("number", tickets, customers)
    order = found.get(stored_customers.order_key(query.order_too)) if query.order_too else None
    if query.kind in ("email", "phone", "order") or order is not None:
        lookup = own if query.kind in ("email", "phone", "order") else order
        kind = query.kind if query.kind in ("email", "phone", "order") else "order"
        customers = _survivors([lookup.customer_id] if lookup is not None and lookup.customer_id else [])
        return Found(kind, _tickets_of(customers), customers)
    if query.kind == "number":
        return Found("number")
    customers = _survivors(stored_customers.customer_ids_named(query.value, limit=MAX_RESULTS))
    # One customer named so: their tickets too (the agent's next click); several: the agent picks first.
    return Found("name", _tickets_of(customers) if len(customers) == 1 else [], customers)


def _tickets_of(customers: list[Any]) -> list[Any]:
    if not customers:
        return []
    return stored_tickets.customer_tickets(customers[0].customer_id, limit=MAX_RESULTS)


def _survivors(customer_ids: list[str]) -> list[Any]:
    """The customers, each as its surviving record after merges, in the order asked, each once."""
    wanted = list(dict.fromkeys(customer_ids))
    loaded = stored_customers.customers_by_ids(wanted)
    result: dict[str, Any] = {}
    for customer_id in wanted:
        customer = loaded.get(customer_id)
        for _ in range(_MERGE_HOPS):
            if customer is None or not customer.merged_into:
                break
            customer = stored_customers.get_customer(customer.merged_into)
        if customer is not None and not customer.merged_into:
            result.setdefault(customer.customer_id, customer)
    return list(result.values())
