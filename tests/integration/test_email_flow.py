"""Email in → ticket → acknowledgement out, through the real handlers on moto."""
from email.utils import make_msgid

import pytest

from tests.files import download
from tests.mail import compose


def _only(items):
    assert len(items) == 1, items
    return items[0]


def test_new_email_becomes_a_ticket_with_an_acknowledgement_that_threads(desk):
    raw = compose(message_id="<first@customer.example>")
    desk.receive_email(raw)
    assert desk.pump() == 1

    ticket = _only(desk.tickets())
    assert ticket["number"] == 1 and ticket["status"] == "open" and ticket["priority"] == "normal"
    assert ticket["channel"] == "email" and ticket["first_response_at"] is None
    assert ticket["customer"]["name"] == "Ann Customer"
    assert ticket["customer"]["identities"] == ["email:ann@customer.example"]
    assert ticket["customer"]["ticket_count"] == 1
    assert ticket["customer"]["last_inquiry"]["subject"] == "My order never arrived"
    message = _only(ticket["messages"])
    assert message["kind"] == "customer" and "order 1234" in message["text"]

    ack = _only(desk.sent_emails())
    assert ack["To"].addresses[0].addr_spec == "ann@customer.example"
    assert ack["Subject"] == "Re: My order never arrived [#1]"
    assert ack["In-Reply-To"] == "<first@customer.example>"
    assert ack["References"] == "<first@customer.example>"
    assert ack["Auto-Submitted"] == "auto-replied"
    # SES replaces our Message-ID with its own; the customer's reply threads by that one.
    assert ack["Message-ID"] == f"<{ticket['acknowledgement']['provider_message_id']}>"
    assert ack["Message-ID"].endswith("@email.amazonses.com>")
    assert ack["Reply-To"].addresses[0].addr_spec.startswith(f"support+{ticket['id']}.")
    text = ack.get_body(("plain",)).get_content()
    assert "#1" in text and "within 9 business hours" in text and "https://help.example.com/articles/track-order" in text
    assert ack.get_body(("html",)) is not None
    assert ticket["acknowledgement"]["status"] == "sent"


def test_reply_by_in_reply_to_joins_the_ticket_without_a_second_acknowledgement(desk):
    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.pump()
    ack = _only(desk.sent_emails())
    desk.receive_email(compose(subject="Re: My order never arrived", body="Any news?",
                               in_reply_to=ack["Message-ID"],
                               references=["<first@customer.example>", ack["Message-ID"]]))
    desk.pump()
    ticket = _only(desk.tickets())
    assert ticket["message_count"] == 2 and len(ticket["messages"]) == 2
    assert len(desk.sent_emails()) == 1


def test_a_known_senders_reply_writes_no_per_sender_item_and_their_last_inquiry_follows(desk, monkeypatch):
    """A reply opens nothing and sends no acknowledgement: its transaction writes neither the sender's
    identity item (it stays as the new ticket left it) nor their customer record, whose last inquiry
    ticket_stream brings up to date from the stored change; the sender's acknowledgement count still
    caps the next new tickets."""
    from pynamodb.connection.base import Connection

    from chalicelib.storage.models import LookupModel

    written = []
    send = Connection._make_api_call

    def watched(self, operation_name, operation_kwargs):
        if operation_name == "TransactWriteItems":
            for item in operation_kwargs["TransactItems"]:  # the key of each item written: lookups, customers
                key = item["Update"]["Key"] if "Update" in item else next(iter(item.values())).get("Item", {})
                written.append((key.get("lookup_key") or ("Update" in item and key.get("customer_id")) or {}).get("S"))
        return send(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", watched)
    identity = "id:email:ann@customer.example"
    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.pump()
    customer_id = LookupModel.get(identity).customer_id
    assert identity in written and customer_id in written
    written.clear()
    stored = LookupModel.get(identity).attribute_values
    ack = _only(desk.sent_emails())
    desk.receive_email(compose(subject="Re: My order never arrived", body="Any news on the parcel?",
                               in_reply_to=ack["Message-ID"], message_id="<second@customer.example>"))
    desk.pump()
    assert written and identity not in written and customer_id not in written  # the reply's transaction
    assert LookupModel.get(identity).attribute_values == stored
    ticket = _only(desk.tickets())
    assert ticket["message_count"] == 2
    assert ticket["customer"]["last_inquiry"]["excerpt"].startswith("Any news on the parcel?")
    for n in range(3):  # the acknowledgement counted by the first ticket still counts: 2 more, then the cap
        desk.receive_email(compose(subject=f"another question {n}"))
    desk.pump()
    assert len(desk.sent_emails()) == 3


def test_reply_via_signed_reply_address_threads_and_a_forged_one_does_not(desk):
    desk.receive_email(compose())
    desk.pump()
    reply_to = _only(desk.sent_emails())["Reply-To"].addresses[0].addr_spec
    desk.receive_email(compose(to=reply_to, subject="new words, no headers"), recipients=[reply_to])
    forged = reply_to.split(".")[0] + ".aaaaaaaaaaaaaaaa@example.com"
    desk.receive_email(compose(to=forged, subject="forged"), recipients=[forged])
    desk.pump()
    tickets = desk.tickets()
    assert [t["message_count"] for t in tickets] == [2, 1]
    assert tickets[1]["subject"] == "forged"


def test_subject_token_threads_only_for_participants(desk):
    desk.receive_email(compose())
    desk.pump()
    desk.receive_email(compose(subject="Re: [#1] more details", body="from Ann"))
    desk.receive_email(compose(sender="Mallory <mallory@evil.example>", subject="[#1] let me in"))
    desk.pump()
    tickets = desk.tickets()
    assert tickets[0]["message_count"] == 2
    assert tickets[1]["requester"] == "email:mallory@evil.example" and tickets[1]["message_count"] == 1


def test_out_of_office_threads_without_reply_or_state_change(desk):
    desk.receive_email(compose(message_id="<q@customer.example>"))
    desk.pump()
    ack = _only(desk.sent_emails())
    desk.receive_email(compose(subject="Automatic reply: Re: My order never arrived", body="I am away",
                               in_reply_to=ack["Message-ID"], headers={"Auto-Submitted": "auto-replied"}))
    desk.pump()
    ticket = _only(desk.tickets())
    assert ticket["status"] == "open" and ticket["message_count"] == 2
    assert ticket["messages"][-1]["kind"] == "auto_reply"
    assert ticket["customer"]["last_inquiry"]["subject"] == "My order never arrived"
    assert len(desk.sent_emails()) == 1


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-generated"},
    {"Precedence": "bulk"},
    {"List-Id": "<news.shop.example>"},
    {"X-Autoreply": "yes"},
])
def test_machine_sent_mail_gets_a_ticket_but_never_an_acknowledgement(desk, headers):
    desk.receive_email(compose(headers=headers))
    desk.pump()
    ticket = _only(desk.tickets())
    assert ticket["acknowledgement"]["status"] == "suppressed"
    assert desk.sent_emails() == []


