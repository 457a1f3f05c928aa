"""``ses_inbound`` never raises: whatever Lambda hands it, each event ends either as one
queued pointer per record or as one dead letter with the reason, never both, never neither.

A raise would not be harmless: SES invokes the Lambda action asynchronously, Lambda
retries twice and then drops the event, and the mail with it. The real ``queue.enqueue``
and ``queue.park`` run (serialisation, group and deduplication ids); only the SQS client
is a recorder that checks what SQS itself would refuse.
"""
import json
import re
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mail import compose

_SQS_MAX_BODY = 256 * 1024
_SQS_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")  # group / deduplication ids
_SQS_BODY_CHARS = re.compile("^[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*$")  # SQS's allowed characters


class _RecordingSQS:
    """Stands in for the SQS client: records each message, refuses what SQS would refuse."""

    def __init__(self):
        self.sent = []

    def get_queue_url(self, QueueName):
        return {"QueueUrl": f"https://sqs.us-east-1.amazonaws.com/123456789012/{QueueName}"}

    def send_message(self, *, QueueUrl, MessageBody, MessageGroupId, MessageDeduplicationId):
        assert isinstance(MessageBody, str) and _SQS_BODY_CHARS.match(MessageBody), "SQS refuses this body"
        assert len(MessageBody.encode("utf-8")) <= _SQS_MAX_BODY, "SQS refuses bodies over 256 KiB"
        assert _SQS_ID.match(MessageGroupId) and _SQS_ID.match(MessageDeduplicationId), "SQS refuses these ids"
        self.sent.append({"queue": QueueUrl.rsplit("/", 1)[1], "body": json.loads(MessageBody),
                          "group": MessageGroupId})
        return {"MessageId": f"m-{len(self.sent)}"}


def _handle(event):
    """Run the real handler with a recording SQS; returns (handler result, enqueued, parked)."""
    from chalicelib import config
    from chalicelib.channels.email import ses_inbound
    from chalicelib.storage import queues as queue

    sqs = _RecordingSQS()
    queue.reset()  # forget cached queue URLs
    with mock.patch("chalicelib.aws.client", return_value=sqs):
        result = ses_inbound.handle(event)
    queue.reset()
    enqueued = [m for m in sqs.sent if m["queue"] == config.setting("INBOUND_QUEUE")]
    parked = [m for m in sqs.sent if m["queue"] == config.setting("INBOUND_DLQ")]
    assert len(enqueued) + len(parked) == len(sqs.sent)
    return result, enqueued, parked


def assert_enqueued_or_parked(event):
    from chalicelib import config

    result, enqueued, parked = _handle(event)
    assert result == {"disposition": "CONTINUE"}
    if parked:
        letter = _only_one(parked)["body"]
        assert enqueued == []  # never half an event: a replay of the parked event must not duplicate mail
        assert letter["source"] == "ses_inbound" and letter["reason"].startswith("SES event of the wrong shape")
        assert letter["body"] == json.loads(json.dumps(event, default=str))  # kept whole for a replay
        return "parked"
    records = event["Records"]
    assert len(enqueued) == len(records) >= 1  # one pointer per record
    for message, record in zip(enqueued, records):
        pointer, message_id = message["body"], record["ses"]["mail"]["messageId"]
        assert pointer["kind"] == "ses" and pointer["ses_message_id"] == message_id
        assert isinstance(message_id, str) and message_id and "/" not in message_id
        assert pointer["bucket"] == config.setting("MAIL_BUCKET")
        assert pointer["key"] == config.setting("INBOUND_PREFIX") + message_id
        assert set(pointer["verdicts"]) == {"spam", "virus", "spf", "dkim", "dmarc"}
        assert all(isinstance(verdict, str) for verdict in pointer["verdicts"].values())
        assert all(isinstance(r, str) for r in pointer["recipients"])
    return "enqueued"


def _only_one(items):
    assert len(items) == 1, items
    return items[0]


def _valid_event(message_id="0123456789abcdef0123456789abcdef00000000", **compose_args):
    from chalicelib.local.desk import ses_event

    raw = compose(message_id=f"<{message_id}@customer.example>", **compose_args)
    return ses_event(raw, message_id, recipients=["support@example.com"],
                     verdicts={"spam": "PASS", "virus": "PASS", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"})


# --- Strategies ----------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_ses_keys = st.sampled_from(["Records", "ses", "mail", "receipt", "messageId", "commonHeaders", "from", "source",
                             "recipients", "spamVerdict", "status", "timestamp", "eventSource"])
# Arbitrary values, plus values that look more and more like an SES event so the handler gets past its first checks.
_events = st.one_of(
    _json,
    st.fixed_dictionaries({"Records": _json}),
    st.fixed_dictionaries({"Records": st.lists(st.fixed_dictionaries({"ses": _json}), max_size=3)}),
    st.fixed_dictionaries({"Records": st.lists(st.fixed_dictionaries({"ses": st.fixed_dictionaries({
        "mail": st.dictionaries(_ses_keys, _json, max_size=5) | _json,
        "receipt": st.dictionaries(_ses_keys, _json, max_size=5) | _json,
    })}), min_size=1, max_size=3)}),
)


_TEMPLATES = {}


def _template(message_id):
    if message_id not in _TEMPLATES:
        _TEMPLATES[message_id] = json.dumps(_valid_event(message_id))
    return json.loads(_TEMPLATES[message_id])  # a fresh copy to mutate


