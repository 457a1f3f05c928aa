"""What an agent sees of an inbound email: sender, subject, the new reply text, files.

The fixtures under tests/fixtures/mail are literal messages shaped like what
Gmail, Outlook, Apple Mail, Exchange, Postfix and Mailman send, so the parser
is graded by real-shaped input rather than by messages it built itself.
"""
from __future__ import annotations

import base64
import os
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.channels.email.exceptions import MalformedEmail
from chalicelib.channels.email.mime import Attachment, ParsedEmail, parse_email

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def fixture(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes())


def message(headers: str, body: str | bytes = "Hello\n") -> bytes:
    """A raw message from header lines and a body; CRLF like SES delivers."""
    head = headers.strip("\n").replace("\n", "\r\n").encode()
    payload = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode()
    return head + b"\r\n\r\n" + payload


# --- Real-shaped messages ----------------------------------------------------


def test_gmail_reply_keeps_only_the_new_text():
    mail = fixture("gmail_reply.eml")

    assert mail.from_address == "ann.hansen@gmail.com"
    assert mail.from_name == "Ann Hansen"
    assert mail.subject == "Re: [#1042] Export to CSV fails"
    assert mail.message_id == "CAJx8kT3b+Qe7oVvX_9wq1=reply@mail.gmail.com"
    assert mail.in_reply_to == ["0102019a4a8b7c1d-relaydesk-1042@eu-west-1.amazonses.com"]
    assert mail.references == [
        "0102019a4a8b7c1d-relaydesk-1042@eu-west-1.amazonses.com",
        "CAJx8kT2nq9R+first@mail.gmail.com",
    ]
    assert mail.to == ["support@relaydesk.example"]
    assert mail.cc == ["bob@builder.example"]
    assert mail.date == datetime(2025, 11, 3, 10, 42, 5, tzinfo=timezone.utc)
    assert "> Thanks for reporting this" in mail.text_body
    assert mail.reply_text == (
        "Hi,\n\nI tried again this morning and the export still fails with error 500.\n"
        "The file is about 20 MB – maybe that is the problem?"
    )
    assert mail.html_body is not None and "export still fails" in mail.html_body
    assert mail.attachments == []
    assert mail.defects == []


def test_outlook_reply_drops_the_from_sent_block_and_keeps_the_signature():
    mail = fixture("outlook_reply.eml")

    # Issue 12: the customer's sign-off and signature are theirs (agents need the name); only the history goes.
    assert mail.reply_text == (
        "Hello,\n\nThe reset link worked, but I still cannot log in. The page just reloads.\n\n"
        "Kind regards\nBob Builder\nBuilder AS"
    )
    assert "Sent: Monday, November 3, 2025" in mail.text_body
    assert mail.subject == "RE: [#1043] Login problem after password reset"
    assert "<style" not in (mail.html_body or "")
    assert "p.MsoNormal" not in (mail.html_body or "")


def test_danish_apple_mail_reply_keeps_a_sentence_that_starts_with_tak():
    mail = fixture("apple_mail_danish.eml")

    assert mail.from_name == "Mette Sørensen"
    assert mail.subject == "Re: [#1044] Faktura mangler momsnummer"
    # "Tak" is a Danish sign-off; here it starts the message itself. Issue 12: the sign-off and name are kept too.
    assert mail.reply_text == (
        "Hej,\n\nTak for svaret. Fakturaen mangler stadig vores momsnummer (DK12345678), kan I sende en ny?\n\n"
        "Med venlig hilsen\nMette Sørensen"
    )
    assert "Den 3. nov. 2025 kl. 10.00 skrev" in mail.text_body


def test_latin1_message_with_encoded_word_subject_reads_norwegian_letters():
    mail = fixture("latin1_norwegian.eml")

    assert mail.subject == "Spørsmål om faktura for måned 11 (blåbærsyltetøy)"
    assert mail.from_name == "Bjørn Åsheim"
    assert mail.from_address == "bjorn@fjordfisk.no"
    assert "Æ, Ø og Å skal vises riktig" in mail.text_body
    assert mail.defects == []


