"""The agent API through Chalice's test client: auth, views by status, pagination, detail."""
import json

from tests.mail import compose


def _get(desk, path, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = desk.http.get(path, headers=headers)
    return response.status_code, json.loads(response.body or b"null")


def test_requests_without_a_valid_token_get_401_with_a_json_reason(desk, admin_token):
    for token in (None, "nonsense", admin_token[:-1] + ("0" if admin_token[-1] != "0" else "1"),
                  "rd_a-000000000000_" + "0" * 64):
        status, body = _get(desk, "/tickets", token)
        assert status == 401 and body["error"] == "unauthorized" and body["reason"]
    status, body = _get(desk, "/tickets/t-00000000000000000000", None)
    assert status == 401


def test_tickets_by_status_are_paginated_by_key(desk, admin_token):
    for n in range(3):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.receive_email(compose(sender="spam@x.example", subject="junk"), spam="FAIL")
    desk.pump()

    status, first = _get(desk, "/tickets?status=open&limit=2", admin_token)
    assert status == 200 and len(first["tickets"]) == 2 and first["next_cursor"]
    status, second = _get(desk, f"/tickets?status=open&limit=2&cursor={first['next_cursor']}", admin_token)
    assert status == 200 and len(second["tickets"]) == 1 and second["next_cursor"] is None
    subjects = {t["subject"] for t in first["tickets"] + second["tickets"]}
    assert subjects == {"question 0", "question 1", "question 2"}
    status, spam = _get(desk, "/tickets?status=spam", admin_token)
    assert [t["subject"] for t in spam["tickets"]] == ["junk"]


def test_bad_query_parameters_are_400_with_reasons(desk, admin_token):
    for query in ("status=nope", "limit=0", "limit=1000", "limit=abc", "cursor=!!!", "cursor=e30", "colour=red"):
        status, body = _get(desk, f"/tickets?{query}", admin_token)
        assert status == 400, query
        assert body["error"] == "bad_request" and body["reason"], query


def test_ticket_detail_shows_messages_customer_and_past_tickets(desk):
    _, token = desk.add_agent("Ann Agent", "agent@example.com")
    desk.receive_email(compose(subject="first problem"))
    desk.pump()
    desk.receive_email(compose(subject="second problem"))
    desk.pump()
    second = desk.tickets()[1]
    status, body = _get(desk, f"/tickets/{second['id']}", token)
    assert status == 200
    assert body["subject"] == "second problem" and body["messages"][0]["text"].startswith("Hello")
    assert body["customer"]["ticket_count"] == 2 and body["customer"]["name"] == "Ann Customer"
    assert [t["subject"] for t in body["customer_tickets"]] == ["first problem"]


def test_unknown_ticket_is_404(desk, admin_token):
    for ticket_id in ("t-00000000000000000000", "not-an-id", "t-%2e%2e"):
        status, body = _get(desk, f"/tickets/{ticket_id}", admin_token)
        assert status == 404 and body["error"] == "not_found"
