"""Deployment settings, read from the environment on every call.

Why functions and not module constants: the Chalice test client (and Lambda
itself) sets a stage's environment only while a function runs, so a value
captured at import time would be the wrong one.
"""
from __future__ import annotations

import os

from chalicelib import secrets

_DEFAULTS = {
    "TICKETS_TABLE": "relay-desk-tickets",
    "MESSAGES_TABLE": "relay-desk-messages",
    "CUSTOMERS_TABLE": "relay-desk-customers",
    "LOOKUPS_TABLE": "relay-desk-lookups",
    "AGENTS_TABLE": "relay-desk-agents",
    "AUDIT_TABLE": "relay-desk-audit",
    "MACROS_TABLE": "relay-desk-macros",
    "AGGREGATES_TABLE": "relay-desk-aggregates",
    "KB_TABLE": "relay-desk-kb",  # knowledge base articles and the search index's marker
    "KB_INDEX_CHECK_SECONDS": "30",  # how stale a function's KB search index may be after a publish
    # Deployed, the template points ticket_stream and kpi_stream at the table's stream
    # (infra/resources.yaml); Chalice needs some ARN to declare the functions.
    "TICKETS_STREAM_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/relay-desk-tickets/stream/local",
    "MAIL_BUCKET": "relay-desk-mail",
    "INBOUND_PREFIX": "inbound/",
    "INBOUND_QUEUE": "relay-desk-inbound.fifo",
    "INBOUND_DLQ": "relay-desk-inbound-dlq.fifo",
    "INBOUND_MAX_RECEIVES": "5",
    "PARSE_BUDGET_SECONDS": "10",  # one message's parsing; past it the message is parked (invocation.py)
    "OUTBOUND_QUEUE": "relay-desk-outbound.fifo",
    "OUTBOUND_DLQ": "relay-desk-outbound-dlq.fifo",
    "SES_FAILURE_QUEUE": "relay-desk-ses-inbound-failures",
    "SES_EVENTS_FAILURE_QUEUE": "relay-desk-ses-events-failures",  # read by admin redrive only
    "TICKET_STREAM_FAILURE_QUEUE": "relay-desk-ticket-stream-failures",  # read by admin redrive only
    "KPI_STREAM_FAILURE_QUEUE": "relay-desk-kpi-stream-failures",  # read by admin redrive only
    "SUPPORT_ADDRESS": "support@example.com",
    "SUPPORT_NAME": "Relay Desk Support",
    "SES_CONFIGURATION_SET": "relay-desk",  # sending events → SNS → ses_events (infra/resources.yaml); "" = none
    "REPLY_ADDRESS_SECRET": "",
    "DESK_SETTINGS": "",
    "TICKET_NUMBER_BLOCK": "1",
    "TIME_SHARDS": "16",  # partitions of the SLA, timer and overdue indexes (storage/ticket_keys.py)
    "AGGREGATE_SHARDS": "1",  # suffixes on the KPI aggregate series (storage/aggregates.py)
    "DIRECTORY_SHARDS": "1",  # agent directory shards (storage/agents.py); changing it: admin reshard-agents
    "VIEW_SHARDS": "1",  # partitions of each agent view and waiting line (storage/ticket_keys.py)
    "EMAIL_FIFO_GROUP": "sender",  # email's FIFO group: "sender", or "thread" for loud senders (ses_inbound.py)
    "METRICS_NAMESPACE": "RelayDesk",
    "TEAM_LEAD": "",  # where escalations go: email:<address> or slack:<channel id>
    # Console sign-in (service/signin.py): where the console is, how long a mailed link and a session last,
    # how many sessions an agent keeps, and how many links one address / one client may ask for per window.
    "PUBLIC_BASE_URL": "https://support.example.com",
    "SIGNIN_LINK_MINUTES": "15",
    "SESSION_HOURS": "12",
    "SESSIONS_PER_AGENT": "5",
    "SIGNIN_LINKS_PER_ADDRESS": "5",
    "SIGNIN_LINKS_PER_CLIENT": "30",
    "SIGNIN_LIMIT_MINUTES": "15",
    # Customer portal (service/portal.py): anonymous ticket forms per client address per window.
    "PORTAL_TICKETS_PER_CLIENT": "10",
    "PORTAL_LIMIT_MINUTES": "60",
}


def setting(name: str) -> str:
    """One deployment setting; the default is the name the dev stage uses."""
    return os.environ.get(name) or _DEFAULTS[name]


def int_setting(name: str) -> int:
    return int(setting(name))


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def support_address() -> str:
    return setting("SUPPORT_ADDRESS").lower()


def support_domain() -> str:
    return support_address().rpartition("@")[2]


def reply_address_secret() -> bytes:
    """HMAC key for signed reply addresses; refusing to run without one keeps tokens unguessable.

    From the environment, else SSM (``SECRETS_SSM_PREFIX``): a deployed prod stage keeps it only there.
    """
    secret = secrets.get("REPLY_ADDRESS_SECRET")
    if not secret:
        raise RuntimeError("REPLY_ADDRESS_SECRET is not set: signed reply addresses need a secret")
    return secret.encode()
