"""The ticket API's request bodies (``ticket_api``), validated strictly."""
from __future__ import annotations

from pydantic import Field

from chalicelib.api.requests import Body
from chalicelib.domain.vocabulary import Channel, Priority, Status

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