def test_spam_or_virus_verdict_quarantines_without_acknowledgement(desk):
    desk.receive_email(compose(subject="spam"), spam="FAIL")
    desk.receive_email(compose(sender="x@virus.example", subject="virus"), virus="FAIL")
    desk.pump()
    assert [t["status"] for t in desk.tickets()] == ["spam", "spam"]
    assert desk.sent_emails() == []


def test_acknowledgements_are_capped_per_sender(desk):
    for n in range(5):
        desk.receive_email(compose(subject=f"question {n}"))
    desk.pump()
    assert len(desk.tickets()) == 5
    assert len(desk.sent_emails()) == 3  # desk_settings.json: 3 per sender per 60 minutes
    assert "rate limit" in desk.tickets()[-1]["acknowledgement"]["reason"]


def test_reply_to_solved_ticket_reopens_it(desk):
    from chalicelib.storage.models import TicketModel

    desk.receive_email(compose(message_id="<r@customer.example>"))
    desk.pump()
    ticket = TicketModel.get(desk.tickets()[0]["id"])
    ticket.update(actions=[TicketModel.status.set("solved")])
    desk.receive_email(compose(subject="Re: it broke again", in_reply_to="<r@customer.example>"))
    desk.pump()
    reopened = _only(desk.tickets())
    assert reopened["status"] == "open" and reopened["reopen_count"] == 1


def test_attachments_are_stored_in_s3_with_name_type_and_size(desk, admin_token):
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 300
    desk.receive_email(compose(attachments=[("invoice.pdf", "application/pdf", pdf)]))
    desk.pump()
    attachment = _only(_only(desk.tickets()[0]["messages"])["attachments"])
    assert attachment["filename"] == "invoice.pdf" and attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(pdf)
    assert download(desk, admin_token, desk.tickets()[0]["id"], attachment) == pdf


def test_same_mail_delivered_many_times_is_one_ticket_one_message_one_acknowledgement(desk):
    raw = compose(message_id=make_msgid(domain="customer.example"))
    for _ in range(3):  # SES retried the Lambda action; each is a new SES message id
        desk.receive_email(raw)
    desk.pump()
    ticket = _only(desk.tickets())
    assert ticket["message_count"] == 1 and len(ticket["messages"]) == 1
    assert len(desk.sent_emails()) == 1


def test_crash_between_ticket_write_and_sending_is_repaired_by_the_retry(desk, monkeypatch):
    from chalicelib.outbound import email as email_out

    real_send, calls = email_out.send, []

    def flaky_send(message, to_address):
        calls.append(to_address)
        if len(calls) == 1:
            raise ConnectionError("SES endpoint unreachable")
        return real_send(message, to_address)

    monkeypatch.setattr(email_out, "send", flaky_send)
    desk.receive_email(compose())
    desk.pump()
    ticket = _only(desk.tickets())
    assert len(calls) == 2 and len(desk.sent_emails()) == 1
    assert ticket["acknowledgement"]["status"] == "sent" and ticket["message_count"] == 1


def test_metrics_are_emitted_in_emf_with_channel_dimension(desk):
    desk.receive_email(compose())
    desk.receive_email(compose(sender="n@shop.example", headers={"Precedence": "bulk"}))
    desk.pump()
    names = [(m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], m.get("channel")) for m in desk.metrics
             if m["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert ("TicketsCreated", "email") in names
    assert ("AutoRepliesSent", "email") in names
    assert ("AutoRepliesSuppressed", "email") in names
    created = next(m for m in desk.metrics if "TicketsCreated" in m)
    assert created["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "RelayDesk"
    assert created["TicketsCreated"] in (1.0, [1.0]) and created["priority"] == "normal"
