"""A reply sent again with the same Idempotency-Key (a console or script retrying a request whose answer it never got)
stores and sends one reply; another key, or another agent's key, is another reply."""
from __future__ import annotations

import json
from typing import Any

from tests.mail import compose


def _reply(desk: Any, token: str, ticket_id: str, text: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return desk.http.post(f"/tickets/{ticket_id}/replies", body=json.dumps({"text": text}).encode(), headers=headers)


def _ticket(desk: Any) -> dict[str, Any]:
    desk.receive_email(compose(subject="Where is my order?", body="Order 88 has not arrived."))
    desk.pump()
    (ticket,) = desk.tickets()
    return ticket


def test_the_same_key_twice_stores_and_sends_one_reply(desk, admin_token):
    ticket = _ticket(desk)
    first = _reply(desk, admin_token, ticket["id"], "It ships today.", "retry-7f3a")
    again = _reply(desk, admin_token, ticket["id"], "It ships today.", "retry-7f3a")
    desk.pump()

    assert first.status_code == again.status_code == 201
    assert json.loads(again.body)["message_id"] == json.loads(first.body)["message_id"]
    assert json.loads(again.body)["repeated"] is True and json.loads(first.body)["repeated"] is False
    (stored,) = [t for t in desk.tickets() if t["id"] == ticket["id"]]
    assert [m["text"] for m in stored["messages"] if m["kind"] == "agent"] == ["It ships today."]
    assert sum("It ships today." in m.get_body(("plain",)).get_content() for m in desk.sent_emails()) == 1
    assert stored["agent_reply_count"] == 1


def test_other_keys_and_no_key_are_other_replies(desk, admin_token):
    ticket = _ticket(desk)
    other_agent = desk.add_agent("Bo Agent", "bo@example.com")[1]
    for token, key in ((admin_token, "k-1"), (admin_token, "k-2"), (other_agent, "k-1"), (admin_token, None)):
        assert _reply(desk, token, ticket["id"], f"Reply {key}", key).status_code == 201
    (stored,) = desk.tickets()
    assert len([m for m in stored["messages"] if m["kind"] == "agent"]) == 4


def test_a_malformed_key_is_refused_and_stores_nothing(desk, admin_token):
    ticket = _ticket(desk)
    response = _reply(desk, admin_token, ticket["id"], "Hello", "has spaces in it")
    assert response.status_code == 400 and "Idempotency-Key" in json.loads(response.body)["reason"]
    (stored,) = desk.tickets()
    assert not [m for m in stored["messages"] if m["kind"] == "agent"]
