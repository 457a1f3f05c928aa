"""POST /tickets: an agent logs a call or writes to a customer first — found or created by identity."""
from __future__ import annotations

import pytest

from tests import chat
from tests.api import call
from tests.mail import compose


@pytest.fixture
def environment():
    return dict(chat.SECRETS)


@pytest.fixture
def agent(desk):
    return desk.add_agent("Ann Agent", "ann@example.com")


def _call_log(**changes):
    body = {"customer": {"phone": "+45 12 34 56 78", "name": "Karen Holm"}, "kind": "call", "channel": "phone",
            "subject": "Invoice question by phone", "text": "Karen called about a double charge; refunded."}
    body.update(changes)
    return body


def _outbound(**changes):
    body = {"customer": {"email": "Ole@Kunde.example", "name": "Ole Kunde"}, "kind": "outbound",
            "channel": "email", "subject": "Your replacement part",
            "text": "Hi Ole, your replacement ships today. Reply here if anything is missing."}
    body.update(changes)
    return body


def test_a_logged_call_is_the_callers_ticket_and_nothing_is_sent(desk, agent):
    agent_id, token = agent
    status, ticket = call(desk, "post", "/tickets", token, _call_log())
    assert status == 201, ticket
    assert ticket["channel"] == "phone" and ticket["status"] == "open" and ticket["number"] >= 1
    assert ticket["assignee_id"] == agent_id and ticket["assignment_source"] == "manual"
    assert ticket["requester"] == "phone:+4512345678" and ticket["requester_name"] == "Karen Holm"
    assert ticket["first_response_at"] is None and ticket["acknowledgement"] is None
    [message] = ticket["messages"]
    assert message["kind"] == "call" and message["direction"] == "internal" and message["text"].startswith("Karen")
    assert ticket["customer"]["name"] == "Karen Holm" and ticket["customer"]["identities"] == ["phone:+4512345678"]
    assert ticket["audit"][0]["action"] == "created" and ticket["audit"][0]["actor"] == agent_id
    desk.pump()
    assert desk.sent_emails() == [] and desk.sent_chat_messages() == []
    # the same as GET shows it, and the caller's load counts it
    status, shown = call(desk, "get", f"/tickets/{ticket['id']}", token)
    assert status == 200 and shown["id"] == ticket["id"] and shown["messages"] == ticket["messages"]
    assert call(desk, "get", f"/agents/{agent_id}", token)[1]["open_count"] == 1
    assert call(desk, "get", "/tickets/counts", token)[1]["mine"] == 1
    # found by the phone number and by ticket number
    _, found = call(desk, "get", "/search?q=%2B4512345678", token)
    assert [t["id"] for t in found["tickets"]] == [ticket["id"]]
    _, found = call(desk, "get", f"/search?q=%23{ticket['number']}", token)
    assert [t["id"] for t in found["tickets"]] == [ticket["id"]]


def test_a_call_followed_up_by_email_is_answered_by_email(desk, agent):
    _, token = agent
    status, ticket = call(desk, "post", "/tickets", token,
                          _call_log(channel="email", customer={"phone": "+4512345678", "email": "karen@holm.example"}))
    assert status == 201, ticket
    assert ticket["channel"] == "email" and ticket["requester"] == "email:karen@holm.example"
    assert ticket["messages"][0]["channel"] == "phone" and ticket["channels"] == ["email", "phone"]
    desk.pump()
    assert desk.sent_emails() == []
    assert call(desk, "post", f"/tickets/{ticket['id']}/replies", token, {"text": "As promised: the refund."})[0] == 201
    desk.pump()
    [mail] = desk.sent_emails()
    assert mail["To"].addresses[0].addr_spec == "karen@holm.example" and f"[#{ticket['number']}]" in mail["Subject"]


