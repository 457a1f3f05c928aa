"""We never acknowledge machine-sent mail (RFC 3834), and always acknowledge people."""
from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.channels.email.autoreply import (
    CHECKS,
    auto_reply_reason,
    daemon_sender,
    empty_return_path,
    mailing_list,
)
from chalicelib.channels.email.mime import ParsedEmail, parse_email

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
OWN = ["support@relaydesk.example", "Billing@RelayDesk.example"]


def fixture(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / name).read_bytes())


def mail(
    headers: dict[str, str | list[str]] | None = None,
    *,
    sender: str = "ann@example.com",
    subject: str = "Question about my invoice",
    return_path: str | None = "ann@example.com",
) -> ParsedEmail:
    """A ParsedEmail as parse_email builds it: lowercased header names, lists of values."""
    values = {name.lower(): value if isinstance(value, list) else [value] for name, value in (headers or {}).items()}
    return ParsedEmail(from_address=sender, subject=subject, headers=values, return_path=return_path)


# --- Real-shaped messages ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "gmail_reply.eml",
        "outlook_reply.eml",
        "apple_mail_danish.eml",
        "latin1_norwegian.eml",
        "unknown_charset.eml",
        "nested_attachments.eml",
        "malformed_headers.eml",
    ],
)
def test_mail_written_by_people_is_answered(name):
    assert auto_reply_reason(fixture(name), OWN) is None


def test_exchange_out_of_office_is_not_answered():
    assert auto_reply_reason(fixture("exchange_out_of_office.eml"), OWN) == "Auto-Submitted: auto-replied"


def test_exchange_out_of_office_is_caught_even_without_auto_submitted():
    ooo = fixture("exchange_out_of_office.eml")
    headers = {name: values for name, values in ooo.headers.items() if name != "auto-submitted"}
    without = ParsedEmail(from_address=ooo.from_address, subject=ooo.subject, headers=headers)

    assert auto_reply_reason(without, OWN) == "X-Auto-Response-Suppress: all"


def test_mailing_list_message_is_not_answered():
    assert auto_reply_reason(fixture("mailing_list.eml"), OWN) == "List-Id present"


def test_bounce_is_not_answered_for_three_separate_reasons():
    bounce = fixture("bounce_mailer_daemon.eml")

    assert auto_reply_reason(bounce, OWN) == "Auto-Submitted: auto-replied"
    assert empty_return_path(bounce, frozenset()) == "empty Return-Path"
    assert daemon_sender(bounce, frozenset()) == "sender is mailer-daemon"
    assert mailing_list(bounce, frozenset()) is None


# --- One check at a time -----------------------------------------------------


def test_a_plain_message_from_a_person_has_no_reason():
    assert auto_reply_reason(mail(), OWN) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("auto-replied", "Auto-Submitted: auto-replied"),
        ("auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Replied (zimbra; vacation)", "Auto-Submitted: auto-replied"),
        ("auto-notified; owner-email=ann@example.com", "Auto-Submitted: auto-notified"),
        ("no", None),
        ("No (a person wrote this)", None),
        ("", None),
    ],
)
def test_auto_submitted(value, reason):
    assert auto_reply_reason(mail({"Auto-Submitted": value}), OWN) == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("All", "X-Auto-Response-Suppress: all"),
        ("OOF, AutoReply", "X-Auto-Response-Suppress: autoreply, oof"),
        ("DR, RN, NRN, OOF", "X-Auto-Response-Suppress: oof"),
        ("DR, RN, NRN", None),  # only receipts are suppressed; a person may still have sent it
        ("None", None),
    ],
)
def test_exchange_auto_response_suppress(value, reason):
    assert auto_reply_reason(mail({"X-Auto-Response-Suppress": value}), OWN) == reason


