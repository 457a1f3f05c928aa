"""A press on one of the bot's buttons, through the real routes and queues: the same customer, the same ticket.

Each platform sends a press in its own shape (Slack: a signed form with a ``block_actions`` payload;
Telegram: a ``callback_query`` update; WhatsApp: an ``interactive`` ``button_reply``; Messenger: a text
message with ``quick_reply``). Whatever the shape, the press must land in the ticket the customer's typed
message opened, as their message, and each platform must get the answer it waits for.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests import chat


@pytest.fixture
def environment():
    return dict(chat.SECRETS)


def _slack_press(desk):
    payload = chat.fixture("slack/interactivity/block_actions.json")
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return chat.post_slack(desk, body, headers={"Content-Type": "application/x-www-form-urlencoded"})


PRESSES = {  # platform: (the customer's typed message, their press, the press's text, the answer's body)
    "slack": (lambda desk: chat.post_slack(desk, chat.slack_message()), _slack_press, "Yes, solved", ""),
    "telegram": (lambda desk: chat.post_telegram(desk, chat.telegram_text()),
                 lambda desk: chat.post_telegram(desk, chat.fixture("telegram/callback_query.json")),
                 "No, I need help", {"method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}),
    "whatsapp": (lambda desk: chat.post_meta(desk, "whatsapp", chat.whatsapp_text()),
                 lambda desk: chat.post_meta(desk, "whatsapp", chat.fixture("whatsapp/interactive_bot_choice.json")),
                 "Ja, løst", ""),
    "messenger": (lambda desk: chat.post_meta(desk, "messenger", chat.messenger_text()),
                  lambda desk: chat.post_meta(desk, "messenger", chat.fixture("messenger/quick_reply.json")),
                  "Nej, brug for hjælp", ""),
}


@pytest.mark.parametrize("platform", PRESSES)
def test_a_button_press_joins_the_ticket_the_customers_message_opened(desk, platform):
    type_message, press, press_text, answer = PRESSES[platform]
    assert type_message(desk).status_code == 200
    desk.pump()

    response = press(desk)
    desk.pump()

    assert response.status_code == 200, response.body
    assert (json.loads(response.body) if answer else response.body.decode()) == answer
    [ticket] = desk.tickets()
    customer = [m for m in ticket["messages"] if m["direction"] == "inbound"]
    assert len(customer) == 2 and customer[-1]["full_text"] == press_text, customer
    assert customer[0]["from"] == customer[-1]["from"]
