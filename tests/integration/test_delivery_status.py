"""Whether a mail reached the customer: SES's sending events recorded on the message, flagged on the ticket.

SNS hands each SES event to the ``ses_events`` function (``_publish``: as Lambda would).
"""
import json

import pytest

from chalicelib import aws, clock
from chalicelib.outbound import delivery_events
from chalicelib.service.deliveries import MailNotYetRecorded
from tests.api import call
from tests.mail import compose


def _publish(desk, event):
    """SNS delivering one event to the function, as Lambda would."""
    return desk.invoke("ses_events", event)


def _ses_event(kind, provider_message_id, *, recipient="ann@customer.example", sent_at=None, at=None,
               ticket_number=None, **detail):
    """An SES event as the configuration set publishes it to SNS (SES Developer Guide samples' shape)."""
    sent_at = sent_at or clock.iso(clock.now())
    at = at or sent_at
    headers = [{"name": "To", "value": recipient}]
    if ticket_number is not None:
        headers.append({"name": "X-Relay-Desk-Ticket", "value": str(ticket_number)})
    mail = {"timestamp": sent_at, "source": "support@example.com", "sendingAccountId": "123456789012",
            "messageId": provider_message_id.partition("@")[0], "destination": [recipient],
            "headersTruncated": False, "headers": headers, "tags": {"ses:configuration-set": ["relay-desk"]}}
    bodies = {
        "Delivery": {"delivery": {"timestamp": at, "processingTimeMillis": 812, "recipients": [recipient],
                                  "smtpResponse": "250 2.0.0 OK", "reportingMTA": "a8-1.smtp-out.amazonses.com"}},
        "Bounce": {"bounce": {"bounceType": detail.get("bounce_type", "Permanent"), "bounceSubType": "General",
                              "bouncedRecipients": [{"emailAddress": recipient, "action": "failed", "status": "5.1.1",
                                                     "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                              "timestamp": at, "feedbackId": "0100-feedback", "reportingMTA": "dsn; mx.example"}},
        "Complaint": {"complaint": {"complainedRecipients": [{"emailAddress": recipient}], "timestamp": at,
                                    "feedbackId": "0100-feedback", "complaintFeedbackType": "abuse"}},
        "DeliveryDelay": {"deliveryDelay": {"timestamp": at, "delayType": "MailboxFull",
                                            "delayedRecipients": [{"emailAddress": recipient, "status": "4.2.2",
                                                                   "diagnosticCode": "smtp; 452 4.2.2 mailbox full"}]}},
    }
    document = {"eventType": kind, "mail": mail, **bodies[kind]}
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                         "Sns": {"Type": "Notification", "MessageId": f"sns-{kind}-{at}", "Subject": None,
                                 "TopicArn": "arn:aws:sns:us-east-1:123456789012:relay-desk-ses-events",
                                 "Message": json.dumps(document), "MessageAttributes": {}}}]}


def _sns(message):
    """An SNS notification to Lambda carrying ``message`` (every record has these keys, Subject often null)."""
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:x",
                         "Sns": {"Type": "Notification", "MessageId": "sns-x", "Subject": None,
                                 "TopicArn": "arn:aws:sns:us-east-1:123456789012:relay-desk-ses-events",
                                 "Message": message, "MessageAttributes": {}}}]}


def _ticket(desk, token, ticket_id):
    status, body = call(desk, "get", f"/tickets/{ticket_id}", token)
    assert status == 200, body
    return body


def _open(desk, subject="My order never arrived"):
    desk.receive_email(compose(subject=subject))
    desk.pump()
    return desk.tickets()[-1]


def _reply(desk, token, ticket_id, text):
    status, sent = call(desk, "post", f"/tickets/{ticket_id}/replies", token, {"text": text})
    assert status == 201, sent
    desk.pump()
    message = next(m for m in _ticket(desk, token, ticket_id)["messages"] if m["id"] == sent["message_id"])
    assert message["delivery"] == "sent" and message["message_id"].endswith("@email.amazonses.com")
    return message


def test_every_mail_is_sent_with_the_configuration_set_that_reports_its_delivery(desk):
    seen = []
    aws.client("ses").meta.events.register("provide-client-params.ses.SendRawEmail",
                                           lambda params, **_: seen.append(params.get("ConfigurationSetName")))
    _open(desk)
    assert seen == ["relay-desk"]


def test_a_delivered_acknowledgement_shows_as_delivered(desk, admin_token):
    ticket = _open(desk)
    ack = ticket["acknowledgement"]
    assert ack["delivery"] is None and ticket["delivery_problem"] is None

    assert _publish(desk, _ses_event("Delivery", ack["provider_message_id"], at="2026-11-23T09:31:00.000000Z")) \
        == {"outcomes": ["delivered"]}
    shown = _ticket(desk, admin_token, ticket["id"])["acknowledgement"]
    assert shown["delivery"] == "delivered" and shown["status"] == "sent"
    assert shown["delivery_report"] == {"status": "delivered", "at": "2026-11-23T09:31:00.000000Z",
                                        "recipient": "ann@customer.example", "bounce_type": None,
                                        "bounce_subtype": None, "diagnostic": None}


