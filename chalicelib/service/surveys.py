"""Customer satisfaction surveys: ask once after a ticket is solved, record the answer once.

``send`` is called by the automation rule with ``send_survey: true`` (the default
"csat-survey" timer: solved for an hour). It refuses tickets that must never get a
survey — spam, machine-opened (``auto_submitted``), merged, already surveyed, not
solved — and otherwise records ``survey = {sent_at, nonce, expires_at}`` on
the ticket (a versioned, audited write: two sweeps cannot both send) and queues the
question as an automated reply on the ticket's own channel, in the customer's language
(``chalicelib.domain.survey_texts``), with one signed link per rating:
``{PUBLIC_BASE_URL}/surveys/<token>?rating=N``. A link only opens the survey page with
that rating pre-selected (``describe``): mail scanners open every link in a message, so
a GET must never answer for the customer; only the page's button (a POST) records.

``answer`` is what the public endpoint calls with the token from the link. The token
(``chalicelib.domain.survey_tokens``) names the ticket and a one-time nonce; the answer
is stored in ONE transaction: the lookup ``survey:<nonce>`` (put only if absent: a
second answer fails there) with the ticket's survey and an audit entry. Then, outside
the transaction, the KPI aggregates are counted and a bad rating (1–2) reopens or flags
the ticket (``SURVEY_LOW_RATING_ACTION``). Every refusal raises a ``SurveyRefused``
subclass before anything is written; the HTTP edge maps each to its status.

Settings (environment, read on every call; see ``config.py`` for why):

* ``SURVEY_SECRET`` (env or SSM through ``chalicelib.secrets``): the HMAC key of the
  links, at least 16 bytes. Without it the key is derived from ``REPLY_ADDRESS_SECRET``
  (HMAC-SHA256 over a survey-only label), so a deployment works out of the box; rotating
  that secret then also invalidates open survey links.
* ``SURVEY_TTL_DAYS`` (default 14): how long a link works.
* ``SURVEY_LOW_RATING_ACTION``: ``reopen`` (default: status open, so the ticket goes back
  through its queue), ``flag`` (priority one step up) or ``none``; the first two also add
  the tag ``low_csat``.
* ``PUBLIC_BASE_URL`` (default https://support.example.com): where the API is reached,
  stage path included (``https://abc.execute-api.../api``).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets as random_tokens
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.observability import count, logger
from chalicelib.service import changes, customer_language
from chalicelib.storage import repository
from chalicelib.storage import surveys as survey_records
from chalicelib.storage.exceptions import TransactionCancelled

__all__ = [
    "LOW_RATING_MAX",
    "LOW_RATING_TAG",
    "QUESTIONS",
    "AlreadyAnswered",
    "ExpiredSurvey",
    "ForgedSurvey",
    "InvalidAnswer",
    "MalformedSurveyToken",
    "SurveyNotConfigured",
    "SurveyRefused",
    "WrongTicket",
    "answer",
    "check_rating",
    "describe",
    "link",
    "send",
]

LOW_RATING_MAX = 2  # ratings 1 and 2 of 5 ask for a follow-up
LOW_RATING_TAG = "low_csat"
QUESTIONS: tuple[dict[str, Any], ...] = (
    {"name": "rating", "type": "integer", "minimum": 1, "maximum": 5, "required": True,
     "text": "How satisfied are you with how we handled your request? (1 = very dissatisfied, 5 = very satisfied)"},
    {"name": "comment", "type": "string", "max_length": 2000, "required": False,
     "text": "Anything you would like to tell us?"},
    {"name": "nps", "type": "integer", "minimum": 0, "maximum": 10, "required": False,
     "text": "How likely are you to recommend us to a friend or colleague? (0 = not at all, 10 = extremely)"},
    {"name": "ces", "type": "integer", "minimum": 1, "maximum": 7, "required": False,
     "text": "We made it easy for me to handle my issue. (1 = strongly disagree, 7 = strongly agree)"},
)

_DEFAULT_TTL_DAYS = 14
_MAX_TTL_DAYS = 365
_DEFAULT_BASE_URL = "https://support.example.com"
_LOW_RATING_ACTIONS = ("reopen", "flag", "none")
_MIN_SECRET_BYTES = 16  # what survey_tokens requires
# A survey key derived from the reply-address secret must never equal a key used for
# reply addresses: HMAC over a label only the survey code uses (NIST SP 800-108 style).
_FALLBACK_LABEL = b"relay-desk survey links v1\x00derived from REPLY_ADDRESS_SECRET"
_RETRIES = 3
_SENDER = changes.Actor("automation:survey", "Satisfaction survey")  # not an agent: never a first response


# --------------------------------------------------------------------------- refusals


class SurveyRefused(Exception):
    """A survey answer (or look-up) that cannot be accepted; nothing was recorded. ``code`` names why."""

    code = "survey_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedSurveyToken(SurveyRefused):
    """The link's token is not one of ours at all (truncated, mangled by a mail client...)."""

    code = "malformed_token"


