"""At most once for what the desk sends: a claim written before a platform or SES is asked to send.

Slack, Telegram, WhatsApp, Messenger and SES take no idempotency key, so a send whose outcome is
unknown (the function died or a write failed after the platform accepted it) must not simply be
repeated: the customer would get the message twice. The outbound worker claims each message's key
(``out:<key>``, a conditional PutItem, 1 write unit) before it sends. A redelivered message finds
the claim: if its delivery was recorded, nothing is owed; if not, the outcome is unknown and the
worker parks it with that reason instead of sending again. A failure that certainly sent nothing (the
platform refused the connection, or answered 429/503) gives the claim back (``release``). Claims expire with DynamoDB's TTL after
``KEEP``, long after SQS stops redelivering.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.storage.exceptions import condition_failed

__all__ = ["KEEP", "claim", "release"]

KEEP = timedelta(days=14)  # SQS keeps a message at most 14 days


def claim(key: str, *, ticket_id: str, now: datetime) -> bool:
    """Claim the sending of the outbound message ``key``; False when an earlier attempt claimed it."""
    from pynamodb.exceptions import PutError

    from chalicelib.storage.models import LookupModel

    item = LookupModel(f"out:{key}", ticket_id=ticket_id, created_at=now.isoformat(),
                       expires_at=int((now + KEEP).timestamp()))
    try:
        item.save(condition=LookupModel.lookup_key.does_not_exist())
    except PutError as err:
        if condition_failed(err):
            return False
        raise
    return True


def release(key: str) -> None:
    """Give the claim back after a failure that certainly sent nothing (a refused connection, a 429 or 503): the
    redelivery may send. Never after an unknown outcome (``outbound.http.DeliveryOutcomeUnknown``)."""
    from chalicelib.storage.models import LookupModel

    LookupModel(f"out:{key}").delete()
