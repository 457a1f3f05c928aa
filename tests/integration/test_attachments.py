"""Agents' files: download what customers sent, upload files for a reply, send them (and a Cc) by email.

Everything through the HTTP API as the console calls it; the bytes through the
pre-signed URLs (``tests/files.py``), with ``requests`` against moto's server
where a browser's CORS preflight matters.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from chalicelib.local import LocalDesk
from tests import chat
from tests.api import call
from tests.files import download, object_of, upload
from tests.mail import compose

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40
CSV = "order,status\n1234,lost\nøre,✓\n".encode()
CONSOLE = "http://127.0.0.1:8000"  # make local's console: the default ConsoleOrigins in infra/resources.yaml


def _only(items):
    assert len(items) == 1, items
    return items[0]


def _mail_ticket(desk, **mail):
    desk.receive_email(compose(**mail))
    desk.pump()
    return desk.tickets()[-1]


def _reply(desk, token, ticket_id, **body):
    return call(desk, "post", f"/tickets/{ticket_id}/replies", token, {"text": "Here you are.", **body})


def test_inbound_attachment_downloads_through_a_presigned_url_with_its_exact_bytes(desk, admin_token):
    ticket = _mail_ticket(desk, attachments=[("Kvittering æøå.pdf", "application/pdf", PDF)])
    attachment = _only(_only(ticket["messages"])["attachments"])
    assert set(attachment) == {"id", "filename", "content_type", "size", "ref"}  # no S3 key
    assert "attachments/" not in json.dumps(desk.tickets())

    status, link = call(desk, "get", f"/tickets/{ticket['id']}/attachments/{attachment['id']}", admin_token)

    assert status == 200
    assert {k: link[k] for k in ("filename", "content_type", "size", "expires_in")} == {
        "filename": "Kvittering æøå.pdf", "content_type": "application/pdf", "size": len(PDF), "expires_in": 300}
    query = parse_qs(urlsplit(link["url"]).query)
    assert query["response-content-disposition"] == [
        "attachment; filename=\"Kvittering ___.pdf\"; filename*=UTF-8''Kvittering%20%C3%A6%C3%B8%C3%A5.pdf"]
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert download(desk, admin_token, ticket["id"], attachment) == PDF


def test_a_download_of_another_tickets_forged_or_unstored_attachment_is_404(desk, admin_token):
    first = _mail_ticket(desk, subject="first", attachments=[("a.pdf", "application/pdf", PDF)])
    second = _mail_ticket(desk, sender="bo@shop.example", subject="second",
                          attachments=[("b.csv", "text/csv", CSV)])
    theirs = _only(_only(first["messages"])["attachments"])["id"]
    ours = _only(_only(second["messages"])["attachments"])["id"]
    raw = base64.urlsafe_b64decode(ours + "=" * (-len(ours) % 4)).decode()
    ticket_id, sk, _ = raw.split("\n")
    forged = [theirs, "nonsense", "!!", "x" * 500,
              base64.urlsafe_b64encode(f"{ticket_id}\n{sk}\n1".encode()).decode().rstrip("="),  # no second file
              base64.urlsafe_b64encode(f"{ticket_id}\n2026-01-01T00:00:00Z#0\n0".encode()).decode().rstrip("=")]
    for attachment_id in forged:
        status, body = call(desk, "get", f"/tickets/{second['id']}/attachments/{attachment_id}", admin_token)
        assert status == 404 and body["error"] == "not_found", attachment_id
        assert "attachments/" not in body["reason"]

    bucket, key = object_of(call(desk, "get", f"/tickets/{second['id']}/attachments/{ours}", admin_token)[1]["url"])
    desk._aws("s3").delete_object(Bucket=bucket, Key=key)  # bytes lost (or never fetched from a platform)
    status, body = call(desk, "get", f"/tickets/{second['id']}/attachments/{ours}", admin_token)
    assert status == 404 and "no stored file" in body["reason"]
    assert call(desk, "get", f"/tickets/{second['id']}/attachments/{ours}", None)[0] == 401
    assert call(desk, "get", f"/tickets/t-00000000000000000000/attachments/{ours}", admin_token)[0] == 404


def test_reply_with_uploads_and_cc_sends_them_as_mime_attachments_and_a_cc(desk, admin_token):
    ticket = _mail_ticket(desk)
    sent_before = len(desk.sent_emails())
    pdf = upload(desk, admin_token, ticket["id"], "Refund ✓.pdf", "application/pdf", PDF)
    csv = upload(desk, admin_token, ticket["id"], "orders.csv", "text/csv", CSV)

    status, reply = _reply(desk, admin_token, ticket["id"], attachments=[pdf, csv],
                           cc=["Boss@Customer.example", "ann@customer.example"])  # the To address: once

    assert status == 201 and reply["cc"] == ["boss@customer.example"]
    assert [(a["filename"], a["size"]) for a in reply["attachments"]] == [("Refund ✓.pdf", len(PDF)),
                                                                          ("orders.csv", len(CSV))]
    desk.pump()
    mail = desk.sent_emails()[-1]
    assert len(desk.sent_emails()) == sent_before + 1
    assert mail["To"] == "Ann Customer <ann@customer.example>" and mail["Cc"] == "boss@customer.example"
    assert mail.get_body(("plain",)).get_content().startswith("Here you are.")
    files = [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
             for part in mail.iter_attachments()]
    assert files == [("Refund ✓.pdf", "application/pdf", PDF), ("orders.csv", "text/csv", CSV)]  # the exact bytes
    ses = desk._ses_backend().sent_messages[-1]
    # SES delivers to the request's Destinations (moto lists them first, then the header addresses).
    assert ses.destinations[:2] == ["ann@customer.example", "boss@customer.example"]

    stored = desk.tickets()[-1]["messages"][-1]
    assert stored["to"] == ["ann@customer.example", "boss@customer.example"] and stored["delivery"] == "sent"
    assert [a["id"] for a in stored["attachments"]] == [a["id"] for a in reply["attachments"]]
    assert download(desk, admin_token, ticket["id"], stored["attachments"][0]) == PDF


@pytest.mark.parametrize(("declared", "status", "words"), [
    ({"filename": "page.html", "content_type": "text/html"}, 415, ".html files are refused"),
    ({"filename": "logo.svg", "content_type": "image/svg+xml"}, 415, ".svg files are refused"),
    ({"filename": "invoice.pdf.exe", "content_type": "application/pdf"}, 415, ".exe files are refused"),
    ({"filename": "run.sh", "content_type": "text/plain"}, 415, ".sh files are refused"),
    ({"filename": "tool.bin", "content_type": "application/x-msdownload"}, 415, "is not accepted"),
    ({"filename": "invoice.pdf", "content_type": "image/png"}, 400, "does not end in .png"),
    ({"filename": "notes", "content_type": "text/plain"}, 400, "does not end in"),
    ({"filename": "../../etc/passwd.txt", "content_type": "text/plain"}, 400, "path separators"),
    ({"filename": "a\r\nb.txt", "content_type": "text/plain"}, 400, "control characters"),
    ({"filename": "a.pdf", "content_type": "application/pdf; charset=x"}, 400, "no parameters"),
    ({"filename": "big.pdf", "content_type": "application/pdf", "size": 10 * 1024 * 1024 + 1}, 413, "at most"),
    ({"filename": "empty.pdf", "content_type": "application/pdf", "size": 0}, 400, "size"),
    ({"filename": "a.pdf", "content_type": "application/pdf", "size": "12"}, 400, "size"),
    ({"filename": "a.pdf", "content_type": "application/pdf", "path": "x"}, 400, "unknown field"),
])
def test_an_upload_the_policy_refuses_gets_a_reason(desk, admin_token, declared, status, words):
    ticket = _mail_ticket(desk)
    code, body = call(desk, "post", f"/tickets/{ticket['id']}/uploads", admin_token, {"size": 100, **declared})
    assert code == status and words in body["reason"], body
    assert set(body) == {"error", "reason"}


def test_an_upload_grant_is_a_presigned_put_for_this_ticket_only(desk, admin_token):
    ticket = _mail_ticket(desk)
    status, grant = call(desk, "post", f"/tickets/{ticket['id']}/uploads", admin_token,
                         {"filename": "photo.JPG", "content_type": "image/jpeg", "size": 2048})
    assert status == 201
    assert set(grant) == {"upload_id", "url", "headers", "expires_in", "max_bytes"}
    assert grant["headers"] == {"Content-Type": "image/jpeg"} and grant["expires_in"] == 300
    assert grant["max_bytes"] == 2048
    bucket, key = object_of(grant["url"])
    assert bucket == "relay-desk-mail" and key.startswith(f"uploads/ticket/{ticket['id']}/")
    query = parse_qs(urlsplit(grant["url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["content-type;host"] and query["X-Amz-Expires"] == ["300"]
    assert call(desk, "post", f"/tickets/{ticket['id']}/uploads", None, {})[0] == 401
    assert call(desk, "post", "/tickets/t-00000000000000000000/uploads", admin_token,
                {"filename": "a.pdf", "content_type": "application/pdf", "size": 1})[0] == 404


def test_a_reply_whose_upload_cannot_be_claimed_stores_and_sends_nothing(desk, admin_token):
    ticket = _mail_ticket(desk)
    other = _mail_ticket(desk, sender="bo@shop.example", subject="another ticket")
    sent_before = len(desk.sent_emails())
    good = upload(desk, admin_token, ticket["id"], "ok.pdf", "application/pdf", PDF)
    theirs = upload(desk, admin_token, other["id"], "theirs.pdf", "application/pdf", PDF)
    status, never_put = call(desk, "post", f"/tickets/{ticket['id']}/uploads", admin_token,
                             {"filename": "later.pdf", "content_type": "application/pdf", "size": 10})
    status, grant = call(desk, "post", f"/tickets/{ticket['id']}/uploads", admin_token,
                         {"filename": "small.pdf", "content_type": "application/pdf", "size": 10})
    desk._aws("s3").put_object(Bucket="relay-desk-mail", Key=object_of(grant["url"])[1], Body=PDF,
                               ContentType="application/pdf")  # more than the 10 bytes declared
    lied = upload(desk, admin_token, ticket["id"], "report.pdf", "application/pdf", PDF, stored_type="text/html")
    big = [upload(desk, admin_token, ticket["id"], f"scan{n}.pdf", "application/pdf", b"%PDF" + b"0" * 4_000_000)
           for n in range(2)]

    cases = [
        ([good, theirs], 409, "no file here"),  # another ticket's upload: not under this ticket's prefix
        ([never_put["upload_id"]], 409, "no file here"),
        ([grant["upload_id"]], 413, "more than the 10 declared"),
        ([lied], 409, "not the application/pdf declared"),
        (["nonsense"], 400, "not an upload id"),
        ([good, good], 400, "listed twice"),
        ([good] * 11, 400, "attachments"),
        (big, 413, "at most 7,000,000"),
    ]
    for upload_ids, code, words in cases:
        status, body = _reply(desk, admin_token, ticket["id"], attachments=upload_ids)
        assert status == code and words in body["reason"], (upload_ids, body)
    for cc, words in [(["not-an-address"], "not a plain ASCII address"),
                      (["boss@customer.example\r\nBcc: all@evil.example"], "line break"),
                      (["Ann <boss@customer.example>"], "not a plain ASCII address"),
                      (["a@b.example, c@d.example"], "not a plain ASCII address"),
                      (["jørgen@kunde.no"], "not a plain ASCII address"),
                      (["support@example.com"], "desk's own address"),
                      ([f"c{n}@shop.example" for n in range(11)], "cc")]:
        status, body = _reply(desk, admin_token, ticket["id"], cc=cc)
        assert status == 400 and words in body["reason"], (cc, body)

    desk.pump()
    assert [m["kind"] for m in desk.tickets()[0]["messages"]] == ["customer"]  # nothing stored
    assert len(desk.sent_emails()) == sent_before  # nothing sent
    assert _reply(desk, admin_token, ticket["id"], attachments=[good])[0] == 201  # the good one still claims


@pytest.mark.parametrize("environment", [chat.SECRETS], ids=["chat secrets"])
def test_a_chat_reply_with_attachments_or_cc_is_refused(desk, admin_token):
    assert chat.post_telegram(desk, chat.telegram_text(text="Where is my parcel?")).status_code == 200
    desk.pump()
    ticket = _only(desk.tickets())
    assert ticket["channel"] == "telegram"
    upload_id = upload(desk, admin_token, ticket["id"], "label.pdf", "application/pdf", PDF)
    for extra in ({"cc": ["boss@customer.example"]}, {"attachments": [upload_id]}):
        status, body = _reply(desk, admin_token, ticket["id"], **extra)
        assert status == 400 and "go by email only" in body["reason"], body
    assert _reply(desk, admin_token, ticket["id"])[0] == 201  # the text alone goes


def test_a_browser_on_the_console_uploads_and_downloads_through_moto_server():
    """CORS preflight, PUT and GET with ``requests`` against moto's server, as a browser on the console would."""
    with LocalDesk(server=True) as desk:
        _, token = desk.add_agent("Ada Admin", "ada@example.com", role="admin", status="away")
        ticket = _mail_ticket(desk, attachments=[("photo.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"1" * 500)])
        status, grant = call(desk, "post", f"/tickets/{ticket['id']}/uploads", token,
                             {"filename": "Refund.pdf", "content_type": "application/pdf", "size": len(PDF)})
        assert status == 201

        preflight = requests.options(grant["url"], headers={"Origin": CONSOLE, "Access-Control-Request-Method": "PUT",
                                                            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == CONSOLE
        assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
        assert preflight.headers["Access-Control-Allow-Headers"].lower() == "content-type"
        refused = requests.options(grant["url"], headers={"Origin": "https://elsewhere.example",
                                                          "Access-Control-Request-Method": "PUT"})
        assert refused.status_code == 403  # no rule for that origin

        put = requests.put(grant["url"], data=PDF, headers={**grant["headers"], "Origin": CONSOLE}, timeout=10)
        assert put.status_code == 200 and put.headers["Access-Control-Allow-Origin"] == CONSOLE
        assert _reply(desk, token, ticket["id"], attachments=[grant["upload_id"]])[0] == 201
        desk.pump()
        assert [part.get_payload(decode=True) for part in desk.sent_emails()[-1].iter_attachments()] == [PDF]

        inbound = _only(desk.tickets()[0]["messages"][0]["attachments"])
        link = call(desk, "get", f"/tickets/{ticket['id']}/attachments/{inbound['id']}", token)[1]
        got = requests.get(link["url"], timeout=10)
        assert got.status_code == 200 and got.content == b"\x89PNG\r\n\x1a\n" + b"1" * 500
        assert got.headers["Content-Disposition"] == "attachment; filename=\"photo.png\"; filename*=UTF-8''photo.png"
