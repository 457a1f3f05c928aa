"""We never acknowledge machine-sent mail (RFC 3834), and always acknowledge people."""
from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.channels.email.autoreply import (
    CHECKS,
    auto_reply_reason,
    auto_submitted,
    bounce_return_path,
    cron_output,
    daemon_sender,
    empty_return_path,
    mailing_list,
    precedence,
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

    # Issue 12: a delivery-status report is named as such first, so the pipeline can join it to its ticket.
    assert auto_reply_reason(bounce, OWN) == "delivery-status"
    assert auto_submitted(bounce, frozenset()) == "Auto-Submitted: auto-replied"
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
    assert [check.__name__ for check in CHECKS][:3] == ["delivery_status", "auto_submitted", "exchange_auto_response_suppress"]


# --- More signs of machine mail (cron, loops, bounce envelopes) ----------------

MACHINE = FIXTURES / "machine"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("cron_daemon.eml", "X-Cron-Env present (cron job output)"),
        ("sendgrid_notification.eml", "Return-Path is a bounce address"),
        ("ticket_system_x_loop.eml", "X-Loop: yes"),
    ],
)
def test_machine_mail_fixtures_are_not_answered(name, reason):
    assert auto_reply_reason(parse_email((MACHINE / name).read_bytes()), OWN) == reason


def test_a_person_with_their_own_procmail_x_loop_and_bounce_in_the_subject_is_answered():
    assert auto_reply_reason(parse_email((MACHINE / "person_with_procmail_x_loop.eml").read_bytes()), OWN) is None


def test_cron_output_is_recognised_without_x_cron_env():
    assert cron_output(mail(subject="Cron <root@web01> /usr/local/bin/backup.sh"), frozenset()) == "cron job output subject"
    assert cron_output(mail(subject="Cron job question: can you run it at night?"), frozenset()) is None
    daemon = ParsedEmail(from_address="root@web01.example", from_name="Cron Daemon")
    assert cron_output(daemon, frozenset()) == "sender is the cron daemon"


@pytest.mark.parametrize(
    ("return_path", "reason"),
    [
        ("noreply@bounce.example.com", "Return-Path is noreply"),
        ("MAILER-DAEMON@mx.example.net", "Return-Path is mailer-daemon"),
        ("bounce-mc.us5_12345.67890-ann=customer.example@mail123.mcsv.example", "Return-Path is a bounce address"),
        ("bounces+4815162-a1b2-ann=customer.example@em1234.shop.example", "Return-Path is a bounce address"),
        ("announce-bounces+ann=customer.example@lists.example.org", "Return-Path is a bounce address"),
        ("bounce@news.example.com", "Return-Path is a bounce address"),
        ("ann@customer.example", None),
        ("prvs=1a2b3c4d5e=ann@customer.example", None),  # BATV: a person's own address, signed
        ("SRS0=abcd=XY=customer.example=ann@forwarder.example", None),  # SRS: a forwarded person's mail
        ("bouncer.ann@customer.example", None),
        ("trampoline-bounceland@shop.example", None),
        ("", None),
    ],
)
def test_bounce_return_paths(return_path, reason):
    assert bounce_return_path(mail(return_path=return_path), frozenset()) == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yes", "X-Loop: yes"),
        ("True", "X-Loop: true"),
        ("support@relaydesk.example", "X-Loop names one of our own addresses"),
        ("<support+1042@relaydesk.example>", "X-Loop names one of our own addresses"),
        ("ann@customer.example", None),  # the customer's own procmail recipe
    ],
)
def test_x_loop(value, reason):
    assert auto_reply_reason(mail({"X-Loop": value}), OWN) == reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Autogenerated": "Reply"}, "X-Autogenerated: reply"),
        ({"X-Autogenerated": "Redirect"}, "X-Autogenerated: redirect"),
        ({"X-Autogenerated": "no"}, None),
        ({"X-AutoReply-From": "ann@example.com"}, "X-AutoReply-From present"),
        ({"X-Mail-Autoreply": "yes"}, "X-Mail-Autoreply present"),
    ],
)
def test_more_vacation_responder_headers(headers, reason):
    assert auto_reply_reason(mail(headers), OWN) == reason


def test_new_checks_are_in_the_list():
    names = [check.__name__ for check in CHECKS]
    assert {"groupwise_autogenerated", "loop_header", "cron_output", "bounce_return_path"} <= set(names)
    assert names[-1] == "out_of_office_subject"


def test_a_header_of_unclosed_comments_is_read_in_one_pass():
    # "\([^)]*\)" scanned to the end from every "(": 64 KB of them took about 10 s per header.
    import signal

    def expired(signum, frame):
        raise TimeoutError("still reading the header")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, 5)
    try:
        hostile = mail({"Auto-Submitted": ["(" * 65_536] * 5, "Precedence": "(" * 65_536 + ")"})
        # Any Auto-Submitted value but "no" is automatic (RFC 3834 §5); the reason stays short.
        assert auto_reply_reason(hostile, OWN) == "Auto-Submitted: " + "(" * 64
        assert precedence(mail({"Precedence": "(" * 65_536 + ")"}), frozenset()) is None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
