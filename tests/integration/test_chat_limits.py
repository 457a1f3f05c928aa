"""Chat input the desk can never use, and anonymous sessions it will not open without end.

1. Ids too long for a DynamoDB key (2,048 bytes; our lookup keys embed the ids behind a prefix) are
   refused or skipped by the webhook, as each platform needs, so nothing is retried as if transient and
   nothing lands in the dead-letter queue; one that reaches the queue anyway is parked at once, with why.
2. ``POST /webchat/sessions``: anonymous sessions are counted per client address (the desk settings'
   ``webchat_session_limit``) and refused with 429 and ``Retry-After`` past the limit.

Everything goes through the real routes and queues (``desk.http``, ``desk.pump()``), signed as the
platforms sign (``tests/chat.py``).
"""
from __future__ import annotations

import copy
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.local import LocalDesk
from tests import chat

TOO_LONG = 3_000  # characters: past any key, and past every limit in chalicelib/domain/messages.py


@pytest.fixture
def environment():
    return dict(chat.SECRETS)


def _nothing_kept_or_parked(desk):
    """After the queues ran: no ticket, and nothing in a dead-letter queue for an operator to untangle."""
    desk.pump()
    assert desk.tickets() == []
    assert desk.dead_letters() == []


def _skip_reasons(caplog):
    return [record.reason for record in caplog.records if record.getMessage() == "webhook event skipped"]


# --- 1. Ids that cannot be part of a storage key ------------------------------------------------


@pytest.mark.parametrize("field, value, named", [
    ("event_id", "Ev" + "0" * TOO_LONG, "external_id is 3,002 bytes long"),
    ("user", "U" + "1" * TOO_LONG, "sender.value"),
    ("channel", "D" + "2" * TOO_LONG, "conversation_key"),
])
def test_slack_event_whose_ids_cannot_be_stored_is_refused_once_with_the_reason(desk, field, value, named):
    envelope = chat.slack_message()
    if field == "event_id":
        envelope["event_id"] = value
    else:
        envelope["event"][field] = value

    response = chat.post_slack(desk, envelope)

    assert named in chat.error_body(response, 400)["reason"]
    assert response.headers["X-Slack-No-Retry"] == "1"  # Slack would otherwise send it three more times
    _nothing_kept_or_parked(desk)


@pytest.mark.parametrize("change", ["update_id", "from.id", "chat.id"])
def test_telegram_update_whose_ids_cannot_be_stored_is_answered_200_and_logged_not_retried(desk, caplog, change):
    update = chat.telegram_text()
    huge = int("9" * 4_000) if change == "update_id" else 10 ** TOO_LONG
    if change == "update_id":
        update["update_id"] = huge
    else:
        update["message"][change.split(".")[0]]["id"] = huge

    with caplog.at_level(logging.INFO):
        response = chat.post_telegram(desk, update)

    assert response.status_code == 200, response.body  # any other status and Telegram sends it again
    [reason] = _skip_reasons(caplog)
    assert len(reason) < 300, reason  # the reason, not the id
    _nothing_kept_or_parked(desk)


def test_whatsapp_batch_keeps_its_good_message_and_skips_the_one_that_cannot_be_stored(desk, caplog):
    payload = chat.whatsapp_text(text="My order is late")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    unusable = copy.deepcopy(messages[0])
    unusable["id"] = "wamid." + "A" * TOO_LONG
    messages.insert(0, unusable)

    with caplog.at_level(logging.INFO):
        response = chat.post_meta(desk, "whatsapp", payload)

    assert response.status_code == 200, response.body  # otherwise Meta re-sends the good message too, for days
    [reason] = _skip_reasons(caplog)
    assert "cannot be stored: external_id" in reason and len(reason) < 300, reason
    desk.pump()
    [ticket] = desk.tickets()
    assert [m["text"] for m in ticket["messages"] if m["direction"] == "inbound"] == ["My order is late"]
    assert desk.dead_letters() == []


def test_messenger_event_from_a_sender_id_that_cannot_be_stored_is_skipped(desk, caplog):
    payload = chat.messenger_text()
    payload["entry"][0]["messaging"][0]["sender"]["id"] = "9" * TOO_LONG

    with caplog.at_level(logging.INFO):
        response = chat.post_meta(desk, "messenger", payload)

    assert response.status_code == 200, response.body
    [reason] = _skip_reasons(caplog)
    assert "sender.value is 3,000 bytes long" in reason, reason
    _nothing_kept_or_parked(desk)


@pytest.mark.parametrize("field, named", [("MessageSid", "external_id"), ("From", "sender.value")])
def test_twilio_message_whose_ids_cannot_be_stored_is_refused_with_the_reason(desk, field, named):
    fields = chat.twilio_sms(**{field: ("SM" if field == "MessageSid" else "+1") + "5" * TOO_LONG})

    response = chat.post_twilio(desk, fields)

    assert named in chat.error_body(response, 400)["reason"]
    _nothing_kept_or_parked(desk)


def test_webchat_session_for_an_address_longer_than_any_email_is_refused(desk):
    email = "ann@customer." + "x" * TOO_LONG  # the address pattern leaves the last label unbounded
    response = chat.open_webchat_session(desk, email=email,
                                         email_hash=chat.vouch_for(email, chat.WEBCHAT_IDENTITY_SECRET))

    assert "254" in chat.error_body(response, 400)["reason"]
    _nothing_kept_or_parked(desk)