def test_unknown_charset_falls_back_and_says_so():
    mail = fixture("unknown_charset.eml")

    assert mail.text_body == "Hei! Når kommer pakken? Ordrenummer 55012.\n"
    assert mail.subject == "Spørsmål om levering"
    assert any("x-unknown" in defect for defect in mail.defects)


def test_nested_multipart_yields_body_and_both_attachments_in_order():
    mail = fixture("nested_attachments.eml")

    assert mail.text_body == "Hello, the invoice is attached. Our logo is below.\n"
    logo, invoice = mail.attachments
    assert logo == Attachment(
        filename="logo.png",
        content_type="image/png",
        content=logo.content,
        content_id="logo.png@verksted.no",
        inline=True,
    )
    assert logo.content.startswith(b"\x89PNG\r\n\x1a\n") and logo.size == 70
    assert invoice.filename == "Faktura 2025-11.pdf"
    assert invoice.content_type == "application/pdf"
    assert invoice.inline is False and invoice.content_id is None
    assert invoice.content.startswith(b"%PDF-1.4") and invoice.content.rstrip().endswith(b"%%EOF")


def test_html_is_sanitised_but_keeps_inline_image_references():
    html = fixture("nested_attachments.eml").html_body

    assert html is not None
    assert 'src="cid:logo.png@verksted.no"' in html
    for dangerous in ("<script", "alert(1)", "onclick", "javascript:"):
        assert dangerous not in html


def test_exchange_out_of_office_is_decoded_and_keeps_its_headers():
    mail = fixture("exchange_out_of_office.eml")

    assert mail.text_body.startswith("Jeg er på ferie til 10. november")
    assert mail.headers["auto-submitted"] == ["auto-replied"]
    assert mail.headers["x-auto-response-suppress"] == ["All"]
    assert mail.return_path == "kari.nordmann@kunde.no"


def test_mailing_list_headers_are_unfolded_for_the_loop_checks():
    mail = fixture("mailing_list.eml")

    assert mail.headers["list-id"] == ["Example project announcements <announce.lists.example.org>"]
    (unsubscribe,) = mail.headers["list-unsubscribe"]
    assert "\n" not in unsubscribe and unsubscribe.endswith("<mailto:announce-leave@lists.example.org>")


def test_bounce_has_empty_return_path_and_the_original_as_eml():
    mail = fixture("bounce_mailer_daemon.eml")

    assert mail.return_path == ""
    assert mail.from_address == "mailer-daemon@mx1.kunde.no"
    assert mail.from_name == "Mail Delivery System"  # RFC 822 "addr (Name)" form
    assert "550 5.1.1 User unknown" in mail.text_body
    status, original = mail.attachments
    assert status.content_type == "message/delivery-status"
    assert b"Final-Recipient: rfc822; ole@kunde.no" in status.content
    assert original.content_type == "message/rfc822"
    assert original.filename == "[#1046] Your request has been received.eml"
    reparsed = parse_email(original.content)
    assert reparsed.message_id == "0102019a5a0c0001-relaydesk-1046@eu-west-1.amazonses.com"
    assert reparsed.text_body.strip() == "Thank you, we have received your request."


def test_malformed_headers_still_give_a_ticket_and_list_what_was_wrong():
    mail = fixture("malformed_headers.eml")

    assert mail.from_address == "ann@example.com"
    assert mail.to[0] == "support@relaydesk.example"
    assert "carol@example.com" in mail.cc
    assert mail.subject == "Broken message"
    assert mail.headers["subject"] == ["Broken message", "Second subject line"]
    assert mail.date is None
    assert mail.message_id == "no-brackets-1234@example.com"
    assert mail.in_reply_to == []
    assert mail.return_path == "broken-sender@example.com"
    assert mail.text_body == "Hello, this message has broken base64."
    assert any("InvalidBase64" in defect for defect in mail.defects)
    assert any(defect.startswith("Date header") for defect in mail.defects)
    assert any(defect.startswith("From header") for defect in mail.defects)


