"""Agents' credentials (``chalicelib.domain.agent_tokens``): shapes, hashes, and which sessions make room."""
from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import agent_tokens


def test_each_kind_of_token_parses_only_as_itself():
    link, session = agent_tokens.new_link("a-0123456789ab"), agent_tokens.new_session("a-0123456789ab")
    api = agent_tokens.new_credentials()
    assert re.fullmatch(r"rdl_a-0123456789ab_[0-9a-f]{64}", link.token)
    assert re.fullmatch(r"rds_a-0123456789ab_[0-9a-f]{64}", session.token)
    assert agent_tokens.parse_link(link.token)[0] == agent_tokens.parse_session(session.token)[0] == "a-0123456789ab"
    for parse, own in ((agent_tokens.parse, api.token), (agent_tokens.parse_link, link.token),
                       (agent_tokens.parse_session, session.token)):
        assert [parse(t) is not None for t in (api.token, link.token, session.token)].count(True) == 1
        assert parse(own) is not None
    assert agent_tokens.parse_session(None) is None  # type: ignore[arg-type]


def test_only_a_128_bit_hash_is_kept_and_it_matches_only_its_secret():
    link = agent_tokens.new_link("a-0123456789ab")
    secret = agent_tokens.parse_link(link.token)[1]
    assert len(link.token_hash) == 32 and secret not in link.token_hash
    assert agent_tokens.matches_short(secret, link.token_hash)
    assert not agent_tokens.matches_short("0" * 64, link.token_hash)
    assert not agent_tokens.matches_short(secret, None) and not agent_tokens.matches_short(secret, "")


def test_a_new_session_drops_the_expired_ones_then_the_oldest_past_the_cap():
    sessions = {"old": 100, "gone": 50, "a": 1_000, "b": 2_000, "c": 3_000}
    assert agent_tokens.sessions_to_drop(sessions, now=500, keep=5) == ["gone", "old"]
    assert agent_tokens.sessions_to_drop(sessions, now=500, keep=3) == ["gone", "old", "a"]
    assert agent_tokens.sessions_to_drop(sessions, now=500, keep=1) == ["gone", "old", "a", "b", "c"]
    assert agent_tokens.sessions_to_drop({}, now=500, keep=5) == []


@given(st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 100), max_size=12),
       st.integers(0, 100), st.integers(1, 8))
def test_after_dropping_there_is_room_for_one_more_and_no_expired_session_is_left(sessions, now, keep):
    dropped = agent_tokens.sessions_to_drop(sessions, now=now, keep=keep)
    left = {key: expires for key, expires in sessions.items() if key not in dropped}
    assert len(left) <= keep - 1 and all(expires > now for expires in left.values())
    newest_kept = sorted(sessions.values(), reverse=True)[:len(left)]
    assert sorted(left.values(), reverse=True) == newest_kept  # the newest live sessions are the ones kept
