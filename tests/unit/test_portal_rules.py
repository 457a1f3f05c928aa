"""What a signed-in customer may read of a ticket (domain/portal.py), and the portal's tokens."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib.domain import portal

ANN = {"email:ann@customer.example", "portal:ann@customer.example"}


def _message(direction, kind, sender="email:ann@customer.example", **fields):
    return SimpleNamespace(direction=direction, kind=kind, sender=sender, sender_name=fields.get("name", ""),
                           text=fields.get("text", "hi"), reply_text=None, created_at="2026-12-05T10:00:00Z",
                           channel="portal", attachments=[])


@pytest.mark.parametrize("message,author", [
    (_message("inbound", "customer"), "customer"),
    (_message("inbound", "customer", sender="portal:ann@customer.example"), "customer"),
    (_message("inbound", "customer", sender="email:boss@customer.example"), None),  # a colleague copied in
    (_message("inbound", "auto_reply"), None),
    (_message("outbound", "agent", sender="agent:a-123456789abc"), "agent"),
    (_message("outbound", "acknowledgement", sender="desk"), "desk"),
    (_message("outbound", "automated", sender="desk"), "desk"),
    (_message("internal", "note", sender="agent:a-123456789abc"), None),
    (_message("outbound", "note", sender="agent:a-123456789abc"), None),
    (_message("internal", "call", sender="agent:a-123456789abc"), None),
    (_message("outbound", "something-new"), None),
])
def test_the_customer_sees_their_own_messages_and_the_desks_answers_only(message, author):
    assert portal.visible_as(message, ANN) == author


def test_the_view_of_an_agent_reply_names_the_agent_and_nothing_else_of_theirs():
    view = portal.customer_view(_message("outbound", "agent", sender="agent:a-123456789abc", name="Ada"), "agent",
                                "Support")
    assert view["author_name"] == "Ada" and "a-123456789abc" not in str(view)


def test_tokens_are_found_by_their_hash_and_forgeries_are_not():
    link, session = portal.new_link(), portal.new_session()
    assert link.token.startswith("rpl_") and session.token.startswith("rps_")
    assert portal.parse_link(link.token) == link.token_hash and link.token_hash not in link.token
    assert portal.parse_session(session.token) == session.token_hash
    for forged in (session.token, link.token + "0", "rpl_" + "g" * 64, None, 5, ""):
        assert portal.parse_link(forged) is None