# --- Messages we refuse ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message (0 bytes)"),
        (b" \r\n\t\r\n", "empty message (6 bytes, whitespace only)"),
        (b"just some text, no headers\n", "no header section: the input does not look like an email"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "no header section: the input does not look like an email"),
        (message("To: support@relaydesk.example\nSubject: hi"), "missing From header"),
    ],
)
def test_messages_without_a_sender_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(MalformedEmail) as raised:
        parse_email(raw)

    assert raised.value.reason == reason


@pytest.mark.parametrize("sender", ["undisclosed-recipients:;", "Ann Example", "", "<>", "ann@"])
def test_from_without_a_usable_address_is_rejected(sender):
    with pytest.raises(MalformedEmail) as raised:
        parse_email(message(f"From: {sender}\nTo: support@relaydesk.example"))

    assert raised.value.reason.startswith("From header has no address: ")


# --- Headers -----------------------------------------------------------------


def test_addresses_are_lowercased_and_display_names_decoded():
    mail = parse_email(
        message(
            "From: =?utf-8?b?w4VzZSBOw6ZiZWs=?= <Ase.Naebek@Example.NO>\n"
            "Reply-To: Tickets <Tickets+42@Example.NO>\n"
            'To: "Support, Relay" <SUPPORT@relaydesk.example>, other@example.com\n'
            "To: third@example.com\n"
            "Cc: undisclosed-recipients:;"
        )
    )

    assert mail.from_address == "ase.naebek@example.no"
    assert mail.from_name == "Åse Næbek"
    assert mail.reply_to == "tickets+42@example.no"
    assert mail.to == ["support@relaydesk.example", "other@example.com", "third@example.com"]
    assert mail.cc == []


def test_raw_utf8_and_raw_latin1_headers_are_both_readable():
    raw = "From: Bjørn <b@example.com>\r\nSubject: Blåbær\r\n\r\nhi"

    utf8 = parse_email(raw.encode("utf-8"))  # RFC 6532 allows UTF-8 in headers
    latin1 = parse_email(raw.encode("latin-1"))  # old mailers send their local charset

    assert (utf8.from_name, utf8.subject) == ("Bjørn", "Blåbær")
    assert (latin1.from_name, latin1.subject) == ("Bjørn", "Blåbær")
    assert utf8.defects == []
    assert any("latin-1" in defect for defect in latin1.defects)


def test_subject_is_decoded_and_whitespace_collapsed():
    mail = parse_email(
        message(
            "From: a@example.com\n"
            "Subject: =?utf-8?q?Hj=C3=A6lp?=   =?utf-8?q?_med_?=\n"
            "  =?iso-8859-1?q?l=E5s?=\t  now"
        )
    )

    assert mail.subject == "Hjælp med lås now"


def test_missing_subject_and_date_give_empty_values():
    mail = parse_email(message("From: a@example.com"))

    assert mail.subject == ""
    assert mail.date is None
    assert mail.message_id is None
    assert mail.return_path is None
    assert mail.reply_to is None


def test_date_without_zone_is_taken_as_utc():
    mail = parse_email(message("From: a@example.com\nDate: Mon, 3 Nov 2025 10:00:00 -0000"))

    assert mail.date == datetime(2025, 11, 3, 10, 0, tzinfo=timezone.utc)
    assert mail.date.utcoffset() == timedelta(0)


