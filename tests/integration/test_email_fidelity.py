"""Issue 12 through the real handlers: the customer's answer, readable charsets, bounces on their ticket."""
from pathlib import Path

import pytest

from tests.mail import compose

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def _only(items):
    assert len(items) == 1, items
    return items[0]


def _open_ticket(desk, sender, subject):
    desk.receive_email(compose(sender=sender, subject=subject, message_id="<first@customer.example>"))
    desk.pump()
    return _only(desk.sent_emails())["Message-ID"]


def test_a_german_answer_below_the_am_schrieb_quote_is_the_message_text(desk):
    ack_id = _open_ticket(desk, "Hans Meier <hans.meier@meier-gmbh.de>", "Ersatzpaket")
    raw = (MAIL / "replies" / "thunderbird_bottom_de_schrieb.eml").read_bytes()
    raw = raw.replace(b"In-Reply-To: <", b"In-Reply-To: " + ack_id.encode() + b"\r\nX-Old-In-Reply-To: <", 1)
    desk.receive_email(raw)
    desk.pump()

    ticket = _only(desk.tickets())
    assert ticket["message_count"] == 2
    answer = ticket["messages"][-1]["text"]
    assert "Nein, leider immer noch nicht." in answer
    assert "Gruß\nHans Meier\nTel. 089 1234567" in answer  # the sign-off and phone are the customer's
    assert "> ist die Lieferung inzwischen angekommen?" in answer  # what they answer, kept as quoted context
    assert "schrieb" not in answer


def test_a_top_posted_outlook_reply_keeps_the_signature_and_drops_the_history(desk):
    desk.receive_email((MAIL / "replies" / "outlook_top_da_separator.eml").read_bytes())
    desk.pump()

    text = _only(_only(desk.tickets())["messages"])["text"]
    assert text.endswith("Mette Sørensen\nSørensen Design ApS\nTlf. +45 21 43 65 87")
    assert "Fra:" not in text and "____" not in text


def test_gb2312_labelled_gbk_mail_becomes_a_readable_ticket(desk):
    import base64

    subject = base64.b64encode("訂單问题".encode("gbk")).decode()
    raw = (f"From: Wang <wang@example.cn>\r\nTo: support@example.com\r\nSubject: =?gb2312?B?{subject}?=\r\n"
           "Message-ID: <gbk-1@example.cn>\r\nContent-Type: text/plain; charset=gb2312\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + "您好，我的訂單还没有到。".encode("gbk")
    desk.receive_email(raw)
    desk.pump()

    ticket = _only(desk.tickets())
    assert ticket["subject"] == "訂單问题"
    assert _only(ticket["messages"])["text"] == "您好，我的訂單还没有到。"


def _bounce_of(ack_id: str) -> bytes:
    raw = (MAIL / "dsn" / "postfix_rfc822_headers.eml").read_bytes()
    return raw.replace(b"<0102019a5a0c0002-relaydesk-1050@eu-west-1.amazonses.com>", ack_id.encode())


def test_a_bounce_is_machine_mail_that_gets_no_acknowledgement(desk):
    ack_id = _open_ticket(desk, "Bjørn Åsheim <bjorn@fjordfisk.no>", "Faktura for november")
    desk.receive_email(_bounce_of(ack_id))
    desk.pump()

    assert len(desk.sent_emails()) == 1  # only the first acknowledgement
    bounces = [m for t in desk.tickets() for m in t["messages"] if m["from"] == "email:mailer-daemon@mx2.fjordfisk.no"]
    assert _only(bounces)["auto_reply_reason"] == "delivery-status"


def test_a_bounce_joins_the_ticket_whose_message_bounced(desk):
    ack_id = _open_ticket(desk, "Bjørn Åsheim <bjorn@fjordfisk.no>", "Faktura for november")
    desk.receive_email(_bounce_of(ack_id))
    desk.pump()

    ticket = _only(desk.tickets())
    assert ticket["message_count"] == 2 and ticket["status"] == "open"
    # ... and is recorded like SES's own bounce event: on the mail that bounced, flagged on the ticket.
    assert ticket["acknowledgement"]["delivery"] == "bounced"
    problem = ticket["delivery_problem"]
    assert problem["status"] == "bounced" and problem["recipient"] == "bjorn@fjordfisk.no"
    assert problem["diagnostic"] == "X-Postfix; mailbox full (quota exceeded)"
