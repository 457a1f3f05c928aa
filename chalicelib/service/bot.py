"""The 24/7 chat bot's use cases: whether to answer a new chat question, and what it says.

The rules (what an answer means, when to hand over) are ``domain/bot.py``; this module
asks the knowledge base, knows when a person can answer, and queues what the bot says
for the outbound worker like every chat reply, with the yes/no buttons each platform
shows natively (``outbound/platforms.py``). The pipeline writes the words
(``pipeline/bot_replies.py``: templates in the customer's language).

Nothing the bot says is a first response: its messages are stored as kind ``bot``
and never touch ``last_agent_reply_at``, which the first-response KPI is measured from.
A failing search never blocks a customer: the ticket goes to a person instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib import configuration
from chalicelib.domain import bot, kb, sla
from chalicelib.domain.visitor_chat import availability
from chalicelib.observability import count, logger
from chalicelib.service import kb as knowledge_base
from chalicelib.settings import DeskSettings
from chalicelib.storage import kb_engine, queues

__all__ = ["CHANNELS", "BotDecision", "decide", "desk_opens", "queue_reply"]

# Where the bot talks: conversations a person types into. Email has its acknowledgement with suggested
# articles; the portal's form is read by the team; a phone call is logged by an agent.
CHANNELS = frozenset({"slack", "whatsapp", "messenger", "telegram", "sms", "webchat"})
_SNIPPET_CHARS = 400


@dataclass(frozen=True)
class BotDecision:
    """Whether the bot answers a question, with which article, and why (shown to agents on a hand-off)."""

    answer: bool
    reason: str  # "confident match", "low confidence", "asked for a person", "no article", "bot off", ...
    article_id: str | None = None
    title: str | None = None
    snippet: str | None = None
    score: float | None = None
    language: str | None = None  # the article's: the language the answer is written in


def decide(question: str, *, language: str | None, settings: DeskSettings) -> BotDecision:
    """Answer when the best published article in ``language`` scores at least ``settings.bot_min_score``.

    ``language`` None: the customer's language is not known (a short chat message says too little to
    detect it, and a first contact has stated no preference); every language's articles are searched
    and the best one's language is the answer's (``BotDecision.language``)."""
    if not settings.bot_enabled:
        return BotDecision(False, "bot off")
    if bot.asks_for_person(question):
        return BotDecision(False, "asked for a person")
    opening = question[:kb.MAX_QUERY_CHARS]
    if len(question) > kb.MAX_QUERY_CHARS and " " in opening:
        opening = opening.rsplit(" ", 1)[0]
    try:
        hits = knowledge_base.search(opening, language=language, limit=1)
    except ValueError:  # nothing searchable in it (only symbols, or noise over the limit)
        hits = []
    except Exception:  # the customer still gets a person: a broken index must not hold the chat
        logger.warning("knowledge-base search failed; the bot hands over", exc_info=True)
        count("BotSearchFailed", channel="chat")
        return BotDecision(False, "search failed")
    if not hits:
        return BotDecision(False, "no article")
    best = hits[0]
    if best.score < settings.bot_min_score:
        return BotDecision(False, "low confidence", article_id=best.id, title=best.title, score=best.score)
    if not _on_topic(opening, best):
        return BotDecision(False, "off topic", article_id=best.id, title=best.title, score=best.score)
    return BotDecision(True, "confident match", article_id=best.id, title=best.title,
                       snippet=_excerpt(best.snippet), score=best.score, language=best.language)


def _excerpt(snippet: str) -> str:
    """The engine's snippet as a chat line: at most ``_SNIPPET_CHARS``, cut at a word, "…" where it stops mid-way."""
    text = " ".join(snippet.split())
    if len(text) > _SNIPPET_CHARS:
        text = text[:_SNIPPET_CHARS].rsplit(" ", 1)[0]
    return text if text.endswith((".", "!", "?", "…")) else f"{text} …"


def _on_topic(question: str, hit: Any) -> bool:
    """Does the question name what the article's title is about (a shared word root, stop words aside)?

    BM25 adds up every word a question shares with an article, so a long message about a burnt
    blender outscores the threshold on the refunds article through "when", "got" and a typo match.
    Linking that is a harmless hint; answering with it is a wrong answer, so the bot also wants the
    article's subject in the customer's words ("refund", "password", "return"), as the engine stems them.
    """
    return bot.on_topic(kb_engine.analyze(question, hit.language), kb_engine.analyze(hit.title, hit.language))


def desk_opens(ticket: Any, now: datetime, *, language: str) -> str | None:
    """When a person can answer, in the customer's words ("Monday from 08:30 CET"), if the desk is closed now
    by the business-hours calendar of the ticket's SLA policy; None while it is open."""
    policy = sla.policy_for(ticket.priority, ticket.channel, ticket.customer_tier, ticket.category,
                            configuration.sla_policies())
    # The calendar only: who is on duty is assignment's business, and an open desk keeps its promise.
    desk = availability(now, policy.schedule, agents_on_duty=1, first_response_minutes=policy.first_response,
                        language=language)
    return None if desk.humans_available else desk.expected_reply


def queue_reply(ticket: Any, step: str, text: str, *, choices: list[dict[str, str]] | None = None) -> None:
    """Queue what the bot says on ``ticket`` (``step``: answer, solved or handoff) for the outbound worker, like
    every chat reply; one of each per ticket, however often its message is redelivered (the queue's
    deduplication key)."""
    key = f"bot:{ticket.ticket_id}:{step}"
    reply: dict[str, Any] = {"v": 1, "kind": "reply", "ticket_id": ticket.ticket_id, "channel": ticket.channel,
                             "purpose": "bot", "text": text, "key": key}
    if choices:
        reply["choices"] = choices
    queues.enqueue_reply(reply, ticket_id=ticket.ticket_id, dedup_key=key)
    count({"answer": "BotAnswered", "solved": "BotDeflected", "handoff": "BotHandedOff"}.get(step, "BotReplies"),
          channel=ticket.channel)