def test_message_ids_without_brackets_comments_or_folding():
    mail = parse_email(
        message(
            "From: a@example.com\n"
            "Message-ID:   <abc@example.com> (sent by us)\n"
            "In-Reply-To: Your message of Mon, 3 Nov 2025 <first@example.com>\n"
            "References: <first@example.com>\n <second@example.com>\n\t<third@example.com>"
        )
    )

    assert mail.message_id == "abc@example.com"
    assert mail.in_reply_to == ["first@example.com"]
    assert mail.references == ["first@example.com", "second@example.com", "third@example.com"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Return-Path: <>", ""), ("Return-Path: < >", ""), ("Return-Path: <bounce@example.com>", "bounce@example.com")],
)
def test_return_path(header, expected):
    assert parse_email(message(f"{header}\nFrom: a@example.com")).return_path == expected


def test_headers_map_lowercased_names_to_every_value():
    mail = parse_email(message("From: a@example.com\nReceived: one\nX-Custom: =?utf-8?q?v=C3=A6rdi?=\nRECEIVED: two"))

    assert mail.headers["received"] == ["one", "two"]
    assert mail.headers["x-custom"] == ["værdi"]


# --- Bodies ------------------------------------------------------------------


def test_html_only_message_gets_a_text_body_from_the_html():
    raw = message(
        "From: a@example.com\nContent-Type: text/html; charset=utf-8",
        "<html><head><style>p {color: red}</style></head><body><p>Hello <b>Ann</b>,</p>"
        "<p>see <a href='https://status.example.com'>status</a></p><script>evil()</script></body></html>",
    )

    mail = parse_email(raw)

    assert "Hello Ann," in mail.text_body
    assert "[status](https://status.example.com)" in mail.text_body
    assert "color: red" not in mail.text_body and "evil" not in mail.text_body
    assert mail.html_body is not None and "<script" not in mail.html_body


def test_text_part_with_attachment_disposition_is_an_attachment():
    raw = message(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nThe body.\n"
        '--b\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename="log.txt"\n\n'
        "ERROR 1\nERROR 2\n--b--\n",
    )

    mail = parse_email(raw)

    assert mail.text_body.strip() == "The body."
    (log,) = mail.attachments
    assert (log.filename, log.content_type, log.inline) == ("log.txt", "text/plain", False)
    assert log.content == b"ERROR 1\r\nERROR 2"


def test_text_not_valid_in_its_declared_charset_falls_back_to_latin1():
    raw = message("From: a@example.com\nContent-Type: text/plain; charset=utf-8", "bl\xe5b\xe6r".encode("latin-1"))

    mail = parse_email(raw)

    assert mail.text_body == "blåbær"
    assert any("not valid 'utf-8'" in defect for defect in mail.defects)


def test_a_stray_bad_byte_in_utf8_text_does_not_garble_the_rest():
    body = "Grüße aus Zürich, Bestellung 1234. Danke ".encode() + b"\xff\xfe Ende"
    raw = message("From: a@example.com\nContent-Type: text/plain; charset=utf-8", body)

    mail = parse_email(raw)

    assert mail.text_body == "Grüße aus Zürich, Bestellung 1234. Danke \ufffd\ufffd Ende"
    assert any("invalid bytes replaced" in defect for defect in mail.defects)


def test_bytes_to_bytes_codec_name_is_not_used_as_a_charset():
    raw = message("From: a@example.com\nContent-Type: text/plain; charset=base64", "aGk=")

    mail = parse_email(raw)

    assert mail.text_body == "aGk="
    assert any("unknown charset 'base64'" in defect for defect in mail.defects)


def test_multipart_without_boundary_keeps_its_text():
    mail = parse_email(message("From: a@example.com\nContent-Type: multipart/mixed", "Just text.\n"))

    assert mail.text_body == "Just text.\n"
    assert any("NoBoundaryInMultipartDefect" in defect for defect in mail.defects)


