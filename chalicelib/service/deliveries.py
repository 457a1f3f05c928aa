"""Whether a mail we sent reached the customer: SES sending events recorded on the message and the ticket.

SES publishes an event per mail and recipient (Delivery, Bounce, Complaint,
Reject, DeliveryDelay) through SNS, which delivers at least once and in no
particular order. So each mail keeps its most final state, never a later
event's weaker one: ``delayed < delivered < complained < bounced | rejected``
(a Delivery that arrives after the Bounce does not un-bounce the mail; a
DeliveryDelay after the Delivery changes nothing). SES reports a soft bounce
only once it has stopped retrying, so every bounce is final.

The ticket carries one ``delivery_problem``: the newest of its mails that
bounced, was rejected or drew a complaint, for the console to flag. A later
mail of the same ticket *delivered* to the same address clears a bounce or a
rejection (the address works again, e.g. a full mailbox was emptied); a
complaint is never cleared by a delivery: the customer marked our mail as spam,
and an agent should know that for as long as the ticket is open.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.observability import count, logger

__all__ = ["DIAGNOSTIC_CHARS", "FLAGGED", "STATUSES", "DeliveryEvent", "MailNotYetRecorded", "record", "weaker_than"]

# Most final last; bounced and rejected are equally final (SES gave up, or never tried).
STATUSES: tuple[str, ...] = ("queued", "sent", "delayed", "delivered", "complained", "bounced", "rejected")
_RANK = {"queued": 0, "sent": 1, "delayed": 2, "delivered": 3, "complained": 4, "bounced": 5, "rejected": 5}
FLAGGED = frozenset({"complained", "bounced", "rejected"})  # what the ticket's delivery_problem shows
_CLEARED_BY_DELIVERY = frozenset({"bounced", "rejected"})
DIAGNOSTIC_CHARS = 500  # a remote server's answer can be kilobytes; an agent needs its first line or two
_RECENT_SECONDS = 15 * 60  # an unknown mail younger than this may not be recorded yet: retry instead of skipping


class MailNotYetRecorded(Exception):
    """An event for one of our ticket mails arrived before the send was recorded: Lambda retries it."""


@dataclass(frozen=True)
class DeliveryEvent:
    """One SES sending event, validated by the edge (``chalicelib.outbound.delivery_events``)."""

    status: str  # delayed | delivered | complained | bounced | rejected
    provider_message_id: str  # as ``send`` returned it: "<SES id>@<region>.amazonses.com"
    sent_at: str  # when SES accepted the mail (mail.timestamp), our ISO format
    at: str  # when the event happened, our ISO format
    recipients: tuple[str, ...]  # lower-cased addresses the event is about
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    diagnostic: str | None = None
    ticket_number: int | None = None  # X-Relay-Desk-Ticket of the mail, when SES passed its headers on
    age_seconds: float = 0.0  # how long ago SES accepted the mail


def weaker_than(status: str) -> tuple[str, ...]:
    """The states a mail may move from to ``status``: every strictly weaker one."""
    rank = _RANK[status]
    return tuple(name for name in STATUSES if _RANK[name] < rank)


def record(event: DeliveryEvent) -> str:
    """Record the event on the mail it is about and flag (or clear) the ticket; returns what happened.

    Idempotent: a redelivered event finds the mail already in its state and moves nothing
    (the ticket's flag is set again with the same values, which changes nothing either).
    """
    from chalicelib.storage import deliveries

    mail = deliveries.find_sent_mail(event.provider_message_id)
    if mail is None:
        if event.ticket_number is not None and event.age_seconds < _RECENT_SECONDS:
            raise MailNotYetRecorded(f"ticket #{event.ticket_number}'s mail {event.provider_message_id} "
                                     "is not recorded yet")
        logger.info("SES event for a mail that is not a ticket's (a notification, or long gone)",
                    extra={"status": event.status, "provider_message_id": event.provider_message_id})
        return "unknown mail"
    logger.set_correlation_id(mail.ticket_id)
    recipient = mail.recipient if mail.recipient in event.recipients or not event.recipients \
        else event.recipients[0]
    report = deliveries.Report(status=event.status, at=event.at, recipient=recipient or None,
                               bounce_type=event.bounce_type, bounce_subtype=event.bounce_subtype,
                               diagnostic=(event.diagnostic or "")[:DIAGNOSTIC_CHARS] or None)
    moved = deliveries.record_report(mail, report, weaker=weaker_than(event.status))
    current = report.status if moved else deliveries.current_status(mail)
    if event.status in FLAGGED and current == event.status:
        deliveries.flag_problem(mail, report, sent_at=event.sent_at)
    elif event.status == "delivered" and recipient:
        if deliveries.clear_problem(mail, recipient=recipient, delivered_sent_at=event.sent_at,
                                    clearable=tuple(sorted(_CLEARED_BY_DELIVERY))):
            logger.info("a later mail reached the address: delivery problem cleared")
    if moved:
        count("MailDeliveryEvents", channel="email", status=event.status, kind="acknowledgement" if mail.is_acknowledgement else "reply")
        return event.status
    return f"kept {current}"
