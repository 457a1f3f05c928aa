"""Which existing ticket, if any, a message continues.

Order (first match wins): the RFC 5322 ``In-Reply-To``/``References`` ids we
sent or received; a signed reply address; a ``[#1234]`` subject token, but
only when the sender already takes part in that ticket — in Zammad any sender
quoting a ticket number joins it, which lets strangers read along.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

SUBJECT_TOKEN = re.compile(r"\[#(\d{1,12})\]")


@dataclass(frozen=True)
class ThreadCandidate:
    ticket_id: str
    method: str  # message-id | reply-address | subject-token
    requires_participant: bool = False


_MAX_KEYED_ID_BYTES = 500  # DynamoDB keys are at most 2,048 bytes; Message-IDs have no length limit


def message_id_key(message_id: str) -> str:
    """The lookup key of an RFC 5322 Message-ID; very long ids are keyed by their hash."""
    if len(message_id.encode("utf-8", "surrogatepass")) <= _MAX_KEYED_ID_BYTES:
        return f"mid:{message_id}"
    return "mid#sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()


def subject_ticket_number(subject: str) -> int | None:
    match = SUBJECT_TOKEN.search(subject or "")
    return int(match.group(1)) if match else None


def lookup_keys(thread_refs: list[str], subject: str) -> list[str]:
    keys = [message_id_key(ref) for ref in thread_refs]
    number = subject_ticket_number(subject)
    if number is not None:
        keys.append(f"tno:{number}")
    return keys


def candidates(
    thread_refs: list[str],
    subject: str,
    found: dict[str, str],
    signed_ticket_id: str | None,
) -> list[ThreadCandidate]:
    """Ranked candidates from the lookups found (key → ticket id)."""
    ranked: list[ThreadCandidate] = []
    for ref in thread_refs:
        ticket_id = found.get(message_id_key(ref))
        if ticket_id:
            ranked.append(ThreadCandidate(ticket_id, "message-id"))
    if signed_ticket_id:
        ranked.append(ThreadCandidate(signed_ticket_id, "reply-address"))
    number = subject_ticket_number(subject)
    if number is not None and found.get(f"tno:{number}"):
        ranked.append(ThreadCandidate(found[f"tno:{number}"], "subject-token", requires_participant=True))
    return ranked