def test_an_outbound_email_threads_the_customers_answer_and_is_no_first_response(desk, agent):
    agent_id, token = agent
    status, ticket = call(desk, "post", "/tickets", token, _outbound())
    assert status == 201, ticket
    assert ticket["status"] == "pending" and ticket["requester"] == "email:ole@kunde.example"
    assert ticket["first_response_at"] is None and ticket["agent_reply_count"] == 1
    [message] = ticket["messages"]
    assert message["kind"] == "agent" and message["direction"] == "outbound" and message["delivery"] == "queued"
    desk.pump()
    [mail] = desk.sent_emails()
    assert mail["To"].addresses[0].addr_spec == "ole@kunde.example"
    assert mail["Subject"] == f"{ticket['subject']} [#{ticket['number']}]"  # the desk writes first: no "Re:"
    assert "replacement ships today" in mail.get_content()
    # the customer answers the mail: it joins this ticket, which is open again; still no first response
    desk.receive_email(compose(sender="Ole Kunde <ole@kunde.example>", subject=f"Re: {mail['Subject']}",
                               body="Thanks, it arrived.", in_reply_to=mail["Message-ID"]))
    desk.pump()
    [stored] = desk.tickets()
    assert stored["id"] == ticket["id"] and stored["status"] == "open" and stored["message_count"] == 2
    assert stored["first_response_at"] is None
    assert stored["sla"]["due_target"] != "first_response"


def test_an_outbound_ticket_follows_routing_unless_an_assignee_is_named(desk, agent, admin_token):
    agent_id, token = agent
    other_id, _ = desk.add_agent("Bo Agent", "bo@example.com", status="away")
    status, ticket = call(desk, "post", "/tickets", admin_token, _outbound(status="open"))
    assert status == 201 and ticket["status"] == "open"
    desk.pump()
    assert call(desk, "get", f"/tickets/{ticket['id']}", token)[1]["assignee_id"] == agent_id  # routed
    status, body = call(desk, "post", "/tickets", token, _outbound(assignee_id=other_id, subject="for Bo"))
    assert status == 409 and "cannot take" in body["reason"]  # Bo is away
    status, ticket = call(desk, "post", "/tickets", token, _outbound(priority="urgent", queue="billing",
                                                                      subject="billing"))
    assert status == 201 and ticket["priority"] == "urgent" and ticket["category"] == "billing"


def test_a_retried_post_opens_one_ticket(desk, agent):
    _, token = agent
    headers = {"Idempotency-Key": "req-7f3a"}
    first = call(desk, "post", "/tickets", token, _outbound(), headers=headers)
    assert first[0] == 201
    again = call(desk, "post", "/tickets", token, _outbound(), headers=headers)
    assert again[0] == 201 and again[1]["id"] == first[1]["id"]
    by_body = call(desk, "post", "/tickets", token, {**_outbound(), "request_id": "req-7f3a"})
    assert by_body[1]["id"] == again[1]["id"]
    desk.pump()
    assert len(desk.tickets()) == 1 and len(desk.sent_emails()) == 1
    status, body = call(desk, "post", "/tickets", token, _outbound(subject="another"), headers=headers)
    assert status == 409 and "different request" in body["reason"]
    status, body = call(desk, "post", "/tickets", token, {**_outbound(), "request_id": "other"}, headers=headers)
    assert status == 400 and "differ" in body["reason"]


def test_an_existing_customer_is_found_by_identity_or_id(desk, agent):
    _, token = agent
    desk.receive_email(compose(subject="earlier"))
    desk.pump()
    [earlier] = desk.tickets()
    status, ticket = call(desk, "post", "/tickets", token,
                          _call_log(customer={"email": "ANN@customer.example", "phone": "+4587654321"}))
    assert status == 201 and ticket["customer_id"] == earlier["customer_id"]
    assert ticket["customer"]["identities"] == ["email:ann@customer.example", "phone:+4587654321"]
    assert ticket["requester"] == "phone:+4587654321" and ticket["requester_name"] == "Ann Customer"
    assert [t["subject"] for t in ticket["customer_tickets"]] == ["earlier"]
    status, ticket = call(desk, "post", "/tickets", token,
                          _outbound(customer={"customer_id": earlier["customer_id"]}))
    assert status == 201 and ticket["requester"] == "email:ann@customer.example"
    assert ticket["customer"]["ticket_count"] == 3


