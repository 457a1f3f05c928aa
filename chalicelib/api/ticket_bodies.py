"""The ticket API's request bodies (``ticket_api``), validated strictly."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.requests import REQUEST_KEY, Body
from chalicelib.domain.customers import Name
from chalicelib.domain.messages import MAX_SUBJECT_CHARS
from chalicelib.domain.vocabulary import Channel, Priority, SettableStatus, Status

MAX_TEXT_CHARS = 50_000  # as a reply or a note

Tag = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")


class TicketUpdate(Body):
    status: Status | None = None
    priority: Priority | None = None
    category: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")
    assignee_id: str | None = Field(None, pattern=r"^a-[0-9a-f]{12}$")
    add_tags: list[str] = Field(default_factory=list, max_length=20)
    remove_tags: list[str] = Field(default_factory=list, max_length=20)
    version: int | None = Field(None, ge=0)  # optimistic concurrency: the version you read (or If-Match)
    force: bool = False


class ReplyBody(Body):
    text: str | None = Field(None, min_length=1, max_length=50_000)
    macro_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    channel: Channel | None = None
    order_number: str | None = Field(None, max_length=100)  # fills {{ order_number }} in a macro
    # Email replies only (service.tickets.reply): upload ids from POST /tickets/{id}/uploads, Cc addresses.
    attachments: list[str] = Field(default_factory=list, max_length=10)
    cc: list[str] = Field(default_factory=list, max_length=10)


class NoteBody(Body):
    text: str = Field(min_length=1, max_length=50_000)


class MergeBody(Body):
    into: str = Field(pattern=r"^t-[0-9a-f]{20}$")


# --- POST /tickets (ticket_open_api): an agent opens a ticket --------------------------------
class CustomerRef(Body):
    email: str | None = Field(None, min_length=3, max_length=254)
    phone: str | None = Field(None, min_length=4, max_length=40)
    customer_id: str | None = Field(None, pattern=r"^c-[0-9a-f]{20}$")
    name: Name | None = None


class OpenTicketBody(Body):
    customer: CustomerRef
    kind: Literal["call", "outbound"]
    channel: Literal["phone", "email", "sms", "whatsapp", "webchat"]
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT_CHARS)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    priority: Priority | None = None
    queue: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")
    assignee_id: str | None = Field(None, pattern=r"^a-[0-9a-f]{12}$")
    status: SettableStatus | None = None
    request_id: str | None = Field(None, pattern=REQUEST_KEY)
