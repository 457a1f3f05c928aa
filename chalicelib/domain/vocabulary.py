"""The ticket's vocabulary, in one place: statuses, priorities and which status follows which.

Every other module imports these names; none declares its own list (there were
ten copies, and a status added to one of them was unknown to the others).
"""
from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ACTIVE_STATUSES", "CHANNELS", "CONTINUABLE", "Channel", "DEFAULT_LANGUAGE", "LANGUAGES", "Language",
           "PRIORITIES", "Priority", "REOPENABLE", "RESUMED_BY_CUSTOMER", "RESOLVED", "STATUSES", "SettableStatus",
           "Status", "holds_capacity"]

Status = Literal["open", "pending", "on_hold", "solved", "closed", "spam"]
STATUSES: tuple[str, ...] = get_args(Status)
#: Statuses an agent or a macro may set by hand (``spam`` is set by review, not by a macro).
SettableStatus = Literal["open", "pending", "on_hold", "solved", "closed"]

# "phone": a call an agent logged (POST /tickets kind=call); no adapter receives it, nothing is sent on it.
# "portal": the customer portal's form and signed-in replies (channels/portal.py).
Channel = Literal["email", "slack", "whatsapp", "messenger", "telegram", "sms", "webchat", "phone", "portal"]
CHANNELS: tuple[str, ...] = get_args(Channel)  # where customers write; reports group by these

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[str, ...] = get_args(Priority)  # most urgent first

ACTIVE_STATUSES: tuple[str, ...] = ("open", "pending", "on_hold")  # work in progress: holds an agent's capacity
RESOLVED: tuple[str, ...] = ("solved", "closed")
REOPENABLE: tuple[str, ...] = RESOLVED  # a customer's reply reopens these (``reopen_on_reply``)
CONTINUABLE: tuple[str, ...] = ACTIVE_STATUSES  # a chat message joins its conversation's ticket in these
RESUMED_BY_CUSTOMER: tuple[str, ...] = ("pending",)  # waiting on the customer: their reply sets it open

# The languages a customer can be answered in: every customer-facing template and wording table exists for each
# (tests/unit/test_language_registry.py checks), and the knowledge base, the surveys and language detection agree
# with it. Adding a language starts here; that test then lists every text still missing.
Language = Literal["en", "da", "no"]
LANGUAGES: tuple[str, ...] = get_args(Language)
DEFAULT_LANGUAGE = "en"  # the desk setting ``default_language`` chooses another one of LANGUAGES


def holds_capacity(status: str, assignee_id: str | None) -> bool:
    """Whether a ticket in ``status`` takes one of its assignee's slots (none without an assignee)."""
    return bool(assignee_id) and status in ACTIVE_STATUSES
