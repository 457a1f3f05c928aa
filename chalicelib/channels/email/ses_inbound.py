"""SES receipt rule → queue: the ``ses_inbound`` Lambda action.

SES has already stored the raw MIME in S3 (the rule's S3 action runs first).
This function only checks the event's shape and enqueues a pointer with the
verdicts, one SQS call per mail; the parsing happens behind the queue where
retries and dead-lettering are SQS's job.

The FIFO group (``EMAIL_FIFO_GROUP``) is the sender's by default: all their mail is
processed one at a time, in arrival order, so their per-sender counts (the
acknowledgement cap, repeat contacts) are exact. ``thread`` makes it the sender's
thread (``email:<sender>:<thread root>``, read from the headers SES hands over): a
thread's mails stay in order, one sender's threads run side by side, for a sender
mailing faster than one group drains (docs/scaling.md, ~7 a second). Their counts stay
exact: two of their new mails at the same instant race on them, and the one that finds
them moved has sent and stored nothing and runs again (``storage.inbound.intend_acknowledgement``).
Without the headers (SES truncated them) the group is the sender's.
"""
from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SESEvent

from chalicelib import config
from chalicelib.observability import count, logger
from chalicelib.storage import queues as queue

VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
GROUPS = ("sender", "thread")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")  # a msg-id; SES's header values are bounded, this read is too
_HEADER_CHARS = 2000  # of References: its first id is the root, at the front


def handle(event: Any) -> dict[str, str]:
    """Enqueue every record; a malformed event is parked with its reason, never raised."""
    mode = config.setting("EMAIL_FIFO_GROUP")
    if mode not in GROUPS:  # a deployment's mistake: the mail waits in the dead-letter queue for the fix
        queue.park(event, f"EMAIL_FIFO_GROUP must be one of {', '.join(GROUPS)}, not {mode!r}: fix the setting, "
                          "then redrive", source="ses_inbound")
        return {"disposition": "CONTINUE"}
    try:
        pointers = [_pointer(record, mode) for record in SESEvent(event).records]
        if not pointers:
            raise ValueError("event has no Records")
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        queue.park(event, f"SES event of the wrong shape: {err!r}", source="ses_inbound")
        return {"disposition": "CONTINUE"}
    for pointer, group in pointers:
        logger.set_correlation_id(pointer["ses_message_id"])
        queue.enqueue(pointer, conversation_key=group, dedup_key=pointer["ses_message_id"])
        logger.info("email enqueued", extra={"bucket": pointer["bucket"], "key": pointer["key"]})
    count("EmailsReceived", channel="email", value=len(pointers))
    return {"disposition": "CONTINUE"}


def _pointer(record: Any, mode: str) -> tuple[dict[str, Any], str]:
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
    return pointer, _group(mail.raw_event, sender, mode)


def _group(mail: dict[str, Any], sender: str, mode: str) -> str:
    """The mail's FIFO conversation: the sender's, or with ``EMAIL_FIFO_GROUP=thread`` the sender's thread."""
    root = _thread_root(mail) if mode == "thread" else None
    return f"email:{sender}:{root}" if root else f"email:{sender}"


def _thread_root(mail: dict[str, Any]) -> str | None:
    """The Message-ID that started the mail's thread: References' first, else In-Reply-To, else its own;
    None when SES truncated the headers (a reply's references may be what was cut)."""
    if mail.get("headersTruncated") is not False:
        return None
    found: dict[str, str] = {}
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        name = header.get("name") if isinstance(header, dict) else None
        value = header.get("value") if isinstance(header, dict) else None
        if isinstance(name, str) and isinstance(value, str) and name.lower() in ("references", "in-reply-to",
                                                                                    "message-id"):
            found.setdefault(name.lower(), value[:_HEADER_CHARS])
    for name in ("references", "in-reply-to", "message-id"):
        match = _MESSAGE_ID.search(found.get(name, ""))
        if match:
            return match.group(1)
    return None


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
