"""Canned responses: the starter set from the deployment, plus the team's own in DynamoDB.

The team's macros override starter ones with the same id; deleting a starter
macro leaves a tombstone. Rendering fills the placeholders from the ticket,
its customer (the latest order number from the imported purchases) and the
agent, in ``chalicelib.domain.macros``' sandbox.
"""
from __future__ import annotations

from typing import Any

from chalicelib import clock, config, configuration
from chalicelib.service import changes, customer_language
from chalicelib.storage import customers as stored_customers
from chalicelib.storage import repository
from chalicelib.storage import macros as stored_macros
from chalicelib.storage.exceptions import ConditionFailed


class MacroNotFound(LookupError):
    pass


def all_macros() -> list[Any]:
    """Every usable macro, by id: one Query for the team's, merged over the starter set."""
    from chalicelib.domain import macros as domain

    merged = {macro.id: macro for macro in configuration.starter_macros()}
    for stored in stored_macros.team_macros():
        if stored.deleted:
            merged.pop(stored.macro_id, None)
        else:
            merged[stored.macro_id] = domain.macro_from_dict(stored.definition, source=f"macro {stored.macro_id}")
    return [merged[key] for key in sorted(merged)]


def get(macro_id: str) -> Any:
    from chalicelib.domain import macros as domain

    stored = stored_macros.get_macro(macro_id)
    if stored is not None:
        if stored.deleted:
            raise MacroNotFound(macro_id)
        return domain.macro_from_dict(stored.definition, source=f"macro {macro_id}")
    for macro in configuration.starter_macros():
        if macro.id == macro_id:
            return macro
    raise MacroNotFound(macro_id)


def is_starter(macro_id: str) -> bool:
    return any(macro.id == macro_id for macro in configuration.starter_macros())


def save(macro: Any, actor: changes.Actor, *, create: bool) -> Any:
    """Create (refusing an id in use) or replace a macro."""
    definition, at = macro.model_dump(mode="json"), clock.iso(clock.now())
    if create:
        if is_starter(macro.id):
            raise FileExistsError(macro.id)
        try:
            stored_macros.create_macro(macro.id, definition, updated_by=actor.id, at=at)
        except ConditionFailed as err:
            raise FileExistsError(macro.id) from err
    else:
        stored_macros.replace_macro(macro.id, definition, updated_by=actor.id, at=at)
    return macro


def delete(macro_id: str, actor: changes.Actor) -> None:
    get(macro_id)  # MacroNotFound if there is nothing to delete
    stored_macros.delete_macro(macro_id, updated_by=actor.id, at=clock.iso(clock.now()))


def render_for(macro_id: str, ticket: Any, agent: Any, *, order_number: str | None = None) -> tuple[str, Any]:
    """The macro's text for this ticket (its translation in the customer's language, when it has one) and its
    actions; ``MacroError`` if it cannot render."""
    from chalicelib.domain import macros as domain

    macro = get(macro_id)
    customer = stored_customers.get_customer(ticket.customer_id)
    purchases = (customer.purchases if customer is not None else None) or []
    requester = ticket.requester or ""
    context = domain.MacroContext.build(
        customer_name=(customer.name if customer is not None else None) or ticket.requester_name,
        customer_email=requester[len("email:"):] if requester.startswith("email:") else None,
        customer_phone=requester[len("phone:"):] if requester.startswith("phone:") else None,
        customer_tier=customer.tier if customer is not None else None,
        ticket_number=int(ticket.number), ticket_subject=ticket.subject, ticket_status=ticket.status,
        ticket_priority=ticket.priority, ticket_category=ticket.category, ticket_channel=ticket.channel,
        agent_name=agent.name if agent is not None else None, agent_email=agent.email if agent is not None else None,
        order_number=order_number or (purchases[0].get("order_id") if purchases else None),
        desk_name=config.setting("SUPPORT_NAME"), desk_support_address=config.support_address(),
    )
    language = customer_language.of_preference(customer.language if customer is not None else None,
                                               ticket.language)
    return domain.render(macro, context, language), macro.actions


def apply_actions(ticket_id: str, actions: Any, actor: changes.Actor) -> dict[str, list[Any]]:
    """A macro's actions (set status/priority, tags) as one audited change."""
    from chalicelib.service import tickets

    if actions is None:
        return {}
    update = tickets.Update(status=actions.set_status, priority=actions.set_priority,
                            add_tags=frozenset(actions.add_tags), remove_tags=frozenset(actions.remove_tags))
    return changes.retrying(repository.get_ticket(ticket_id), lambda ticket: tickets.update(ticket, update, actor),
                            gave_up="the ticket kept changing; the reply was sent, apply the macro's actions again")