def test_reply_text_falls_back_to_the_whole_text_when_only_quotes_remain():
    raw = message("From: a@example.com", "On Mon, 3 Nov 2025 at 10:00, X <x@example.com> wrote:\n> hi\n")

    mail = parse_email(raw)

    assert mail.reply_text == mail.text_body.strip()
    assert mail.reply_text != ""


# --- Attachment names --------------------------------------------------------


def attachment_named(disposition: str, content_type: str = "application/pdf") -> Attachment:
    raw = message(
        'From: a@example.com\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nbody\n"
        f"--b\nContent-Type: {content_type}\nContent-Disposition: {disposition}\n"
        "Content-Transfer-Encoding: base64\n\nJVBERg==\n--b--\n",
    )
    (attachment,) = parse_email(raw).attachments
    return attachment


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\ann\\\\report.pdf"', "report.pdf"),
        ('attachment; filename="invoice\u202egpj.exe"', "invoicegpj.exe"),
        ('attachment; filename="a\x01b\x7fc.pdf"', "abc.pdf"),
        ('attachment; filename="  ..hidden.pdf.  "', "hidden.pdf"),
        ('attachment; filename="what?<>|*.pdf"', "what_____.pdf"),
        ("attachment; filename*=utf-8''Tilbud%20bl%C3%A5b%C3%A6r.pdf", "Tilbud blåbær.pdf"),
        ('attachment; filename="=?utf-8?b?w6bDuMOlLnBkZg==?="', "æøå.pdf"),
        ('attachment; filename=".."', "attachment-1.pdf"),
        ("attachment", "attachment-1.pdf"),
    ],
)
def test_attachment_filenames_are_safe(disposition, expected):
    assert attachment_named(disposition).filename == expected


def test_long_filenames_are_cut_to_150_characters_keeping_the_extension():
    name = attachment_named(f'attachment; filename="{"x" * 300}.pdf"').filename

    assert len(name) == 150 and name.endswith("x.pdf")


def test_fallback_name_uses_an_extension_for_the_content_type():
    assert attachment_named("attachment", "image/png").filename == "attachment-1.png"
    assert attachment_named("attachment", "application/x-unheard-of").filename == "attachment-1.bin"


# --- Big messages ------------------------------------------------------------


def test_a_25_mb_attachment_parses_quickly_and_exactly():
    content = os.urandom(25 * 1024 * 1024)
    encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")
    raw = (
        message(
            'From: a@example.com\nSubject: big\nContent-Type: multipart/mixed; boundary="big"',
            "--big\nContent-Type: text/plain\n\nSee attached.\n"
            '--big\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="dump.bin"\n'
            "Content-Transfer-Encoding: base64\n\n",
        )
        + encoded
        + b"\r\n--big--\r\n"
    )

    started = time.perf_counter()
    mail = parse_email(raw)
    elapsed = time.perf_counter() - started

    (dump,) = mail.attachments
    assert dump.size == len(content)
    assert dump.content == content
    assert mail.text_body.strip() == "See attached."
    assert elapsed < 20, f"parsing 25 MB took {elapsed:.1f}s"


def test_a_huge_text_body_does_not_make_reply_stripping_slow():
    body = "A line of a very long log paste that the customer included.\n" * 40_000  # ~2.4 MB

    started = time.perf_counter()
    mail = parse_email(message("From: a@example.com", body))

    assert time.perf_counter() - started < 10
    assert len(mail.reply_text) == len(body.strip())


# --- Properties --------------------------------------------------------------

_CRLF = str.maketrans({"\r": " ", "\n": " "})


