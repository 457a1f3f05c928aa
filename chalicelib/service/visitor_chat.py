"""The web-chat visitor's side: reading their conversation back (long polling), and whether anyone is there.

**Long polling.** ``read_conversation`` answers at once when something new is there;
otherwise it checks again every ``POLL_SECONDS`` until the visitor's ``wait`` is over
(at most ``MAX_WAIT_SECONDS``, well under API Gateway's 29-second integration timeout
and the functions' 30-second Lambda timeout). One check is one Query per ticket of
the conversation (usually one); the conversation's lookup is read at the start of a
request and again every ``LOOKUP_SECONDS`` of waiting (a solved conversation may open
a new ticket meanwhile), or on every check while the conversation has no ticket yet.
A poll that finds nothing at once (``wait=0``) is two reads: a GetItem and a Query,
each eventually consistent (0.5 read units each).

**Availability.** The chat SLA policy (``sla_policies.yaml``: a normal-priority web-chat
ticket) gives the schedule and the first-response promise; the agent directory (one
index Query, cached per container for a few seconds by ``storage.agents``) says whether
an agent could take the chat now.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from chalicelib import clock, config, configuration
from chalicelib.domain import assignment, sla
from chalicelib.domain.visitor_chat import Cursor, DeskAvailability, Transcript, availability, transcript
from chalicelib.storage import agents as agent_directory
from chalicelib.storage import conversations

__all__ = ["LOOKUP_SECONDS", "MAX_WAIT_SECONDS", "POLL_SECONDS", "desk_availability", "read_conversation"]

MAX_WAIT_SECONDS = 20
POLL_SECONDS = 1.0
LOOKUP_SECONDS = 5.0
_LAST_CHECK_SECONDS = 0.2


def read_conversation(session_id: str, cursor: Cursor, *, wait_seconds: float = 0,
                      sleep: Callable[[float], None] = time.sleep,
                      monotonic: Callable[[], float] = time.monotonic) -> Transcript:
    """The visitor's messages after ``cursor``; with nothing new, keep checking until ``wait_seconds`` pass."""
    conversation = f"webchat:{session_id}"
    started = monotonic()
    deadline = started + max(0.0, min(float(wait_seconds), MAX_WAIT_SECONDS))
    tickets = conversations.conversation_tickets(conversation)
    looked_up = started
    desk_name = config.setting("SUPPORT_NAME")
    while True:
        floor = cursor.floor()
        stored = [message for ticket_id in tickets for message in conversations.messages_after(ticket_id, floor)]
        found = transcript(stored, session_id, cursor, desk_name=desk_name)
        left = deadline - monotonic()
        if found.messages or left < _LAST_CHECK_SECONDS:  # a check this close to the end would find the same
            return found
        sleep(min(POLL_SECONDS, left))
        if not tickets or monotonic() - looked_up >= LOOKUP_SECONDS:
            tickets = conversations.conversation_tickets(conversation)
            looked_up = monotonic()


def desk_availability(now: datetime | None = None, *, language: str = "en") -> DeskAvailability:
    """Can a person answer a new chat now, and if not, when will someone be there? Worded in ``language``."""
    moment = now or clock.now()
    policy = sla.policy_for("normal", "webchat", None, None, policies=configuration.sla_policies())
    on_duty = sum(1 for agent in agent_directory.directory()
                  if assignment.available(agent_directory.state(agent), moment))
    return availability(moment, policy.schedule, agents_on_duty=on_duty,
                        first_response_minutes=policy.first_response, language=language)
