"""What the chat bot says, in the customer's language: its answer, its thanks, the hand-off to a person.

The words are templates (``templates/bot_*.chat.j2`` per language, registered in
``outbound.templates.CUSTOMER_TEMPLATES``); when and why the bot speaks is ``service/bot.py``
and ``domain/bot.py``, which queue what is written here.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain import bot
from chalicelib.outbound.templates import render, template_in
from chalicelib.service import bot as bot_service
from chalicelib.service import clocks

__all__ = ["answer", "handoff", "solved"]


def answer(ticket: Any, decision: bot_service.BotDecision, *, language: str, article_url: str) -> None:
    """The bot's answer to a new ticket: the article, its link, and "did this solve it?" with buttons."""
    text = render(template_in("bot_answer.chat.j2", language), customer_name=_first_name(ticket),
                  title=decision.title, snippet=decision.snippet, url=article_url).strip()
    bot_service.queue_reply(ticket, "answer", text, choices=bot.choices_in(language))


def solved(ticket: Any, *, language: str) -> None:
    bot_service.queue_reply(ticket, "solved", render(template_in("bot_solved.chat.j2", language)).strip())


def handoff(ticket: Any, *, reason: str, language: str, now: datetime) -> None:
    """Tell the customer a person takes over, and when one will answer: within the promise while the desk is
    open, else the local time it opens ("Monday from 08:30 CET"), from the calendar the ticket's SLA uses."""
    text = render(template_in("bot_handoff.chat.j2", language), asked_for_person=reason == "asked for a person",
                  ticket_number=int(ticket.number), response_time=clocks.response_promise(ticket),
                  opens=bot_service.desk_opens(ticket, now, language=language)).strip()
    bot_service.queue_reply(ticket, "handoff", text)


def _first_name(ticket: Any) -> str:
    return (ticket.requester_name or "").split(" ")[0]
