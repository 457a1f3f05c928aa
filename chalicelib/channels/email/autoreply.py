"""Was this email sent by a machine? Then we must not answer it automatically.

RFC 3834 §2 asks automatic responders not to reply to automatic messages, or
two robots mail each other forever. Like Zammad's mail filters
(``auto_response_check.rb``, ``out_of_office_check.rb``, ``bounce_check.rb``,
``sender_is_system_address.rb``), each sign is one tiny check in an ordered
list; the first that fires names the reason. Adding a sign is adding a function
and one line in ``CHECKS``.

Each check only says "machine-sent" when the sign is unambiguous: a wrong
answer here means a customer never gets an acknowledgement.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from chalicelib.channels.email.mime import ParsedEmail

__all__ = ["CHECKS", "Check", "auto_reply_reason"]

#: A check reads the parsed mail and our own addresses (normalised, see
#: ``_normalise``) and returns a short reason, or None when it sees nothing.
Check = Callable[[ParsedEmail, frozenset[str]], "str | None"]


def auto_reply_reason(mail: ParsedEmail, own_addresses: Iterable[str]) -> str | None:
    """The first reason the mail looks machine-sent, or None when a person wrote it."""
    if isinstance(own_addresses, str):  # one address, not its characters
        own_addresses = [own_addresses]
    own = frozenset(_normalise(address) for address in own_addresses if address and "@" in address)
    for check in CHECKS:
        reason = check(mail, own)
        if reason:
            return reason
    return None


# --- The checks, in the order they run ---------------------------------------


def auto_submitted(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """RFC 3834 §5: any Auto-Submitted value except "no" marks an automatic message."""
    for value in _header(mail, "auto-submitted"):
        keyword = _keyword(value)
        if keyword and keyword != "no":
            return f"Auto-Submitted: {keyword}"
    return None


_SUPPRESSED_RESPONSES = frozenset({"all", "oof", "autoreply"})


def exchange_auto_response_suppress(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """Exchange's X-Auto-Response-Suppress (MS-OXCMAIL §2.1.3.2.20) asks us not to auto-reply.

    Only All, OOF and AutoReply concern auto-replies; DR, NDR, RN and NRN only
    suppress delivery and read receipts, which says nothing about the sender.
    """
    for value in _header(mail, "x-auto-response-suppress"):
        flags = {flag.strip().lower() for flag in re.split(r"[,;\s]+", value) if flag.strip()}
        suppressed = flags & _SUPPRESSED_RESPONSES
        if suppressed:
            return f"X-Auto-Response-Suppress: {', '.join(sorted(suppressed))}"
    return None


def autoreply_headers(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """X-Autoreply / X-Autorespond: set by vacation responders that predate RFC 3834."""
    for name in ("X-Autoreply", "X-Autorespond"):
        if name.lower() in mail.headers:
            return f"{name} present"
    return None


_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})


def precedence(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """Precedence: bulk/list/junk/auto_reply (RFC 2076 §3.9; RFC 3834 §3.1.8 discourages, many still send it)."""
    for value in _header(mail, "precedence"):
        keyword = _keyword(value)
        if keyword in _BULK_PRECEDENCE:
            return f"Precedence: {keyword}"
    return None


def mailing_list(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """List-Id (RFC 2919) or List-Unsubscribe (RFC 2369): a list or a newsletter sent this."""
    for name in ("List-Id", "List-Unsubscribe"):
        if any(value.strip() for value in _header(mail, name.lower())):
            return f"{name} present"
    return None


def empty_return_path(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """A null reverse-path <> marks a bounce (RFC 5321 §4.5.5); answering it loops (RFC 3834 §2)."""
    if mail.return_path is not None and mail.return_path.strip("<> \t") == "":
        return "empty Return-Path"
    return None


_DAEMON_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}
)
_NO_REPLY_PREFIXES = ("noreply", "no-reply")


def daemon_sender(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """MAILER-DAEMON and postmaster send bounces (RFC 5321 §4.5.1); no-reply senders say so."""
    local_part = mail.from_address.rpartition("@")[0].lower()
    if local_part in _DAEMON_LOCAL_PARTS or local_part.startswith(_NO_REPLY_PREFIXES):
        return f"sender is {local_part}"
    return None


def own_address(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """Our own mail coming back (a forward, a rule, a copy) must never be answered again."""
    if mail.from_address and _normalise(mail.from_address) in own:
        return "sender is one of our own addresses"
    return None


# Subject prefixes mail clients put on out-of-office replies. Each must be the
# whole subject or followed by ":", so "Autoreply stopped working" from a
# customer is still a question for us.
_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"""^\s*(?:
        out\ of\ (?:the\ )?office(?:\ auto-?reply)?  # English, old Exchange "Out of Office AutoReply:"
      | automatic\ reply                             # Outlook, English
      | auto                                         # Lotus Notes / HCL "AUTO:"
      | auto-?reply
      | automatisk\ svar                             # Outlook, Danish and Norwegian
      | fraværende                                   # Danish "absent"
      | fravær                                       # Norwegian "absence"
      | autosvar | automatiskt\ svar                 # Swedish
      | automatische\ antwort | abwesenheitsnotiz    # Outlook, German
    )\s*(?::|$)""",
    re.IGNORECASE | re.VERBOSE,
)


def out_of_office_subject(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """Out-of-office subjects, for responders that set no header at all."""
    if _OUT_OF_OFFICE_SUBJECT.match(mail.subject):
        return "out-of-office subject"
    return None


CHECKS: Sequence[Check] = (
    auto_submitted,
    exchange_auto_response_suppress,
    autoreply_headers,
    precedence,
    mailing_list,
    empty_return_path,
    daemon_sender,
    own_address,
    out_of_office_subject,
)


# --- Helpers -----------------------------------------------------------------


def _header(mail: ParsedEmail, name: str) -> list[str]:
    return list(mail.headers.get(name, []))


def _keyword(value: str) -> str:
    """The first token of a structured value: "auto-replied (zimbra; vacation)" -> "auto-replied"."""
    value = re.sub(r"\([^)]*\)", " ", value)  # RFC 5322 §3.2.2 comments
    token = value.split(";", 1)[0].strip().lower()
    return token.split()[0] if token else ""


def _normalise(address: str) -> str:
    """Lowercase, and drop a +tag so support+1042@ matches support@ (RFC 5233 subaddressing)."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
