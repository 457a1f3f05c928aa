"""What a web-chat visitor is shown: visibility, the look-back cursor, the hours in words (pure, no AWS)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.business_time import Schedule
from chalicelib.domain.visitor_chat import (
    LOOK_BACK,
    BadCursor,
    Cursor,
    availability,
    expected_reply,
    read_cursor,
    transcript,
    visible_as,
)

SESSION = "ws-0123456789abcdef0123"
START = datetime(2026, 12, 9, 10, 0, tzinfo=timezone.utc)


@dataclass
class Stored:
    """A message item as storage returns it (only the attributes the transcript reads)."""

    sk: str
    kind: str = "customer"
    direction: str = "inbound"
    channel: str = "webchat"
    message_key: str = ""
    ticket_id: str = "t-1"
    sender_name: str = ""
    text: str = "hello"
    reply_text: str | None = None
    created_at: str = ""
    attachments: list = field(default_factory=list)


def _stamp(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _visitor(seconds: float, n: int) -> Stored:
    return Stored(f"{_stamp(seconds)}#v{n}", message_key=f"in:webchat:{SESSION}:msg-{n:08d}", text=f"visitor {n}")


def _agent(seconds: float, n: int) -> Stored:
    return Stored(f"{_stamp(seconds)}#a{n}", kind="agent", direction="outbound", sender_name="Ada", text=f"agent {n}")


@pytest.mark.parametrize("message, seen_as", [
    (_visitor(0, 1), "visitor"),
    (_agent(0, 1), "agent"),
    (Stored("x", kind="acknowledgement", direction="outbound"), "desk"),
    (Stored("x", kind="automated", direction="outbound"), "desk"),
    (Stored("x", kind="note", direction="internal", channel="internal"), None),
    (Stored("x", kind="agent", direction="outbound", channel="email"), None),  # sent elsewhere
    (Stored("x", message_key="in:webchat:ws-ffffffffffffffffffff:msg-1"), None),  # another session's
    (Stored("x", kind="auto_reply"), None),
])
def test_who_the_visitor_sees_as_the_author(message, seen_as):
    assert visible_as(message, SESSION) == seen_as


def test_a_cursor_reads_back_as_it_was_given_and_anything_else_is_refused():
    cursor = Cursor(_stamp(5) + "#abc", frozenset({"m-1", "msg-00000002"}))
    assert read_cursor(cursor.encode()) == cursor
    assert read_cursor(None) == read_cursor("") == Cursor(None, frozenset())
    for bad in ("%%%", "eyJ4IjoxfQ", "x" * 9000, "é", Cursor("w", frozenset({"a"})).encode()[:-3] + "!!!"):
        with pytest.raises(BadCursor):
            read_cursor(bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(min_value=0, max_value=50)), min_size=1, max_size=12),
       st.randoms(use_true_random=False), st.integers(min_value=1, max_value=6))
def test_each_message_is_shown_once_whatever_order_they_are_stored_in(stamps, random, polls):
    """Messages stamped at one time and stored in another order (within LOOK_BACK): each is shown exactly once."""
    messages = [(_agent if is_agent else _visitor)(at, n) for n, (is_agent, at) in enumerate(stamps)]
    arrival = messages[:]
    random.shuffle(arrival)
    cursor, shown = Cursor(None, frozenset()), []
    cut_points = sorted(random.sample(range(len(arrival) + 1), min(polls, len(arrival) + 1))) + [len(arrival)]
    for cut in cut_points:
        stored = arrival[:cut]
        floor = cursor.floor()
        page = transcript([m for m in stored if floor is None or m.sk > floor], SESSION, cursor, desk_name="Desk")
        shown += [m["text"] for m in page.messages]
        cursor = page.cursor
    assert sorted(shown) == sorted(m.text for m in messages)


def test_the_look_back_is_what_the_cursor_keeps_ids_for():
    first = transcript([_visitor(0, 1), _agent(100, 2)], SESSION, Cursor(None, frozenset()), desk_name="Desk")
    assert first.cursor.watermark == _agent(100, 2).sk
    agent_id = "m-" + hashlib.sha256(f"t-1|{_agent(100, 2).sk}".encode()).hexdigest()[:20]
    assert first.cursor.seen == {agent_id}  # the visitor's message is older than LOOK_BACK: no id kept for it
    assert LOOK_BACK < timedelta(seconds=100)


COPENHAGEN = Schedule(timezone="Europe/Copenhagen", days=("mon", "tue", "wed", "thu", "fri"),
                      start="08:00", end="17:00")


def test_availability_in_words():
    wednesday_10 = datetime(2026, 12, 9, 9, 0, tzinfo=timezone.utc)
    assert availability(wednesday_10, COPENHAGEN, agents_on_duty=2, first_response_minutes=30).as_dict() == {
        "humans_available": True, "next_human_at": None, "expected_reply": "within 30 minutes", "language": "en",
        "message": "We're here. We usually reply within 30 minutes."}
    friday_evening = datetime(2026, 12, 11, 18, 0, tzinfo=timezone.utc)
    assert availability(friday_evening, COPENHAGEN, agents_on_duty=2, first_response_minutes=30).as_dict() == {
        "humans_available": False, "next_human_at": "2026-12-14T07:00:00Z",
        "expected_reply": "Monday from 08:00 CET", "language": "en",
        "message": "We're away right now \u2014 back Monday from 08:00 CET. Leave a message and we'll answer here."}
    early = datetime(2026, 12, 9, 5, 0, tzinfo=timezone.utc)
    assert availability(early, COPENHAGEN, agents_on_duty=1, first_response_minutes=30).expected_reply == \
        "today from 08:00 CET"


@pytest.mark.parametrize("minutes, words", [(None, "shortly"), (30, "within 30 minutes"), (60, "within an hour"),
                                            (120, "within 2 hours"), (1440, "within a day"),
                                            (2880, "within 2 days")])
def test_expected_reply(minutes, words):
    assert expected_reply(minutes) == words