def _normalised(text: str) -> str:
    """What parse_email promises for one-line text: whitespace collapsed, controls dropped."""
    without_controls = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch.isspace())
    return " ".join(without_controls.split())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    subject=st.text(max_size=120).map(lambda s: s.translate(_CRLF)),
    name=st.text(max_size=40).map(lambda s: s.translate(_CRLF)),
    body=st.text(max_size=400),
)
def test_messages_built_by_the_email_package_round_trip(subject, name, body):
    built = EmailMessage(policy=policy.SMTP)
    try:
        built["From"] = Address(display_name=name, username="ann", domain="example.com")
        built["To"] = "support@relaydesk.example"
        built["Subject"] = subject
        built.set_content(body)
        raw = built.as_bytes()
    except (ValueError, TypeError):
        assume(False)  # the builder refuses some names; those never reach us
        raise

    mail = parse_email(raw)

    assert mail.from_address == "ann@example.com"
    assert mail.subject == _normalised(subject)
    if _normalised(name).isascii():
        assert mail.from_name == _normalised(name)
    else:
        # Python's folder may split a non-ASCII name into encoded words at a space and drop
        # that space between them; RFC 2047 §6.2 says to ignore whitespace between encoded
        # words, so a compliant parser cannot restore it. Every other character must survive.
        assert mail.from_name.split() == _normalised(name).split() or \
            "".join(mail.from_name.split()) == "".join(_normalised(name).split())
    assert mail.text_body.split() == body.split()
    assert mail.reply_text.strip() == mail.reply_text


# Pieces of real and broken MIME, so random input reaches deep into the parser.
_FRAGMENTS = [
    b"From: a@example.com\r\n",
    b'From: "Ann <ann@example.com\r\n',
    b"From: =?x-unknown?q?=E6?= <b@example.com>\r\n",
    b"To: , <>, undisclosed-recipients:;\r\n",
    b"Subject: =?utf-8?b?w6bDuA?= =?iso-8859-1?q?=E6?=\r\n",
    b"Date: Mon, 32 Foo 99999 25:61 +9999\r\n",
    b"Return-Path: <>\r\n",
    b"References: <a@b> <<>> <\r\n",
    b'Content-Type: multipart/mixed; boundary="x"\r\n',
    b'Content-Type: multipart/alternative; boundary="x"\r\n',
    b'Content-Type: multipart/related; boundary="x"; start="<nope>"\r\n',
    b"Content-Type: text/plain; charset=x-unknown\r\n",
    b"Content-Type: text/html; charset=utf-16\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E6%2F..%2F\r\n",
    b"Content-ID: <cid@x>\r\n",
    b"\r\n",
    b"--x\r\n",
    b"--x--\r\n",
    b"SGVsbG8gd29ybGQ=\r\n",
    b"=E6=F8=\r\n",
    b"<p onclick=x>hi<script>1</script>\r\n",
    b"> quoted\r\nOn Mon, 3 Nov 2025, X <x@y.z> wrote:\r\n",
]


@settings(max_examples=200, deadline=None)
@given(
    raw=st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=2000).map(lambda b: b"From: a@example.com\r\n" + b),
        st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=40)), max_size=40).map(b"".join),
    )
)
def test_arbitrary_bytes_parse_or_are_rejected_as_malformed(raw):
    try:
        mail = parse_email(raw)
    except MalformedEmail as error:
        assert error.reason
    else:
        assert isinstance(mail, ParsedEmail)
        assert mail.from_address
        assert all(isinstance(attachment.content, bytes) for attachment in mail.attachments)


def test_a_long_message_id_folded_into_encoded_words_is_still_read():
    """Python's generator folds an id longer than a line (SES's are) into RFC 2047 words."""
    long_id = "<0100018c1d2e3f4a-5b6c7d8e-9f01-2345-6789-abcdef012345-000000@email.amazonses.com>"
    message = EmailMessage()
    message["From"] = "ann@customer.example"
    message["To"] = "support@example.com"
    message["Subject"] = "Re: Order"
    message["In-Reply-To"] = long_id
    message["References"] = long_id
    message.set_content("Thanks!")
    raw = message.as_bytes()
    assert b"=?utf-8?q?" in raw  # the folding this test is about
    mail = parse_email(raw)
    assert mail.in_reply_to == mail.references == [long_id[1:-1]]
