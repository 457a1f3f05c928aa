"""Which existing ticket, if any, a message continues.

Order (first match wins): the RFC 5322 ``In-Reply-To``/``References`` ids we
sent or received; a signed reply address; a ``[#1234]`` subject token.

Message-IDs travel in every reply and every forward, and a ticket number is
printed in every subject, so knowing one proves nothing: a sender joins an
existing ticket by header or subject token only when they take part in it — they
wrote on it, or a participant copied them (To/Cc) on a message of it, the way a
customer adds a colleague. In Zammad any sender quoting a ticket number joins
it, which lets strangers read along and reopen solved tickets. Anyone else
gets a ticket of their own. Only the signed reply address (an HMAC nobody can
forge, ``reply_address.py``) admits whoever writes to it: it was mailed to them.
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
            ranked.append(ThreadCandidate(ticket_id, "message-id", requires_participant=True))
    if signed_ticket_id:
        ranked.append(ThreadCandidate(signed_ticket_id, "reply-address"))
    number = subject_ticket_number(subject)
    if number is not None and found.get(f"tno:{number}"):
        ranked.append(ThreadCandidate(found[f"tno:{number}"], "subject-token", requires_participant=True))
    return ranked


_MAX_COPIED = 20  # per message: a mail to 100 addresses invites nobody in particular


def may_join(sender_key: str, participants: set[str], copied: set[str]) -> bool:
    """A sender continues a ticket by header or subject token only when they take part in it."""
    return sender_key in participants or sender_key in copied


def copied_identities(recipients: list[str], own_address: str, sender_key: str) -> list[str]:
    """The identity keys of the people a mail copies: its To/Cc without our own addresses or the sender."""
    own_local, _, own_domain = own_address.lower().rpartition("@")
    keys: list[str] = []
    for address in recipients:
        local, _, domain = address.lower().rpartition("@")
        if not local or (domain == own_domain and local.split("+", 1)[0] == own_local):
            continue  # support@ and its signed reply addresses support+<ticket>.<sig>@
        key = f"email:{address.lower()}"
        if key != sender_key and key not in keys:
            keys.append(key)
    return keys[:_MAX_COPIED]
