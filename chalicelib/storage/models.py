"""PynamoDB models: one class per table, indexes declared beside them.

Table names come from the environment when this module is imported (PynamoDB
reads ``Meta.table_name`` at class creation), defaulting to the names in
``.chalice/config.json`` and ``infra/resources.yaml``. Connections are made on
first use and honour ``AWS_ENDPOINT_URL`` through botocore.
"""
from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import config


def _table(name: str) -> str:
    return config.setting(name)


class TicketsByStatus(GlobalSecondaryIndex["TicketModel"]):
    """Agent views by status, newest activity first (``GET /tickets?status=``)."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    last_activity_at = UnicodeAttribute(range_key=True)


class TicketsByCustomer(GlobalSecondaryIndex["TicketModel"]):
    """A customer's past tickets, for the agent's context."""

    class Meta:
        index_name = "by_customer"
        projection = AllProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Acknowledgement(MapAttribute):
    """The auto-reply owed for a ticket, written with the ticket so it is never lost.

    status: pending (written, not yet sent) → sent; or suppressed (never sent, reason says why).
    """

    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)  # deterministic, derived from the ticket
    provider_message_id = UnicodeAttribute(null=True)  # what SES returned
    to = UnicodeAttribute(null=True)
    sent_at = UnicodeAttribute(null=True)


class TicketModel(Model):
    class Meta:
        table_name = _table("TICKETS_TABLE")

    ticket_id = UnicodeAttribute(hash_key=True)
    number = NumberAttribute()
    subject = UnicodeAttribute(default="")
    status = UnicodeAttribute()
    priority = UnicodeAttribute()
    category = UnicodeAttribute(default="general")  # the queue it belongs to
    tags = UnicodeSetAttribute(null=True)
    triage = MapAttribute(null=True)  # {"rules_fired": [...], "reasons": [...]}: why it got its priority
    channel = UnicodeAttribute()  # where the conversation started
    channels = UnicodeSetAttribute(null=True)  # every channel used
    customer_id = UnicodeAttribute()
    requester = UnicodeAttribute(null=True)  # identity key of the customer who opened it
    requester_name = UnicodeAttribute(null=True)
    participants = UnicodeSetAttribute(null=True)  # identity keys allowed to join by subject token
    thread_message_ids = ListAttribute(of=UnicodeAttribute, default=list)  # for References on our replies
    created_at = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    last_customer_message_at = UnicodeAttribute(null=True)
    first_response_at = UnicodeAttribute(null=True)  # first HUMAN reply; acknowledgements never set it
    message_count = NumberAttribute(default=0)
    reopen_count = NumberAttribute(default=0)
    quarantine_reason = UnicodeAttribute(null=True)
    acknowledgement = Acknowledgement(null=True)
    reply_routes = JSONAttribute(null=True)  # channel → where replies go (see InboundMessage.reply_route)
    delivery_failures = ListAttribute(of=MapAttribute, null=True)  # replies that could not be delivered
    version = VersionAttribute()

    by_status = TicketsByStatus()
    by_customer = TicketsByCustomer()


class AttachmentInfo(MapAttribute):
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    s3_key = UnicodeAttribute(default="")
    ref = UnicodeAttribute(null=True)  # the platform's media id or URL


class MessageModel(Model):
    """One message on a ticket; ``sk`` sorts a ticket's messages by time."""

    class Meta:
        table_name = _table("MESSAGES_TABLE")

    ticket_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    message_key = UnicodeAttribute()  # idempotency key, e.g. in:email:<ses id>
    direction = UnicodeAttribute()  # inbound | outbound
    kind = UnicodeAttribute()  # customer | auto_reply | acknowledgement | agent | note
    channel = UnicodeAttribute()
    sender = UnicodeAttribute()  # identity key, e.g. email:ann@example.com
    sender_name = UnicodeAttribute(default="")
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    subject = UnicodeAttribute(default="")
    text = UnicodeAttribute(null=True)
    reply_text = UnicodeAttribute(null=True)
    html = UnicodeAttribute(null=True)
    body_s3_key = UnicodeAttribute(null=True)  # set when the bodies were too large for the item
    attachments = ListAttribute(of=AttachmentInfo, default=list)
    message_id = UnicodeAttribute(null=True)
    auto_reply_reason = UnicodeAttribute(null=True)
    joined_by = UnicodeAttribute(null=True)  # new-ticket | message-id | reply-address | subject-token
    created_at = UnicodeAttribute()


class LastInquiry(MapAttribute):
    ticket_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    subject = UnicodeAttribute(default="")
    excerpt = UnicodeAttribute(default="")
    at = UnicodeAttribute()


class CustomerModel(Model):
    class Meta:
        table_name = _table("CUSTOMERS_TABLE")

    customer_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    identities = UnicodeSetAttribute(null=True)  # e.g. {"email:ann@example.com"}
    first_seen_at = UnicodeAttribute(null=True)
    last_seen_at = UnicodeAttribute(null=True)
    last_inquiry = LastInquiry(null=True)
    ticket_count = NumberAttribute(default=0)


class LookupModel(Model):
    """Small key → value records that make every pipeline read a key lookup.

    Keys: ``in:<channel>:<external id>`` (inbound idempotency), ``mid:<Message-ID>``
    (threading), ``tno:<number>`` (subject token), ``id:<kind>:<value>`` (identity →
    customer, plus the acknowledgement rate window), ``conv:<conversation>`` (a chat
    conversation's current ticket), ``counter:ticket-number``.
    Several kinds share one table so the pipeline fetches all of them in one
    BatchGetItem.
    """

    class Meta:
        table_name = _table("LOOKUPS_TABLE")

    lookup_key = UnicodeAttribute(hash_key=True)
    ticket_id = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    value = NumberAttribute(null=True)
    ack_window = UnicodeAttribute(null=True)
    ack_count = NumberAttribute(null=True)
    open_ticket_id = UnicodeAttribute(null=True)  # on identities: the chat ticket an email may continue
    contacts_week = UnicodeAttribute(null=True)  # on identities: tickets opened in this 7-day bucket...
    contacts_count = NumberAttribute(null=True)  # ...for triage's repeat-contact rule
    created_at = UnicodeAttribute(null=True)


class AgentModel(Model):
    """An agent; the API token is stored only as a SHA-256 hash."""

    class Meta:
        table_name = _table("AGENTS_TABLE")

    agent_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute(default="agent")  # agent | admin
    token_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()


ALL_MODELS: tuple[type[Model], ...] = (TicketModel, MessageModel, CustomerModel, LookupModel, AgentModel)


def reset_connections() -> None:
    """Drop cached PynamoDB connections so the next call picks up a new endpoint/region."""
    for model in ALL_MODELS:
        model._connection = None