class InvalidAnswer(SurveyRefused):
    """The answer itself is wrong: no rating, a rating of 6, "5" as text, an unknown field..."""

    code = "invalid_answer"

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


class ForgedSurvey(SurveyRefused):
    """The token's signature does not hold: altered, or signed with another secret."""

    code = "bad_signature"


class WrongTicket(SurveyRefused):
    """A genuine token, but not the survey this ticket was sent (another ticket's nonce, a replaced survey)."""

    code = "wrong_ticket"


class ExpiredSurvey(SurveyRefused):
    code = "expired"


class AlreadyAnswered(SurveyRefused):
    code = "already_answered"


class SurveyNotConfigured(SurveyRefused):
    """No usable secret or settings: links can be neither made nor checked."""

    code = "not_configured"


# --------------------------------------------------------------------------- sending


def send(ticket: Any, *, now: datetime | None = None) -> bool:
    """Send the satisfaction survey for a solved ticket on its channel; False (and a log line saying why) if not.

    The survey is recorded on the ticket before the message is queued, with the
    version the caller read: of two sweeps racing, one records and sends, the other
    reloads, sees the survey and stops. A ticket gets at most one survey, ever.
    """
    moment = now or clock.now()
    why = _why_not(ticket)
    if why is not None:
        _skipped(ticket, why)
        return False
    try:
        secret, ttl = _secret(), _ttl()
    except SurveyNotConfigured as err:
        logger.error("survey not sent: not configured", extra={"ticket_id": ticket.ticket_id, "reason": err.reason})
        return False
    from chalicelib.domain import survey_tokens

    nonce = random_tokens.token_urlsafe(12)  # 16 characters, 96 random bits
    token = survey_tokens.issue(ticket.ticket_id, secret=secret, now=moment, ttl=ttl, nonce=nonce)
    expires_at = survey_tokens.verify(token, secret=secret, now=moment).expires_at  # whole seconds, as signed
    record = {"sent_at": clock.iso(moment), "nonce": nonce, "expires_at": clock.iso(expires_at)}
    def record_survey(current: Any) -> Any:
        changes.apply(current, changes.TicketChange(sets={"survey": record}), _SENDER, action="survey_sent",
                      detail=f"satisfaction survey; the link works until {record['expires_at'][:10]}", now=moment)
        return current

    # Changed since it was read: look again, it may have been surveyed (or solved into spam) meanwhile.
    recorded_on = changes.retrying(ticket, record_survey, still_wanted=lambda current: _why_not(current) is None,
                                   tries=_RETRIES, raise_conflict=False,
                                   gave_up="survey not sent: the ticket kept changing; the next sweep does not retry it")
    if recorded_on is None:
        fresh = repository.get_ticket(ticket.ticket_id)
        why = "ticket no longer exists" if fresh is None else _why_not(fresh)
        if why is not None:
            _skipped(fresh, why)
        return False
    from chalicelib.service import tickets

    try:
        sent = tickets.reply(repository.get_ticket(ticket.ticket_id), _question(ticket, token, expires_at), _SENDER,
                             now=moment)
    except Exception as err:  # recorded but not queued: never sent twice beats sent twice
        logger.warning("survey recorded but could not be queued", extra={"ticket_id": ticket.ticket_id,
                                                                         "reason": repr(err)})
        count("SurveysUndeliverable", channel=ticket.channel)
        return False
    count("SurveysSent", channel=sent["channel"])
    logger.info("survey sent", extra={"ticket_id": ticket.ticket_id, "channel": sent["channel"]})
    return True


