"""Canned responses: the starter set from the deployment, plus the team's own in DynamoDB.

The team's macros override starter ones with the same id; deleting a starter
macro leaves a tombstone. Rendering fills the placeholders from the ticket,
its customer (the latest order number from the imported purchases) and the
agent, in ``chalicelib.domain.macros``' sandbox.
"""
from __future__ import annotations

from typing import Any

from chalicelib import clock, config
from chalicelib.service import changes


class MacroNotFound(LookupError):
    pass


def all_macros() -> list[Any]:
    """Every usable macro, by id: one Query for the team's, merged over the starter set."""
    from chalicelib.domain import macros as domain
    from chalicelib.storage.models import MacroModel

    merged = {macro.id: macro for macro in domain.starter_macros()}
    for item in MacroModel.query("macro"):
        if item.deleted:
            merged.pop(item.macro_id, None)
        else:
            merged[item.macro_id] = domain.macro_from_dict(item.definition, source=f"macro {item.macro_id}")
    return [merged[key] for key in sorted(merged)]


def get(macro_id: str) -> Any:
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.domain import macros as domain
    from chalicelib.storage.models import MacroModel

    try:
        item = MacroModel.get("macro", macro_id, consistent_read=True)
    except DoesNotExist:
        item = None
    if item is not None:
        if item.deleted:
            raise MacroNotFound(macro_id)
        return domain.macro_from_dict(item.definition, source=f"macro {macro_id}")
    for macro in domain.starter_macros():
        if macro.id == macro_id:
            return macro
    raise MacroNotFound(macro_id)


def is_starter(macro_id: str) -> bool:
    from chalicelib.domain import macros as domain

    return any(macro.id == macro_id for macro in domain.starter_macros())


def save(macro: Any, actor: changes.Actor, *, create: bool) -> Any:
    """Create (refusing an id in use) or replace a macro."""
    from chalicelib.storage.models import MacroModel

    item = MacroModel("macro", macro.id, definition=macro.model_dump(mode="json"), updated_by=actor.id,
                      updated_at=clock.iso(clock.now()), deleted=False)
    if create:
        from pynamodb.exceptions import PutError

        if is_starter(macro.id):
            raise FileExistsError(macro.id)
        try:
            item.save(condition=MacroModel.macro_id.does_not_exist() | (MacroModel.deleted == True))  # noqa: E712
        except PutError as err:
            raise FileExistsError(macro.id) from err
    else:
        item.save(add_version_condition=False)
    return macro


def delete(macro_id: str, actor: changes.Actor) -> None:
    from chalicelib.storage.models import MacroModel

    get(macro_id)  # MacroNotFound if there is nothing to delete
    MacroModel("macro", macro_id, definition={}, updated_by=actor.id, updated_at=clock.iso(clock.now()),
               deleted=True).save(add_version_condition=False)


def render_for(macro_id: str, ticket: Any, agent: Any, *, order_number: str | None = None) -> tuple[str, Any]:
    """The macro's text for this ticket and its actions; ``MacroError`` if it cannot render."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.domain import macros as domain
    from chalicelib.storage.models import CustomerModel

    macro = get(macro_id)
    try:
        customer = CustomerModel.get(ticket.customer_id)
    except DoesNotExist:
        customer = None
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
    return domain.render(macro, context), macro.actions


def apply_actions(ticket_id: str, actions: Any, actor: changes.Actor) -> dict[str, list[Any]]:
    """A macro's actions (set status/priority, tags) as one audited change."""
    from chalicelib.service import tickets
    from chalicelib.storage import repository

    if actions is None:
        return {}
    update = tickets.Update(status=actions.set_status, priority=actions.set_priority,
                            add_tags=frozenset(actions.add_tags), remove_tags=frozenset(actions.remove_tags))
    for _ in range(3):
        try:
            return tickets.update(repository.get_ticket(ticket_id), update, actor)
        except changes.Conflict:
            continue
    raise changes.Conflict("the ticket kept changing; the reply was sent, apply the macro's actions again")
