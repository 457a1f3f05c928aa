"""Changing a ticket: every write one change makes, built here and committed in one transaction.

The service decides what a change does (``chalicelib.service.changes``: the
fields it sets, the diff, the SLA plan, which agents' loads move, the events
it publishes); this module turns those decisions, given as plain values, into
DynamoDB's items, conditions and update actions, and commits them together:

- the ticket update, conditioned on the version the writer read (and, for
  automatic assignment, on the ticket still being unassigned and active);
- one audit item saying who changed what from what to what;
- the messages the change adds (an agent's reply, a note) and any other write
  storage built for it (e.g. ``surveys.answer_marker``);
- the agent load changes: releasing a ticket decrements the previous owner's
  ``open_count``; taking one increments the new owner's on condition it is
  active (and, unless forced, online and below capacity, with round robin's
  cursor as read).

A lost race raises ``TicketMoved`` (the ticket) or ``AgentCannotTake`` (an
agent); any other cancelled write raises ``TransactionCancelled``.
``TransactionConflict`` (another transaction on the same item at that instant)
counts as a lost race, like a failed condition.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.messages import AttachmentRef
from chalicelib.storage import repository, ticket_keys
from chalicelib.storage.exceptions import AgentCannotTake, TicketMoved, TransactionCancelled

__all__ = ["Audit", "LoadChange", "Note", "Reply", "commit_change", "load_update"]


@dataclass(frozen=True)
class Audit:
    """The audit entry of a change: who did what, the diff ``{field: [old, new]}`` and a free-text detail."""

    at: str
    actor_id: str
    actor_name: str
    action: str
    diff: dict[str, list[Any]] | None = None
    detail: str | None = None


@dataclass(frozen=True)
class LoadChange:
    """One agent's open ticket count moving with the change: +1 takes a slot, -1 frees one.

    Taking a slot is conditioned on the agent being active and (unless ``force``)
    online and below capacity; ``cursor`` is round robin's new ``last_assigned_at``,
    ``expected_cursor`` the one the writer read (checked in the write).
    """

    agent_id: str
    delta: int
    cursor: str | None = None
    expected_cursor: str | None = None
    force: bool = False


@dataclass(frozen=True)
class Reply:
    """An outbound reply stored with the change that records it (``send_outbound`` delivers it later)."""

    ticket_id: str
    key: str  # the reply's idempotency key, also the outbound queue's dedup key
    at: str
    channel: str
    sender: str
    sender_name: str
    text: str
    kind: str = "agent"  # agent | automated
    recipients: tuple[str, ...] = ()  # email: the customer, then the Cc addresses
    attachments: tuple[AttachmentRef, ...] = ()  # claimed uploads (service.uploads), served like inbound ones

    @property
    def sk(self) -> str:
        """The message's sort key: where it sits in the ticket's conversation."""
        return f"{self.at}#{self.key[-16:]}"


@dataclass(frozen=True)
class Note:
    """An internal note: visible to agents, never sent."""

    ticket_id: str
    at: str
    author_id: str
    author_name: str
    text: str
    sk_token: str = field(default_factory=lambda: secrets.token_hex(4))
    key_token: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def sk(self) -> str:
        return f"{self.at}#note-{self.sk_token}"


def commit_change(ticket: Any, *, field_changes: dict[str, Any] | None = None,
                  set_once: dict[str, Any] | None = None, additions: dict[str, Any] | None = None,
                  after: dict[str, Any] | None = None, audit: Audit | None = None,
                  extra_items: Iterable[Any] = (), loads: Iterable[LoadChange] = (),
                  only_if_unassigned: bool = False, version_check: bool = True) -> Any:
    """Write one change of the loaded ``ticket`` in one transaction; returns the ticket as written.

    The returned copy is the loaded ticket with this change applied and its version
    moved on: with ``version_check`` that is exactly the stored item (nobody wrote in
    between), so callers answer and react from it without reading the ticket again.

    ``field_changes``: name → new value (None removes the attribute).
    ``set_once``: name → value written only if the ticket has none yet.
    ``additions``: name → number or set added (ADD) to what the ticket holds.
    ``after``: the ticket's fields after the change, due times included: the
    views' and sweeps' keys are moved from the loaded ticket's to these
    (``ticket_keys.update_actions``).
    ``extra_items``: ``Reply``/``Note`` values, or writes storage built for the
    change (a model, or ``(model, condition)``), saved in the same transaction.
    ``only_if_unassigned``: the ticket must still be unassigned and active.
    ``version_check``: the ticket must be at the version read (False for
    appends that cannot conflict).

    Raises ``TicketMoved`` when the ticket moved on (or no longer meets the
    condition), ``AgentCannotTake`` when an agent's condition failed, and
    ``TransactionCancelled`` when another write of the change failed.
    """
    from chalicelib.storage.models import AgentModel, AuditModel, TicketModel

    actions: list[Any] = []
    for name, value in (field_changes or {}).items():
        attribute = getattr(TicketModel, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    for name, value in (set_once or {}).items():
        attribute = getattr(TicketModel, name)
        actions.append(attribute.set(attribute | value))
    for name, value in (additions or {}).items():
        actions.append(getattr(TicketModel, name).add(value))
    actions += ticket_keys.update_actions(ticket, after or {})

    writes = repository.Writes()
    if audit is not None:
        writes.save(AuditModel(ticket.ticket_id, f"{audit.at}#{secrets.token_hex(4)}", at=audit.at,
                               actor=audit.actor_id, actor_name=audit.actor_name, action=audit.action,
                               changes=audit.diff or None, detail=audit.detail))
    for extra in extra_items:
        model, condition = _extra_write(extra)
        writes.save(model, condition)
    condition = None
    if only_if_unassigned:
        condition = TicketModel.assignee_id.does_not_exist() & TicketModel.status.is_in(*ticket_keys.ACTIVE)
    writes.update(ticket, actions, condition, version_check=version_check)  # "version = <the one read>"
    for load in loads:
        agent_actions, agent_condition = load_update(load)
        writes.update(AgentModel(load.agent_id), agent_actions, agent_condition, version_check=False)
    try:
        repository.commit(writes)
    except TransactionCancelled as err:
        ticket_index = len(writes.saves)
        failed = err.failed("ConditionalCheckFailed", "TransactionConflict")
        if ticket_index in failed:
            raise TicketMoved(err.codes) from err
        if any(i > ticket_index for i in failed):
            raise AgentCannotTake(err.codes) from err
        raise
    return _as_written(ticket, field_changes or {}, set_once or {}, additions or {}, after or {})


def _as_written(ticket: Any, field_changes: dict[str, Any], set_once: dict[str, Any],
                additions: dict[str, Any], after: dict[str, Any]) -> Any:
    """A copy of ``ticket`` with the change applied the way DynamoDB applied it (SET, SET if absent, ADD)."""
    written = type(ticket).from_raw_data(ticket.serialize())
    for name in ticket_keys.CLOCK_KEYS:  # due times move through the derived keys (update_actions)
        if name in after:
            setattr(written, name, after[name])
    for name, value in field_changes.items():
        setattr(written, name, value)
    for name, value in set_once.items():
        if getattr(written, name) is None:
            setattr(written, name, value)
    for name, value in additions.items():
        held = getattr(written, name)
        setattr(written, name, (held or set()) | set(value) if isinstance(value, (set, frozenset))
                else (held or 0) + value)
    ticket_keys.apply_derived(written)  # the derived keys follow the fields, as update_actions moved them
    written.version = int(ticket.version or 0) + 1
    return written


def _extra_write(extra: Any) -> tuple[Any, Any]:
    from chalicelib.storage.models import AttachmentInfo, MessageModel

    if isinstance(extra, Reply):
        return MessageModel(extra.ticket_id, extra.sk, message_key=extra.key, direction="outbound", kind=extra.kind,
                            channel=extra.channel, sender=extra.sender, sender_name=extra.sender_name,
                            recipients=list(extra.recipients), text=extra.text, delivery="queued",
                            attachments=[AttachmentInfo(filename=a.filename, content_type=a.content_type, size=a.size,
                                                        s3_key=a.s3_key) for a in extra.attachments],
                            created_at=extra.at), None
    if isinstance(extra, Note):
        return MessageModel(extra.ticket_id, extra.sk, message_key=f"note:{extra.ticket_id}:{extra.key_token}",
                            direction="internal", kind="note", channel="internal", sender=f"agent:{extra.author_id}",
                            sender_name=extra.author_name, text=extra.text, created_at=extra.at), None
    return extra if isinstance(extra, tuple) else (extra, None)


def load_update(load: LoadChange) -> tuple[list[Any], Any]:
    """The agent item's update and condition for one load change (also used for a new ticket's claim)."""
    from chalicelib.storage.models import AgentModel

    if load.delta < 0:
        return [AgentModel.open_count.add(load.delta)], AgentModel.agent_id.exists()
    condition = AgentModel.agent_id.exists() & (AgentModel.active == True)  # noqa: E712 (a condition)
    if not load.force:
        condition &= (AgentModel.status == "online") & (AgentModel.open_count < AgentModel.capacity)
    actions = [AgentModel.open_count.add(load.delta)]
    if load.cursor is not None:
        actions.append(AgentModel.last_assigned_at.set(load.cursor))
    if load.expected_cursor is not None:
        condition &= AgentModel.last_assigned_at == load.expected_cursor
    return actions, condition
