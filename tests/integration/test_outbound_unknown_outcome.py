"""A chat reply whose delivery outcome is unknown is parked with the reason and never sent again — not by the
HTTP client, not by SQS — while a send that never left is retried and arrives once. Through the real routes,
queues and send_outbound worker (LocalDesk), with the platform stubbed at the HTTP layer (``responses``)."""
from __future__ import annotations

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tests import chat


@pytest.fixture
def environment():
    return dict(chat.SECRETS)


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    from chalicelib.outbound import http

    taken: list[float] = []
    monkeypatch.setattr(http, "sleep", taken.append)
    monkeypatch.setattr(http, "random", lambda: 0.5)
    return taken


def _telegram_answers_first(desk, *answers):
    """Telegram's sendMessage answers (or raises) ``answers`` first, then as its stub does; returns every request
    that reached the stub, failed ones included."""
    mock = desk.platform_responses
    [stub] = [r for r in mock.registered() if "telegram" in r.url.pattern]
    pending, seen = list(answers), []

    def callback(request):
        seen.append(request)
        return pending.pop(0) if pending else stub.callback(request)

    mock.replace(responses.CallbackResponse(responses.POST, stub.url, callback=callback))
    return seen


def _refused() -> requests.ConnectionError:
    """What requests raises when the platform's address refuses the connection: nothing was sent."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, "/sendMessage", reason))


def test_a_read_timeout_parks_the_acknowledgement_with_the_reason_and_nothing_sends_it_again(desk, pauses):
    from chalicelib.storage.models import TicketModel

    tried = _telegram_answers_first(desk, requests.ReadTimeout("Read timed out. (read timeout=10)"))
    chat.post_telegram(desk, chat.telegram_text())
    desk.pump()
    desk.pump()  # nothing left to redeliver

    assert len(tried) == 1 and pauses == []  # sent once; no retry here...
    [letter] = desk.dead_letters()  # ...and none by SQS: parked on its first receive
    assert letter["source"] == "send_outbound"
    assert "outcome unknown" in letter["reason"] and "ReadTimeout" in letter["reason"], letter["reason"]
    [ticket] = desk.tickets()
    [failure] = TicketModel.get(ticket["id"]).delivery_failures
    assert failure["channel"] == "telegram" and "may have delivered it" in failure["reason"]
    assert desk.sent_chat_messages() == []  # the stub never answered, so nothing is recorded as delivered


def test_a_connection_reset_after_sending_is_parked_too(desk, pauses):
    reset = requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    tried = _telegram_answers_first(desk, reset)
    chat.post_telegram(desk, chat.telegram_text())
    desk.pump()

    assert len(tried) == 1
    [letter] = desk.dead_letters()
    assert "outcome unknown" in letter["reason"]


def test_a_refused_connection_is_retried_and_the_acknowledgement_arrives_once(desk, pauses):
    tried = _telegram_answers_first(desk, _refused())
    chat.post_telegram(desk, chat.telegram_text())
    desk.pump()

    assert len(tried) == 2 and pauses == [0.5]
    [delivered] = desk.sent_chat_messages()
    assert delivered["platform"] == "telegram"
    [ticket] = desk.tickets()
    assert ticket["acknowledgement"]["status"] == "sent"
    assert desk.dead_letters() == []
