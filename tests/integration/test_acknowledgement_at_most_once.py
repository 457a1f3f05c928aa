"""A new ticket's email acknowledgement goes out at most once, under the number the ticket keeps.

SES takes no idempotency key. The pipeline records that it is about to send (``inbound.intend_acknowledgement``)
before SES is asked; when the ticket's write then fails, the redelivered message reuses the number the customer
was told and sends nothing more: the acknowledgement is recorded ``unknown`` with the reason, and the customer's
answer to it still threads by its ``[#N]``."""
from __future__ import annotations

import re
from typing import Any

from tests.mail import compose

from chalicelib.domain import acknowledgement


def _acknowledgements(desk: Any) -> list[Any]:
    return [m for m in desk.sent_emails() if m["Auto-Submitted"] == "auto-replied"]


def _fails_first_time(monkeypatch: Any, owner: Any, name: str, error: Exception) -> list[int]:
    """``owner.name`` raises ``error`` on its first call and works after; returns the list its calls fill."""
    real, calls = getattr(owner, name), []

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, fails_once)
    return calls


def test_a_write_that_fails_after_the_acknowledgement_went_out_keeps_its_number_and_sends_no_second(desk,
                                                                                                   monkeypatch):
    from chalicelib.storage import inbound

    calls = _fails_first_time(monkeypatch, inbound, "commit_new_ticket", RuntimeError("the ticket's write failed after SES accepted the acknowledgement"))
    desk.receive_email(compose(sender="Ann <ann@customer.example>", subject="Where is my order?",
                               body="Order 12 has not arrived."))
    desk.pump()

    assert len(calls) == 2
    (ack,) = _acknowledgements(desk)
    (ticket,) = desk.tickets()
    told = int(re.search(r"\[#(\d+)\]", str(ack["Subject"])).group(1))
    assert ticket["number"] == told
    assert ticket["acknowledgement"]["status"] == "unknown"
    assert ticket["acknowledgement"]["reason"] == acknowledgement.OUTCOME_UNKNOWN

    # The customer answers the acknowledgement they got: it threads into the same ticket by its [#N].
    desk.receive_email(compose(sender="Ann <ann@customer.example>", subject=f"Re: {ack['Subject']}",
                               body="It was order 12, placed Monday.", in_reply_to=str(ack["Message-ID"])))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 2


def test_without_failures_the_acknowledgement_is_sent_and_recorded_as_before(desk):
    desk.receive_email(compose(subject="Invoice question", body="Is VAT included?"))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["acknowledgement"]["status"] == "sent" and len(_acknowledgements(desk)) == 1


def test_an_acknowledgement_ses_certainly_did_not_send_goes_out_on_the_redelivery_counted_once(desk, monkeypatch):
    """SES throttled the send: the intent says "not sent", the redelivery takes it up and sends under the same
    number, and the sender's acknowledgement and contact counts (made with the intent) are not made again."""
    from chalicelib.outbound import email as email_out
    from chalicelib.storage.models import LookupModel

    calls = _fails_first_time(monkeypatch, email_out, "send", email_out.NotSent("Throttling: Maximum sending rate exceeded"))
    desk.receive_email(compose(sender="Ann <ann@customer.example>", subject="Where is my order?"))
    desk.pump()

    assert len(calls) == 2
    (ack,) = _acknowledgements(desk)
    (ticket,) = desk.tickets()
    assert ticket["acknowledgement"]["status"] == "sent"
    assert f"[#{ticket['number']}]" in str(ack["Subject"])
    identity = LookupModel.get("id:email:ann@customer.example")
    assert (identity.ack_count, identity.ack_day_count, identity.contacts_count) == (1, 1, 1)
    assert desk.dead_letters() == []


def _two_earlier_tickets(desk: Any) -> None:
    for n in range(2):
        desk.receive_email(compose(sender="Ann <ann@customer.example>", subject=f"question {n}",
                                   message_id=f"<q{n}@customer.example>"))
        desk.pump()
    assert len(_acknowledgements(desk)) == 2


def _third_of_the_hour(desk: Any, monkeypatch: Any, owner: Any, name: str, error: Exception) -> tuple[Any, Any]:
    """Two acknowledged tickets, then a third mail whose first run fails at ``owner.name`` with ``error``
    and whose redelivery goes through: the third ticket and the sender's (ack_count, contacts_count)."""
    from chalicelib.storage.models import LookupModel

    _two_earlier_tickets(desk)
    calls = _fails_first_time(monkeypatch, owner, name, error)
    desk.receive_email(compose(sender="Ann <ann@customer.example>", subject="question 3"))
    desk.pump()
    assert len(calls) == 2  # it failed once, then the redelivery got through
    (third,) = [ticket for ticket in desk.tickets() if ticket["subject"] == "question 3"]
    identity = LookupModel.get("id:email:ann@customer.example")
    return third, (identity.ack_count, identity.contacts_count)


def test_at_the_cap_a_redelivery_decides_as_its_first_attempt_did_not_on_counts_that_hold_it(desk, monkeypatch):
    """The third mail of the hour (the cap: 3) is counted with its intent; SES throttles the send. The
    redelivery reads the identity with that mail already counted (3), yet sends it, as the first attempt
    decided, and counts nothing again (acknowledgements 3, new tickets 3)."""
    from chalicelib.outbound import email as email_out

    third, counts = _third_of_the_hour(desk, monkeypatch, email_out, "send",
                                       email_out.NotSent("Throttling: Maximum sending rate exceeded"))
    assert third["acknowledgement"]["status"] == "sent" and len(_acknowledgements(desk)) == 3
    assert counts == (3, 3)


def test_at_the_cap_a_write_that_failed_after_sending_is_recorded_unknown_not_rate_limited(desk, monkeypatch):
    from chalicelib.storage import inbound

    third, counts = _third_of_the_hour(desk, monkeypatch, inbound, "commit_new_ticket",
                                       RuntimeError("the ticket's write failed after SES accepted the acknowledgement"))
    assert third["acknowledgement"]["status"] == "unknown" and len(_acknowledgements(desk)) == 3
    assert counts == (3, 3)