def test_chat_tickets_go_out_only_on_a_route_the_customer_opened(desk, agent):
    _, token = agent
    status, body = call(desk, "post", "/tickets", token, _outbound(channel="sms",
                                                                   customer={"phone": "+14155550123"}))
    assert status == 409 and "never written to us on sms" in body["reason"]
    assert chat.post_twilio(desk, chat.twilio_sms()).status_code == 200
    desk.pump()
    sent_before = len(desk.sent_chat_messages())
    status, ticket = call(desk, "post", "/tickets", token, _outbound(channel="sms", text="Your router is fixed.",
                                                                     customer={"phone": "+1 415 555 0123"}))
    assert status == 201, ticket
    assert ticket["requester"] == "phone:+14155550123" and ticket["channel"] == "sms"
    desk.pump()
    sent = desk.sent_chat_messages()[sent_before:]
    assert [m["text"] for m in sent] == ["Your router is fixed."]


def test_bad_requests_are_refused_with_reasons(desk, agent):
    _, token = agent
    cases = [
        ({**_call_log(), "colour": "red"}, 400, "unknown field"),
        (_call_log(customer={"phone": "+45 12", "name": "X"}), 400, "E.164"),
        (_outbound(customer={"email": "not-an-address"}), 400, "valid email"),
        (_outbound(customer={"name": "Nobody"}), 400, "at least one of email, phone or customer_id"),
        (_outbound(customer={"email": "a@b.example", "extra": 1}), 400, "unknown field"),
        (_call_log(channel="email"), 400, "no email address"),
        (_outbound(channel="phone"), 400, "channel phone is only for kind call"),
        (_outbound(kind="visit"), 400, "kind"),
        (_outbound(subject="x" * 1001), 400, "subject"),
        (_outbound(text="x" * 50_001), 400, "text"),
        (_outbound(subject="   "), 400, "blank"),
        (_outbound(queue="nowhere"), 400, "queue must be one of"),
        (_outbound(assignee_id="a-000000000000"), 400, "no active agent"),
        (_outbound(status="spam"), 400, "status"),
        (_outbound(customer={"customer_id": "c-00000000000000000000"}), 404, "no customer"),
        (_outbound(customer={"customer_id": "nope"}), 400, "customer_id"),
        (_call_log(customer={"customer_id": "c-00000000000000000000"}), 404, "no customer"),
    ]
    for body, expected, reason in cases:
        status, answer = call(desk, "post", "/tickets", token, body)
        assert status == expected and reason in answer["reason"], (body, status, answer)
    status, answer = call(desk, "post", "/tickets", token, _outbound(), headers={"Idempotency-Key": "has space"})
    assert status == 400 and "Idempotency-Key" in answer["reason"]
    assert call(desk, "post", "/tickets", None, _outbound())[0] == 401
    assert call(desk, "post", "/tickets", token, raw="{")[0] == 400
    assert desk.tickets() == []


def test_identities_of_two_customers_are_a_conflict(desk, agent):
    _, token = agent
    desk.receive_email(compose(sender="a@one.example", subject="one"))
    desk.receive_email(compose(sender="b@two.example", subject="two"))
    desk.pump()
    [one, two] = sorted(desk.tickets(), key=lambda t: t["subject"])
    status, body = call(desk, "post", "/tickets", token, _outbound(customer={"customer_id": one["customer_id"],
                                                                            "email": "b@two.example"}))
    assert status == 409 and "another customer" in body["reason"]
    assert len(desk.tickets()) == 2
