"""What an agent typed in the search box, and the keys a customer's name is found by.

``classify`` reads a query the way an agent means it: ``#123`` or all digits is a
ticket number, an ``@`` an email address, ``+45 12 34 56 78`` a phone number,
``order:A-1001`` an order, anything else the start of a name. Each kind is then
one key lookup (or one index Query for a name), never a Scan.

Names are found by their folded form (``name_key``): compatibility-normalised,
case-folded, accents removed ("Ærø" stays "ærø", "José" is "jose", "ÅSE" is
"ase"), spaces collapsed. The customers' ``by_name`` index is keyed by the first
two folded characters (``name_prefix``: many small partitions, no hot one) and
sorted by the whole folded name, so "jo" and "José B" both become one Query with
``begins_with``.

Plain Python: no storage, no configuration.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chalicelib.domain.words import fold

__all__ = ["MAX_QUERY_CHARS", "MIN_NAME_CHARS", "NAME_PREFIX_CHARS", "Query", "QueryError", "classify", "name_key",
           "name_prefix"]

MAX_QUERY_CHARS = 200
MIN_NAME_CHARS = 2  # one letter would match a twenty-sixth of the customers
NAME_PREFIX_CHARS = 2  # the by_name index's partition: the folded name's first two characters
_MAX_NAME_KEY = 200  # the stored sort key (DynamoDB allows 1 KB; a name is at most 200 characters)
_TICKET_NUMBER = re.compile(r"^#?\s*([0-9]{1,64})$")  # a long run of digits: an order number, likely
_PHONE_LIKE = re.compile(r"^\+?[0-9][0-9 ().\-]{3,30}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")  # as chalicelib.domain.customers.normalise_identity keys phones
_ORDER = re.compile(r"^order:\s*(\S.{0,63})$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


class QueryError(ValueError):
    """The query cannot be searched; the message says why (the API's 400)."""


@dataclass(frozen=True)
class Query:
    """What to look up: ``kind`` (number | email | phone | order | name) and the normalised ``value``.

    ``order_too``: an order number the shop may have recorded under this text as well
    (a digits-only query is a ticket number first, an order number second).
    """

    kind: str
    value: str
    order_too: str | None = None


def classify(text: str) -> Query:
    """The query's kind and its value as the lookups key it; ``QueryError`` for what cannot be searched."""
    query = " ".join((text or "").split())
    if not query:
        raise QueryError("q is empty: type a ticket number, an email address, a phone number, an order or a name")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"q is {len(query)} characters; at most {MAX_QUERY_CHARS}")
    number = _TICKET_NUMBER.match(query)
    if number:
        return Query("number", str(int(number.group(1))), order_too=query if query.isdigit() else None)
    order = _ORDER.match(query)
    if order:
        return Query("order", order.group(1).strip())
    if "@" in query:
        address = query.lower()
        if not _EMAIL.match(address):
            raise QueryError(f"{query[:80]!r} is not an email address")
        return Query("email", address)
    if _PHONE_LIKE.match(query):
        phone = _PHONE_PUNCTUATION.sub("", query)
        if not _E164.match(phone):
            raise QueryError(f"{query[:80]!r} looks like a phone number: give it with + and the country code "
                             "(e.g. +45 12 34 56 78)")
        return Query("phone", phone)
    key = name_key(query)
    if len(key) < MIN_NAME_CHARS:
        raise QueryError(f"a name needs at least {MIN_NAME_CHARS} letters")
    return Query("name", key, order_too=query if len(query) <= 64 and " " not in query else None)


def name_key(name: str) -> str:
    """The folded name the by_name index sorts by: case, accents and spacing do not matter."""
    decomposed = unicodedata.normalize("NFKD", fold(name))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(unicodedata.normalize("NFC", bare).split())[:_MAX_NAME_KEY]


def name_prefix(key: str) -> str | None:
    """The by_name index's partition for a folded name; None for a name too short to be found."""
    return key[:NAME_PREFIX_CHARS] if len(key) >= NAME_PREFIX_CHARS else None