def test_a_bounced_reply_is_flagged_and_late_or_repeated_events_do_not_unbounce_it(desk, admin_token):
    ticket = _open(desk)
    reply = _reply(desk, admin_token, ticket["id"], "It ships today.")
    provider_id = reply["message_id"]

    bounce = _ses_event("Bounce", provider_id, sent_at="2026-11-23T10:00:00.000000Z",
                        at="2026-11-23T10:00:05.000000Z")
    assert _publish(desk, bounce) == {"outcomes": ["bounced"]}
    assert _publish(desk, bounce) == {"outcomes": ["kept bounced"]}  # SNS delivers at least once
    late = _ses_event("Delivery", provider_id, sent_at="2026-11-23T10:00:00.000000Z",
                      at="2026-11-23T10:00:01.000000Z")
    assert _publish(desk, late) == {"outcomes": ["kept bounced"]}  # out of order: the bounce is final
    assert _publish(desk, _ses_event("DeliveryDelay", provider_id)) == {"outcomes": ["kept bounced"]}

    shown = _ticket(desk, admin_token, ticket["id"])
    message = next(m for m in shown["messages"] if m["id"] == reply["id"])
    assert message["delivery"] == "bounced"
    assert message["delivery_report"] == {"status": "bounced", "at": "2026-11-23T10:00:05.000000Z",
                                          "recipient": "ann@customer.example", "bounce_type": "Permanent",
                                          "bounce_subtype": "General", "diagnostic": "smtp; 550 5.1.1 user unknown"}
    assert shown["delivery_problem"] == {**message["delivery_report"], "message": reply["id"],
                                         "sent_at": "2026-11-23T10:00:00.000000Z"}
    listed = call(desk, "get", "/tickets?status=open", admin_token)[1]["tickets"]
    assert listed[0]["delivery_problem"]["status"] == "bounced"  # the console's list shows the flag too


def test_a_later_reply_delivered_to_the_address_clears_a_bounce_but_never_a_complaint(desk, admin_token):
    ticket = _open(desk)
    first = _reply(desk, admin_token, ticket["id"], "Which size?")
    second = _reply(desk, admin_token, ticket["id"], "Size 42 ships today.")
    _publish(desk, _ses_event("Bounce", first["message_id"], bounce_type="Transient",
                              sent_at="2026-11-23T10:00:00.000000Z"))
    # An older mail's delivery says nothing about the newer bounce.
    _publish(desk, _ses_event("Delivery", ticket["acknowledgement"]["provider_message_id"],
                              sent_at="2026-11-23T09:30:00.000000Z"))
    assert _ticket(desk, admin_token, ticket["id"])["delivery_problem"]["bounce_type"] == "Transient"

    _publish(desk, _ses_event("Delivery", second["message_id"], sent_at="2026-11-23T11:00:00.000000Z"))
    assert _ticket(desk, admin_token, ticket["id"])["delivery_problem"] is None

    _publish(desk, _ses_event("Complaint", second["message_id"], sent_at="2026-11-23T11:00:00.000000Z",
                              at="2026-11-24T08:00:00.000000Z"))
    third = _reply(desk, admin_token, ticket["id"], "Sorry to bother you.")
    _publish(desk, _ses_event("Delivery", third["message_id"], sent_at="2026-11-24T09:00:00.000000Z"))
    shown = _ticket(desk, admin_token, ticket["id"])
    assert shown["delivery_problem"]["status"] == "complained"
    assert shown["delivery_problem"]["diagnostic"] == "complaint feedback: abuse"
    assert [m["delivery"] for m in shown["messages"] if m["kind"] == "agent"] == ["bounced", "complained", "delivered"]


def test_events_that_are_not_a_tickets_mail_are_skipped_not_raised(desk):
    _open(desk)
    outcomes = [
        _publish(desk, _sns("Successfully validated SNS topic for Amazon SES event publishing.")),
        _publish(desk, _ses_event("Delivery", "0100018c-notification-to-an-agent@email.amazonses.com")),
        _publish(desk, _sns(json.dumps({"eventType": "Bounce"}))),
    ]
    assert [o["outcomes"][0].split(":")[0] for o in outcomes] == ["skipped", "unknown mail", "skipped"]
    assert desk.tickets()[0]["delivery_problem"] is None


def test_an_event_that_overtakes_the_recording_of_its_mail_is_retried(desk):
    early = _ses_event("Bounce", "0100018c-not-recorded-yet@email.amazonses.com", ticket_number=7)
    with pytest.raises(MailNotYetRecorded):  # Lambda retries the invocation; by then the mail is recorded
        _publish(desk, early)
    old = _ses_event("Bounce", "0100018c-not-recorded-yet@email.amazonses.com", ticket_number=7,
                     sent_at="2020-01-01T00:00:00.000000Z")
    assert _publish(desk, old) == {"outcomes": ["unknown mail"]}  # long gone: skipped, not retried for ever
