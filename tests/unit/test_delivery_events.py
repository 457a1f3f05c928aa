"""Reading SES sending events: AWS's own samples parse into what the desk records; nothing crashes the parser.

The samples are the SES Developer Guide's "Examples of event data that Amazon SES
publishes to Amazon SNS" (Bounce, Complaint, Delivery, Reject, DeliveryDelay), headers
trimmed; the property tests throw arbitrary JSON and near-miss SES events at it.
"""
import copy
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.outbound import delivery_events
from chalicelib.outbound.delivery_events import UnusableEvent, parse
from chalicelib.service import deliveries
from chalicelib.service.deliveries import DeliveryEvent

SES_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
NOW = datetime(2017, 8, 5, 1, 0, tzinfo=timezone.utc)


def _mail(timestamp="2017-08-05T00:40:02.012Z", *, headers=True):
    mail = {
        "timestamp": timestamp, "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012", "messageId": SES_ID, "destination": ["recipient@example.com"],
        "headersTruncated": False,
        "tags": {"ses:configuration-set": ["ConfigSet"], "ses:source-ip": ["192.0.2.0"]},
    }
    if headers:
        mail["headers"] = [{"name": "From", "value": "Sender Name <sender@example.com>"},
                           {"name": "To", "value": "recipient@example.com"},
                           {"name": "Subject", "value": "Message sent from Amazon SES"},
                           {"name": "X-Relay-Desk-Ticket", "value": "1046"}]
        mail["commonHeaders"] = {"from": ["Sender Name <sender@example.com>"], "to": ["recipient@example.com"],
                                 "messageId": SES_ID, "subject": "Message sent from Amazon SES"}
    return mail


BOUNCE = {
    "eventType": "Bounce",
    "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
               "bouncedRecipients": [{"emailAddress": "recipient@example.com", "action": "failed", "status": "5.1.1",
                                      "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
               "timestamp": "2017-08-05T00:41:02.669Z",
               "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
               "reportingMTA": "dsn; mta.example.com"},
    "mail": _mail(),
}
COMPLAINT = {
    "eventType": "Complaint",
    "complaint": {"complainedRecipients": [{"emailAddress": "recipient@example.com"}],
                  "timestamp": "2017-08-05T00:41:02.669Z",
                  "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
                  "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "complaintFeedbackType": "abuse",
                  "arrivalDate": "2017-08-05T00:41:02.669Z"},
    "mail": _mail("2017-08-05T00:40:01.123Z"),
}
DELIVERY = {
    "eventType": "Delivery",
    "mail": _mail("2016-10-19T23:20:52.240Z"),
    "delivery": {"timestamp": "2016-10-19T23:21:04.133Z", "processingTimeMillis": 11893,
                 "recipients": ["recipient@example.com"], "smtpResponse": "250 2.6.0 Message received",
                 "reportingMTA": "mta.example.com"},
}
REJECT = {"eventType": "Reject", "mail": _mail("2016-10-14T17:38:15.211Z"), "reject": {"reason": "Bad content"}}
DELIVERY_DELAY = {
    "eventType": "DeliveryDelay",
    "mail": _mail("2020-06-16T00:15:40.641Z", headers=False),
    "deliveryDelay": {"timestamp": "2020-06-16T00:25:40.095Z", "delayType": "TransientCommunicationFailure",
                      "expirationTime": "2020-06-16T00:25:40.914Z",
                      "delayedRecipients": [{"emailAddress": "recipient@example.com", "status": "4.4.1",
                                             "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host"}]},
}


def _sns(document):
    """How SNS hands an SES event to Lambda: one record, the event as a JSON string."""
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                         "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:relay-desk-ses-events:sub",
                         "Sns": {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                                 "TopicArn": "arn:aws:sns:us-east-1:123456789012:relay-desk-ses-events",
                                 "Subject": None, "Timestamp": "2017-08-05T00:41:03.000Z",
                                 "Message": document if isinstance(document, str) else json.dumps(document),
                                 "MessageAttributes": {}}}]}


def test_a_permanent_bounce_says_what_bounced_when_and_why():
    event = parse(json.dumps(BOUNCE), now=NOW)
    assert event.status == "bounced"
    assert event.provider_message_id == f"{SES_ID}@email.amazonses.com"  # what SendRawEmail's caller stored
    assert (event.sent_at, event.at) == ("2017-08-05T00:40:02.012000Z", "2017-08-05T00:41:02.669000Z")
    assert event.recipients == ("recipient@example.com",)
    assert (event.bounce_type, event.bounce_subtype) == ("Permanent", "General")
    assert event.diagnostic == "smtp; 550 5.1.1 user unknown"
    assert event.ticket_number == 1046


