"""The customer portal (issue 14): the anonymous form, sign-in by a mailed link, one's own tickets — and
every way to get it wrong.

Everything goes through the HTTP API on LocalDesk (moto); links are read from the mail moto's SES
keeps; the pipeline runs when the test pumps the queues; time moves with time-machine.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from tests.api import call
from tests.chat import from_address
from tests.files import object_of

PDF = b"%PDF-1.4\n% receipt\n"


def _form(**overrides):
    return {"name": "Ann Customer", "email": "ann@customer.example", "subject": "Where is my order?",
            "message": "Order A-1001 has not arrived.", "language": "en", **overrides}


def _submit(desk, source_ip="198.51.100.7", **overrides):
    with from_address(source_ip):
        return call(desk, "post", "/portal/tickets", None, _form(**overrides))


def _portal_links(desk, address):
    found = []
    for mail in desk.sent_emails():
        if address.lower() not in str(mail["To"]).lower():
            continue
        text = mail.get_body(preferencelist=("plain",)).get_content()
        found += re.findall(r"\S+/portal#signin=(rpl_[0-9a-f]+)", text)
    return found


def _link(desk, address="ann@customer.example", language="en"):
    with from_address("198.51.100.9"):
        status, body = call(desk, "post", "/portal/auth/links", None, {"email": address, "language": language})
    assert status == 202 and body == {"sent": True}
    desk.pump()
    links = _portal_links(desk, address)
    assert links, "no portal sign-in mail was sent"
    return links[-1]


def _session(desk, address="ann@customer.example"):
    status, body = call(desk, "post", "/portal/auth/sessions", None, {"token": _link(desk, address)})
    assert status == 201, body
    return body["session_token"]


def _mine(desk, token):
    status, body = call(desk, "get", "/portal/tickets", token)
    assert status == 200, body
    return body["tickets"]


def _upload(desk, data=PDF, filename="receipt.pdf", content_type="application/pdf", token=None, draft=None):
    status, grant = call(desk, "post", "/portal/uploads", token,
                         {"filename": filename, "content_type": content_type, "size": len(data),
                          **({"draft": draft} if draft else {})})
    assert status == 201, grant
    bucket, key = object_of(grant["url"])
    desk._aws("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType=grant["headers"]["Content-Type"])
    return grant


# --- the way it should go -------------------------------------------------------------------------


def test_a_form_with_a_file_becomes_a_portal_ticket_acknowledged_by_mail_and_seen_after_sign_in(desk, admin_token):
    grant = _upload(desk)
    status, body = _submit(desk, draft=grant["draft"], attachments=[grant["upload_id"]])
    assert status == 202 and body["accepted"] is True
    desk.pump()

    ticket = desk.tickets()[-1]
    assert ticket["channel"] == "portal" and ticket["subject"] == "Where is my order?"
    assert [a["filename"] for a in ticket["messages"][0]["attachments"]] == ["receipt.pdf"]
    acknowledgement = [m for m in desk.sent_emails() if "ann@customer.example" in str(m["To"])]
    assert acknowledgement, "the acknowledgement is mailed to the address the form gave"
    assert "/portal" in acknowledgement[-1].get_body(("plain",)).get_content()

    token = _session(desk)
    listed = _mine(desk, token)
    assert [t["id"] for t in listed] == [ticket["id"]]
    assert set(listed[0]) == {"id", "number", "subject", "status", "channel", "created_at", "last_activity_at"}

    status, detail = call(desk, "get", f"/portal/tickets/{ticket['id']}", token)
    assert status == 200
    assert detail["messages"][0]["from"] == "customer"
    assert detail["messages"][0]["text"] == "Order A-1001 has not arrived."
    assert detail["messages"][0]["attachments"] == [{"filename": "receipt.pdf", "content_type": "application/pdf",
                                                     "size": len(PDF)}]


def test_an_agent_reply_is_shown_and_mailed_notes_and_agent_details_never(desk, admin_token):
    _submit(desk)
    desk.pump()
    ticket_id = desk.tickets()[-1]["id"]
    assert call(desk, "post", f"/tickets/{ticket_id}/notes", admin_token, {"text": "internal: VIP, refund"})[0] == 201
    status, _ = call(desk, "post", f"/tickets/{ticket_id}/replies", admin_token, {"text": "It ships today."})
    assert status == 201
    desk.pump()
    mailed = [m for m in desk.sent_emails() if "ann@customer.example" in str(m["To"])]
    assert "It ships today." in mailed[-1].get_body(("plain",)).get_content()

    token = _session(desk)
    status, detail = call(desk, "get", f"/portal/tickets/{ticket_id}", token)
    shown = json.dumps(detail)
    assert [m["from"] for m in detail["messages"]][-1] == "agent"
    assert detail["messages"][-1]["text"] == "It ships today."
    assert "internal" not in shown and "ada@example.com" not in shown and "a-" not in shown.replace("ta-", "")


def test_a_signed_in_reply_joins_the_ticket_and_reopens_a_solved_one(desk, admin_token):
    _submit(desk)
    desk.pump()
    ticket_id = desk.tickets()[-1]["id"]
    token = _session(desk)
    assert call(desk, "patch", f"/tickets/{ticket_id}", admin_token, {"status": "solved"})[0] == 200

    status, body = call(desk, "post", f"/portal/tickets/{ticket_id}/replies", token, {"text": "Still not here."})
    assert status == 202, body
    desk.pump()
    assert len(desk.tickets()) == 1
    ticket = desk.tickets()[-1]
    assert ticket["status"] == "open"
    status, detail = call(desk, "get", f"/portal/tickets/{ticket_id}", token)
    assert [m["text"] for m in detail["messages"] if m["from"] == "customer"][-1] == "Still not here."


def test_a_form_claim_is_folded_into_the_customer_who_owns_the_address_by_email(desk, mail_from_ann):
    """Ann wrote by mail before; her portal form (a claim of her address) joins her record once she signs in."""
    desk.pump()
    _submit(desk)
    desk.pump()
    token = _session(desk)
    assert len(_mine(desk, token)) == 2


@pytest.fixture
def mail_from_ann(desk):
    from tests.mail import compose

    return desk.receive_email(compose(subject="Refund?", body="Where is my refund?"))


# --- sign-in: no enumeration, forged / expired / reused links ----------------------------------------


def test_a_link_request_is_202_for_a_stranger_and_mails_nothing(desk):
    before = len(desk.sent_emails())
    status, body = call(desk, "post", "/portal/auth/links", None, {"email": "nobody@nowhere.example"})
    assert status == 202 and body == {"sent": True}
    desk.pump()
    assert len(desk.sent_emails()) == before


@pytest.mark.parametrize("token", ["rpl_" + "0" * 64, "rpl_abc", "rdl_a-000000000000_" + "0" * 64, "x" * 150, ""])
def test_a_forged_link_is_401_or_400(desk, token):
    status, body = call(desk, "post", "/portal/auth/sessions", None, {"token": token})
    assert status in (400, 401) and body["error"] and body["reason"]


def test_a_link_works_once_and_for_15_minutes(desk):
    _submit(desk)
    desk.pump()
    link = _link(desk)
    assert call(desk, "post", "/portal/auth/sessions", None, {"token": link})[0] == 201
    status, body = call(desk, "post", "/portal/auth/sessions", None, {"token": link})
    assert status == 401 and "already used" in body["reason"]

    late = _link(desk)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=15, seconds=2)):
        status, body = call(desk, "post", "/portal/auth/sessions", None, {"token": late})
    assert status == 401 and "expired" in body["reason"]


def test_a_session_ends_after_12_hours(desk):
    _submit(desk)
    desk.pump()
    token = _session(desk)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=12, seconds=5)):
        status, body = call(desk, "get", "/portal/tickets", token)
    assert status == 401 and "sign in again" in body["reason"]


def test_signing_out_ends_the_session_at_once(desk):
    _submit(desk)
    desk.pump()
    token = _session(desk)
    status, body = call(desk, "delete", "/portal/auth/sessions/current", token)
    assert status == 200 and body == {"signed_out": True}
    assert call(desk, "get", "/portal/tickets", token)[0] == 401
    assert call(desk, "delete", "/portal/auth/sessions/current", token)[0] == 401


# --- scope: nobody sees another customer's tickets ------------------------------------------------------


def test_another_customers_session_gets_404_for_the_ticket_and_cannot_reply(desk):
    _submit(desk)
    _submit(desk, name="Bo", email="bo@other.example", subject="Mine", message="Bo's problem")
    desk.pump()
    ann_ticket = next(t for t in desk.tickets() if t["subject"] == "Where is my order?")
    bo = _session(desk, "bo@other.example")
    assert [t["subject"] for t in _mine(desk, bo)] == ["Mine"]
    status, body = call(desk, "get", f"/portal/tickets/{ann_ticket['id']}", bo)
    assert status == 404 and body["error"] == "not_found"
    status, _ = call(desk, "post", f"/portal/tickets/{ann_ticket['id']}/replies", bo, {"text": "hi"})
    assert status == 404
    status, _ = call(desk, "get", "/portal/tickets/t-00000000000000000000", bo)
    assert status == 404


@pytest.mark.parametrize("path,method", [("/portal/tickets", "get"), ("/portal/tickets/t-00000000000000000000", "get"),
                                         ("/portal/tickets/t-00000000000000000000/replies", "post")])
@pytest.mark.parametrize("token", [None, "rps_" + "1" * 64, "rds_a-000000000000_" + "0" * 64, "garbage"])
def test_unsigned_or_forged_sessions_are_401(desk, path, method, token):
    status, body = call(desk, method, path, token, {"text": "hi"} if method == "post" else None)
    assert status == 401 and body["error"] == "unauthorized"


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "email", "subject", "message"])
def test_a_form_missing_a_field_is_400_naming_it(desk, field):
    form = _form()
    del form[field]
    status, body = call(desk, "post", "/portal/tickets", None, form)
    assert status == 400 and field in body["reason"]


@pytest.mark.parametrize("overrides,words", [
    ({"email": "not an address"}, "email"), ({"subject": "   "}, "blank"), ({"language": "xx"}, "language"),
    ({"message": "x" * 20_001}, "message"), ({"attachments": ["u"]}, "draft"), ({"extra": 1}, "unknown field"),
    ({"name": 5}, "name"),
])
def test_a_bad_form_is_400_with_a_reason(desk, overrides, words):
    status, body = _submit(desk, **overrides)
    assert status == 400 and words in body["reason"]


def test_a_huge_body_is_413(desk):
    status, body = call(desk, "post", "/portal/tickets", None, raw=json.dumps(_form(message="x" * 70_000)))
    assert status == 413 and body["error"] == "payload_too_large"


def test_script_in_fields_is_stored_as_text(desk):
    script = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    _submit(desk, name=script[:100], subject=script, message=script)
    desk.pump()
    token = _session(desk)
    [listed] = _mine(desk, token)
    assert listed["subject"] == " ".join(script.split())
    status, detail = call(desk, "get", f"/portal/tickets/{listed['id']}", token)
    assert detail["messages"][0]["text"] == script


def test_anonymous_forms_are_limited_per_client_address(desk, monkeypatch):
    monkeypatch.setenv("PORTAL_TICKETS_PER_CLIENT", "3")
    for _ in range(3):
        assert _submit(desk, source_ip="203.0.113.50")[0] == 202
    status, body = _submit(desk, source_ip="203.0.113.50")
    assert status == 429 and "try again in" in body["reason"]
    assert _submit(desk, source_ip="203.0.113.51")[0] == 202  # another address is not affected


def test_an_upload_of_a_refused_type_is_refused_and_an_unput_one_cannot_be_claimed(desk):
    status, body = call(desk, "post", "/portal/uploads", None,
                        {"filename": "x.html", "content_type": "text/html", "size": 10})
    assert status == 415
    status, grant = call(desk, "post", "/portal/uploads", None,
                         {"filename": "a.pdf", "content_type": "application/pdf", "size": 10})
    status, body = _submit(desk, draft=grant["draft"], attachments=[grant["upload_id"]])
    assert status == 409 and "no file here" in body["reason"]
    other = _upload(desk)
    status, body = _submit(desk, draft=grant["draft"], attachments=[other["upload_id"]])  # another draft's file
    assert status == 409


def test_the_list_is_paged_newest_first_and_a_cursor_is_the_customers_own(desk):
    for subject in ("First", "Second", "Third"):
        _submit(desk, subject=subject)
        desk.pump()
    _submit(desk, email="bo@other.example", subject="Bo's")
    desk.pump()
    token = _session(desk)
    status, first = call(desk, "get", "/portal/tickets?limit=2", token)
    assert status == 200 and [t["subject"] for t in first["tickets"]] == ["Third", "Second"]
    status, rest = call(desk, "get", f"/portal/tickets?limit=2&cursor={first['next_cursor']}", token)
    assert [t["subject"] for t in rest["tickets"]] == ["First"]

    bo = _session(desk, "bo@other.example")
    status, body = call(desk, "get", f"/portal/tickets?cursor={first['next_cursor']}", bo)  # Ann's place in Ann's list
    assert status == 400 and "cursor" in body["reason"]
    for bad in ("limit=0", "limit=51", "limit=x", "cursor=%%%"):
        assert call(desk, "get", f"/portal/tickets?{bad}", token)[0] == 400, bad


def test_links_are_limited_per_address_with_a_429_that_says_when(desk):
    for _ in range(5):
        assert call(desk, "post", "/portal/auth/links", None, {"email": "ann@customer.example"})[0] == 202
    status, body = call(desk, "post", "/portal/auth/links", None, {"email": "ann@customer.example"})
    assert status == 429 and "try again in" in body["reason"]


@pytest.mark.parametrize("raw", ["", "[]", "{", '{"email": "ann@customer.example", "extra": 1}', '{"email": 5}'])
def test_a_malformed_link_request_is_400(desk, raw):
    status, body = call(desk, "post", "/portal/auth/links", None, raw=raw)
    assert status == 400 and body["reason"]


# --- the page itself ------------------------------------------------------------------------------


def test_the_portal_page_carries_the_strict_policy_and_every_file_is_served(desk):
    from chalicelib.api import static

    response = desk.http.get("/portal")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["form-action"] == "'none'" and policy["frame-ancestors"] == "'none'"
    names = [name for name in static._assets() if name.startswith("portal/")]
    assert {"portal/index.html", "portal/app.js", "portal/api.js", "portal/markdown.js", "portal/texts.js",
            "portal/portal.css"} <= set(names)
    for name in names:
        path = "/portal" if name == "portal/index.html" else "/" + name
        first = desk.http.get(path)
        assert first.status_code == 200, name
        assert desk.http.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("name", ["..%2F..%2Fapp.py", "missing.js", "%2e%2e"])
def test_names_outside_the_portal_folder_are_404(desk, name):
    response = desk.http.get(f"/portal/{name}")
    assert response.status_code == 404 and response.json_body["error"] == "not_found"


def test_the_page_writes_data_only_as_text():
    """No innerHTML, outerHTML, insertAdjacentHTML or document.write anywhere in the portal's scripts."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "chalicelib" / "static" / "portal"
    for script in folder.glob("*.js"):
        source = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, (script.name, sink)
