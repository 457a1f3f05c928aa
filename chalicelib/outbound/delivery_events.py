"""The ``ses_events`` function: SES sending events for the mail we sent, recorded on the ticket.

SES publishes them through the configuration set every mail is sent with
(``SES_CONFIGURATION_SET``) to an SNS topic, and SNS invokes this function with one
record per event (an EventBridge rule's event, ``detail`` = the same JSON, is read
too). Event formats: SES Developer Guide, "Contents of event data that Amazon SES
publishes to Amazon SNS". The sender is AWS, but the shapes vary by event type and
fields go missing (a DeliveryDelay has no headers, a Reject no timestamp of its
own), so this parses leniently and refuses only what it cannot use: a bad or
unknown event is logged with its reason and skipped, never raised, because SNS
would only deliver it again. What is raised is retried by Lambda: DynamoDB
errors, and an event that overtook the recording of its own mail.

Every function imports app.py and so this module: the service and the mail
helpers it uses load on the first event, not at every cold start.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from typing import TYPE_CHECKING

from chalicelib import clock
from chalicelib.observability import count, logger

if TYPE_CHECKING:
    from chalicelib.service.deliveries import DeliveryEvent

__all__ = ["UnusableEvent", "handle", "parse"]

_STATUS_OF = {"Delivery": "delivered", "Bounce": "bounced", "Complaint": "complained", "Reject": "rejected",
              "DeliveryDelay": "delayed"}
_NOT_RECORDED = frozenset({"Send", "Open", "Click", "Rendering Failure", "Subscription"})  # not published to us
_DETAIL_OF = {"Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint", "Reject": "reject",
              "DeliveryDelay": "deliveryDelay"}
_RECIPIENTS_OF = {"Bounce": "bouncedRecipients", "Complaint": "complainedRecipients",
                  "DeliveryDelay": "delayedRecipients"}
_SES_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,199}")  # hex groups joined by dashes
_WORD = re.compile(r"[A-Za-z][A-Za-z ]{0,39}")  # bounceType, bounceSubType, delayType: short English words
_MAX_DOCUMENT_CHARS = 1_000_000  # SNS messages are at most 256 KB; anything far larger is not SES's
_MAX_RECIPIENTS = 50  # SES's own limit per mail
_MAX_ADDRESS_CHARS = 320  # RFC 5321 §4.5.3.1: 64 + @ + 255
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class UnusableEvent(Exception):
    """The event cannot (or need not) be recorded; ``reason`` says why, for the log.

    ``expected``: an event type we do not record, or SES's own set-up test message,
    logged at info; anything else is malformed and logged as a warning.
    """

    def __init__(self, reason: str, *, expected: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expected = expected


def handle(event: Any) -> dict[str, Any]:
    """Record every SES event the invocation carries; returns what became of each (for logs and tests)."""
    from chalicelib.service import deliveries

    outcomes: list[str] = []
    for source_id, document in _documents(event):
        try:
            parsed = parse(document, now=clock.now())
        except UnusableEvent as err:
            _skipped(source_id, err)
            outcomes.append(f"skipped: {err.reason}")
            continue
        # MailNotYetRecorded and AWS errors propagate: Lambda retries the invocation (async: twice,
        # then its on-failure destination), and recording is idempotent.
        outcomes.append(deliveries.record(parsed))
    return {"outcomes": outcomes}


def parse(document: Any, *, now: datetime) -> DeliveryEvent:
    """One SES event (its JSON text, or the decoded object) as a ``DeliveryEvent``; ``UnusableEvent`` if not one."""
    from chalicelib.outbound import email as email_out
    from chalicelib.service.deliveries import DeliveryEvent
    record = _decoded(document)
    kind = record.get("eventType", record.get("notificationType"))
    if not isinstance(kind, str):
        raise UnusableEvent("no eventType: not an SES sending event")
    if kind in _NOT_RECORDED:
        raise UnusableEvent(f"{kind} events are not recorded", expected=True)
    if kind not in _STATUS_OF:
        raise UnusableEvent(f"unknown eventType {kind[:40]!r}")
    mail = record.get("mail")
    if not isinstance(mail, dict):
        raise UnusableEvent(f"{kind} event without a mail object")
    ses_id = mail.get("messageId")
    if not isinstance(ses_id, str) or not _SES_MESSAGE_ID.fullmatch(ses_id):
        raise UnusableEvent(f"{kind} event without a usable mail.messageId")
    sent = _instant(mail.get("timestamp"))
    if sent is None:
        raise UnusableEvent(f"{kind} event without a usable mail.timestamp")
    detail = record.get(_DETAIL_OF[kind])
    detail = detail if isinstance(detail, dict) else {}
    happened = _instant(detail.get("timestamp")) or sent  # a Reject carries no time of its own
    entries = _recipient_entries(detail, kind)
    recipients = _addresses([entry.get("emailAddress") for entry in entries] if kind in _RECIPIENTS_OF
                            else detail.get("recipients"))
    recipients = recipients or _addresses(mail.get("destination"))
    first = entries[0] if entries else {}
    return DeliveryEvent(
        status=_STATUS_OF[kind],
        provider_message_id=email_out.provider_message_id(ses_id),
        sent_at=clock.iso(sent),
        at=clock.iso(happened),
        recipients=recipients,
        bounce_type=_word(detail.get("bounceType")) if kind == "Bounce" else None,
        bounce_subtype=_word(detail.get("bounceSubType")) if kind == "Bounce" else None,
        diagnostic=_diagnostic(kind, detail, first),
        ticket_number=_ticket_number(mail.get("headers")),
        age_seconds=max(0.0, (now - sent).total_seconds()),
    )


def _documents(event: Any) -> Iterator[tuple[str, Any]]:
    """(an id for the log, the SES event) per record: SNS's Records, or one EventBridge event."""
    if not isinstance(event, dict):
        yield "", event
        return
    if isinstance(event.get("detail"), dict):  # EventBridge: source aws.ses, detail-type "Email Bounced"...
        yield str(event.get("id", ""))[:100], event["detail"]
        return
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        yield "", event  # not a Lambda event: treat it as the SES event itself
        return
    for record in records:
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict):
            yield "", record
            continue
        yield str(sns.get("MessageId", ""))[:100], sns.get("Message")