def link(token: str, rating: int | None = None) -> str:
    """The public survey URL for ``token`` (with ``?rating=N``: the page opens with that rating pre-selected)."""
    base = (os.environ.get("PUBLIC_BASE_URL") or _DEFAULT_BASE_URL).rstrip("/")
    return f"{base}/surveys/{token}" + (f"?rating={rating}" if rating is not None else "")


def _why_not(ticket: Any) -> str | None:
    """Why this ticket must not get a survey (now or ever), or None."""
    if ticket.merged_into:
        return f"merged into {ticket.merged_into}"
    if ticket.survey:
        return f"already surveyed at {ticket.survey.get('sent_at')}"
    if ticket.auto_submitted:
        return "opened by an automatic message"
    if _was_spam(ticket):
        return "spam"
    if ticket.status != "solved":
        return f"not solved (status {ticket.status})"
    return None


def _was_spam(ticket: Any) -> bool:
    """Quarantined on arrival, tagged spam, or ever marked spam by an agent (a survey confirms a live address)."""
    if ticket.status == "spam" or ticket.quarantine_reason or "spam" in (ticket.tags or ()):
        return True
    return any(len(entry) >= 3 and entry[1] == "status" and entry[2] == "spam" for entry in ticket.timeline or ())


def _skipped(ticket: Any, why: str) -> None:
    logger.info("survey not sent", extra={"ticket_id": getattr(ticket, "ticket_id", None), "reason": why})


def _question(ticket: Any, token: str, expires_at: datetime) -> str:
    """The survey message in the customer's language: one link per rating, best first."""
    from chalicelib.domain import survey_texts

    return survey_texts.question(customer_language.of_ticket(ticket), number=int(ticket.number),
                                 subject=ticket.subject, expires_at=expires_at,
                                 links=[(rating, link(token, rating)) for rating in (5, 4, 3, 2, 1)])


# --------------------------------------------------------------------------- answering


def describe(token: str, *, rating: Any = None, now: datetime | None = None) -> dict[str, Any]:
    """What the survey page shows for this link; records nothing (link scanners open every link).

    The ticket number, the customer's language (``customer_language``: en, da or no), the questions,
    whether it was answered, and ``rating``: the link's pre-selected rating, checked
    (``InvalidAnswer`` for one that is not 1–5) after the token, or None.
    """
    moment = now or clock.now()
    claim = _verify(token, moment)
    ticket, survey = _surveyed_ticket(claim)
    return {
        "ticket_number": int(ticket.number),
        "language": customer_language.of_ticket(ticket),
        "rating": None if rating is None else check_rating(rating),
        "expires_at": survey.get("expires_at"),
        "answered": bool(survey.get("answered_at")),
        "answered_at": survey.get("answered_at"),
        "questions": [dict(question) for question in QUESTIONS],
    }


def check_rating(value: Any) -> int:
    """``value`` if it is a rating (a whole number 1–5), else ``InvalidAnswer``: the same check an answer gets."""
    from chalicelib.domain import survey_tokens

    try:
        return survey_tokens.validate_response({"rating": value}).rating
    except survey_tokens.InvalidSurveyResponse as err:
        raise InvalidAnswer(err.reason, err.field) from None


