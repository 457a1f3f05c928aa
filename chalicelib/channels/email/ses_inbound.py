"""SES receipt rule → queue: the ``ses_inbound`` Lambda action.

SES has already stored the raw MIME in S3 (the rule's S3 action runs first).
This function only checks the event's shape and enqueues a pointer with the
verdicts, one SQS call per mail; the parsing happens behind the queue where
retries and dead-lettering are SQS's job.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SESEvent

from chalicelib import config
from chalicelib.observability import count, logger
from chalicelib.storage import queues as queue

VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")


def handle(event: Any) -> dict[str, str]:
    """Enqueue every record; a malformed event is parked with its reason, never raised."""
    try:
        pointers = [_pointer(record) for record in SESEvent(event).records]
        if not pointers:
            raise ValueError("event has no Records")
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        queue.park(event, f"SES event of the wrong shape: {err!r}", source="ses_inbound")
        return {"disposition": "CONTINUE"}
    for pointer, sender in pointers:
        logger.set_correlation_id(pointer["ses_message_id"])
        queue.enqueue(pointer, conversation_key=f"email:{sender}", dedup_key=pointer["ses_message_id"])
        logger.info("email enqueued", extra={"bucket": pointer["bucket"], "key": pointer["key"]})
    count("EmailsReceived", channel="email", value=len(pointers))
    return {"disposition": "CONTINUE"}


def _pointer(record: Any) -> tuple[dict[str, Any], str]:
    mail, receipt = record.ses.mail, record.ses.receipt
    message_id = mail.message_id
    if not isinstance(message_id, str) or not message_id or "/" in message_id:
        raise ValueError(f"bad SES messageId {message_id!r}")
    verdicts = {name: _verdict(receipt, name) for name in VERDICTS}
    sender = _sender(mail)
    pointer = {
        "v": 1,
        "kind": "ses",
        "ses_message_id": message_id,
        "bucket": config.setting("MAIL_BUCKET"),
        "key": config.setting("INBOUND_PREFIX") + message_id,
        "verdicts": verdicts,
        "recipients": [r.lower() for r in receipt.raw_event.get("recipients", []) if isinstance(r, str)],
        "timestamp": mail.raw_event.get("timestamp"),
    }
    return pointer, sender


def _verdict(receipt: Any, name: str) -> str:
    status = (receipt.raw_event.get(f"{name}Verdict") or {}).get("status")
    return status if isinstance(status, str) else "MISSING"


def _sender(mail: Any) -> str:
    from email.utils import parseaddr  # pulls in socket, locale, calendar: not on every cold start
    from_header = (mail.raw_event.get("commonHeaders") or {}).get("from") or []
    for value in from_header if isinstance(from_header, list) else [from_header]:
        address = parseaddr(str(value))[1].lower()
        if address:
            return address
    source = mail.raw_event.get("source")
    return source.lower() if isinstance(source, str) and source else "unknown"
