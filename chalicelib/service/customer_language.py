"""The language a text for a customer is written in: their preference, else their message's, else the desk's.

Every sender of customer-facing text (acknowledgements, surveys, automated replies,
the web chat's status) asks ``of_ticket`` or ``of_customer``; the rule itself is
``domain.language.for_customer``. Its own small module, not part of ``service.customers``:
the pipeline imports it on every cold start and needs none of the customer API's validation.
"""
from __future__ import annotations

from typing import Any

from chalicelib import configuration
from chalicelib.domain import language
from chalicelib.storage import customers as stored_customers

__all__ = ["of_customer", "of_preference", "of_ticket", "of_visitor"]


def of_customer(customer_id: str | None, detected: str | None) -> str:
    """The language to write to this customer in. ``detected``: the ticket's ``language`` (None: unsure).

    Reads the customer's stated preference (one GetItem of one attribute) and the desk's
    ``default_language``; the decision is the domain's.
    """
    preferred = stored_customers.preferred_language(customer_id) if customer_id else None
    return of_preference(preferred, detected)


def of_preference(preferred: str | None, detected: str | None) -> str:
    """The same decision for a caller that already read the customer (``preferred``: their record's
    ``language``), so it is not read twice."""
    return language.for_customer(preferred, detected, configuration.desk_settings().default_language)


def of_ticket(ticket: Any) -> str:
    """The language of every text the ticket's customer reads (a stored ticket or one about to be written)."""
    return of_customer(ticket.customer_id, ticket.language)


def of_visitor(accept_language: str | None) -> str:
    """The language for someone we cannot name yet (the web chat's status, a survey link cut short):
    their browser's ``Accept-Language`` stands in for a stated preference, then the desk's default."""
    return language.for_customer(language.from_accept(accept_language), None,
                                 configuration.desk_settings().default_language)