def _decoded(document: Any) -> dict[str, Any]:
    if isinstance(document, (str, bytes, bytearray)):
        if len(document) > _MAX_DOCUMENT_CHARS:
            raise UnusableEvent(f"event of {len(document):,} characters is not one of SES's")
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as err:  # SES's set-up test message is plain text
            text = document[:80] if isinstance(document, str) else repr(bytes(document[:80]))
            raise UnusableEvent(f"not JSON: {text!r}", expected="Amazon SES" in str(text)) from err
    if not isinstance(document, dict):
        raise UnusableEvent(f"event is a JSON {type(document).__name__}, not an object")
    return document


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 time as SES writes it ("2017-08-05T00:41:02.669Z"), in UTC; None if it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # year 1 with a positive offset
        return None


def _recipient_entries(detail: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    entries = detail.get(_RECIPIENTS_OF.get(kind, ""))
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries[:_MAX_RECIPIENTS] if isinstance(entry, dict)]


def _addresses(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        return ()
    found: list[str] = []
    for value in values[:_MAX_RECIPIENTS]:
        if isinstance(value, str) and "@" in value and len(value) <= _MAX_ADDRESS_CHARS \
                and not _CONTROL.search(value):
            address = value.strip().lower()
            if address not in found:
                found.append(address)
    return tuple(found)


def _word(value: Any) -> str | None:
    return value if isinstance(value, str) and _WORD.fullmatch(value) else None


def _diagnostic(kind: str, detail: dict[str, Any], first: dict[str, Any]) -> str | None:
    """The remote server's answer (bounce, delay), SES's reason (reject), the feedback type (complaint)."""
    if kind in ("Bounce", "DeliveryDelay"):
        text = _text(first.get("diagnosticCode")) or _text(first.get("status"))
        delay = _word(detail.get("delayType")) if kind == "DeliveryDelay" else None
        return f"{delay}: {text}" if delay and text else delay or text
    if kind == "Reject":
        return _text(detail.get("reason"))
    if kind == "Complaint":
        feedback = _text(detail.get("complaintFeedbackType"))
        return f"complaint feedback: {feedback}" if feedback else None
    return None


def _text(value: Any) -> str | None:
    from chalicelib.service.deliveries import DIAGNOSTIC_CHARS

    if not isinstance(value, str):
        return None
    cleaned = " ".join(_CONTROL.sub(" ", value[:2 * DIAGNOSTIC_CHARS]).split())
    return cleaned[:DIAGNOSTIC_CHARS] or None


def _ticket_number(headers: Any) -> int | None:
    """X-Relay-Desk-Ticket of the mail, when SES passed the headers on (not in every event type)."""
    if not isinstance(headers, list):
        return None
    for header in headers[:200]:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "x-relay-desk-ticket":
            value = header.get("value")
            if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() \
                    and len(value.strip()) <= 12:
                return int(value.strip())
    return None


def _skipped(source_id: str, err: UnusableEvent) -> None:
    log = logger.info if err.expected else logger.warning
    log("SES event skipped", extra={"reason": err.reason, "sns_message_id": source_id})
    count("MailDeliveryEventsSkipped", channel="email", expected="yes" if err.expected else "no")
