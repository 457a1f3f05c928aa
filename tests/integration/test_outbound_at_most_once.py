"""At most once for what the desk sends (``storage/send_claims.py``): a reply whose send may have happened is never
sent again. Slack, Telegram, WhatsApp, Messenger and SES take no idempotency key, so when the write that records a
delivery fails after the platform accepted the message, the redelivered queue message is parked with the reason,
and the platform has seen exactly one request."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests import chat

from chalicelib.outbound import worker


@pytest.fixture
def environment() -> dict[str, str]:
    return dict(chat.SECRETS)


def _telegram_ticket(desk: Any, admin_token: str) -> dict[str, Any]:
    assert chat.post_telegram(desk, chat.telegram_text(text="My blender smells of burnt plastic")).status_code == 200
    desk.pump()
    (ticket,) = desk.tickets()
    return ticket


def _reply(desk: Any, token: str, ticket_id: str, text: str) -> None:
    response = desk.http.post(f"/tickets/{ticket_id}/replies", body=json.dumps({"text": text}).encode(),
                              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 201, response.body


def test_a_reply_whose_delivery_could_not_be_recorded_is_parked_not_sent_twice(desk, admin_token, monkeypatch):
    from chalicelib.storage import deliveries

    ticket = _telegram_ticket(desk, admin_token)
    before = len(desk.sent_chat_messages())
    real, calls = deliveries.mark_reply_delivered, []

    def lost_write(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the write after the send failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(deliveries, "mark_reply_delivered", lost_write)
    _reply(desk, admin_token, ticket["id"], "Please send us a photo of the label.")
    desk.pump()

    sent = [m for m in desk.sent_chat_messages()[before:] if "photo of the label" in m["text"]]
    assert len(sent) == 1  # the platform saw one request
    (parked,) = desk.dead_letters()
    assert parked["reason"] == worker.UNKNOWN_OUTCOME


def test_a_reply_delivered_and_recorded_before_a_crash_is_not_sent_again_nor_parked(desk, admin_token):
    from chalicelib.local.faults import FaultInjector

    ticket = _telegram_ticket(desk, admin_token)
    before = len(desk.sent_chat_messages())
    injector = FaultInjector(crash_after={"send_outbound": 3}).install()  # after the delivery's write
    desk.invoke = injector.wrap(desk.invoke)
    try:
        _reply(desk, admin_token, ticket["id"], "We have sent a new blender today.")
        desk.pump()
    finally:
        injector.uninstall()

    assert injector.crashes["send_outbound"] == 1
    sent = [m for m in desk.sent_chat_messages()[before:] if "new blender" in m["text"]]
    assert len(sent) == 1 and desk.dead_letters() == []


def test_a_send_that_certainly_failed_gives_the_claim_back_and_is_sent_on_the_next_delivery(desk, admin_token,
                                                                                          monkeypatch):
    from chalicelib.outbound import platforms
    from chalicelib.outbound.http import DeliveryError

    ticket = _telegram_ticket(desk, admin_token)
    before = len(desk.sent_chat_messages())
    real, calls = platforms.deliver, []

    def busy_once(*args: Any, **kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise DeliveryError("telegram: 503 Service Unavailable, retries exhausted")  # nothing was sent
        return real(*args, **kwargs)

    monkeypatch.setattr(platforms, "deliver", busy_once)
    _reply(desk, admin_token, ticket["id"], "Your refund is on its way.")
    desk.pump()

    assert len(calls) == 2 and desk.dead_letters() == []
    assert len([m for m in desk.sent_chat_messages()[before:] if "refund is on its way" in m["text"]]) == 1
