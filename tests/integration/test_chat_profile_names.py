"""Chat customers get their names from the platform's profile when the webhook brings none (issue 15).

Slack message events often lack ``user_profile`` (and button presses always do); Messenger sends only the
page-scoped id. The pipeline asks ``users.info`` / the User Profile API behind the queue (never in the
webhook's request), once per customer (the name is kept on the customer record), and a failed lookup is
one log line and an unnamed customer, never a lost message. The platforms are stubbed with ``responses``
as LocalDesk stubs their send APIs.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests import chat

USERS_INFO = "https://slack.com/api/users.info"


@pytest.fixture
def environment() -> dict[str, str]:
    return dict(chat.SECRETS)


class _Profiles:
    """Records each profile request and answers with ``body``."""

    def __init__(self, desk: Any, method: str, url: Any, body: dict[str, Any], status: int = 200) -> None:
        self.requests: list[Any] = []
        self.body, self.status = body, status
        desk.platform_responses.add_callback(method, url, callback=self._answer)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        return self.status, {"Content-Type": "application/json"}, json.dumps(self.body)


def _nameless_slack(event_id: str, text: str, ts: str) -> dict[str, Any]:
    payload = chat.slack_message(event_id=event_id, text=text, ts=ts)
    del payload["event"]["user_profile"]  # as many message events arrive
    return payload


SLACK_USER = {"ok": True, "user": {"id": "U0ANNCUST", "team_id": "T0001HELP", "name": "ann.customer",
                                   "real_name": "Ann Customer",
                                   "profile": {"display_name": "", "real_name": "Ann Customer"}}}


def test_a_slack_customer_is_named_from_users_info_behind_the_queue_and_asked_once(desk):
    profiles = _Profiles(desk, responses.GET, USERS_INFO, SLACK_USER)
    response = chat.post_slack(desk, _nameless_slack("Ev0NAME0001", "My order arrived broken", "1795426140.000200"))
    assert response.status_code == 200
    assert profiles.requests == []  # the webhook answered without asking Slack anything

    desk.pump()
    (request,) = profiles.requests
    assert parse_qs(urlsplit(request.url).query) == {"user": ["U0ANNCUST"]}
    assert request.headers["Authorization"] == f"Bearer {chat.SLACK_BOT_TOKEN}"
    (ticket,) = desk.tickets()
    assert ticket["customer"]["name"] == "Ann Customer"
    assert "Ann" in desk.sent_chat_messages()[0]["text"]  # the acknowledgement greets her by name

    chat.post_slack(desk, _nameless_slack("Ev0NAME0002", "Any news?", "1795426200.000300"))
    desk.pump()
    assert len(profiles.requests) == 1  # the customer record has her name now: Slack is not asked again
    assert [t["customer"]["name"] for t in desk.tickets()] == ["Ann Customer"]


def test_a_slack_message_that_names_its_sender_needs_no_lookup(desk):
    profiles = _Profiles(desk, responses.GET, USERS_INFO, SLACK_USER)
    chat.post_slack(desk, chat.slack_message())
    desk.pump()
    assert profiles.requests == []
    assert desk.tickets()[0]["customer"]["name"] == "ann"  # user_profile.display_name, as before


@pytest.mark.parametrize("status, body", [
    (200, {"ok": False, "error": "missing_scope", "needed": "users:read"}),
    (200, {"ok": False, "error": "user_not_found"}),
    (500, {"ok": False, "error": "internal_error"}),
])
def test_a_failed_lookup_is_logged_and_the_message_is_kept_unnamed(desk, caplog, status, body):
    profiles = _Profiles(desk, responses.GET, USERS_INFO, body, status=status)
    with caplog.at_level(logging.WARNING):
        chat.post_slack(desk, _nameless_slack("Ev0FAIL0001", "Hello?", "1795426140.000200"))
        desk.pump()
    assert len(profiles.requests) == 1  # one attempt: a name is not worth a retry that holds the queue
    (ticket,) = desk.tickets()
    assert ticket["customer"]["name"] in (None, "") and ticket["messages"][0]["text"] == "Hello?"
    assert [r.getMessage() for r in caplog.records if "profile lookup failed" in r.getMessage()] == [
        "customer profile lookup failed; the customer stays unnamed for now"]
    assert desk.dead_letters() == []

    profiles.status, profiles.body = 200, SLACK_USER  # fixed (the scope granted): the next message names her
    chat.post_slack(desk, _nameless_slack("Ev0FAIL0002", "Still there?", "1795426200.000300"))
    desk.pump()
    assert desk.tickets()[0]["customer"]["name"] == "Ann Customer"


def test_a_messenger_customer_is_named_from_the_user_profile_api(desk):
    profiles = _Profiles(desk, responses.GET, f"{chat.GRAPH}/6543210987654321",
                         {"first_name": "Peter", "last_name": "Chang", "id": "6543210987654321"})
    assert chat.post_meta(desk, "messenger", chat.messenger_text(text="Where is my order?")).status_code == 200
    assert profiles.requests == []
    desk.pump()
    (request,) = profiles.requests
    query = parse_qs(urlsplit(request.url).query)
    assert query["fields"] == ["first_name,last_name"] and query["access_token"] == [chat.MESSENGER_PAGE_ACCESS_TOKEN]
    assert desk.tickets()[0]["customer"]["name"] == "Peter Chang"


def test_telegram_sends_the_name_itself(desk):
    chat.post_telegram(desk, chat.telegram_text(text="Hi, my renewal failed"))
    desk.pump()
    assert desk.tickets()[0]["customer"]["name"] == "Ana Lima"
    assert not [call for call in desk.platform_responses.calls if call.request.method == "GET"]
