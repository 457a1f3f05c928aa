"""The upload policy, the ids and the Cc rule: pure functions, no AWS."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import attachment_policy as policy
from chalicelib.domain.recipients import cc_addresses

TOKEN = "A" * 22
TICKET = policy.parse_scope("ticket:t-0123456789abcdef0123")


@pytest.mark.parametrize(("filename", "content_type"), [
    ("photo.JPG", "image/jpeg"), ("scan.pdf", "Application/PDF"), ("orders.csv", "text/csv"),
    ("orders.csv", "application/vnd.ms-excel"), ("notes.txt", "text/plain"),
    ("pack.zip", "application/x-zip-compressed"),
    ("Tilbud æøå.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
])
def test_everyday_files_are_accepted(filename, content_type):
    upload = policy.declared_upload(filename, content_type, 100, TOKEN)
    assert upload.content_type == content_type.lower() and upload.size == 100


@pytest.mark.parametrize(("filename", "content_type", "kind"), [
    ("page.html", "text/html", "unsupported"), ("logo.svg", "image/svg+xml", "unsupported"),
    ("logo.svg", "image/png", "unsupported"), ("invoice.pdf.exe", "application/pdf", "unsupported"),
    ("invoice.exe.", "application/pdf", "unsupported"),  # Windows drops the trailing dot: it would run
    ("macro.docm", "application/msword", "unsupported"), ("a.bin", "application/octet-stream", "unsupported"),
    ("invoice.pdf", "image/png", "invalid"), ("README", "text/plain", "invalid"),
    ("a/b.pdf", "application/pdf", "invalid"), ("evil\u202efdp.exe", "application/pdf", "invalid"),
])
def test_markup_programs_and_disagreeing_extensions_are_refused(filename, content_type, kind):
    with pytest.raises(policy.AttachmentRefused) as refused:
        policy.declared_upload(filename, content_type, 100, TOKEN)
    assert refused.value.kind == kind


def test_size_limits():
    assert policy.declared_upload("a.pdf", "application/pdf", policy.MAX_FILE_BYTES, TOKEN)
    for size, kind in ((policy.MAX_FILE_BYTES + 1, "too_large"), (0, "invalid"), (True, "invalid")):
        with pytest.raises(policy.AttachmentRefused) as refused:
            policy.declared_upload("a.pdf", "application/pdf", size, TOKEN)
        assert refused.value.kind == kind


@given(st.text(min_size=1, max_size=60), st.integers(min_value=1, max_value=policy.MAX_FILE_BYTES))
def test_an_upload_id_names_exactly_what_was_declared(stem, size):
    try:
        upload = policy.declared_upload(f"{stem}.pdf", "application/pdf", size, TOKEN)
    except policy.AttachmentRefused:
        return
    assert policy.parse_upload_id(upload.upload_id) == upload
    key = upload.key(TICKET)
    assert key.startswith(f"uploads/ticket/{TICKET.owner}/{TOKEN}-") and "/" not in key[len("uploads/ticket/") +
                                                                                      len(TICKET.owner) + 1:]
    bigger = policy.Upload(upload.token, upload.filename, upload.content_type, size + 1)
    assert bigger.key(TICKET) != key  # an altered declaration names an object nobody was allowed to write
    assert upload.key(policy.parse_scope("webchat:s-1")) != key


@pytest.mark.parametrize("value", ["", "x", "e30", "W10", "!!", "a" * 2000])
def test_ids_that_are_not_ours_are_refused(value):
    with pytest.raises(policy.AttachmentRefused):
        policy.parse_upload_id(value)
    assert policy.parse_attachment_id(value) is None


def test_attachment_ids_round_trip_and_hide_the_key():
    value = policy.attachment_id("t-0123456789abcdef0123", "2026-12-05T10:00:00Z#ab12", 3)
    assert value.replace("-", "").replace("_", "").isalnum() and "attachments/" not in value
    assert policy.parse_attachment_id(value) == policy.AttachmentAddress(
        "t-0123456789abcdef0123", "2026-12-05T10:00:00Z#ab12", 3)


def test_content_disposition_keeps_the_exact_name_and_an_ascii_fallback():
    assert policy.content_disposition('Tilbud "æ";.pdf') == (
        "attachment; filename=\"Tilbud ____.pdf\"; filename*=UTF-8''Tilbud%20%22%C3%A6%22%3B.pdf")  # RFC 6266 §4.3


def test_cc_addresses_are_plain_unique_and_never_the_desk():
    assert cc_addresses(["Boss@Shop.example", "boss@shop.example", "ann@x.example"],
                        own_addresses=["support@example.com"], to_address="ann@x.example") == ["boss@shop.example"]
    for bad in ["a@b.example\r\nBcc: c@d.example", "Ann <a@b.example>", "a@b.example, c@d.example", "jørgen@kunde.no",
                "support@example.com", "a..b@x.example", "@x.example", "a@-x.example"]:
        with pytest.raises(ValueError):
            cc_addresses([bad], own_addresses=["support@example.com"])
    with pytest.raises(ValueError, match="at most 10"):
        cc_addresses([f"c{n}@x.example" for n in range(11)])