@pytest.mark.parametrize("name", ["X-Autoreply", "X-Autorespond"])
def test_vacation_responder_headers(name):
    assert auto_reply_reason(mail({name: "yes"}), OWN) == f"{name} present"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("bulk", "Precedence: bulk"),
        ("List", "Precedence: list"),
        ("junk", "Precedence: junk"),
        ("auto_reply", "Precedence: auto_reply"),
        ("first-class", None),
        ("urgent", None),
    ],
)
def test_precedence(value, reason):
    assert auto_reply_reason(mail({"Precedence": value}), OWN) == reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"List-Id": "<announce.lists.example.org>"}, "List-Id present"),
        ({"List-Unsubscribe": "<https://news.example.com/u/123>"}, "List-Unsubscribe present"),
        ({"List-Archive": "<https://lists.example.org/>"}, None),
    ],
)
def test_mailing_list_headers(headers, reason):
    assert auto_reply_reason(mail(headers), OWN) == reason


@pytest.mark.parametrize(("return_path", "reason"), [("", "empty Return-Path"), ("<>", "empty Return-Path"), (None, None)])
def test_empty_return_path_means_a_bounce(return_path, reason):
    assert auto_reply_reason(mail(return_path=return_path), OWN) == reason


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx.example.net", "sender is mailer-daemon"),
        ("postmaster@example.net", "sender is postmaster"),
        ("noreply@github.com", "sender is noreply"),
        ("no-reply@accounts.google.com", "sender is no-reply"),
        ("do-not-reply@bank.example", "sender is do-not-reply"),
        ("DoNotReply@shop.example", "sender is donotreply"),
        ("noreply-invoices@shop.example", "sender is noreply-invoices"),
        ("no-reply.alerts@shop.example", "sender is no-reply.alerts"),
        ("reply@shop.example", None),
        ("ann.noreply@example.com", None),
        ("daemon@example.com", None),
        ("postmaster.ann@example.com", None),
    ],
)
def test_daemon_and_no_reply_senders(sender, reason):
    assert auto_reply_reason(mail(sender=sender), OWN) == reason


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("support@relaydesk.example", "sender is one of our own addresses"),
        ("billing@relaydesk.example", "sender is one of our own addresses"),  # own list is mixed case
        ("support+1042@relaydesk.example", "sender is one of our own addresses"),
        ("support@other.example", None),
        ("mysupport@relaydesk.example", None),
        ("support@relaydesk.example.evil.test", None),
    ],
)
def test_our_own_addresses(sender, reason):
    assert auto_reply_reason(mail(sender=sender), OWN) == reason


def test_own_addresses_may_be_any_iterable_and_plus_addressed():
    assert auto_reply_reason(mail(sender="desk@relaydesk.example"), iter(["desk+in@relaydesk.example"])) == (
        "sender is one of our own addresses"
    )
    assert auto_reply_reason(mail(sender="desk@relaydesk.example"), []) is None
    assert auto_reply_reason(mail(sender="desk@relaydesk.example"), "desk@relaydesk.example") == (
        "sender is one of our own addresses"
    )


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: [#1042] Export fails",
        "Out of office",
        "Out of Office AutoReply: Invoice",
        "Automatic reply: [#1042] Export fails",
        "AUTO: Ann is out of the office (returning 10/11/2025)",
        "Autoreply: Invoice",
        "Auto-Reply: Invoice",
        "Automatisk svar: [#1042] Faktura",  # Outlook in Danish and Norwegian
        "Fraværende: Faktura",
        "Fravær",
        "Autosvar: Faktura",
        "Automatiskt svar: Faktura",  # Outlook in Swedish
        "Automatische Antwort: Rechnung",
    ],
)
def test_out_of_office_subjects(subject):
    assert auto_reply_reason(mail(subject=subject), OWN) == "out-of-office subject"


@pytest.mark.parametrize(
    "subject",
    [
        "Autoreply stopped working after the update",
        "Auto renewal charged twice",
        "Re: Out of office rules in your product",
        "Fravær registrering virker ikke",
        "Question about automatic replies",
        "",
    ],
)
def test_customer_subjects_that_only_mention_auto_replies_are_answered(subject):
    assert auto_reply_reason(mail(subject=subject), OWN) is None


def test_checks_run_in_order_and_the_first_reason_wins():
    many = mail({"Precedence": "bulk", "List-Id": "<x.example.org>"}, sender="noreply@example.com")

    assert auto_reply_reason(many, OWN) == "Precedence: bulk"
    assert [check.__name__ for check in CHECKS][:2] == ["auto_submitted", "exchange_auto_response_suppress"]