@st.composite
def _mutated_events(draw):
    """A valid SES event with one to four keys dropped, replaced or added at random depths."""
    event = _template(draw(st.sampled_from(["abc123", "0" * 40, "a" * 100])))
    if draw(st.booleans()):
        event["Records"].append(_template("second000")["Records"][0])
    for _ in range(draw(st.integers(1, 4))):
        parent = event
        while True:  # walk down to a random container
            children = list(parent.items()) if isinstance(parent, dict) else list(enumerate(parent))
            containers = [child for _, child in children if isinstance(child, (dict, list)) and child]
            if not containers or draw(st.integers(0, 3)) == 0:
                break
            parent = draw(st.sampled_from(containers))
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        action = draw(st.sampled_from(["drop", "replace", "add"] if keys else ["add"]))
        if action == "add":
            key = draw(_ses_keys | st.text(max_size=8)) if isinstance(parent, dict) else len(parent)
            value = draw(_json)
            parent.update({key: value}) if isinstance(parent, dict) else parent.append(value)
        else:
            key = draw(st.sampled_from(keys))
            if action == "drop":
                del parent[key]
            else:
                parent[key] = draw(_json)
    return event


# --- Properties ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(_events)
def test_any_json_value_as_the_event_is_enqueued_or_parked_never_raised(event):
    assert_enqueued_or_parked(event)


@settings(max_examples=150, deadline=None)
@given(_mutated_events())
def test_a_valid_ses_event_with_keys_dropped_or_replaced_is_enqueued_or_parked_never_raised(event):
    assert_enqueued_or_parked(event)


# --- Fixed cases the properties rely on ------------------------------------------------


def test_a_valid_event_is_one_pointer_per_record_in_the_senders_conversation():
    from chalicelib.storage.queues import group_id

    event = _valid_event()
    event["Records"].append(_valid_event("second000", sender="Bob <Bob@Example.org>")["Records"][0])
    result, enqueued, parked = _handle(event)
    assert result == {"disposition": "CONTINUE"} and parked == []
    assert [m["body"]["ses_message_id"] for m in enqueued] == ["0123456789abcdef0123456789abcdef00000000", "second000"]
    assert [m["group"] for m in enqueued] == [group_id("email:ann@customer.example"), group_id("email:bob@example.org")]


def _group(message_id, **compose_args):
    [pointer] = _handle(_valid_event(message_id, **compose_args))[1]
    return pointer["group"]


def test_by_default_a_senders_threads_share_their_group():
    assert _group("first") == _group("other", subject="Another question")


@pytest.fixture
def by_thread(monkeypatch):
    monkeypatch.setenv("EMAIL_FIFO_GROUP", "thread")


def test_by_thread_a_reply_is_in_its_threads_group_and_a_senders_other_thread_is_not(by_thread):
    """EMAIL_FIFO_GROUP=thread: a thread's mails are processed in order (FIFO per group); one sender's threads
    side by side."""
    first = _group("first")
    assert _group("reply1", in_reply_to="<first@customer.example>",
                  references=["<first@customer.example>"]) == first
    # References' first id is the thread's root, whatever the direct parent
    assert _group("reply2", in_reply_to="<reply1@customer.example>",
                  references=["<first@customer.example>", "<reply1@customer.example>"]) == first
    assert _group("reply3", in_reply_to="<first@customer.example>") == first  # a client that sets no References
    assert _group("other", subject="Another question") != first
    assert _group("bob", sender="Bob <bob@example.org>", in_reply_to="<first@customer.example>") != first


def test_by_thread_without_the_full_headers_the_group_is_the_senders(by_thread):
    from chalicelib.storage.queues import group_id

    event = _valid_event("cut", in_reply_to="<first@customer.example>")
    event["Records"][0]["ses"]["mail"]["headersTruncated"] = True
    [pointer] = _handle(event)[1]
    assert pointer["group"] == group_id("email:ann@customer.example")


@settings(max_examples=60, deadline=None)
@given(_mutated_events())
def test_by_thread_a_mutated_event_is_still_enqueued_or_parked_never_raised(event):
    with mock.patch.dict("os.environ", {"EMAIL_FIFO_GROUP": "thread"}):
        assert_enqueued_or_parked(event)


def test_a_mistyped_group_setting_parks_the_mail_with_the_fix_not_loses_it(monkeypatch):
    monkeypatch.setenv("EMAIL_FIFO_GROUP", "threads")
    result, enqueued, parked = _handle(_valid_event())
    assert result == {"disposition": "CONTINUE"} and enqueued == []
    [dead] = parked
    assert "EMAIL_FIFO_GROUP must be one of sender, thread, not 'threads'" in json.dumps(dead["body"])


@pytest.mark.parametrize("event", [
    {}, [], "", 0, None, {"Records": {}}, {"Records": [None]}, {"Records": [{"ses": {"mail": {}, "receipt": {}}}]},
])
def test_events_with_nothing_usable_are_parked(event):
    assert assert_enqueued_or_parked(event) == "parked"


@pytest.mark.parametrize("where", ["messageId", "from"])
def test_lone_surrogates_from_json_escapes_are_enqueued_or_parked_never_raised(where):
    r"""JSON may carry "\ud800"; Python's json.loads turns it into a lone surrogate, which str.encode() refuses."""
    event = _valid_event()
    mail = event["Records"][0]["ses"]["mail"]
    if where == "messageId":
        mail["messageId"] = json.loads('"abc\\ud800"')
    else:
        mail["commonHeaders"]["from"] = [json.loads('"Ann <ann\\udcff@customer.example>"')]
    assert_enqueued_or_parked(event)
