"""Every mail we send on a ticket carries its token, ``[#N]``, once; a new mail with it joins the ticket."""
from datetime import datetime, timezone

import pytest

from chalicelib.domain import threading
from chalicelib.outbound import email as email_out
from tests.api import call
from tests.mail import compose


def _acknowledgement(desk):
    (ack,) = [m for m in desk.sent_emails() if m["Auto-Submitted"] == "auto-replied"]
    return ack


def test_a_new_mail_with_the_acknowledgements_subject_lands_on_the_same_ticket(desk):
    desk.receive_email(compose(subject="My order never arrived"))
    desk.pump()
    ack = _acknowledgement(desk)
    assert ack["Subject"] == "Re: My order never arrived [#1]"
    text = ack.get_body(("plain",)).get_content()
    assert "[#1] in the subject" in text and "keep #1" not in text

    # A fresh mail, not a reply: no In-Reply-To, no References, the subject copied from the acknowledgement.
    desk.receive_email(compose(subject=ack["Subject"], body="I forgot: it was a gift."))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 2
    assert [m["joined_by"] for m in ticket["messages"]] == ["new-ticket", "subject-token"]
    assert len(desk.sent_emails()) == 1  # joining a ticket is not a new request: no second acknowledgement


def test_agent_replies_carry_the_token_once_whatever_the_customer_wrote(desk):
    _, agent = desk.add_agent("Ann Agent", "ann@example.com")
    desk.receive_email(compose(subject="RE: Re: [#77] wrong size"))  # another desk's token, and prefixes
    desk.pump()
    (ticket,) = desk.tickets()
    assert _acknowledgement(desk)["Subject"] == "Re: wrong size [#1]"

    for text in ("Which size do you need?", "It ships today."):
        status, _ = call(desk, "post", f"/tickets/{ticket['id']}/replies", agent, {"text": text})
        assert status == 201
        desk.pump()
    replies = [m for m in desk.sent_emails() if m["Auto-Submitted"] is None]
    assert [m["Subject"] for m in replies] == ["Re: wrong size [#1]", "Re: wrong size [#1]"]
    assert all(threading.subject_ticket_number(m["Subject"]) == 1 for m in replies)


@pytest.mark.parametrize(("subject", "expected"), [
    ("Question", "Re: Question [#12]"),
    ("Re: Question", "Re: Question [#12]"),
    ("Re: Re: Question [#12]", "Re: Question [#12]"),
    ("SV: AW: [#12] Question", "Re: Question [#12]"),
    ("[#3] Question", "Re: Question [#12]"),
    ("Fwd: Question", "Re: Fwd: Question [#12]"),
    ("", "Your request [#12]"),
    ("[#12]", "Your request [#12]"),
])
def test_reply_subject_has_one_re_and_exactly_one_token(subject, expected):
    assert email_out.reply_subject(subject, 12) == expected
    assert threading.SUBJECT_TOKEN.findall(expected) == ["12"]


@pytest.mark.parametrize(("language", "reply_line", "promise"), [
    ("da", "svar blot på denne e-mail", "inden for 9 arbejdstimer"),
    ("no", "bare svare på denne e-posten", "innen 9 arbeidstimer"),
    ("en", "simply reply to this email", "within 9 business hours"),
])
def test_danish_and_norwegian_acknowledgements_say_what_works(desk, language, reply_line, promise):
    mail = email_out.build(email_out.Acknowledgement(
        ticket_id="t-1", ticket_number=42, to_address="kunde@example.dk", customer_name="Mette", subject="Pakke",
        priority="high", response_time="9 business hours", links=[], message_id="ack.t-1@example.com",
        thread_message_ids=[], reply_to="support@example.com", created_at=datetime(2026, 1, 5, tzinfo=timezone.utc),
        language=language))
    assert mail["Subject"] == "Re: Pakke [#42]"
    for part in ("plain", "html"):
        text = mail.get_body((part,)).get_content()
        assert reply_line in text and "[#42]" in text and promise in text.replace("<strong>", "").replace(
            "</strong>", "")
