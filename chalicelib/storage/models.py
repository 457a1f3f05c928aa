"""PynamoDB models: one class per table, indexes declared beside them.

Table names come from the environment when this module is imported (PynamoDB
reads ``Meta.table_name`` at class creation), defaulting to the names in
``.chalice/config.json`` and ``infra/resources.yaml``. Connections are made on
first use and honour ``AWS_ENDPOINT_URL`` through botocore.
"""
from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib import aws, config


def _table(name: str) -> str:
    return config.setting(name)


class CompactJSONAttribute(JSONAttribute):
    """JSON as short as it reads back the same: no spaces after separators, UTF-8 kept as is.

    Every byte of an item is billed in every write of it (and ``json.dumps``'s
    defaults add a space per member and six bytes per non-ASCII character).
    Values stored the old way read back unchanged.
    """

    def serialize(self, value: Any) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (valid in JSON input): escaped, or the write would fail
            text = json.dumps(value, separators=(",", ":"))
        return text


class SparseJSONMapAttribute(CompactJSONAttribute):
    """A JSON map whose members at their empty value (``empty``) are left out, and come back on read."""

    def __init__(self, empty: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.empty = dict(empty)

    def serialize(self, value: Any) -> str | None:
        if isinstance(value, Mapping):
            value = {key: member for key, member in value.items()
                     if key not in self.empty or member != self.empty[key]}
        return super().serialize(value)

    def deserialize(self, value: Any) -> Any:
        loaded = super().deserialize(value)
        return {**copy.deepcopy(self.empty), **loaded} if isinstance(loaded, dict) else loaded


#: The SLA state's members while nothing has happened yet (service/clocks.py writes every one).
_SLA_EMPTY = {
    "due_at": None, "due_target": None, "warning_at": None, "breaches": [], "warned": [], "escalated": [],
    "first_response": None, "resolution": None, "handle_time": {"calendar": 0.0, "business": 0.0},
    "customer_wait": {"calendar": 0.0, "business": 0.0}, "next_replies": [], "replies_to_resolve": None,
    "reopen_count": 0,
}


_shared_connection: Any = None
_connection_lock = threading.Lock()


class SharedConnection:
    """One PynamoDB connection (one botocore session and client) for every table.

    PynamoDB gives each model class its own connection, and each connection its own
    botocore session: on a cold start that is a session and a client per table
    (~70 ms each, measured). The tables differ only by name, which PynamoDB passes
    per call, so they share one.
    """

    @classmethod
    def _get_connection(cls) -> Any:
        global _shared_connection
        # PynamoDB has no default region (botocore: "You must specify a region"): the one aws.py's clients use.
        cls.Meta.region = config.region()  # type: ignore[attr-defined]
        # aws.py's timeouts and standard retries (PynamoDB's own: 15 s connect, 30 s read); it counts retries.
        cls.Meta.connect_timeout_seconds = aws.CONNECT_TIMEOUT_SECONDS  # type: ignore[attr-defined]
        cls.Meta.read_timeout_seconds = aws.READ_TIMEOUT_SECONDS  # type: ignore[attr-defined]
        cls.Meta.max_retry_attempts = aws.MAX_ATTEMPTS - 1  # type: ignore[attr-defined]
        table = super()._get_connection()  # type: ignore[misc]
        with _connection_lock:
            own = table.connection
            if _shared_connection is None:
                _shared_connection = own
            elif own is not _shared_connection:
                try:
                    _shared_connection.add_meta_table(own.get_meta_table(table.table_name))  # this table's schema
                except ValueError:
                    pass  # another thread made this model's connection at the same moment and added it
                table.connection = _shared_connection
        return table


class TicketsByStatus(GlobalSecondaryIndex["TicketModel"]):
    """Agent views by status, latest customer activity first (``GET /tickets?status=``).

    Also the priority and channel views: a filter on the projected ``priority`` /
    ``channel`` (they change rarely, so the entry is rarely rewritten for them),
    instead of two more indexes every status change would rewrite.

    Keyed on ``view_status``: the status, with the ticket's view shard when ``VIEW_SHARDS`` > 1
    (``open#3``; ``ticket_keys.derived``), so the busiest status is not one partition.
    """

    class Meta:
        index_name = "by_status"
        # created_at: the backlog report ages tickets without reading them
        projection = IncludeProjection(["created_at", "priority", "channel"])

    view_status = UnicodeAttribute(hash_key=True)
    view_order = UnicodeAttribute(range_key=True)


class TicketsByCustomer(GlobalSecondaryIndex["TicketModel"]):
    """A customer's past tickets, for the agent's context."""

    class Meta:
        index_name = "by_customer"
        projection = KeysOnlyProjection()

    customer_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


def _view_index(name: str, key: str, doc: str) -> type:
    """A view index keyed ``<value>#<status>`` by latest customer activity: one Query per agent view.

    Composite keys keep each view one partition read (``a-1#open``, ``billing#pending``)
    instead of a filter over every ticket of that assignee, queue, priority or channel.
    """

    class Meta:
        index_name = name
        projection = KeysOnlyProjection()

    attributes = {
        "Meta": Meta,
        "__doc__": doc,
        key: UnicodeAttribute(hash_key=True),
        "view_order": UnicodeAttribute(range_key=True),
    }
    return type(f"TicketsBy{name.title().replace('_', '')}", (GlobalSecondaryIndex,), attributes)


TicketsByAssignee = _view_index("by_assignee", "view_assignee", "My tickets / unassigned (``none#open``).")
TicketsByQueue = _view_index("by_queue", "view_queue", "A queue's tickets by status.")


class TicketsWaiting(GlobalSecondaryIndex["TicketModel"]):
    """Unassigned active tickets per queue, oldest first: what a freed agent picks up.

    Sparse: ``waiting_queue`` exists only while a ticket is active and unassigned,
    so the index holds the waiting line and nothing else (Chatwoot #10583).
    """

    class Meta:
        index_name = "waiting"
        projection = KeysOnlyProjection()

    waiting_queue = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class TicketsBySlaDue(GlobalSecondaryIndex["TicketModel"]):
    """The next SLA check (warning or due time) per shard: the SLA sweep and the overdue view.

    Sparse (only tickets with a running clock) and sharded by ticket id so the
    minute-by-minute sweep reads N small partitions instead of one hot one.
    """

    class Meta:
        index_name = "sla_due"
        projection = KeysOnlyProjection()

    sla_shard = UnicodeAttribute(hash_key=True)
    sla_check_at = UnicodeAttribute(range_key=True)


class TicketsOverdue(GlobalSecondaryIndex["TicketModel"]):
    """Tickets past an SLA due time, by how long (sparse, sharded): the overdue view.

    Set by the write that escalates the breach (the sweep, within a minute of the
    due time) and removed by the write that stops the clock (reply, solve).
    """

    class Meta:
        index_name = "overdue"
        projection = KeysOnlyProjection()

    overdue_shard = UnicodeAttribute(hash_key=True)
    overdue_at = UnicodeAttribute(range_key=True)


class TicketsByTimer(GlobalSecondaryIndex["TicketModel"]):
    """The next time-based automation rule due per shard (pending 3 days → reminder...)."""

    class Meta:
        index_name = "timers"
        projection = KeysOnlyProjection()

    timer_shard = UnicodeAttribute(hash_key=True)
    timer_at = UnicodeAttribute(range_key=True)


class DeliveryReport(MapAttribute):
    """What SES reported about one outbound mail: the most final state reached, when, and (bounces) why."""

    status = UnicodeAttribute()  # delayed | delivered | complained | bounced | rejected
    at = UnicodeAttribute()  # when SES saw it (the event's own time)
    recipient = UnicodeAttribute(null=True)
    bounce_type = UnicodeAttribute(null=True)  # Permanent | Transient | Undetermined
    bounce_subtype = UnicodeAttribute(null=True)  # General, NoEmail, MailboxFull, Suppressed...
    diagnostic = UnicodeAttribute(null=True)  # the remote server's answer, bounded (chalicelib.service.deliveries)


class DeliveryProblem(DeliveryReport):
    """On the ticket: the newest mail of it that bounced, was rejected or drew a complaint (views flag it)."""

    message = UnicodeAttribute()  # the message's id (sort key), or "acknowledgement"
    sent_at = UnicodeAttribute()  # when SES accepted that mail: a later delivery to the same address clears a bounce


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
    delivery = UnicodeAttribute(null=True)  # SES sending events: delayed | delivered | complained | bounced | rejected
    delivery_report = DeliveryReport(null=True)


class TicketModel(SharedConnection, Model):
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
    participants = UnicodeSetAttribute(null=True)  # identity keys that wrote on the ticket: they may thread into it
    copied = UnicodeSetAttribute(null=True)  # identity keys a participant copied (To/Cc): colleagues who may join
    thread_message_ids = ListAttribute(of=UnicodeAttribute, default=list)  # for References on our replies
    created_at = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    last_customer_message_at = UnicodeAttribute(null=True)
    first_response_at = UnicodeAttribute(null=True)  # first HUMAN reply; acknowledgements never set it
    message_count = NumberAttribute(default=0)
    reopen_count = NumberAttribute(default=0)
    quarantine_reason = UnicodeAttribute(null=True)
    acknowledgement = Acknowledgement(null=True)
    reply_routes = CompactJSONAttribute(null=True)  # channel → where replies go (see InboundMessage.reply_route)
    delivery_failures = ListAttribute(of=MapAttribute, null=True)  # replies that could not be delivered
    delivery_problem = DeliveryProblem(null=True)  # the newest bounce, rejection or complaint SES reported
    language = UnicodeAttribute(null=True)  # en | da | no ...: for skill-based routing
    customer_tier = UnicodeAttribute(null=True)  # the customer's tier when the ticket opened (automation, SLA)
    status_changed_at = UnicodeAttribute(null=True)
    assignee_id = UnicodeAttribute(null=True)
    assignee_name = UnicodeAttribute(null=True)
    assigned_at = UnicodeAttribute(null=True)
    assignment_source = UnicodeAttribute(null=True)  # auto:<strategy> | manual | automation:<rule>
    previous_assignee_id = UnicodeAttribute(null=True)  # for sticky reopen
    last_agent_reply_at = UnicodeAttribute(null=True)
    agent_reply_count = NumberAttribute(default=0)
    solved_at = UnicodeAttribute(null=True)
    solved_by = UnicodeAttribute(null=True)  # the agent who set it solved: per-agent reports credit them
    merged_into = UnicodeAttribute(null=True)
    merged_from = UnicodeSetAttribute(null=True)
    automation_fired = UnicodeSetAttribute(null=True)  # timer rules fired in the current status period
    sla = SparseJSONMapAttribute(_SLA_EMPTY, null=True)  # the SLA clocks' state (targets, due times, breaches, escalations)
    timeline = CompactJSONAttribute(null=True)  # [[iso time, kind, value]]: what the SLA clocks are computed from
    # Self-service (service/kb_tracking.py): the articles suggested to the customer (at most 3), what they opened
    # through the tracked links and answered ({opened_at, opened, answers}), and the deflection ({how, via, at,
    # article}) that the ticket stream counts once, when it first appears.
    kb_suggested = UnicodeSetAttribute(null=True)
    kb_links = CompactJSONAttribute(null=True)
    deflection = CompactJSONAttribute(null=True)
    auto_submitted = BooleanAttribute(null=True)  # opened by a machine (bulk, auto-reply): no survey
    survey = CompactJSONAttribute(null=True)  # CSAT: {sent_at, nonce, answered_at, rating, comment, nps, ces}
    bot = CompactJSONAttribute(null=True)  # the chat bot's part (domain/bot.py): {state, article_id, at, reason}
    reply_requests = CompactJSONAttribute(null=True)  # Idempotency-Key digests of recent replies -> their message
    # Derived keys for the views and sweeps: always written by chalicelib.storage.ticket_keys.
    # The views sort by view_order (the customer's latest message, else creation), which an
    # agent's reply or edit never moves: a reply rewrites no view index entry.
    view_order = UnicodeAttribute(null=True)
    view_status = UnicodeAttribute(null=True)
    view_assignee = UnicodeAttribute(null=True)
    view_queue = UnicodeAttribute(null=True)
    waiting_queue = UnicodeAttribute(null=True)
    sla_shard = UnicodeAttribute(null=True)
    sla_check_at = UnicodeAttribute(null=True)
    timer_shard = UnicodeAttribute(null=True)
    timer_at = UnicodeAttribute(null=True)
    overdue_shard = UnicodeAttribute(null=True)
    overdue_at = UnicodeAttribute(null=True)
    version = VersionAttribute()

    by_status = TicketsByStatus()
    by_customer = TicketsByCustomer()
    by_assignee = TicketsByAssignee()
    by_queue = TicketsByQueue()
    waiting = TicketsWaiting()
    by_sla_due = TicketsBySlaDue()
    by_timer = TicketsByTimer()
    overdue = TicketsOverdue()


class AttachmentInfo(MapAttribute):
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    s3_key = UnicodeAttribute(default="")
    ref = UnicodeAttribute(null=True)  # the platform's media id or URL


class MessageModel(SharedConnection, Model):
    """One message on a ticket; ``sk`` sorts a ticket's messages by time."""

    class Meta:
        table_name = _table("MESSAGES_TABLE")

    ticket_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    message_key = UnicodeAttribute()  # idempotency key, e.g. in:email:<ses id>
    direction = UnicodeAttribute()  # inbound | outbound
    kind = UnicodeAttribute()  # customer | auto_reply | acknowledgement | agent | bot | note
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
    flags = UnicodeSetAttribute(null=True)  # what an agent should know: message-id-reused, sender-unauthenticated
    sender_auth = UnicodeAttribute(null=True)  # email: "pass", or why SPF/DKIM/DMARC did not vouch for the sender
    delivery = UnicodeAttribute(null=True)  # outbound replies: queued → sent (failures: ticket.delivery_failures)
    delivered_at = UnicodeAttribute(null=True)
    delivery_report = DeliveryReport(null=True)  # SES sending events: delivered | delayed | bounced | ...
    choices = CompactJSONAttribute(null=True)  # a bot question's buttons, [{value, label}] (the widget shows them)
    created_at = UnicodeAttribute()


class LastInquiry(MapAttribute):
    ticket_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    subject = UnicodeAttribute(default="")
    excerpt = UnicodeAttribute(default="")
    at = UnicodeAttribute()


class CustomersByName(GlobalSecondaryIndex["CustomerModel"]):
    """Customers whose name starts with what an agent typed (``GET /search?q=``), by folded name.

    Sparse and keys only: ``name_prefix`` (the folded name's first two characters,
    ``chalicelib.domain.finding``) exists only on a customer with a name, so the
    index is one small partition per two letters and a customer's other writes
    (last seen, last inquiry) never touch it; the page's customers are read after.
    """

    class Meta:
        index_name = "by_name"
        projection = KeysOnlyProjection()

    name_prefix = UnicodeAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True)


