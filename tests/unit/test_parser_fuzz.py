"""Property tests: whatever bytes arrive, every parser step finishes in bounded time.

Hypothesis' ``deadline`` is a generous per-input limit (2 s; real inputs take
milliseconds) so a superlinear case shows up as a failing example, not as a
hanging suite. Inputs are built from the shapes that made the parsers slow
before: long address-like runs, "On ..." lines, deep HTML, blank-line runs.
Saved regressions in tests/fixtures/mail/hostile/ are replayed by a plain test.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.channels.email.autoreply import auto_reply_reason
from chalicelib.channels.email.exceptions import MalformedEmail
from chalicelib.channels.email.addresses import address_tokens, parse_address_list
from chalicelib.channels.email.html import html_to_plain_text, safe_html
from chalicelib.channels.email.mime import ParsedEmail, parse_email
from chalicelib.channels.email.quotes import reply_text

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "hostile"
FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_ATOMS = ["a", "@", ".", " ", '"', "\\", "(", ")", "<", ">", ",", ";", ":", "=?utf-8?q?", "?=", "\n", "\t", "ø"]


def _runs(atoms, max_repeat):
    """Text made of a few atoms each repeated many times: the shape regex blow-ups need."""
    run = st.tuples(st.sampled_from(atoms), st.integers(1, max_repeat)).map(lambda pair: pair[0] * pair[1])
    return st.lists(run, max_size=6).map("".join)


@FUZZ
@given(value=_runs(_ATOMS, 3000))
def test_address_parsing_is_fast_and_returns_addresses(value):
    for _, address in parse_address_list("to", "To", value, []):
        assert "@" in address
    assert all("@" in token for token in address_tokens(value))


_REPLY_ATOMS = ["On ", "wrote:", "Am ", "schrieb:", "From: ", "Sent: ", "> ", ">", "\n", "\n\n", "-- \n", "_" * 32,
                "a", " ", "Best regards", "Sent from my ", "-----Original Message-----", "Warning:", "mail"]


@FUZZ
@given(text=_runs(_REPLY_ATOMS, 2000))
def test_reply_stripping_is_fast_and_returns_part_of_the_text(text):
    reply = reply_text(text)
    assert reply == reply.strip()
    assert not text.strip() or reply  # never empties a non-empty text


_HTML_ATOMS = ["<ul>", "<li>", "<div>", "</div>", "<b>", "<table><tr><td>", "<p>", "x", "&amp;", "<", ">",
               "<script>", "</script>", "<!--", "-->", '<img src="https://t.example/a.gif">', "<blockquote>"]


@FUZZ
@given(html=_runs(_HTML_ATOMS, 4000))
def test_html_sanitising_and_text_conversion_are_fast(html):
    sanitised = safe_html([html], [])
    assert sanitised is None or "<script" not in sanitised
    assert "<script" not in html_to_plain_text(html).lower() or "<script" in html.lower()


_MAIL_ATOMS = [b"From: ", b"a@example.com", b"Reply-To: r@example.com", b"To: ", b"\r\n", b"\r\n\r\n", b"a@", b'"',
               b"Content-Type: multipart/mixed; boundary=b\r\n", b"--b\r\n", b"--b--\r\n", b"Content-Type: text/html\r\n",
               b"<ul><li>", b"On ", b"\n", b"=?utf-8?b?w6Y=?=", b"Subject: ", b"(", b"\xff"]


@FUZZ
@given(raw=st.lists(st.tuples(st.sampled_from(_MAIL_ATOMS), st.integers(1, 400)), max_size=12).map(
    lambda runs: b"".join(atom * count for atom, count in runs)))
def test_parse_email_and_the_loop_checks_are_fast(raw):
    try:
        mail = parse_email(raw)
    except MalformedEmail as error:
        assert error.reason
    else:
        assert isinstance(mail, ParsedEmail) and "@" in mail.from_address
        auto_reply_reason(mail, ["support@relaydesk.example"])


@pytest.mark.parametrize("path", sorted(path for path in HOSTILE.iterdir() if path.is_file() and not path.name.startswith(".")), ids=lambda path: path.name)
def test_saved_hostile_mail_parses_or_is_refused(path):
    try:
        mail = parse_email(path.read_bytes())
    except MalformedEmail as error:
        assert error.reason
    else:
        auto_reply_reason(mail, ["support@relaydesk.example"])
