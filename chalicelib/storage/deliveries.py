"""Recording outbound delivery: what ``send_outbound`` writes after (or instead of) a send.

The outbound worker decides (send, park, retry); this module builds the items,
conditions and update actions: a message sent on a platform with the ticket's
acknowledgement marked sent, an agent's stored reply marked delivered, the
Message-IDs a customer's answer threads by, a permanent failure on the ticket.

SES's sending events come back through ``chalicelib.service.deliveries``: the mail
an event is about is found by the ``mid:`` lookup written when it was sent (no
extra item: the lookup also names the message), and its state moves only towards
a more final one, under a condition, so redelivered and out-of-order events are
harmless.

Like storage's other modules that edges reach, the models (PynamoDB) are
imported inside the functions that use them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.storage import repository
from chalicelib.storage.exceptions import condition_failed

__all__ = ["Report", "SentMail", "clear_problem", "current_status", "find_sent_mail", "flag_problem",
           "mark_reply_delivered", "record_delivery_failure", "record_report", "record_sent_message",
           "remember_message_ids"]

_ACKNOWLEDGEMENT = "acknowledgement"  # delivery_problem.message of the ticket's acknowledgement


def record_sent_message(ticket: Any, *, key: str, at: str, channel: str, kind: str, recipient: str, text: str,
                        provider_message_id: str | None, acknowledgement: bool,
                        choices: list[dict[str, str]] | None = None) -> None:
    """Store a message the desk just sent (``kind``: acknowledgement, agent or bot, with the bot's ``choices``);
    for the ticket's pending acknowledgement, mark it sent in the same transaction.

    The acknowledgement's update needs no version check (agents may edit the ticket
    meanwhile): only a pending acknowledgement is marked.
    """
    from chalicelib.storage.models import MessageModel, TicketModel

    writes = repository.Writes()
    writes.save(MessageModel(ticket.ticket_id, f"{at}#{key}", message_key=key, direction="outbound", kind=kind,
                             channel=channel, sender="desk", recipients=[recipient], text=text,
                             message_id=provider_message_id or None, created_at=at, choices=choices or None,
                             delivery="sent", delivered_at=at))  # stored once the platform took it
    if acknowledgement:
        writes.update(
            ticket,  # the loaded item, so its version moves on instead of restarting
            [TicketModel.acknowledgement.status.set("sent"), TicketModel.acknowledgement.sent_at.set(at),
             TicketModel.acknowledgement.provider_message_id.set(provider_message_id)],
            TicketModel.acknowledgement.status == "pending",
            version_check=False,
        )
    repository.commit(writes)


def reply_delivered(ticket_id: str, message_sk: str) -> bool:
    """Was this stored reply's delivery recorded (sent, or a later report such as delivered or bounced)?"""
    from chalicelib.storage.models import MessageModel

    try:
        stored = MessageModel.get(ticket_id, message_sk, consistent_read=True, attributes_to_get=["delivery"])
    except MessageModel.DoesNotExist:
        return False
    return stored.delivery not in (None, "queued")


def mark_reply_delivered(ticket_id: str, message_sk: str, provider_message_id: str | None, *, at: str) -> None:
    """An agent's reply (stored when it was written) went out: record when, and the id the provider gave it.

    SES may report the mail delivered (or bounced) before this write lands: then the
    state stays the more final one, and only the time and id are recorded.
    """
    from chalicelib.storage.models import MessageModel

    recorded = [MessageModel.delivered_at.set(at), MessageModel.message_id.set(provider_message_id or None)]
    if not _updated(MessageModel(ticket_id, message_sk), [MessageModel.delivery.set("sent"), *recorded],
                    MessageModel.delivery.does_not_exist() | MessageModel.delivery.is_in("queued", "sent")):
        MessageModel(ticket_id, message_sk).update(actions=recorded)


def remember_message_ids(ticket_id: str, message_id_keys: Iterable[str], *, at: str,
                         message_sk: str | None = None) -> None:
    """Lookups that thread a customer's answer to the ticket, by the sent mail's Message-ID keys.

    ``message_sk`` names the stored message the mail is, so its SES events find it with
    one read (the attribute rides on the lookup that is written anyway: no extra item).
    """
    from chalicelib.storage.models import LookupModel

    for key in message_id_keys:
        LookupModel(key, ticket_id=ticket_id, created_at=at, message_sk=message_sk).save()


# --- SES sending events ------------------------------------------------------------------


@dataclass(frozen=True)
class SentMail:
    """A mail of a ticket that SES reported on: one of its stored messages, or its acknowledgement."""

    ticket: Any  # loaded, so a write moves its version on
    message_sk: str | None  # None: the ticket's acknowledgement (stored on the ticket, not as a message)
    provider_message_id: str

    @property
    def ticket_id(self) -> str:
        return self.ticket.ticket_id

    @property
    def is_acknowledgement(self) -> bool:
        return self.message_sk is None

    @property
    def recipient(self) -> str | None:
        """The address the acknowledgement went to (a reply's comes from the event)."""
        ack = self.ticket.acknowledgement
        if not self.is_acknowledgement or ack is None or not ack.to:
            return None
        return ack.to.lower()


@dataclass(frozen=True)
class Report:
    """What SES said about a mail, as stored (``models.DeliveryReport``)."""

    status: str
    at: str
    recipient: str | None = None
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    diagnostic: str | None = None


