"""The web chat answers back: a visitor reads their conversation through the HTTP API, as the widget does.

Each test opens sessions and writes through the real routes (``tests/chat.py``), lets
``desk.pump()`` run the queues, has an agent act through the agent API, and then reads
what the visitor's browser would: ``GET /webchat/sessions/{id}/messages``.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine

from tests import chat
from tests.api import call

SHOP = "https://shop.example"
EVIL = "https://evil.example"

BUNDLED_SETTINGS = Path(__file__).resolve().parents[2] / "chalicelib" / "desk_settings.json"


@pytest.fixture
def environment():
    return {**chat.SECRETS, "WEBCHAT_ALLOWED_ORIGINS": f"{SHOP},http://127.0.0.1:8123"}


def _session(desk, **visitor: str) -> dict[str, Any]:
    response = desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json", "Origin": SHOP},
                              body=json.dumps(visitor).encode())
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def _read(desk, session: dict[str, Any], *, after: str | None = None, wait: int = 0, token: str | None = None,
          origin: str | None = SHOP, session_id: str | None = None, client: Any = None) -> Any:
    query = "&".join(part for part in (f"after={after}" if after else "", f"wait={wait}") if part)
    headers = {"Authorization": f"Bearer {token or session['session_token']}"}
    if origin:
        headers["Origin"] = origin
    return (client or desk.http).get(f"/webchat/sessions/{session_id or session['session_id']}/messages?{query}",
                                     headers=headers)


def _transcript(desk, session, **options) -> dict[str, Any]:
    response = _read(desk, session, **options)
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def _write(desk, session, text: str, message_id: str) -> None:
    response = chat.post_webchat(desk, session["session_token"], text, message_id=message_id)
    assert response.status_code == 202, response.body
    desk.pump()


def _ticket_of(desk, session) -> dict[str, Any]:
    [ticket] = [t for t in desk.tickets() if t["channel"] == "webchat"
                and any(m["from"] == f"webchat:{session['session_id']}" for m in t["messages"])
                and t["status"] not in ("solved", "closed")]
    return ticket


# --- what the visitor sees ---------------------------------------------------------------------


def test_the_visitor_reads_their_messages_the_acknowledgement_and_the_agents_reply_but_never_a_note(
        desk, admin_token):
    session = _session(desk, name="Vera Visitor")
    _write(desk, session, "Where is my parcel? Order 5521", "vera-0001")
    ticket = _ticket_of(desk, session)
    assert call(desk, "post", f"/tickets/{ticket['id']}/notes", admin_token,
                {"text": "INTERNAL: she ordered twice, refund one"})[0] == 201
    status, _ = call(desk, "post", f"/tickets/{ticket['id']}/replies", admin_token,
                     {"text": "It left the warehouse today."})
    assert status == 201

    answer = _transcript(desk, session)

    assert [(m["from"], m["text"]) for m in answer["messages"]] == [
        ("visitor", "Where is my parcel? Order 5521"),
        ("desk", answer["messages"][1]["text"]),
        ("agent", "It left the warehouse today."),
    ]
    assert f"#{ticket['number']}" in answer["messages"][1]["text"]  # the chat acknowledgement
    visitor, desk_line, agent = answer["messages"]
    assert visitor["id"] == "vera-0001" and visitor["author_name"] == "Vera Visitor"
    assert agent["author_name"] == "Ada Admin" and desk_line["author_name"]
    assert all(set(m) == {"id", "from", "author_name", "text", "at", "attachments", "choices"} for m in answer["messages"])
    assert all(m["choices"] == [] for m in answer["messages"])  # only the bot's question has buttons
    raw = json.dumps(answer)
    status, agents = call(desk, "get", "/agents", admin_token)
    agent_ids = [agent["id"] for agent in (agents["agents"] if isinstance(agents, dict) else agents)]
    assert status == 200 and agent_ids
    for secret in ("INTERNAL", "ada@example.com", *agent_ids, ticket["id"], "agent:"):
        assert secret not in raw, secret


def test_with_the_cursor_only_what_is_new_comes_and_an_empty_poll_is_two_reads(desk, admin_token):
    from pynamodb.connection.base import Connection

    session = _session(desk)
    _write(desk, session, "Can I change my delivery address?", "addr-0001")
    first = _transcript(desk, session)
    assert [m["from"] for m in first["messages"]] == ["visitor", "desk"]

    calls: list[str] = []
    original = Connection._make_api_call

    def counting(self, operation_name, *args, **kwargs):
        calls.append(operation_name)
        return original(self, operation_name, *args, **kwargs)

    Connection._make_api_call = counting
    try:
        empty = _transcript(desk, session, after=first["cursor"])
    finally:
        Connection._make_api_call = original
    assert empty["messages"] == []
    assert sorted(calls) == ["GetItem", "Query"], calls  # the conversation's lookup, its one ticket's messages

    ticket = _ticket_of(desk, session)
    call(desk, "post", f"/tickets/{ticket['id']}/replies", admin_token, {"text": "Yes, tell me the new one."})
    new = _transcript(desk, session, after=empty["cursor"])
    assert [(m["from"], m["text"]) for m in new["messages"]] == [("agent", "Yes, tell me the new one.")]
    assert _transcript(desk, session, after=new["cursor"])["messages"] == []


def test_a_message_stored_after_a_later_one_is_still_delivered(desk, admin_token):
    """The pipeline stores a visitor's message seconds after it was stamped; an agent's reply stamped in
    between may be read first. The cursor looks back, so the late one still comes, once."""
    session = _session(desk)
    _write(desk, session, "First question", "late-0001")
    ticket = _ticket_of(desk, session)
    seen = _transcript(desk, session)
    chat.post_webchat(desk, session["session_token"], "Second question, still queued", message_id="late-0002")
    call(desk, "post", f"/tickets/{ticket['id']}/replies", admin_token, {"text": "Answer to the first"})
    before_pipeline = _transcript(desk, session, after=seen["cursor"])
    assert [m["text"] for m in before_pipeline["messages"]] == ["Answer to the first"]
    desk.pump()  # now the second question is stored, stamped before the answer
    after_pipeline = _transcript(desk, session, after=before_pipeline["cursor"])
    assert [m["id"] for m in after_pipeline["messages"]] == ["late-0002"]
    assert _transcript(desk, session, after=after_pipeline["cursor"])["messages"] == []


def test_a_solved_conversation_that_starts_again_shows_both_tickets(desk, admin_token):
    session = _session(desk)
    _write(desk, session, "My invoice is wrong", "again-0001")
    first = _ticket_of(desk, session)
    call(desk, "post", f"/tickets/{first['id']}/replies", admin_token, {"text": "Fixed, new invoice sent."})
    assert call(desk, "patch", f"/tickets/{first['id']}", admin_token, {"status": "solved"})[0] == 200
    _write(desk, session, "Another thing: the discount code failed", "again-0002")
    second = _ticket_of(desk, session)
    assert second["id"] != first["id"]

    messages = _transcript(desk, session)["messages"]
    assert [(m["from"], m["text"]) for m in messages if m["from"] != "desk"] == [
        ("visitor", "My invoice is wrong"), ("agent", "Fixed, new invoice sent."),
        ("visitor", "Another thing: the discount code failed")]
    assert sum(f"#{ticket['number']}" in m["text"] for ticket in (first, second) for m in messages
               if m["from"] == "desk") == 2  # each ticket's acknowledgement


# --- whose conversation ----------------------------------------------------------------------


def test_one_visitor_cannot_read_or_write_into_another_visitors_session(desk):
    ann, bob = _session(desk, name="Ann"), _session(desk, name="Bob")
    _write(desk, ann, "Ann's private question about her account", "ann-00001")
    _write(desk, bob, "Bob asks something else", "bob-00001")

    refused = _read(desk, bob, token=ann["session_token"])
    assert chat.error_body(refused, 403)["error"] == "forbidden"
    assert "Ann" not in refused.body.decode()
    # A message always lands in the session its token names: Ann's words never show in Bob's chat.
    assert [m["text"] for m in _transcript(desk, bob)["messages"] if m["from"] == "visitor"] == [
        "Bob asks something else"]
    assert [m["text"] for m in _transcript(desk, ann)["messages"] if m["from"] == "visitor"] == [
        "Ann's private question about her account"]


@pytest.mark.parametrize("token, why", [
    ("", "missing"),
    ("not-a-token", "forged"),
    ("eyJzaWQiOiJ3cy0wMDAwMDAwMDAwMDAwMDAwMDAwMCJ9.c2lnbmF0dXJl", "forged"),
])
def test_a_missing_or_forged_session_token_is_401(desk, token, why):
    session = _session(desk)
    response = desk.http.get(f"/webchat/sessions/{session['session_id']}/messages",
                             headers={"Origin": SHOP, **({"Authorization": f"Bearer {token}"} if token else {})})
    body = chat.error_body(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Access-Control-Allow-Origin"] == SHOP  # the widget can read why
    assert "token" in body["reason"]


def test_an_expired_session_token_is_401(desk):
    issued = datetime.now(timezone.utc) - timedelta(days=2)
    with time_machine.travel(issued, tick=False):
        session = _session(desk)
    body = chat.error_body(_read(desk, session), 401)
    assert "expired" in body["reason"]


def test_wait_and_after_are_checked(desk):
    session = _session(desk)
    for query in ("wait=21", "wait=-1", "wait=soon", "after=%%%", "after=eyJ4IjoxfQ"):
        response = desk.http.get(f"/webchat/sessions/{session['session_id']}/messages?{query}",
                                 headers={"Authorization": f"Bearer {session['session_token']}"})
        assert chat.error_body(response, 400)["error"] == "bad_request", query


# --- long polling ----------------------------------------------------------------------------


def test_a_long_poll_answers_as_soon_as_the_agent_replies(desk, admin_token):
    session = _session(desk)
    _write(desk, session, "Is anyone there?", "poll-0001")
    ticket = _ticket_of(desk, session)
    cursor = _transcript(desk, session)["cursor"]
    replied = threading.Event()

    def agent_replies_a_second_later() -> None:
        time.sleep(1.0)
        call(desk, "post", f"/tickets/{ticket['id']}/replies", admin_token, {"text": "Yes! How can I help?"})
        replied.set()

    writer = threading.Thread(target=agent_replies_a_second_later)
    writer.start()
    started = time.monotonic()
    # desk.http runs one request at a time; the poll goes through the client directly so the reply can be written.
    answer = _transcript(desk, session, after=cursor, wait=15, client=desk.client.http)
    elapsed = time.monotonic() - started
    writer.join()

    assert replied.is_set()
    assert [m["text"] for m in answer["messages"]] == ["Yes! How can I help?"]
    assert 1.0 <= elapsed < 15, elapsed  # came with the reply, not when the wait ran out


def test_a_long_poll_with_nothing_new_answers_an_empty_list_when_the_wait_is_over(desk):
    session = _session(desk)
    _write(desk, session, "Hello", "quiet-0001")
    cursor = _transcript(desk, session)["cursor"]
    started = time.monotonic()
    answer = _transcript(desk, session, after=cursor, wait=2)
    assert answer == {"messages": [], "cursor": answer["cursor"]}
    assert time.monotonic() - started >= 2


# --- CORS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, method", [
    ("/webchat/sessions", "POST"), ("/webhooks/webchat", "POST"),
    ("/webchat/sessions/ws-0123456789abcdef0123/messages", "GET"), ("/webchat/status", "GET"),
])
def test_a_preflight_from_an_allowed_site_is_answered_204_with_the_cors_headers(desk, path, method):
    response = desk.http.request("OPTIONS", path, headers={
        "Origin": SHOP, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 204, response.body
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == SHOP
    assert method in headers["Access-Control-Allow-Methods"]
    assert {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")} >= {
        "authorization", "content-type"}
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert headers["Vary"] == "Origin"


@pytest.mark.parametrize("path", ["/webchat/sessions", "/webhooks/webchat", "/webchat/status",
                                  "/webchat/sessions/ws-0123456789abcdef0123/messages"])
def test_a_preflight_from_another_site_is_refused_403_without_cors_headers(desk, path):
    response = desk.http.request("OPTIONS", path, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert chat.error_body(response, 403)["error"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_requests_from_another_site_are_refused_and_open_nothing(desk):
    response = desk.http.post("/webchat/sessions", headers={"Content-Type": "application/json", "Origin": EVIL},
                              body=b"{}")
    assert chat.error_body(response, 403)["error"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in response.headers
    session = _session(desk)
    response = desk.http.post("/webhooks/webchat", headers={
        "Content-Type": "application/json", "Origin": EVIL, "Authorization": f"Bearer {session['session_token']}"},
        body=json.dumps({"text": "from a page that may not embed us", "message_id": "evil-0001"}).encode())
    chat.error_body(response, 403)
    desk.pump()
    assert desk.tickets() == []
    chat.error_body(_read(desk, session, origin=EVIL), 403)


def test_allowed_sites_get_the_headers_and_servers_without_origin_get_none(desk):
    session = _session(desk)
    allowed = _read(desk, session)
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP and allowed.headers["Vary"] == "Origin"
    local = _read(desk, session, origin="http://127.0.0.1:8123")
    assert local.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8123"
    server = _read(desk, session, origin=None)
    assert server.status_code == 200 and "Access-Control-Allow-Origin" not in server.headers
    posted = desk.http.post("/webhooks/webchat", headers={
        "Content-Type": "application/json", "Origin": SHOP, "Authorization": f"Bearer {session['session_token']}"},
        body=json.dumps({"text": "hi", "message_id": "cors-0001"}).encode())
    assert posted.status_code == 202 and posted.headers["Access-Control-Allow-Origin"] == SHOP


def test_the_allow_list_comes_from_the_desk_settings(tmp_path):
    from chalicelib.local import LocalDesk
    bundled = json.loads(BUNDLED_SETTINGS.read_text())
    settings = tmp_path / "desk_settings.json"
    settings.write_text(json.dumps({**bundled, "webchat_allowed_origins": ["https://Other-Shop.example:8443"]}))
    with LocalDesk(environment=dict(chat.SECRETS), settings_path=settings) as desk:
        ok = desk.http.get("/webchat/status", headers={"Origin": "https://other-shop.example:8443"})
        assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == "https://other-shop.example:8443"
        chat.error_body(desk.http.get("/webchat/status", headers={"Origin": SHOP}), 403)


def test_an_origin_that_is_not_one_fails_the_settings_load(tmp_path):
    from pydantic import ValidationError

    from chalicelib.settings import load_settings

    bundled = json.loads(BUNDLED_SETTINGS.read_text())
    settings = tmp_path / "desk_settings.json"
    settings.write_text(json.dumps({**bundled, "webchat_allowed_origins": ["https://shop.example/chat"]}))
    with pytest.raises(ValidationError, match="not an origin"):
        load_settings(settings)


# --- is anyone there? ---------------------------------------------------------------------------

WEDNESDAY_10_CPH = datetime(2026, 12, 9, 9, 0, tzinfo=timezone.utc)  # 10:00 in Copenhagen (CET)
SATURDAY_NOON_CPH = datetime(2026, 12, 12, 11, 0, tzinfo=timezone.utc)
WEDNESDAY_18_CPH = datetime(2026, 12, 9, 17, 0, tzinfo=timezone.utc)


def _status(desk) -> dict[str, Any]:
    response = desk.http.get("/webchat/status", headers={"Origin": SHOP})
    assert response.status_code == 200, response.body
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    return json.loads(response.body)


def test_status_in_business_hours_with_an_agent_online_promises_the_chat_sla(desk):
    desk.add_agent("Olga Online", "olga@example.com")
    with time_machine.travel(WEDNESDAY_10_CPH, tick=False):
        assert _status(desk) == {"humans_available": True, "next_human_at": None,
                                 "expected_reply": "within 30 minutes", "language": "en",
                                 "message": "We're here. We usually reply within 30 minutes."}


def test_status_in_business_hours_with_nobody_on_duty_promises_nothing(desk, admin_token):
    with time_machine.travel(WEDNESDAY_10_CPH, tick=False):  # the only agent, the admin, is away
        assert _status(desk) == {"humans_available": False, "next_human_at": None,
                                 "expected_reply": "as soon as an agent is available", "language": "en",
                                 "message": "Leave a message; we'll answer here as soon as an agent is available."}


@pytest.mark.parametrize("moment, next_human_at, expected", [
    (SATURDAY_NOON_CPH, "2026-12-14T07:00:00Z", "Monday from 08:00 CET"),
    (WEDNESDAY_18_CPH, "2026-12-10T07:00:00Z", "tomorrow from 08:00 CET"),
])
def test_status_outside_business_hours_says_when_people_are_back(desk, moment, next_human_at, expected):
    desk.add_agent("Olga Online", "olga@example.com")
    with time_machine.travel(moment, tick=False):
        assert _status(desk) == {"humans_available": False, "next_human_at": next_human_at,
                                 "expected_reply": expected, "language": "en",
                                 "message": f"We're away right now \u2014 back {expected}. Leave a message and "
                                            "we'll answer here."}


# --- files ---------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def _grant(desk, session, filename: str, content_type: str, size: int, *, token: str | None = None) -> Any:
    return desk.http.post(f"/webchat/sessions/{session['session_id']}/uploads", headers={
        "Content-Type": "application/json", "Origin": SHOP,
        "Authorization": f"Bearer {token or session['session_token']}"},
        body=json.dumps({"filename": filename, "content_type": content_type, "size": size}).encode())


def _upload(desk, session, filename: str, content_type: str, data: bytes) -> str:
    from tests.files import object_of

    response = _grant(desk, session, filename, content_type, len(data))
    assert response.status_code == 201, response.body
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    grant = json.loads(response.body)
    bucket, key = object_of(grant["url"])  # in-process moto: follow the URL with boto3 (tests/files.py)
    desk._aws("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType=grant["headers"]["Content-Type"])
    return grant["upload_id"]


def _post_with_files(desk, session, text: str, message_id: str, upload_ids: list[str]) -> Any:
    return desk.http.post("/webhooks/webchat", headers={
        "Content-Type": "application/json", "Origin": SHOP, "Authorization": f"Bearer {session['session_token']}"},
        body=json.dumps({"text": text, "message_id": message_id, "attachments": upload_ids}).encode())


def test_a_visitor_sends_a_file_the_agent_gets_it_and_the_visitor_sees_it_in_the_conversation(desk, admin_token):
    from tests.files import download

    session = _session(desk, name="Pia")
    upload_id = _upload(desk, session, "broken-lid.png", "image/png", PNG)
    response = _post_with_files(desk, session, "", "file-0001", [upload_id])
    assert response.status_code == 202, response.body
    desk.pump()

    ticket = _ticket_of(desk, session)
    [attachment] = [a for m in ticket["messages"] for a in m["attachments"]]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == (
        "broken-lid.png", "image/png", len(PNG))
    assert download(desk, admin_token, ticket["id"], attachment) == PNG
    assert "broken-lid.png" in ticket["subject"]
    [mine] = [m for m in _transcript(desk, session)["messages"] if m["from"] == "visitor"]
    assert mine["attachments"] == [{"filename": "broken-lid.png", "content_type": "image/png", "size": len(PNG)}]


def test_uploads_belong_to_their_session(desk):
    ann, bob = _session(desk), _session(desk)
    assert chat.error_body(_grant(desk, bob, "x.png", "image/png", 10, token=ann["session_token"]), 403)
    anns_upload = _upload(desk, ann, "receipt.png", "image/png", PNG)
    refused = _post_with_files(desk, bob, "look at this", "steal-0001", [anns_upload])
    assert chat.error_body(refused, 409)["error"] == "conflict"
    desk.pump()
    assert desk.tickets() == []


def test_the_attachment_policy_applies_to_visitors(desk):
    session = _session(desk)
    assert chat.error_body(_grant(desk, session, "run.exe", "application/x-msdownload", 100), 415)
    assert chat.error_body(_grant(desk, session, "big.pdf", "application/pdf", 50 * 1024 * 1024), 413)
    assert chat.error_body(_grant(desk, session, "", "image/png", 10), 400)
    response = _post_with_files(desk, session, "hi", "nofile-001", ["not-an-upload-id"])
    assert response.status_code == 400, response.body