def answer(token: str, payload: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Record the customer's answer for the survey ``token`` names; raises a ``SurveyRefused`` subclass if not.

    ``payload`` is the parsed body: ``{"rating": 1-5, "comment"?, "nps"? 0-10, "ces"? 1-7}``,
    JSON types (validated strictly by ``survey_tokens.validate_response``). Returns what
    was recorded and which follow-up a low rating caused.
    """
    from chalicelib.domain import survey_tokens

    moment = now or clock.now()
    claim = _verify(token, moment)
    try:
        response = survey_tokens.validate_response(payload)
    except survey_tokens.InvalidSurveyResponse as err:
        raise InvalidAnswer(err.reason, err.field) from None
    stamp = clock.iso(moment)
    for _ in range(_RETRIES):
        ticket, survey = _surveyed_ticket(claim)
        if survey.get("answered_at"):
            raise AlreadyAnswered(f"this survey was answered at {survey['answered_at']}; thank you")
        recorded = {**survey, "answered_at": stamp, "rating": response.rating, "comment": response.comment,
                    "nps": response.nps, "ces": response.ces}
        change = changes.TicketChange(sets={"survey": recorded},
                                      extra_writes=[survey_records.answer_marker(claim.nonce, ticket.ticket_id,
                                                                                 at=stamp)])
        try:
            changes.apply(ticket, change, _customer(ticket), action="survey_answered", detail=_summary(response),
                          now=moment)
            break
        except changes.Conflict:
            continue  # an agent or a sweep changed the ticket meanwhile: read it again (answered? then 409)
        except TransactionCancelled as err:
            codes = set(err.codes)
            if "ConditionalCheckFailed" in codes:  # the ticket's condition held, so it was the nonce
                raise AlreadyAnswered("this survey was already answered; thank you") from None
            if "TransactionConflict" not in codes:
                raise
    else:
        raise changes.Conflict("the ticket kept changing while the answer was recorded; try again")
    count("SurveyAnswers", channel=ticket.channel, rating=str(response.rating))
    _count_kpis(ticket, response, moment)
    follow_up = _follow_up(ticket.ticket_id, moment) if response.rating <= LOW_RATING_MAX else None
    return {"ticket_number": int(ticket.number), "rating": response.rating, "comment": response.comment,
            "nps": response.nps, "ces": response.ces, "answered_at": stamp, "follow_up": follow_up,
            "language": customer_language.of_ticket(ticket)}


def _verify(token: Any, moment: datetime) -> Any:
    from chalicelib.domain import survey_tokens

    secret = _secret()
    try:
        return survey_tokens.verify(token, secret=secret, now=moment)
    except survey_tokens.InvalidSurveyToken as err:
        refusal = {
            survey_tokens.MALFORMED: (MalformedSurveyToken, "this is not a survey link of ours; copy the whole link"),
            survey_tokens.BAD_SIGNATURE: (ForgedSurvey, "this survey link is not valid"),
            survey_tokens.WRONG_TICKET: (WrongTicket, "this survey link is for another request"),
            survey_tokens.EXPIRED: (ExpiredSurvey, "this survey link has expired"),
        }
        kind, reason = refusal.get(err.reason, (MalformedSurveyToken, "this survey link cannot be used"))
        raise kind(reason) from None


def _surveyed_ticket(claim: Any) -> tuple[Any, dict[str, Any]]:
    """The ticket the claim names, if this claim is the survey it was sent; else WrongTicket."""
    ticket = repository.get_ticket(claim.ticket_id)
    survey = ticket.survey if ticket is not None else None
    # Compared in constant time like the MAC; the nonce is what ties a link to this ticket's one survey.
    if not isinstance(survey, dict) or not hmac.compare_digest(str(survey.get("nonce", "")), claim.nonce):
        raise WrongTicket("this survey link is not the one we sent for this request")
    return ticket, survey


def _customer(ticket: Any) -> changes.Actor:
    return changes.Actor("customer", ticket.requester_name or "Customer")


def _summary(response: Any) -> str:
    parts = [f"CSAT {response.rating}/5"]
    if response.nps is not None:
        parts.append(f"NPS {response.nps}/10")
    if response.ces is not None:
        parts.append(f"CES {response.ces}/7")
    if response.comment:
        parts.append(f"comment: {response.comment[:500]}")
    return "; ".join(parts)


def _count_kpis(ticket: Any, response: Any, moment: datetime) -> None:
    """Daily CSAT, NPS and CES counters; after the answer is stored, so a failure here loses a count, never an answer."""
    from chalicelib.domain import kpis

    try:
        from chalicelib.storage import aggregates

        aggregates.record(moment, groups={"channel": ticket.channel, "priority": ticket.priority,
                                          "queue": ticket.category, "agent": ticket.assignee_id or None},
                          counters=kpis.survey_counters(response.rating, response.nps, response.ces))
    except Exception:  # the customer's answer is recorded; a 500 now would only make them retry into a 409
        logger.exception("survey answer recorded but not counted in the KPI aggregates",
                         extra={"ticket_id": ticket.ticket_id})
        count("SurveyKpisLost", channel=ticket.channel)


def _follow_up(ticket_id: str, moment: datetime) -> str | None:
    """A bad rating brings the ticket back to the team: reopened (default) or flagged; what was done, or None."""
    from chalicelib.service import tickets
    from chalicelib.domain.vocabulary import PRIORITIES

    action = (os.environ.get("SURVEY_LOW_RATING_ACTION") or "reopen").strip().lower()
    if action not in _LOW_RATING_ACTIONS:
        logger.error("SURVEY_LOW_RATING_ACTION is not reopen, flag or none; flagging",
                     extra={"value": action})
        action = "flag"
    if action == "none":
        return None
    def follow_up(ticket: Any) -> str:
        if action == "reopen" and ticket.status in ("solved", "closed"):
            update = tickets.Update(status="open", add_tags=frozenset({LOW_RATING_TAG}))
            done = "reopened"
        else:  # flag (or already open again: the customer wrote back, raising it is what is left to do)
            rank = PRIORITIES.index(ticket.priority) if ticket.priority in PRIORITIES else len(PRIORITIES) - 1
            update = tickets.Update(priority=PRIORITIES[max(rank - 1, 0)], add_tags=frozenset({LOW_RATING_TAG}))
            done = "flagged"
        tickets.update(ticket, update, _customer(ticket), now=moment)
        count("SurveyFollowUps", channel=ticket.channel, action=done)
        return done

    ticket = repository.get_ticket(ticket_id)
    if ticket is None or ticket.merged_into:
        return None
    try:
        return changes.retrying(ticket, follow_up, still_wanted=lambda current: not current.merged_into, tries=_RETRIES,
                                raise_conflict=False,
                                gave_up="low rating recorded, follow-up gave up: the ticket kept changing")
    except Exception as err:  # the answer is stored; a failed follow-up is logged, not the customer's problem
        logger.warning("low rating recorded, follow-up failed", extra={"ticket_id": ticket_id, "reason": repr(err)})
        return None


# --------------------------------------------------------------------------- settings


_warned_fallback = False


def _secret() -> bytes:
    """The links' HMAC key: ``SURVEY_SECRET``, else derived from ``REPLY_ADDRESS_SECRET``."""
    global _warned_fallback
    from chalicelib import secrets as app_secrets

    configured = app_secrets.get("SURVEY_SECRET")
    if configured:
        key = configured.encode()
        if len(key) < _MIN_SECRET_BYTES:
            raise SurveyNotConfigured(f"SURVEY_SECRET must be at least {_MIN_SECRET_BYTES} bytes; use a random value")
        return key
    reply_secret = app_secrets.get("REPLY_ADDRESS_SECRET")
    if not reply_secret:
        raise SurveyNotConfigured("surveys need SURVEY_SECRET (or REPLY_ADDRESS_SECRET) to sign their links")
    if not _warned_fallback:
        _warned_fallback = True
        logger.info("SURVEY_SECRET is not set; survey links use a key derived from REPLY_ADDRESS_SECRET")
    return hmac.new(reply_secret.encode(), _FALLBACK_LABEL, hashlib.sha256).digest()


def _ttl() -> timedelta:
    raw = (os.environ.get("SURVEY_TTL_DAYS") or "").strip() or str(_DEFAULT_TTL_DAYS)
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= _MAX_TTL_DAYS:
        raise SurveyNotConfigured(f"SURVEY_TTL_DAYS must be a whole number of days from 1 to {_MAX_TTL_DAYS}, "
                                  f"got {raw!r}")
    return timedelta(days=days)
