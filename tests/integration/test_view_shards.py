"""View shards (``VIEW_SHARDS``, storage/ticket_keys.py): each agent view's index key spread over N values, so
the busiest view (``open``, ``none#open``, a queue's ``<queue>#open`` and waiting line) is not one partition at
10,000 new tickets a second (docs/scaling.md). Readers merge the shards: the same tickets, in the same order,
page by page.

Through the handlers and the HTTP API: tickets by mail, views read with ``GET /tickets``, a waiting line drained
by an agent coming online.
"""
import base64
import json

import pytest

from tests.api import call
from tests.mail import compose

TICKETS = 13


@pytest.fixture
def environment():
    return {"VIEW_SHARDS": "4"}


def _mail(desk, n):
    desk.receive_email(compose(sender=f"Customer {n} <c{n}@shop.example>", subject=f"Order {n} never arrived"))
    desk.pump()
    desk.advance(minutes=1)  # each ticket its own moment of activity: one order across the shards


def _pages(desk, token, query, limit):
    """Every ticket of a view, page by page; the subjects in the order the API gave them, and the page count."""
    subjects, cursor, pages = [], None, 0
    while True:
        path = f"/tickets?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = call(desk, "get", path, token)
        assert status == 200, body
        pages += 1
        subjects += [ticket["subject"] for ticket in body["tickets"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return subjects, pages
        assert pages <= TICKETS, "the cursor must move on"


def _newest_first(numbers):
    return [f"Order {n} never arrived" for n in sorted(numbers, reverse=True)]


def _view_keys(desk, attribute):
    items = desk._aws("dynamodb").scan(TableName="relay-desk-tickets")["Items"]
    return {item[attribute]["S"] for item in items if attribute in item}


def test_sharded_views_list_every_ticket_once_latest_activity_first_page_by_page(desk, admin_token):
    for n in range(TICKETS):
        _mail(desk, n)
    statuses = _view_keys(desk, "view_status")
    assert statuses <= {f"open#{k}" for k in range(4)} and len(statuses) > 1  # spread, not one partition
    queue = desk.tickets()[0]["category"]

    for query in ("status=open", "status=open&assignee=none", f"status=open&queue={queue}",
                  "status=open&priority=normal"):
        for limit in (1, 4, 5, TICKETS + 2):
            subjects, pages = _pages(desk, admin_token, query, limit)
            assert subjects == _newest_first(range(TICKETS)), (query, limit)
            assert pages <= -(-TICKETS // limit) + 1, (query, limit)  # a page is full until the view ends
    assert _pages(desk, admin_token, "status=solved", 5) == ([], 1)


def test_the_waiting_line_is_oldest_first_across_the_shards(desk, admin_token):
    for n in range(TICKETS):
        _mail(desk, n)
    assert len(_view_keys(desk, "waiting_queue")) > 1
    agent, token = desk.add_agent("Agent", "agent@example.com", capacity=5)  # comes online: drains the line
    desk.pump()
    subjects, _ = _pages(desk, token, "status=open&assignee=me", 10)
    assert subjects == _newest_first(range(5))  # the five oldest tickets
    _, body = call(desk, "get", f"/agents/{agent}", admin_token)
    assert body["open_count"] == 5


def test_raising_the_shard_count_hides_no_ticket_written_before(desk, admin_token, monkeypatch):
    monkeypatch.setenv("VIEW_SHARDS", "1")
    for n in range(5):
        _mail(desk, n)
    assert _view_keys(desk, "view_status") == {"open"}  # one shard: the unsharded spelling
    monkeypatch.setenv("VIEW_SHARDS", "4")
    for n in range(5, 9):
        _mail(desk, n)
    subjects, _ = _pages(desk, admin_token, "status=open", 3)
    assert subjects == _newest_first(range(9))


@pytest.mark.parametrize("shards", [
    {"open#9": {"NULL": True}},  # not a shard of this view
    {"open#1": {"M": {"o": {"S": "2026"}}}},  # a position without its ticket
    {"open#1": {"S": "x"}},
])
def test_a_page_key_this_view_did_not_issue_is_400(desk, admin_token, shards):
    cursor = base64.urlsafe_b64encode(json.dumps({"shards": {"M": shards}}).encode()).decode()
    status, body = call(desk, "get", f"/tickets?status=open&cursor={cursor}", admin_token)
    assert status == 400 and body["reason"] == "cursor is not one this API issued"


def test_a_cursor_nested_past_the_json_parser_s_depth_is_400_not_500(desk, admin_token):
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode()  # json.loads raises RecursionError on it
    status, body = call(desk, "get", f"/tickets?status=open&cursor={cursor}", admin_token)
    assert status == 400 and body["reason"] == "cursor is not one this API issued"
