"""SQS delivers at least once: a new ticket's message delivered again is still one ticket, one message and
(outside the send-then-write window) one acknowledgement — whether the redelivery finds the stored message
before it acts (its Message-ID lookup) or only when it writes (the ticket's own id, derived from the message)."""
from __future__ import annotations

import pytest

from tests.mail import compose


@pytest.fixture
def redelivering(desk, monkeypatch):
    """Every process_inbound batch is delivered twice, the second time after the first was handled."""
    deliver = desk._deliver

    def twice(function_name, url, records):
        failed = deliver(function_name, url, records)
        if function_name == "process_inbound":
            failed |= deliver(function_name, url, records)
        return failed

    monkeypatch.setattr(desk, "_deliver", twice)
    return desk


def _lookups(desk):
    from chalicelib.storage.models import LookupModel

    return {item.lookup_key for item in LookupModel.scan()}


@pytest.mark.parametrize("message_id", ["<again@customer.example>", None])
def test_a_redelivered_new_ticket_message_is_one_ticket_and_one_acknowledgement(redelivering, message_id):
    desk = redelivering
    desk.receive_email(compose(message_id=message_id) if message_id else _without_message_id(compose()))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 1
    assert len(desk.sent_emails()) == 1
    assert desk.dead_letters() == []
    keys = _lookups(desk)
    # With a Message-ID its lookup marks the message (no separate idempotency item); without one, the key does.
    assert any(k.startswith("in:email:") for k in keys) is (message_id is None)


def test_a_redelivery_that_read_before_the_first_write_is_refused_by_the_tickets_own_id(desk, monkeypatch):
    """Two deliveries in flight at once: the second read its lookups before the first wrote. Its write
    finds the ticket (same id, derived from the message) and is recorded as a duplicate, not a second ticket."""
    from chalicelib.storage import repository

    raw = compose(message_id="<race@customer.example>")
    desk.receive_email(raw)
    deliver = desk._deliver
    read = repository.fetch_lookups
    stale = []

    def deliver_twice(function_name, url, records):
        failed = deliver(function_name, url, records)
        if function_name == "process_inbound":
            monkeypatch.setattr(repository, "fetch_lookups", lambda keys: stale.append(keys) or {})
            try:
                failed |= deliver(function_name, url, records)
            finally:
                monkeypatch.setattr(repository, "fetch_lookups", read)
        return failed

    monkeypatch.setattr(desk, "_deliver", deliver_twice)
    desk.pump()
    assert stale, "the second delivery ran"
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 1 and len(ticket["messages"]) == 1
    assert desk.dead_letters() == []


def _without_message_id(raw: bytes) -> bytes:
    head, _, body = raw.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"message-id:")]
    return b"\n".join(lines) + b"\n\n" + body


@pytest.mark.parametrize("stale_read", [False, True])
def test_a_redelivered_reply_is_one_message_on_its_ticket(desk, monkeypatch, stale_read):
    """A customer's reply delivered twice: found by its Message-ID lookup before acting, or (read before the
    first write) refused by that lookup's own condition; never a second message or a second reopening."""
    from chalicelib.storage import repository

    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.pump()
    deliver = desk._deliver
    read = repository.fetch_lookups
    seen = []

    def deliver_twice(function_name, url, records):
        failed = deliver(function_name, url, records)
        if function_name == "process_inbound":
            first_read = {}
            if stale_read:  # the second delivery reads what the first one read, before its write
                monkeypatch.setattr(repository, "fetch_lookups", lambda keys: first_read.setdefault(
                    "found", {k: v for k, v in read(keys).items() if not k.startswith(("mid:reply", "in:"))}))
            try:
                seen.append(records)
                failed |= deliver(function_name, url, records)
            finally:
                monkeypatch.setattr(repository, "fetch_lookups", read)
        return failed

    monkeypatch.setattr(desk, "_deliver", deliver_twice)
    desk.receive_email(compose(subject="Re: My order never arrived", body="Any news?",
                               message_id="<reply@customer.example>", in_reply_to="<first@customer.example>"))
    desk.pump()
    assert seen
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 2 and len(ticket["messages"]) == 2
    assert desk.dead_letters() == []
