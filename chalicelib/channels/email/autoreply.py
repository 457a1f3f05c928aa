"""Was this email sent by a machine? Then we must not answer it automatically.

RFC 3834 §2 asks automatic responders not to reply to automatic messages, or
two robots mail each other forever. Like Zammad's mail filters
(``auto_response_check.rb``, ``out_of_office_check.rb``, ``bounce_check.rb``,
``sender_is_system_address.rb``), each sign is one tiny check in an ordered
list; the first that fires names the reason. Adding a sign is adding a function
and one line in ``CHECKS``.

Each check only says "machine-sent" when the sign is unambiguous: a wrong
answer here means a customer never gets an acknowledgement.

``machine_sent`` also says what kind of machine sent it (``MACHINE_KINDS``): a
bounce, an auto-reply, bulk mail (a newsletter or list) or another automated
sender. Triage rules read the kind (``machine_sent_in``), so a team decides
what happens to newsletters without touching code.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from chalicelib.channels.email.mime import ParsedEmail
from chalicelib.domain.messages import MACHINE_KINDS

__all__ = ["CHECKS", "Check", "MachineSent", "auto_reply_reason", "machine_sent"]

#: A check reads the parsed mail and our own addresses (normalised, see
#: ``_normalise``) and returns a short reason, or None when it sees nothing.
Check = Callable[[ParsedEmail, frozenset[str]], "str | None"]


@dataclass(frozen=True)
class MachineSent:
    reason: str  # the first sign of that kind, in CHECKS order, e.g. "Precedence: bulk"
    kind: str  # one of MACHINE_KINDS: what sent it, from every sign found (``_kind``)


def auto_reply_reason(mail: ParsedEmail, own_addresses: Iterable[str]) -> str | None:
    """The first reason the mail looks machine-sent, or None when a person wrote it."""
    own = _own(own_addresses)
    for check in CHECKS:
        reason = check(mail, own)
        if reason:
            return reason
    return None


def machine_sent(mail: ParsedEmail, own_addresses: Iterable[str]) -> MachineSent | None:
    """What kind of machine sent the mail and the first sign of it; None when a person wrote it.

    Every check runs, because the first sign does not always tell the kind: a
    newsletter often says ``Auto-Submitted: auto-generated`` before its
    ``List-Id`` (RFC 3834 §5 asks bulk senders for both).
    """
    own = _own(own_addresses)
    found = [(check, reason) for check in CHECKS if (reason := check(mail, own))]
    if not found:
        return None
    signs = [(_kind(check, reason), reason) for check, reason in found]
    kind = min((kind for kind, _ in signs), key=MACHINE_KINDS.index)
    return MachineSent(reason=next(reason for found_kind, reason in signs if found_kind == kind), kind=kind)


def _own(own_addresses: Iterable[str]) -> frozenset[str]:
    if isinstance(own_addresses, str):  # one address, not its characters
        own_addresses = [own_addresses]
    return frozenset(_normalise(address) for address in own_addresses if address and "@" in address)


# --- The checks, in the order they run ---------------------------------------


def delivery_status(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """A delivery-status notification (RFC 3464) about one of our messages: a bounce, joined to its ticket."""
    return "delivery-status" if mail.bounce is not None else None


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
    """X-Autoreply / X-Autorespond / X-AutoReply-From / X-Mail-Autoreply: vacation responders that predate RFC 3834.

    The last two are what cPanel/Exim and Zimbra-style autoresponders add; the
    common filter lists (Exim's and PHP ticket systems' auto-reply rules) name them.
    """
    for name in ("X-Autoreply", "X-Autorespond", "X-AutoReply-From", "X-Mail-Autoreply"):
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
_MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1; longer is not an address we compare


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


def groupwise_autogenerated(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """X-Autogenerated: Reply / Forward / Redirect: Novell/Micro Focus GroupWise rules sent this."""
    for value in _header(mail, "x-autogenerated"):
        keyword = _keyword(value)
        if keyword in ("reply", "forward", "redirect"):
            return f"X-Autogenerated: {keyword}"
    return None


_LOOP_FLAGS = frozenset({"yes", "true", "1"})


def loop_header(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """X-Loop: procmail recipes (procmailex(5)) stamp their own address, Zammad's filters read yes/true.

    Zammad's ``auto_response_check.rb`` treats ``X-Loop: yes|true`` as automatic.
    An X-Loop naming one of our own addresses means our own mail came back
    through a forwarding rule. Any other address is someone else's recipe: the
    mail may still be a person's, so it is not enough on its own.
    """
    for value in _header(mail, "x-loop"):
        value = value.strip()
        if value.lower() in _LOOP_FLAGS:
            return f"X-Loop: {value.lower()}"
        addresses = {_normalise(token.strip("<>")) for token in value.split() if "@" in token}
        if addresses & own:
            return "X-Loop names one of our own addresses"
    return None


# Vixie cron and cronie: "Cron <user@host> command" (cron's do_command.c), From
# "(Cron Daemon)", and one X-Cron-Env header per variable. Older crons add no
# Auto-Submitted header, so these are the only signs.
_CRON_SUBJECT = re.compile(r"Cron <[^<>\s@]{1,64}@[^<>\s]{1,255}> ")


def cron_output(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """Cron job output: an X-Cron-Env header, a "Cron <user@host> command" subject or "Cron Daemon" sender."""
    if "x-cron-env" in mail.headers:
        return "X-Cron-Env present (cron job output)"
    if _CRON_SUBJECT.match(mail.subject[:400]):
        return "cron job output subject"
    if mail.from_name.strip("() ").lower() == "cron daemon":
        return "sender is the cron daemon"
    return None


# A bounce address in the envelope sender: "bounce"/"bounces" as a whole word of the
# local part, as list managers (Mailman "list-bounces+ann=example.com@", VERP) and
# mailing services ("bounces+123-abc@", "bounce-mc.us5_1.2-ann=x.com@") write it.
# BATV ("prvs=1a2b3c=ann@") and SRS ("SRS0=...") rewrite a person's own address, so
# they are not bounce addresses — including Microsoft 365's forwarding form
# "bounces+SRS=<hash>=<time>@tenant" (its Sender Rewriting Scheme for forwarded mail).
_BOUNCE_LOCAL_PART = re.compile(r"(?:^|[-_.+=])bounces?(?:$|[-_.+=])")
_REWRITTEN_SENDER = re.compile(r"(?:^|\+)(?:srs[01]?|prvs|btv1)=", re.IGNORECASE)


def bounce_return_path(mail: ParsedEmail, own: frozenset[str]) -> str | None:
    """Return-Path (RFC 5321 §4.4, the envelope sender) is a bounce, daemon or no-reply address.

    Mailing services and list managers set the envelope sender to an address that
    only collects bounces (RFC 3834 §2: automatic mail goes back to it, not to a
    person). The From of such mail may look personal; the envelope does not lie.
    """
    if not mail.return_path or "@" not in mail.return_path:
        return None
    local_part = mail.return_path.rpartition("@")[0].lower()[:_MAX_LOCAL_PART]
    if local_part in _DAEMON_LOCAL_PARTS or local_part.startswith(_NO_REPLY_PREFIXES):
        return f"Return-Path is {local_part}"
    if _BOUNCE_LOCAL_PART.search(local_part) and not _REWRITTEN_SENDER.search(local_part):
        return "Return-Path is a bounce address"
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
    delivery_status,
    auto_submitted,
    exchange_auto_response_suppress,
    autoreply_headers,
    groupwise_autogenerated,
    precedence,
    mailing_list,
    empty_return_path,
    daemon_sender,
    own_address,
    loop_header,
    cron_output,
    bounce_return_path,
    out_of_office_subject,
)


# What kind of machine each sign points to (``MACHINE_KINDS``, most telling first). A check whose
# signs differ by value names the reasons that are not "automated"; everything else is "automated".
_KIND_OF_CHECK: dict[Check, str] = {
    delivery_status: "bounce",
    empty_return_path: "bounce",
    autoreply_headers: "auto_reply",
    groupwise_autogenerated: "auto_reply",
    out_of_office_subject: "auto_reply",
    mailing_list: "bulk",
}
_KIND_OF_REASON: dict[str, str] = {
    "Auto-Submitted: auto-replied": "auto_reply",  # RFC 3834 §5.2: a response; auto-generated is not
    "Precedence: auto_reply": "auto_reply",
    "Precedence: bulk": "bulk",
    "Precedence: list": "bulk",
    "Precedence: junk": "bulk",
    "sender is mailer-daemon": "bounce",  # RFC 5321 §4.5.1; a no-reply sender is merely automated
    "sender is postmaster": "bounce",
}


def _kind(check: Check, reason: str) -> str:
    return _KIND_OF_REASON.get(reason) or _KIND_OF_CHECK.get(check, "automated")


# --- Helpers -----------------------------------------------------------------


def _header(mail: ParsedEmail, name: str) -> list[str]:
    return list(mail.headers.get(name, []))


_COMMENT = re.compile(r"\([^()]*\)")
_MAX_KEYWORD_VALUE = 1_000  # keyword headers are a word and a comment; the rest is noise


def _keyword(value: str) -> str:
    """The first token of a structured value: "auto-replied (zimbra; vacation)" -> "auto-replied"."""
    # RFC 5322 §3.2.2 comments. "[^()]" stops at the next "(", so "((((" is one pass
    # (with "[^)]" each "(" scanned to the end: 64 KB of "(" took minutes).
    value = _COMMENT.sub(" ", value[:_MAX_KEYWORD_VALUE])
    token = value.split(";", 1)[0].strip().lower()
    return token.split()[0][:64] if token else ""  # keywords are short; a reason must stay readable


def _normalise(address: str) -> str:
    """Lowercase, and drop a +tag so support+1042@ matches support@ (RFC 5233 subaddressing)."""
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