def find_sent_mail(provider_message_id: str) -> SentMail | None:
    """The ticket mail SES gave this id, by the ``mid:`` lookup written when it was sent (never a Scan).

    The lookup names the message when the sender recorded it (``remember_message_ids``);
    otherwise the id is the ticket's acknowledgement's, or one of its messages' (a Query
    of that ticket's messages, newest first).
    """
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.domain import threading
    from chalicelib.storage.models import LookupModel, MessageModel

    try:
        lookup = LookupModel.get(threading.message_id_key(provider_message_id), consistent_read=True)
    except DoesNotExist:
        return None
    ticket = repository.get_ticket(lookup.ticket_id) if lookup.ticket_id else None
    if ticket is None:
        return None
    if lookup.message_sk:
        return SentMail(ticket, lookup.message_sk, provider_message_id)
    ack = ticket.acknowledgement
    if ack is not None and ack.provider_message_id == provider_message_id:
        return SentMail(ticket, None, provider_message_id)
    for message in MessageModel.query(ticket.ticket_id, scan_index_forward=False,
                                       filter_condition=MessageModel.message_id == provider_message_id,
                                       attributes_to_get=["ticket_id", "sk"]):
        return SentMail(ticket, message.sk, provider_message_id)
    return None


def record_report(mail: SentMail, report: Report, *, weaker: tuple[str, ...]) -> bool:
    """Move the mail to ``report.status`` if its state is one of ``weaker`` (or none yet); False if it was not."""
    from chalicelib.storage.models import MessageModel, TicketModel

    stored = _report_item(report)
    if mail.is_acknowledgement:
        ack = TicketModel.acknowledgement
        return _updated(mail.ticket, [ack.delivery.set(report.status), ack.delivery_report.set(stored)],
                        (ack.provider_message_id == mail.provider_message_id)
                        & (ack.delivery.does_not_exist() | ack.delivery.is_in(*weaker)),
                        add_version_condition=False)
    return _updated(MessageModel(mail.ticket_id, mail.message_sk),
                    [MessageModel.delivery.set(report.status), MessageModel.delivery_report.set(stored)],
                    MessageModel.sk.exists() & (MessageModel.delivery.does_not_exist()
                                                | MessageModel.delivery.is_in(*weaker)))


def current_status(mail: SentMail) -> str | None:
    """The mail's delivery state as stored now (after a conditional write found it moved on)."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.storage.models import MessageModel

    if mail.is_acknowledgement:
        ticket = repository.get_ticket(mail.ticket_id)
        return ticket.acknowledgement.delivery if ticket is not None and ticket.acknowledgement else None
    try:
        return MessageModel.get(mail.ticket_id, mail.message_sk, consistent_read=True,
                                attributes_to_get=["delivery"]).delivery
    except DoesNotExist:
        return None


def flag_problem(mail: SentMail, report: Report, *, sent_at: str) -> bool:
    """Show the problem on the ticket, unless it already shows one of a mail sent later."""
    from chalicelib.storage.models import DeliveryProblem, TicketModel

    problem = DeliveryProblem(**_report_fields(report), message=mail.message_sk or _ACKNOWLEDGEMENT, sent_at=sent_at)
    return _updated(mail.ticket, [TicketModel.delivery_problem.set(problem)],
                    TicketModel.delivery_problem.does_not_exist() | (TicketModel.delivery_problem.sent_at <= sent_at),
                    add_version_condition=False)


def clear_problem(mail: SentMail, *, recipient: str, delivered_sent_at: str, clearable: tuple[str, ...]) -> bool:
    """Remove the ticket's problem when this delivered mail went to the same address after the one that failed.

    Decided on the loaded ticket first, so a delivery on a ticket without a problem
    (nearly all of them) writes nothing; the condition repeats the decision against
    the stored item.
    """
    from chalicelib.storage.models import TicketModel

    problem = mail.ticket.delivery_problem
    if problem is None or problem.status not in clearable or (problem.recipient or "") != recipient \
            or not problem.sent_at < delivered_sent_at:
        return False
    return _updated(mail.ticket, [TicketModel.delivery_problem.remove()],
                    (TicketModel.delivery_problem.recipient == recipient)
                    & TicketModel.delivery_problem.status.is_in(*clearable)
                    & (TicketModel.delivery_problem.sent_at < delivered_sent_at),
                    add_version_condition=False)


def _report_fields(report: Report) -> dict[str, Any]:
    return {name: value for name, value in vars(report).items() if value is not None}


def _report_item(report: Report) -> Any:
    from chalicelib.storage.models import DeliveryReport

    return DeliveryReport(**_report_fields(report))


def _updated(item: Any, actions: list[Any], condition: Any, **options: Any) -> bool:
    """One conditional UpdateItem; False when the condition did not hold (the state had moved on)."""
    from pynamodb.exceptions import UpdateError

    try:
        item.update(actions=actions, condition=condition, **options)
    except UpdateError as err:
        if condition_failed(err):
            return False
        raise
    return True


def record_delivery_failure(ticket: Any, failure: dict[str, Any], *, acknowledgement_reason: str | None = None) -> None:
    """Append ``failure`` to the loaded ticket's delivery failures; with ``acknowledgement_reason`` its
    acknowledgement is marked failed too (so agents see at a glance that it never arrived).

    No version check: the loaded item's version moves on rather than resetting.
    """
    from chalicelib.storage.models import TicketModel

    actions = [TicketModel.delivery_failures.set((TicketModel.delivery_failures | []).append([failure]))]
    if acknowledgement_reason is not None:
        actions += [TicketModel.acknowledgement.status.set("failed"),
                    TicketModel.acknowledgement.reason.set(acknowledgement_reason)]
    ticket.update(actions=actions, add_version_condition=False)