def test_a_complaint_a_delivery_a_reject_and_a_delay_read_as_the_desk_records_them():
    complaint = parse(COMPLAINT, now=NOW)
    assert (complaint.status, complaint.diagnostic, complaint.bounce_type) == (
        "complained", "complaint feedback: abuse", None)
    delivered = parse(DELIVERY, now=NOW)
    assert (delivered.status, delivered.at, delivered.recipients) == (
        "delivered", "2016-10-19T23:21:04.133000Z", ("recipient@example.com",))
    rejected = parse(REJECT, now=NOW)
    assert (rejected.status, rejected.at, rejected.diagnostic) == (
        "rejected", "2016-10-14T17:38:15.211000Z", "Bad content")  # no time of its own: the mail's
    delayed = parse(DELIVERY_DELAY, now=NOW)
    assert delayed.status == "delayed" and delayed.ticket_number is None  # no headers in a DeliveryDelay
    assert delayed.diagnostic == "TransientCommunicationFailure: smtp; 421 4.4.1 Unable to connect to remote host"


def test_a_long_diagnostic_is_bounded_and_control_characters_go():
    bounce = copy.deepcopy(BOUNCE)
    bounce["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "smtp; 550\x00 " + "x" * 10_000
    event = parse(bounce, now=NOW)
    assert len(event.diagnostic) == deliveries.DIAGNOSTIC_CHARS and "\x00" not in event.diagnostic


@pytest.mark.parametrize(("document", "reason", "expected"), [
    ("Successfully validated SNS topic for Amazon SES event publishing.", "not JSON", True),
    ({**DELIVERY, "eventType": "Send"}, "Send events are not recorded", True),
    ({**DELIVERY, "eventType": "Open"}, "Open events are not recorded", True),
    ({**DELIVERY, "eventType": "Teleported"}, "unknown eventType", False),
    ({"mail": DELIVERY["mail"]}, "no eventType", False),
    ({**DELIVERY, "mail": None}, "without a mail object", False),
    ({**DELIVERY, "mail": {**DELIVERY["mail"], "messageId": "../../etc"}}, "messageId", False),
    ({**DELIVERY, "mail": {**DELIVERY["mail"], "timestamp": "yesterday"}}, "mail.timestamp", False),
    ([DELIVERY], "JSON list", False),
])
def test_what_cannot_be_recorded_is_refused_with_a_reason(document, reason, expected):
    with pytest.raises(UnusableEvent) as refused:
        parse(document if isinstance(document, str) else json.dumps(document), now=NOW)
    assert reason in refused.value.reason and refused.value.expected is expected


def test_handle_reads_sns_and_eventbridge_and_skips_what_it_cannot_use(monkeypatch):
    recorded = []
    monkeypatch.setattr(deliveries, "record", lambda event: recorded.append(event) or event.status)
    assert delivery_events.handle(_sns(BOUNCE)) == {"outcomes": ["bounced"]}
    eventbridge = {"version": "0", "id": "e-1", "detail-type": "Email Delivered", "source": "aws.ses",
                   "detail": DELIVERY}
    assert delivery_events.handle(eventbridge) == {"outcomes": ["delivered"]}
    skipped = delivery_events.handle(_sns("Successfully validated SNS topic for Amazon SES event publishing."))
    assert skipped["outcomes"][0].startswith("skipped: not JSON")
    assert [event.status for event in recorded] == ["bounced", "delivered"]


def test_states_only_move_towards_the_more_final():
    assert deliveries.weaker_than("delivered") == ("queued", "sent", "delayed")
    assert "delivered" not in deliveries.weaker_than("delayed")  # a late DeliveryDelay changes nothing
    assert "bounced" not in deliveries.weaker_than("delivered")  # nor does a Delivery after the Bounce
    assert "delivered" in deliveries.weaker_than("bounced")  # a bounce after delivery (an async DSN) counts
    assert "rejected" not in deliveries.weaker_than("bounced")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_SAMPLES = [BOUNCE, COMPLAINT, DELIVERY, REJECT, DELIVERY_DELAY]


@st.composite
def _near_miss(draw):
    """An AWS sample with one field, anywhere in it, replaced by arbitrary JSON."""
    document = copy.deepcopy(draw(st.sampled_from(_SAMPLES)))
    node = document
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if isinstance(node[key], (dict, list)) and node[key] and draw(st.booleans()):
            node = node[key]
            continue
        node[key] = draw(_json)
        break
    return document


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, _near_miss(), st.text(max_size=200), st.binary(max_size=100)))
def test_no_json_and_no_near_miss_crashes_the_parser(document):
    for given_as in (document, json.dumps(document) if not isinstance(document, bytes) else document):
        try:
            event = parse(given_as, now=NOW)
        except UnusableEvent as refused:
            assert refused.reason
            continue
        assert isinstance(event, DeliveryEvent) and event.status in deliveries.STATUSES
        assert event.provider_message_id.endswith(".amazonses.com") and event.sent_at and event.at
        assert all("@" in address for address in event.recipients)
        assert event.diagnostic is None or len(event.diagnostic) <= deliveries.DIAGNOSTIC_CHARS


@settings(max_examples=100, deadline=None)
@given(_json)
def test_no_lambda_event_shape_crashes_the_handler(event):
    result = delivery_events.handle(event)  # nothing here is an SES event: every one is skipped
    assert all(outcome.startswith("skipped: ") for outcome in result["outcomes"])
