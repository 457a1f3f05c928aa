"""The fault injector (``chalicelib/local/faults.py``) does what it says, against the real handlers on moto:
errors below botocore's retries are retried by botocore and did nothing; errors above them reach the app;
a read timeout after an applied call leaves the write done; a crash after step N makes SQS deliver again.
The harness's own calls (the event source mapping) are never faulted."""
from __future__ import annotations

from typing import Any

import pytest

from tests.mail import compose

from chalicelib.local.faults import FaultInjector


@pytest.fixture
def injector(desk: Any):
    injector = FaultInjector(seed=7).install()
    desk.invoke = injector.wrap(desk.invoke)
    yield injector
    injector.uninstall()


def test_every_call_failing_below_the_retries_parks_the_mail_with_the_reason_and_stores_nothing(desk, injector):
    desk.receive_email(compose(subject="Where is my order?", body="Order 1234 has not arrived."))
    injector.rate, injector.above = 1.0, 0.0  # from here: process_inbound (SES's own hand-over is not tested here)
    desk.pump()

    with injector.paused():
        assert desk.tickets() == []
        (parked,) = desk.dead_letters()
    # even parking failed (every call fails): SQS's redrive policy moved it, after the spare receive
    assert "after 6 receives" in parked["reason"]
    assert set(injector.summary()) == {"below", "crashes"} and injector.summary()["below"] >= 6 * 3  # x attempts
    assert all(key.startswith("below:") for key in injector.injected)


def test_an_occasional_error_below_the_retries_is_absorbed_by_botocore(desk, injector):
    for n in range(5):
        desk.receive_email(compose(subject=f"Question {n}", body="Hello, a question about my invoice."))
    injector.rate, injector.above = 0.2, 0.0
    desk.pump()

    with injector.paused():
        assert len(desk.tickets()) == 5 and desk.dead_letters() == []
    assert injector.summary()["below"] > 0


def test_a_crash_after_a_step_is_delivered_again_and_stored_once(desk, injector):
    injector.crash_after = {"process_inbound": 2}
    desk.receive_email(compose(subject="Refund", body="Please refund order 77."))
    desk.pump()

    with injector.paused():
        (ticket,) = desk.tickets()
        assert ticket["message_count"] == 1 and desk.dead_letters() == []
    assert injector.crashes["process_inbound"] == 1


def test_a_read_timeout_after_an_applied_write_leaves_the_write_done(desk, injector):
    from chalicelib.storage import repository

    first = repository.next_ticket_number()
    repository.reset_number_block()
    injector.rate, injector.above, injector.applied_timeout = 1.0, 1.0, 1.0
    with pytest.raises(Exception, match="Read timeout"):  # the caller sees a failure...
        repository.next_ticket_number()
    injector.rate = 0.0
    repository.reset_number_block()
    assert repository.next_ticket_number() == first + 2  # ...but the counter moved: the write was applied
    assert injector.summary()["applied-timeout"] == 1
