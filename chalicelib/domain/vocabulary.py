"""The ticket's vocabulary, in one place: statuses, priorities and which status follows which.

Every other module imports these names; none declares its own list (there were
ten copies, and a status added to one of them was unknown to the others).
"""
from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ACTIVE_STATUSES", "CHANNELS", "CONTINUABLE", "Channel", "PRIORITIES", "Priority", "REOPENABLE", "RESUMED_BY_CUSTOMER",
           "RESOLVED", "STATUSES", "SettableStatus", "Status"]

Status = Literal["open", "pending", "on_hold", "solved", "closed", "spam"]
STATUSES: tuple[str, ...] = get_args(Status)
#: Statuses an agent or a macro may set by hand (``spam`` is set by review, not by a macro).
SettableStatus = Literal["open", "pending", "on_hold", "solved", "closed"]

# "phone": a call an agent logged (POST /tickets kind=call); no adapter receives it, nothing is sent on it.
Channel = Literal["email", "slack", "whatsapp", "messenger", "telegram", "sms", "webchat", "phone"]
CHANNELS: tuple[str, ...] = get_args(Channel)  # where customers write; reports group by these

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[str, ...] = get_args(Priority)  # most urgent first

ACTIVE_STATUSES: tuple[str, ...] = ("open", "pending", "on_hold")  # work in progress: holds an agent's capacity
RESOLVED: tuple[str, ...] = ("solved", "closed")
REOPENABLE: tuple[str, ...] = RESOLVED  # a customer's reply reopens these (``reopen_on_reply``)
CONTINUABLE: tuple[str, ...] = ACTIVE_STATUSES  # a chat message joins its conversation's ticket in these
RESUMED_BY_CUSTOMER: tuple[str, ...] = ("pending",)  # waiting on the customer: their reply sets it open