def _message(**changes):
    from chalicelib.domain.messages import Identity, InboundMessage

    fields = dict(channel="webchat", external_id="ws-1:msg-00000001", received_at=datetime.now(timezone.utc),
                  sender=Identity("webchat", "ws-1"), text="Hello", conversation_key="webchat:ws-1")
    return InboundMessage(**{**fields, **changes})


@pytest.mark.parametrize("changes, reason", [
    ({"external_id": "é" * 129}, "external_id is 258 bytes long; at most 256 fit in a storage key"),
    ({"sender": ("email", "a" * 513)}, "sender.value is 513 bytes long; at most 512 fit in a storage key"),
    ({"conversation_key": "sms:" + "1" * 1_021}, "conversation_key is 1,025 bytes long; at most 1,024"),
    ({"message_id": "m" * 4_000}, "message_id is 4,000 bytes long; at most 3,992"),
])
def test_a_message_refuses_fields_too_long_for_a_storage_key_in_bytes_not_characters(changes, reason):
    from chalicelib.domain.messages import Identity

    if "sender" in changes:
        changes["sender"] = Identity(*changes["sender"])
    with pytest.raises(ValueError, match="^" + reason):
        _message(**changes)
    _message(external_id="é" * 128, sender=Identity("email", "a" * 512), conversation_key="c" * 1_024,
             message_id="m" * 3_992)  # exactly at each limit: kept


def test_queued_message_whose_ids_cannot_be_stored_is_parked_at_once_with_the_reason(desk):
    """A message queued before these checks (or by other code): the worker parks it on its first delivery."""
    from chalicelib.storage import queues as queue

    message = _message().to_dict()
    message["external_id"] = "x" * TOO_LONG
    queue.enqueue({"v": 1, "kind": "message", "message": message}, conversation_key="webchat:ws-1", dedup_key="x")

    assert desk.pump() == 1  # one delivery, not one per allowed receive
    assert desk.tickets() == []
    [parked] = desk.dead_letters()
    assert "external_id is 3,000 bytes long" in parked["reason"], parked["reason"]


# --- 2. Anonymous web-chat sessions per client address ----------------------------------------------


def _statuses(responses):
    return [response.status_code for response in responses]


def test_one_address_opens_at_most_the_configured_anonymous_sessions_then_gets_429_with_retry_after(desk):
    """The desk's default ``webchat_session_limit``: 20 an hour."""
    answers = [chat.open_webchat_session(desk, source_ip="203.0.113.7", name="Visitor") for _ in range(50)]

    assert _statuses(answers) == [201] * 20 + [429] * 30
    refusal = chat.error_body(answers[-1], 429)
    assert "20 anonymous chat sessions in 60 minutes" in refusal["reason"]
    retry_after = int(answers[-1].headers["Retry-After"])
    assert 1 <= retry_after <= 3600

    desk.advance(minutes=retry_after / 60 + 0.1)  # the window is over: the address may open sessions again
    assert chat.open_webchat_session(desk, source_ip="203.0.113.7").status_code == 201


def test_the_limit_is_per_address_and_vouched_for_visitors_are_not_counted(desk):
    for _ in range(20):
        assert chat.open_webchat_session(desk, source_ip="198.51.100.1").status_code == 201
    assert chat.open_webchat_session(desk, source_ip="198.51.100.1").status_code == 429

    assert chat.open_webchat_session(desk, source_ip="198.51.100.2").status_code == 201  # a neighbour
    email = "ann@customer.example"  # the site's logged-in user, vouched for by its backend
    vouched = chat.open_webchat_session(desk, source_ip="198.51.100.1", email=email,
                                        email_hash=chat.vouch_for(email, chat.WEBCHAT_IDENTITY_SECRET))
    assert vouched.status_code == 201 and json.loads(vouched.body)["email_verified"] is True


@pytest.fixture
def small_limit(tmp_path) -> Path:
    """The deployment's settings with a web-chat session limit of 3 per 10 minutes."""
    settings = json.loads((Path(__file__).parents[2] / "chalicelib" / "desk_settings.json").read_text())
    settings["webchat_session_limit"] = {"max_per_client": 3, "window_minutes": 10}
    path = tmp_path / "desk_settings.json"
    path.write_text(json.dumps(settings))
    return path


@pytest.fixture
def limited_desk(small_limit):
    with LocalDesk(environment=dict(chat.SECRETS), settings_path=small_limit) as local_desk:
        yield local_desk


def test_the_limit_comes_from_the_desk_settings_and_refused_requests_do_not_count(limited_desk):
    for _ in range(5):  # invalid requests are refused before they are counted
        assert chat.open_webchat_session(limited_desk, source_ip="192.0.2.9", email="not an address").status_code == 400

    answers = [chat.open_webchat_session(limited_desk, source_ip="192.0.2.9") for _ in range(4)]

    assert _statuses(answers) == [201, 201, 201, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 600
    assert "3 anonymous chat sessions in 10 minutes" in chat.error_body(answers[-1], 429)["reason"]


def test_ipv6_clients_are_counted_by_their_64_prefix(limited_desk):
    """A host changes addresses inside its /64 at will (RFC 8981): one /64 is one client."""
    same_host = [chat.open_webchat_session(limited_desk, source_ip=f"2001:db8:1:2::{n:x}") for n in range(1, 5)]

    assert _statuses(same_host) == [201, 201, 201, 429]
    assert chat.open_webchat_session(limited_desk, source_ip="2001:db8:1:3::1").status_code == 201


def test_requests_without_a_source_address_are_counted_together_not_refused_outright(limited_desk):
    answers = [chat.open_webchat_session(limited_desk, source_ip=None) for _ in range(4)]

    assert _statuses(answers) == [201, 201, 201, 429]
