"""Bounces from real MTAs are read as delivery-status notifications about the message that bounced."""
from pathlib import Path

import pytest

from chalicelib.channels.email.autoreply import auto_reply_reason
from chalicelib.channels.email.mime import parse_email
from tests.mail import compose

DSN = Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "dsn"

EXPECTED = {
    "postfix_rfc822_headers.eml": ("bjorn@fjordfisk.no", "5.2.2", "mailbox full", "0102019a5a0c0002-relaydesk-1050@eu-west-1.amazonses.com"),
    "exchange_online_ndr.eml": ("mette@soerensen-design.dk", "5.1.10", "RecipientNotFound", "0102019a5a0c0003-relaydesk-1051@eu-west-1.amazonses.com"),
    "gmail_mailer_daemon.eml": ("ann.hansen.old@gmail.com", "5.1.1", "does not exist", "0102019a5a0c0004-relaydesk-1052@eu-west-1.amazonses.com"),
    "amazon_ses_bounce.eml": ("hans.meier@meier-gmbh.de", "4.4.7", "Message expired", "0102019a5a0c0005-relaydesk-1053@eu-west-1.amazonses.com"),
    "qmail_failure_notice.eml": ("kari@kunde.no", "5.1.1", "no mailbox here", "0102019a5a0c0006-relaydesk-1054@eu-west-1.amazonses.com"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_mta_bounce_names_the_recipient_status_and_the_bounced_message(name):
    mail = parse_email((DSN / name).read_bytes())
    recipient, status, words, original = EXPECTED[name]

    assert mail.bounce is not None
    assert mail.bounce.bounce.recipient == recipient
    assert mail.bounce.bounce.status == status
    assert words in mail.bounce.bounce.diagnostic
    assert mail.bounce.bounce.original_message_id == original
    assert mail.bounce.thread_ids[0] == original
    assert auto_reply_reason(mail, ["support@relaydesk.example"]) == "delivery-status"


def test_the_ids_the_bounced_message_replied_to_follow_its_own():
    mail = parse_email((DSN / "exchange_online_ndr.eml").read_bytes())

    assert mail.bounce.thread_ids == ["0102019a5a0c0003-relaydesk-1051@eu-west-1.amazonses.com",
                                      "mette-1051@soerensen-design.dk"]


def test_the_existing_postfix_fixture_is_a_bounce_too():
    mail = parse_email((DSN.parent / "bounce_mailer_daemon.eml").read_bytes())

    assert mail.bounce.bounce.recipient == "ole@kunde.no"
    assert mail.bounce.bounce.original_message_id == "0102019a5a0c0001-relaydesk-1046@eu-west-1.amazonses.com"


def test_a_customer_forwarding_a_bounce_is_still_a_customer():
    body = "Hi, I got this when I wrote to my colleague:\n\nMessage-ID: <abc@kunde.no>\n550 5.1.1 User unknown\n"
    mail = parse_email(compose(subject="Fwd: Undelivered Mail Returned to Sender", body=body))

    assert mail.bounce is None


def test_a_daemon_mail_that_names_no_message_is_no_bounce_report_but_still_machine_mail():
    mail = parse_email(compose(sender="MAILER-DAEMON@mx.example.org", subject="Warning: could not send message",
                               body="Your message is delayed; no action is needed."))

    assert mail.bounce is None
    assert auto_reply_reason(mail, ["support@relaydesk.example"]) == "sender is mailer-daemon"


def test_a_broken_delivery_status_part_is_a_bounce_without_details():
    raw = (b"From: MAILER-DAEMON@mx.example.org\r\nContent-Type: multipart/report; report-type=delivery-status; "
           b"boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\x00\xff garbage\r\n--b--\r\n")
    mail = parse_email(raw)

    assert mail.bounce is not None and mail.bounce.bounce.original_message_id is None
    assert mail.bounce.thread_ids == []
