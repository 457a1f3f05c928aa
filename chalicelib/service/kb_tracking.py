"""Tracked knowledge-base links and deflection: which suggested article a customer read, and whether it solved it.

What the pipeline and the bot call:

* ``tracked_url(ticket_id, article_id)`` — the link to put in an acknowledgement or a bot
  answer instead of the portal's: ``{PUBLIC_BASE_URL}/kb/go/<token>``. Its GET only
  redirects to the portal article (mail scanners follow every link, so a GET records
  nothing); the portal page records the open and asks "did this answer your question?"
  by POSTing to the same URL (``record``).
* ``confirm_solved(ticket_id, article_id=..., via="portal"|"bot")`` — the customer said the
  article solved it: the ticket is marked deflected (``confirmed``) and solved in one
  change (``changes.apply``: audited, the solve and the deflection are then counted off
  the ticket stream). Idempotent: a second call changes nothing and returns False.

And the sweep calls ``settle_silent``: a ticket whose customer opened a suggested article
and then, for ``deflection_window_hours``, neither wrote again nor got an agent's reply is
marked deflected (``silent``) and solved by self-service. The window's end is one of the
times the ``timers`` index holds (``clocks.silent_deflection_due``), so no Scan finds it.

Self-service is credited only while the ticket still waits for the team's first human
answer (``domain.kb_links.may_deflect``): a "yes" on a ticket an agent has answered, or
one already solved, is recorded on the ticket for the agent to read, nothing more.

Every refusal raises a ``LinkRefused`` subclass before anything is written; the HTTP edge
maps its ``code`` to a status. Nothing a refusal or an answer says names the ticket.

The links' HMAC key is derived from ``REPLY_ADDRESS_SECRET`` (HMAC-SHA256 over a label only
this module uses, so it never equals a key used for anything else); rotating that secret
also retires the links in mails already sent. Links work for ``MAX_AGE`` (a year).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib import clock, config, configuration
from chalicelib.domain import kb_links
from chalicelib.observability import logger
from chalicelib.service import changes, clocks, customer_language
from chalicelib.storage import repository

__all__ = ["ANSWERS", "MAX_AGE", "VIA", "AlreadyAnswered", "ExpiredLink", "ForgedLink", "LinkNotConfigured",
           "LinkRefused", "MalformedLink", "UnknownTicket", "confirm_solved", "portal_location", "record",
           "settle_silent", "tracked_url", "verify"]

MAX_AGE = timedelta(days=365)
VIA = ("portal", "bot")  # where a customer can confirm an article solved it
ANSWERS = ("opened", "solved", "not_solved")  # what the portal page reports
MAX_OPENED = 10  # articles remembered per ticket: the acknowledgement links 3, the bot a few more
_LABEL = b"relay-desk kb links v1\x00derived from REPLY_ADDRESS_SECRET"
_TRIES = 3
_SELF_SERVICE = changes.Actor("self-service", "Self-service")  # not an agent: never a response
_BOT = changes.Actor("bot", "Chat bot")


# --------------------------------------------------------------------------- refusals


class LinkRefused(Exception):
    """A tracked link (or what was posted to it) that cannot be used; nothing was recorded."""

    code = "link_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedLink(LinkRefused):
    code = "malformed_token"


class ForgedLink(LinkRefused):
    code = "bad_signature"


class ExpiredLink(LinkRefused):
    code = "expired"


class UnknownTicket(LinkRefused):
    """A genuine link whose ticket no longer exists."""

    code = "not_found"


class AlreadyAnswered(LinkRefused):
    """The customer already said this article solved it: a later "no" cannot take that back here."""

    code = "already_answered"


class LinkNotConfigured(LinkRefused, RuntimeError):
    code = "not_configured"


# --------------------------------------------------------------------------- links


def tracked_url(ticket_id: str, article_id: str, *, now: datetime | None = None) -> str:
    """``{PUBLIC_BASE_URL}/kb/go/<token>``: the article ``article_id`` (a KB slug), shown to ``ticket_id``'s customer.

    Raises ``ValueError`` for an id no link can carry, ``LinkNotConfigured`` without a secret.
    """
    token = kb_links.issue(ticket_id, article_id, secret=_secret(), now=now or clock.now())
    return f"{config.setting('PUBLIC_BASE_URL').rstrip('/')}/kb/go/{token}"


def verify(token: Any, *, now: datetime | None = None) -> kb_links.LinkClaim:
    """The (ticket, article) a link names; a ``LinkRefused`` subclass for anything else."""
    try:
        return kb_links.verify(token, secret=_secret(), now=now or clock.now(), max_age=MAX_AGE)
    except kb_links.InvalidLinkToken as err:
        refusal = {
            kb_links.MALFORMED: (MalformedLink, "this is not a help-centre link of ours; copy the whole link"),
            kb_links.BAD_SIGNATURE: (ForgedLink, "this help-centre link is not valid"),
            kb_links.EXPIRED: (ExpiredLink, "this help-centre link has expired; search the help centre instead"),
        }
        kind, reason = refusal.get(err.reason, (MalformedLink, "this link cannot be used"))
        raise kind(reason) from None


def portal_location(token: str, claim: kb_links.LinkClaim) -> str:
    """Where ``GET /kb/go/<token>`` sends the browser: the portal's article, the token kept for the page.

    Relative (``../../portal?...``), so it holds under any API Gateway stage prefix; the
    token and article id are base64url and a slug, so nothing here needs more than quoting.
    """
    return f"../../portal?ref={quote(token, safe='')}#article/{quote(claim.article_id, safe='')}"


# --------------------------------------------------------------------------- the portal page's reports


def record(token: Any, answer: str, *, now: datetime | None = None) -> dict[str, Any]:
    """What the portal page reports for a link: ``opened``, ``solved`` or ``not_solved``.

    Returns ``{"recorded", "answer", "deflected", "language"}``: whether this call changed
    anything (a repeat does not), the customer's answer for this article so far, whether the
    ticket is deflected, and the customer's language (the page asks in it). Never the ticket.
    """
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(ANSWERS)}, got {answer!r}")
    moment = now or clock.now()
    claim = verify(token, now=moment)
    ticket = repository.get_ticket(claim.ticket_id)
    if ticket is None:
        raise UnknownTicket("this link no longer leads to a request of yours; search the help centre instead")
    outcome = _record(ticket, claim.article_id, answer, via="portal", now=moment)
    return {**outcome, "language": customer_language.of_ticket(outcome.pop("ticket"))}


def confirm_solved(ticket_id: str, *, article_id: str | None, via: str, now: datetime | None = None) -> bool:
    """The customer confirmed ``article_id`` (None: the answer they were given) solved their problem, ``via``
    the portal or the bot: the ticket is marked deflected (confirmed) and solved, in one audited change.

    True when this call did it; False when nothing changed (already deflected, an agent has
    answered the ticket, it is no longer active, or it does not exist). ``ValueError`` for a
    ``via`` or ``article_id`` that cannot be; ``changes.Conflict`` when the ticket kept
    changing through every retry (nothing was written: call again).
    """
    if via not in VIA:
        raise ValueError(f"via must be one of {', '.join(VIA)}, got {via!r}")
    if article_id is not None and not kb_links.is_article_id(article_id):
        raise ValueError(f"article_id must be a knowledge-base slug, got {article_id!r}")
    ticket = repository.get_ticket(ticket_id)
    try:
        if ticket is None:
            raise UnknownTicket(ticket_id)
        return _record(ticket, article_id, "solved", via=via, now=now or clock.now())["deflected_now"]
    except UnknownTicket:
        logger.warning("deflection not recorded: no such ticket", extra={"ticket_id": ticket_id})
        return False


# --------------------------------------------------------------------------- the sweep


def settle_silent(ticket: Any, *, now: datetime) -> bool:
    """Solve by self-service a ticket whose silent-deflection window has ended; True when this call did it.

    Checked again on the ticket as read (the index is eventually consistent) and on every
    retry after a lost race: a customer's message or an agent's reply that arrived meanwhile
    takes the ticket out of the window, and two overlapping sweeps settle it once.
    """
    stamp = clock.iso(now)

    def due(current: Any) -> bool:
        at = clocks.silent_deflection_due(clocks.fields_of(current))
        return at is not None and at <= stamp

    if not due(ticket):
        return False
    hours = configuration.desk_settings().deflection_window_hours

    def settle(current: Any) -> bool:
        links = current.kb_links or {}
        article = next(iter(links.get("opened") or []), None)
        deflection = {"how": kb_links.SILENT, "via": "window", "at": stamp, "article": article}
        detail = (f"solved by self-service: the customer opened the suggested article {article or ''} at "
                  f"{links.get('opened_at')} and neither wrote again nor got a reply within {hours} h")
        changes.apply(current, changes.TicketChange(status="solved", sets={"deflection": deflection}),
                      _SELF_SERVICE, action="deflected", detail=detail, now=now)
        return True

    done = changes.retrying(ticket, settle, still_wanted=due, tries=_TRIES, raise_conflict=False,
                            gave_up="silent deflection not settled: the ticket kept changing; the next sweep "
                                    "looks again")
    if done:  # measured off the ticket stream, with every other deflection (measure.ticket_deflected)
        logger.info("ticket deflected", extra={"ticket_id": ticket.ticket_id, "how": kb_links.SILENT})
    return bool(done)


# --------------------------------------------------------------------------- recording


def _record(ticket: Any, article_id: str | None, answer: str, *, via: str, now: datetime) -> dict[str, Any]:
    """Record ``answer`` for ``article_id`` on the ticket (and deflect or reopen it when that follows), retrying
    lost races on a fresh copy; every decision is taken again on the copy it writes."""
    stamp = clock.iso(now)
    outcome: dict[str, Any] = {}

    def attempt(current: Any) -> Any:
        outcome.clear()
        outcome.update(_apply(current, article_id, answer, via=via, stamp=stamp, now=now))
        return current

    written = changes.retrying(ticket, attempt, tries=_TRIES, gave_up="the request kept changing; try again")
    if written is None:  # gone between the read and the write
        raise UnknownTicket("this link no longer leads to a request of yours; search the help centre instead")
    if outcome["deflected_now"]:
        logger.info("ticket deflected", extra={"ticket_id": ticket.ticket_id, "how": kb_links.CONFIRMED, "via": via})
    return outcome


def _apply(ticket: Any, article_id: str | None, answer: str, *, via: str, stamp: str, now: datetime) -> dict[str, Any]:
    """One attempt: what ``answer`` changes on this copy of the ticket, written with its version as condition."""
    links = _copy(ticket.kb_links)
    answers = links.get("answers", {})
    previous = answers.get(article_id or "", {}).get("answer") if article_id else None
    if answer == "not_solved" and previous == "solved":
        raise AlreadyAnswered("you told us this article answered your question; if it did not after all, just "
                              "reply to our message and your request goes back to our team")
    change = changes.TicketChange()
    what: list[str] = []
    if via == "portal" and article_id is not None:  # a customer on the portal page read the article
        links.setdefault("opened_at", stamp)
        opened = links.setdefault("opened", [])
        if article_id not in opened and len(opened) < MAX_OPENED:
            opened.append(article_id)
            what.append(f"the customer opened the suggested article {article_id}")
    if answer != "opened" and article_id is not None and previous != answer:
        answers[article_id] = {"answer": answer, "at": stamp, "via": via}
        links["answers"] = answers
        what.append(f"the customer said the article {article_id} "
                    + ("answered their question" if answer == "solved" else "did not answer their question"))
    deflected_now = answer == "solved" and kb_links.may_deflect(
        status=ticket.status, merged_into=ticket.merged_into, deflected=bool(ticket.deflection),
        agent_replied=ticket.last_agent_reply_at is not None)
    if deflected_now:
        change.status = "solved"
        change.sets["deflection"] = {"how": kb_links.CONFIRMED, "via": via, "at": stamp, "article": article_id}
        what.append("solved by self-service" + (" (the chat bot's answer)" if via == "bot" else ""))
    reopened = (answer == "not_solved" and bool(what) and ticket.status == "solved"
                and (ticket.deflection or {}).get("how") == kb_links.SILENT)
    if reopened:  # we took its silence for a yes; it has told us otherwise: back to the team
        change.status = "open"
        what.append("reopened: it was solved by self-service on the customer's silence")
    if links != (ticket.kb_links or {}):
        change.sets["kb_links"] = links
    if change.sets or change.status:
        actor = _BOT if via == "bot" else changes.Actor("customer", ticket.requester_name or "Customer")
        action = "deflected" if deflected_now else "reopened" if reopened else "kb_feedback"
        written = changes.apply(ticket, change, actor, action=action, detail="; ".join(what)[:2000], now=now).ticket
    else:
        written = ticket
    current = answers.get(article_id, {}).get("answer") if article_id else None
    return {"recorded": bool(change.sets or change.status), "answer": current,
            "deflected": bool(written.deflection), "deflected_now": deflected_now, "ticket": written}


def _copy(links: Any) -> dict[str, Any]:
    """A deep enough copy of the stored ``kb_links`` to change (lists and the answers' map)."""
    links = dict(links or {})
    if "opened" in links:
        links["opened"] = list(links["opened"])
    if "answers" in links:
        links["answers"] = {name: dict(value) for name, value in links["answers"].items()}
    return links


# --------------------------------------------------------------------------- settings


def _secret() -> bytes:
    """The links' HMAC key, derived from ``REPLY_ADDRESS_SECRET`` (env or SSM)."""
    from chalicelib import secrets as app_secrets

    reply_secret = app_secrets.get("REPLY_ADDRESS_SECRET")
    if not reply_secret:
        raise LinkNotConfigured("tracked help-centre links need REPLY_ADDRESS_SECRET to sign them")
    return hmac.new(reply_secret.encode(), _LABEL, hashlib.sha256).digest()