class CustomerModel(SharedConnection, Model):
    class Meta:
        table_name = _table("CUSTOMERS_TABLE")

    customer_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    identities = UnicodeSetAttribute(null=True)  # e.g. {"email:ann@example.com"}
    first_seen_at = UnicodeAttribute(null=True)
    last_seen_at = UnicodeAttribute(null=True)
    last_inquiry = LastInquiry(null=True)
    ticket_count = NumberAttribute(default=0)
    tier = UnicodeAttribute(null=True)  # e.g. vip: from the customer import, read by triage
    language = UnicodeAttribute(null=True)  # stated preference (en, da, no): domain.language.for_customer
    attributes = CompactJSONAttribute(null=True)  # what the shop knows: plan, account size, country...
    purchases = CompactJSONAttribute(null=True)  # [{order_id, at, total, currency, items}], newest first
    merged_into = UnicodeAttribute(null=True)
    # The by_name index's keys, derived from ``name`` (storage.customers.name_actions writes both).
    name_prefix = UnicodeAttribute(null=True)
    name_key = UnicodeAttribute(null=True)

    by_name = CustomersByName()


class LookupModel(SharedConnection, Model):
    """Small key → value records that make every pipeline read a key lookup.

    Keys: ``in:<channel>:<external id>`` (inbound idempotency), ``mid:<Message-ID>``
    (threading, and the sender and content digest of inbound mail with that id), ``tno:<number>`` (subject token), ``order:<order id>`` (a shop's order → its customer), ``id:<kind>:<value>`` (identity →
    customer, plus the acknowledgement rate window), ``conv:<conversation>`` (a chat
    conversation's current ticket), ``counter:ticket-number``, ``rl:<scope>:<client>:<window>``
    (rate-limit counters, deleted by TTL).
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
    ack_day = UnicodeAttribute(null=True)  # on identities: the UTC day of the daily acknowledgement cap...
    ack_day_count = NumberAttribute(null=True)  # ...and acknowledgements sent that day
    sender = UnicodeAttribute(null=True)  # on mid: keys of inbound mail: who sent the message with that id...
    digest = UnicodeAttribute(null=True)  # ...and a digest of its content, so a reused id is not a duplicate
    expires_at = NumberAttribute(null=True)  # epoch seconds: DynamoDB's TTL deletes rate-limit counters (rl: keys)
    open_ticket_id = UnicodeAttribute(null=True)  # on identities: the chat ticket an email may continue
    not_sent = BooleanAttribute(null=True)  # on ack: keys: SES certainly did not send it (a redelivery may)...
    repeat_contacts = NumberAttribute(null=True)  # ...and the sender's contacts this week before it, as first read
    contacts_week = UnicodeAttribute(null=True)  # on identities: tickets opened in this 7-day bucket...
    contacts_count = NumberAttribute(null=True)  # ...for triage's repeat-contact rule
    tier = UnicodeAttribute(null=True)  # on identities: the customer's tier, so triage needs no extra read
    message_sk = UnicodeAttribute(null=True)  # on mid: keys of mail we sent: the message it is (SES events)
    # on conv: keys: every ticket the conversation has had, oldest first (the web chat shows them all)
    conversation_tickets = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UnicodeAttribute(null=True)


# The agent attributes the directory index carries (AgentDirectory); infra/resources.yaml lists the same.
DIRECTORY_FIELDS = ["name", "email", "role", "created_at", "skills", "languages", "capacity", "status",
                    "working_hours", "open_count", "last_assigned_at", "active"]


class AgentDirectory(GlobalSecondaryIndex["AgentModel"]):
    """Every agent in one Query (the directory is small: 1,000 agents fit a page or two).

    Projects only what the directory's readers use (``agents_api.view``, ``storage.agents.state`` for
    assignment, the admin CLI, the KPI aggregates' agent ids): credentials (the API token's hash, sign-in
    links, console sessions) are not copied, so writing them costs no index write and they never leave
    the item. A reader needing another field reads the agent (``storage.agents.get``) or adds it here and
    in infra/resources.yaml.
    """

    class Meta:
        index_name = "directory"
        projection = IncludeProjection(DIRECTORY_FIELDS)

    directory = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute(range_key=True)


class AgentModel(SharedConnection, Model):
    """An agent; the API token is stored only as a SHA-256 hash.

    ``open_count`` is the agent's load (active tickets assigned), changed only in
    the same transaction that assigns or releases a ticket, with ``open_count <
    capacity`` as the condition, so no agent ever exceeds capacity.
    ``last_assigned_at`` is round robin's cursor, per agent (no shared hot key).
    """

    class Meta:
        table_name = _table("AGENTS_TABLE")

    agent_id = UnicodeAttribute(hash_key=True)
    directory = UnicodeAttribute(default="agents")
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute(default="agent")  # agent | admin
    token_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    skills = UnicodeSetAttribute(null=True)  # queues served; "*" = every queue
    languages = UnicodeSetAttribute(null=True)
    capacity = NumberAttribute(default=10)
    status = UnicodeAttribute(default="online")  # online | away | offline
    working_hours = CompactJSONAttribute(null=True)  # {timezone, days, start, end}; none = always
    open_count = NumberAttribute(default=0)
    last_assigned_at = UnicodeAttribute(default="")
    active = BooleanAttribute(default=True)  # False once removed (kept for the audit trail)
    updated_at = UnicodeAttribute(null=True)
    # Console sign-in (service/signin.py; not in the directory index): the one pending emailed link's
    # short hash and expiry (epoch s), and the open sessions, {<session short hash>: <expiry, epoch ms>}.
    signin_link_hash = UnicodeAttribute(null=True)
    signin_link_expires = NumberAttribute(null=True)
    sessions = MapAttribute(null=True)

    by_directory = AgentDirectory()


class AuditModel(SharedConnection, Model):
    """A ticket's audit trail: one item per change, written in the change's own transaction."""

    class Meta:
        table_name = _table("AUDIT_TABLE")

    ticket_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # <iso time>#<random>: sorts by time
    at = UnicodeAttribute()
    actor = UnicodeAttribute()  # agent id | customer | system | automation:<rule> | sla
    actor_name = UnicodeAttribute(default="")
    action = UnicodeAttribute()  # created | updated | assigned | replied | note | merged | ...
    changes = CompactJSONAttribute(null=True)  # {field: [old, new]}
    detail = UnicodeAttribute(null=True)


class MacroModel(SharedConnection, Model):
    """Canned responses; one partition (``kind``) so listing is a Query, never a Scan."""

    class Meta:
        table_name = _table("MACROS_TABLE")

    kind = UnicodeAttribute(hash_key=True, default="macro")
    macro_id = UnicodeAttribute(range_key=True)
    definition = CompactJSONAttribute()  # the validated chalicelib.domain.macros.Macro as JSON
    updated_by = UnicodeAttribute(default="")
    updated_at = UnicodeAttribute()
    deleted = BooleanAttribute(default=False)  # a tombstone hides a starter macro
    version = VersionAttribute()


class AggregateModel(SharedConnection, Model):
    """Daily KPI aggregates: a report over a year reads days × groups items, never tickets.

    ``series`` is ``<group kind>#<group>`` (``channel#email``, ``all#all``); ``day`` is
    ``YYYY-MM-DD`` in UTC. Writes and reads go through ``chalicelib.storage.aggregates``.

    Every count is a flat, top-level number attribute: ``c_<counter>`` (``c_created``)
    and ``b<bucket>`` (``b57``) in a histogram's item, so each increment
    is one atomic ``ADD`` that creates the attribute (and the item) when it is missing
    and never loses a concurrent Lambda's count. Nested maps cannot do that: DynamoDB
    refuses ``ADD counters.created`` while ``counters`` does not exist yet, and
    ``SET counters = if_not_exists(counters, :empty)`` with ``ADD counters.created`` in
    one expression is refused as overlapping paths.

    The names are not declared one by one (4 histograms × ``histogram.BUCKETS`` would
    be ~1,500 attributes): ``counter`` and ``histogram_bucket`` make the ``NumberAttribute`` for a
    name on the fly for update actions, and ``from_raw_data`` (which every query and get
    goes through) keeps the numbers it finds for ``counter_values`` / ``bucket_values``.
    ``histogram_scheme`` is the ``histogram.SCHEME_VERSION`` the buckets were counted
    with, set with the first bucket; an item with counters only has none.

    Two item shapes share the table. The counters of a series' day are the item at
    ``day`` = ``YYYY-MM-DD``; each histogram of that day is its own item at
    ``YYYY-MM-DD#<histogram>`` whose buckets are ``b<bucket>`` (``b57``). DynamoDB bills an
    update on the whole item, and a busy day fills hundreds of buckets per histogram: kept
    apart, with three-byte names instead of ``h_first_response_minutes_57``, a batch that
    adds one first response rewrites ~1 KB instead of the whole day's ~25 KB. Days
    written before the split keep their ``h_<histogram>_<bucket>`` attributes on the
    ``YYYY-MM-DD`` item, and ``bucket_values`` reads both. An agent's day is small (one
    person's tickets: its counters and four histograms fit in well under 1 KB), and its
    items are the ones a stream batch touches per ticket rather than per batch: its
    histograms stay on its counters item as ``b<code>_<bucket>`` (``bf_57``; ``INLINE_CODES``),
    one write unit where five items took five. A third kind holds no count: the
    marker each transaction of a stream batch puts (``applied#<token>-<n>`` / ``batch``,
    ``expires_at`` for the table's TTL), which no report reads (``storage/aggregates.py``).
    """

    class Meta:
        table_name = _table("AGGREGATES_TABLE")

    COUNTER_PREFIX = "c_"
    BUCKET_PREFIX = "h_"  # days counted before histograms had their own items
    HISTOGRAM_BUCKET_PREFIX = "b"
    HISTOGRAM_SEPARATOR = "#"
    #: A histogram's code in ``b<code>_<bucket>`` on a counters item (an agent's day). Stored: never change or
    #: reuse one; a new histogram gets a new code (tests/unit/test_aggregate_layout.py checks every one has one).
    INLINE_CODES = {"first_response_minutes": "f", "first_response_business_minutes": "fb",
                    "resolution_minutes": "r", "resolution_business_minutes": "rb"}

    series = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD (UTC)
    histogram_scheme = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # epoch seconds: a batch's applied-marker only (table TTL)

    @classmethod
    def counter(cls, name: str) -> NumberAttribute:
        """The top-level number attribute of a counter, e.g. ``c_created``, for ``.add(n)``."""
        return NumberAttribute(attr_name=cls.COUNTER_PREFIX + name)

    @classmethod
    def histogram_bucket(cls, key: str) -> NumberAttribute:
        """The attribute of one bucket in a histogram's own item, e.g. ``b57``."""
        return NumberAttribute(attr_name=cls.HISTOGRAM_BUCKET_PREFIX + key)

    @classmethod
    def inline_bucket(cls, histogram_name: str, key: str) -> NumberAttribute:
        """The attribute of one bucket kept on a counters item, e.g. ``bf_57`` (``INLINE_CODES``)."""
        return NumberAttribute(attr_name=f"{cls.HISTOGRAM_BUCKET_PREFIX}{cls.INLINE_CODES[histogram_name]}_{key}")

    @classmethod
    def histogram_day(cls, day: str, histogram_name: str) -> str:
        """The range key of a histogram's item: ``2025-03-03#first_response_minutes``."""
        return f"{day}{cls.HISTOGRAM_SEPARATOR}{histogram_name}"

    @property
    def calendar_day(self) -> str:
        """``YYYY-MM-DD`` of a counters or a histogram item."""
        return self.day.partition(self.HISTOGRAM_SEPARATOR)[0]

    @classmethod
    def from_raw_data(cls, data: dict) -> "AggregateModel":
        item = super().from_raw_data(data)
        # int() refuses "1.5": a count that is not whole is corrupt, and the report should say so.
        prefixes = (cls.COUNTER_PREFIX, cls.BUCKET_PREFIX, cls.HISTOGRAM_BUCKET_PREFIX)
        item._numbers = {name: int(value["N"]) for name, value in data.items()
                         if name.startswith(prefixes) and "N" in value}
        return item

    def counter_values(self) -> dict[str, int]:
        """Counter name → count, for the counters this item has (as read; empty on a new instance)."""
        prefix = self.COUNTER_PREFIX
        return {name[len(prefix):]: value for name, value in self._read_numbers().items() if name.startswith(prefix)}

    def bucket_values(self) -> dict[str, dict[str, int]]:
        """Histogram name → {bucket key → count}, for the buckets this item has (any shape). ``ValueError``
        for an inline bucket whose code names no histogram (corrupt: the report should fail, not skip it)."""
        found: dict[str, dict[str, int]] = {}
        _, separator, own_histogram = self.day.partition(self.HISTOGRAM_SEPARATOR)
        for name, value in self._read_numbers().items():
            if separator and name.startswith(self.HISTOGRAM_BUCKET_PREFIX):
                found.setdefault(own_histogram, {})[name[len(self.HISTOGRAM_BUCKET_PREFIX):]] = value
            elif name.startswith(self.HISTOGRAM_BUCKET_PREFIX):
                code, _, key = name[len(self.HISTOGRAM_BUCKET_PREFIX):].partition("_")
                histogram_name = _INLINE_NAMES.get(code)
                if histogram_name is None or not key:
                    raise ValueError(f"{self.series} {self.day}: {name} is no histogram bucket")
                found.setdefault(histogram_name, {})[key] = value
            elif name.startswith(self.BUCKET_PREFIX):
                histogram_name, _, key = name[len(self.BUCKET_PREFIX):].rpartition("_")
                found.setdefault(histogram_name, {})[key] = value
        return found

    def _read_numbers(self) -> dict[str, int]:
        return getattr(self, "_numbers", {})


_INLINE_NAMES = {code: name for name, code in AggregateModel.INLINE_CODES.items()}


# --- Knowledge base (storage/kb_articles.py): articles and the search index's marker, one table ---------
class KbArticlesByLanguage(GlobalSecondaryIndex["KbArticleModel"]):
    """A language's articles by id (``GET /kb/articles?language=``): summaries, no bodies."""

    class Meta:
        index_name = "by_language"
        projection = IncludeProjection(["title", "status", "tags", "updated_at", "updated_by", "version"])

    language = UnicodeAttribute(hash_key=True)
    article_id = UnicodeAttribute(range_key=True)


class KbArticleModel(SharedConnection, Model):
    """A help article; every article in one partition (``kind``), so the index rebuild reads them with
    one strongly consistent Query (KB writes are rare: one partition's 1,000 writes/s is plenty)."""

    class Meta:
        table_name = _table("KB_TABLE")

    kind = UnicodeAttribute(hash_key=True, default="article")
    article_id = UnicodeAttribute(range_key=True)
    title = UnicodeAttribute()
    body = UnicodeAttribute()  # Markdown, at most 100 kB (domain/kb.py)
    language = UnicodeAttribute()
    status = UnicodeAttribute()  # draft | published
    tags = ListAttribute(of=UnicodeAttribute, default=list)
    related = ListAttribute(of=UnicodeAttribute, default=list)
    updated_at = UnicodeAttribute()
    updated_by = UnicodeAttribute(default="")
    version = NumberAttribute()  # checked on every write: a stale editor gets 409

    by_language = KbArticlesByLanguage()


class KbIndexMarkerModel(SharedConnection, Model):
    """The search index in use (``kind`` = "index", ``article_id`` = "current"), in the articles' table.

    ``revision`` counts published changes (ADD after each write); ``index_revision`` is the revision
    the index at ``index_key`` (S3) was built from, and only ever moves forward (conditional write), so
    a slow rebuild can never replace a newer one. Functions read this item at most every few seconds.
    """

    class Meta:
        table_name = _table("KB_TABLE")

    kind = UnicodeAttribute(hash_key=True, default="index")
    article_id = UnicodeAttribute(range_key=True, default="current")
    revision = NumberAttribute(default=0)
    index_revision = NumberAttribute(null=True)
    index_key = UnicodeAttribute(null=True)
    index_articles = NumberAttribute(null=True)
    index_bytes = NumberAttribute(null=True)
    built_at = UnicodeAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (TicketModel, MessageModel, CustomerModel, LookupModel, AgentModel,
                                       AuditModel, MacroModel, AggregateModel, KbArticleModel,
                                       KbIndexMarkerModel)


def reset_connections() -> None:
    """Drop cached PynamoDB connections so the next call picks up a new endpoint/region."""
    global _shared_connection
    with _connection_lock:
        _shared_connection = None
    for model in ALL_MODELS:
        model._connection = None
