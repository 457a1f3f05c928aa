"""Hostile and broken input through the real handlers: every mail ends as a ticket or a
dead letter with a reason a person can read, and no handler invocation ever fails.

``desk.pump()`` turns an invocation that raised into a retry, as Lambda would, so
"handled on its first delivery" (``pump()`` returns one delivery per message) is how
these tests see that nothing escaped a handler. Cases of one kind share one desk:
provisioning a desk costs about a second, a mail through it a few milliseconds.
"""
import json
import random
import uuid

import pytest

from tests import chat
from tests.mail import compose

_GAVE_UP = ("failed ", "redriven by SQS")  # reasons of a message that kept failing


def _only(items):
    assert len(items) == 1, items
    return items[0]


def _parked_by_ses_message_id(desk):
    """Dead letters the worker parked, by the SES message id of the mail they point to."""
    letters = {}
    for letter in desk.dead_letters():
        assert letter["source"] == "process_inbound", letter
        assert letter["reason"] and not letter["reason"].startswith(_GAVE_UP), letter["reason"]
        # The reason names what is wrong with the mail; the queue message pointing to it is fine.
        assert not letter["reason"].startswith("queue message"), letter["reason"]
        letters[letter["body"]["ses_message_id"]] = letter
    return letters


def _texts_by_requester(desk):
    """Each ticket's full message text (read back from S3 when it was stored there), by requester."""
    texts = {}
    for ticket in desk.tickets():
        message = _only(ticket["messages"])
        text = message["full_text"] or ""
        if message["body_s3_key"]:
            stored = desk._aws("s3").get_object(Bucket=desk.inbound_bucket, Key=message["body_s3_key"])
            text = json.loads(stored["Body"].read())["text"]
        texts[ticket["requester"]] = text
    return texts


def _send_to_inbound_queue(desk, body, group):
    from chalicelib import config

    sqs = desk._aws("sqs")
    url = sqs.get_queue_url(QueueName=config.setting("INBOUND_QUEUE"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex)


# --- Mail that can never be a ticket: parked on its first delivery, with the reason ---


def _garbage(seed):
    return random.Random(seed).randbytes(8192).replace(b":", b";")  # no accidental "Name: value" line


_UNANSWERABLE = {  # name: (raw mail, words the dead letter's reason must contain)
    "0 bytes": (b"", ["empty"]),
    "whitespace only": (b"\r\n \r\n\t\r\n", ["empty"]),
    "no From header": (b"To: support@example.com\r\nSubject: who am I\r\n\r\nNo sender.\r\n", ["From"]),
    "From with a name only": (b"From: Ann Customer\r\nSubject: hi\r\n\r\nHello\r\n", ["From", "address"]),
    "From <>": (b"From: <>\r\nSubject: hi\r\n\r\nHello\r\n", ["From", "address"]),
    "From empty group": (b"From: undisclosed-recipients:;\r\nSubject: hi\r\n\r\nHello\r\n", ["From", "address"]),
    "From without domain": (b'From: "Ann" <ann@>\r\nSubject: hi\r\n\r\nHello\r\n', ["From", "address"]),
    "From empty": (b"From: \r\nSubject: hi\r\n\r\nHello\r\n", ["From"]),
    "random bytes 1": (_garbage(1), ["email"]),
    "random bytes 7": (_garbage(7), ["email"]),
    "random bytes 2024": (_garbage(2024), ["email"]),
}


def test_mail_that_can_never_be_a_ticket_is_parked_with_a_reason(desk):
    received = {name: desk.receive_email(raw) for name, (raw, _) in _UNANSWERABLE.items()}
    assert desk.pump() == len(received)  # each handled on its first delivery

    parked = _parked_by_ses_message_id(desk)
    for name, (_, words) in _UNANSWERABLE.items():
        letter = parked[received[name]]
        assert all(word in letter["reason"] for word in words), (name, letter["reason"])
        assert letter["body"]["key"] == desk.inbound_prefix + received[name]  # the raw mail can be found
    assert desk.tickets() == [] and desk.sent_emails() == []


# --- Broken but answerable: a ticket that keeps the customer's words ------------------

_WORDS = b"Parcel 1234 is missing"


def _malformed(n, rest):
    head = f"From: Customer {n} <c{n}@customer.example>\r\nTo: support@example.com\r\nMIME-Version: 1.0\r\n"
    return head.encode() + rest


_MALFORMED = {
    "boundary that never occurs": (
        b'Subject: broken boundary\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--ABC\r\nContent-Type: text/plain\r\n\r\n" + _WORDS + b"\r\n--ABC--\r\n"),
    "multipart without boundary parameter": (
        b"Subject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\n" + _WORDS + b"\r\n"),
    "unterminated multipart": (
        b'Subject: cut off\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\n" + _WORDS + b"\r\n--b1\r\n"
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjc"),
    "bad base64 body": (
        b"Subject: bad base64\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nUGFyY2VsIDEyMzQgaXMgbWlzc2luZw!!*&^%\r\n"),
    "bad base64 attachment": (
        b'Subject: bad attachment\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\n" + _WORDS + b"\r\n--b1\r\n"
        b'Content-Type: image/png; name="photo.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"iVBORw0KGgo===\x00\xff not base64 \r\n--b1--\r\n"),
    "header line without colon": (
        b"Subject: no colon\r\nThis header line has no colon\r\nX-After: 1\r\n\r\n" + _WORDS + b"\r\n"),
    "garbage content type and encoding": (
        b"Subject: odd type\r\nContent-Type: ;;;===\r\nContent-Transfer-Encoding: x-bogus\r\n\r\n" + _WORDS + b"\r\n"),
    "8-bit header bytes and NUL": b"Subject: Bl\xe5b\xe6r \x00 \xff\xfe\r\n\r\n" + _WORDS + b"\r\n",
    "100 KB subject": b"Subject: " + b"x" * 100_000 + b"\r\n\r\n" + _WORDS + b"\r\n",
    "bare LF line endings": b"Subject: unix\nContent-Type: text/plain\n\n" + _WORDS + b"\n",
}


def test_malformed_mime_becomes_a_ticket_that_keeps_the_customers_words(desk):
    for n, rest in enumerate(_MALFORMED.values()):
        desk.receive_email(_malformed(n, rest))
    assert desk.pump() == len(_MALFORMED)
    assert desk.dead_letters() == []

    texts = _texts_by_requester(desk)
    for n, name in enumerate(_MALFORMED):
        assert _WORDS.decode() in texts.get(f"email:c{n}@customer.example", ""), (name, texts.get(f"email:c{n}@customer.example"))
    assert len(desk.sent_emails()) == len(_MALFORMED)  # every customer still hears from us


def test_mime_nested_beyond_the_parsers_limit_still_becomes_a_ticket(desk):
    nesting = b"".join(b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n' % (n, n) for n in range(200))
    desk.receive_email(_malformed(0, b"Subject: deep\r\n" + nesting + b"Content-Type: text/plain\r\n\r\n" + _WORDS))
    assert desk.pump() == 1
    ticket = _only(desk.tickets())
    assert ticket["subject"] == "deep" and ticket["requester"] == "email:c0@customer.example"
    assert desk.dead_letters() == []


# --- Text whose charset lies: a ticket that is still readable -------------------------

_GERMAN = "Grüße aus Zürich: meine Bestellung 1234 ist nicht angekommen."


def _declared(n, charset, body):
    return _malformed(n, (f'Subject: charset\r\nContent-Type: text/plain; charset="{charset}"\r\n'
                          "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + body + b"\r\n")


def test_mislabelled_and_unknown_charsets_are_still_readable(desk):
    desk.receive_email(_declared(0, "x-unknown", _GERMAN.encode()))
    desk.receive_email(_declared(1, "utf-8", "Blåbærsyltetøy, ordre 1234".encode("latin-1")))
    desk.receive_email(_declared(2, "x-unknown", "Blåbærsyltetøy, ordre 1234".encode("latin-1")))
    assert desk.pump() == 3
    texts = _texts_by_requester(desk)
    assert _GERMAN in texts["email:c0@customer.example"]
    assert "Blåbærsyltetøy, ordre 1234" in texts["email:c1@customer.example"]
    assert "Blåbærsyltetøy, ordre 1234" in texts["email:c2@customer.example"]


@pytest.mark.parametrize("charset", ["utf-8", "x-unknown"])
def test_stray_invalid_bytes_become_replacement_characters_and_the_rest_stays_readable(desk, charset):
    """One broken byte in otherwise UTF-8 text must not turn every ü and ß into mojibake."""
    desk.receive_email(_declared(0, charset, _GERMAN.encode() + b" Danke \xff\xfe Ende"))
    assert desk.pump() == 1
    text = _only(_only(desk.tickets())["messages"])["full_text"]
    assert _GERMAN in text, text  # the valid UTF-8 is kept as written
    assert "Danke \ufffd" in text and text.rstrip().endswith("Ende"), text


# --- SES events that point nowhere or have the wrong shape ----------------------------


def _ses_event(message_id):
    from chalicelib.local.desk import ses_event

    return ses_event(compose(), message_id, recipients=["support@example.com"],
                     verdicts={"spam": "PASS", "virus": "PASS"})


def test_ses_event_for_a_mail_missing_from_s3_is_parked_naming_the_key(desk):
    message_id = uuid.uuid4().hex + "00000000"  # SES never stored it
    assert desk.invoke("ses_inbound", _ses_event(message_id)) == {"disposition": "CONTINUE"}
    assert desk.pump() == 1
    reason = _parked_by_ses_message_id(desk)[message_id]["reason"]
    assert f"{desk.inbound_bucket}/{desk.inbound_prefix}{message_id}" in reason and "does not exist" in reason
    assert desk.tickets() == [] and desk.sent_emails() == []


def test_ses_event_of_the_wrong_shape_is_parked_whole_with_the_reason(desk):
    cases = [  # (event, words the reason must contain)
        ({}, "Records"),
        ({"Records": []}, "no Records"),
        ({"Records": [{"ses": {}}]}, "mail"),
        ({"Records": [{}]}, "ses"),
        ({"Records": None}, ""),
        ({"Records": "abc"}, ""),
        ({"Records": [{"ses": {"mail": [], "receipt": {}}}]}, ""),
        ([{"Records": []}], ""),
        ("an SES event", ""),
        (42, ""),
        (_ses_event("../../etc/passwd"), "../../etc/passwd"),
        (_ses_event("a/b"), "a/b"),
        (_ses_event(""), "messageId"),
        (_ses_event(None), "messageId"),
        (_ses_event(12345), "messageId"),
    ]
    for number, (event, words) in enumerate(cases, start=1):
        assert desk.invoke("ses_inbound", event) == {"disposition": "CONTINUE"}, event
        letters = desk.dead_letters()
        assert len(letters) == number, event  # exactly one dead letter per event
        letter = letters[-1]
        assert letter["source"] == "ses_inbound" and "SES event of the wrong shape" in letter["reason"], letter
        assert words in letter["reason"], (event, letter["reason"])
        assert letter["body"] == json.loads(json.dumps(event))  # the whole event is kept for a replay
    assert desk.pump() == 0  # nothing was enqueued
    assert desk.tickets() == []


# --- Queue messages no channel adapter wrote ------------------------------------------


def test_unusable_queue_message_is_parked_at_once_with_the_reason(desk):
    cases = {  # body: words the reason must contain
        "this is not JSON": "not JSON",
        " ": "not JSON",
        "<?xml version='1.0'?><mail/>": "not JSON",
        '{"kind": "fax", "pages": 3}': "no known kind",
        "[1, 2, 3]": "no known kind",
        '"ses"': "no known kind",
        "null": "no known kind",
        '{"kind": "ses"}': "lacks a field",
        '{"kind": "message"}': "lacks a field",
        '{"kind": "message", "message": {"channel": "email"}}': "lacks a field",
    }
    for n, body in enumerate(cases):
        _send_to_inbound_queue(desk, body, group=f"g-{n}")
    assert desk.pump() == len(cases)  # each parked on its first delivery: retrying cannot help
    letters = desk.dead_letters()
    assert len(letters) == len(cases)
    for letter in letters:
        assert letter["source"] == "process_inbound", letter
        body = letter["body"] if isinstance(letter["body"], str) else json.dumps(letter["body"])
        expected = next(words for sent, words in cases.items() if sent == body or _same_json(sent, letter["body"]))
        assert expected in letter["reason"], (body, letter["reason"])
    assert desk.tickets() == []


def _same_json(text, value):
    try:
        return json.loads(text) == value
    except ValueError:
        return False


@pytest.mark.parametrize("body", [
    '{"kind": "message", "message": "hello"}',
    '{"kind": "message", "message": {"channel": "chat", "external_id": "1", "received_at": "yesterday",'
    ' "sender": {"kind": "chat", "value": "u1"}}}',
    '{"kind": "message", "message": {"channel": "chat", "external_id": "1", "received_at": "2026-11-23T09:30:00",'
    ' "sender": "u1"}}',
], ids=["message-not-an-object", "unparseable-date", "sender-not-an-object"])
def test_malformed_channel_message_is_parked_at_once_not_retried(desk, body):
    _send_to_inbound_queue(desk, body, group="g-1")
    assert desk.pump() == 1  # a message that can never succeed is not retried
    letter = _only(desk.dead_letters())
    assert letter["source"] == "process_inbound" and not letter["reason"].startswith(_GAVE_UP), letter["reason"]
    assert desk.tickets() == []


# --- Failures while processing: retried, then parked with the last error --------------


def test_transient_failure_is_retried_into_one_ticket_and_one_acknowledgement(desk, monkeypatch):
    from chalicelib.storage import repository

    real_fetch, attempts = repository.fetch_lookups, []

    def flaky_fetch(keys):
        attempts.append(1)
        if len(attempts) <= 3:
            raise ConnectionError("DynamoDB endpoint unreachable")
        return real_fetch(keys)

    monkeypatch.setattr(repository, "fetch_lookups", flaky_fetch)
    desk.receive_email(compose())
    assert desk.pump() == 4  # three failed deliveries, then success
    ticket = _only(desk.tickets())
    assert ticket["number"] == 1 and ticket["message_count"] == 1
    assert ticket["acknowledgement"]["status"] == "sent" and len(desk.sent_emails()) == 1
    assert desk.dead_letters() == []


def test_permanent_failure_is_parked_after_the_last_receive_while_other_conversations_go_on(desk, monkeypatch):
    from chalicelib import config
    from chalicelib.storage import repository

    real_fetch, calls = repository.fetch_lookups, []
    bob, ann = "id:email:bob@customer.example", "id:email:ann@customer.example"

    def fetch_failing_for_bob(keys):
        keys = list(keys)
        calls.append(next(k for k in keys if k.startswith("id:")))
        if calls[-1] == bob:
            raise RuntimeError(f"cannot read lookups (attempt {len(calls)})")
        return real_fetch(keys)

    monkeypatch.setattr(repository, "fetch_lookups", fetch_failing_for_bob)
    bob_mail = desk.receive_email(compose(sender="Bob <bob@customer.example>", subject="Bob's question"))
    desk.receive_email(compose(sender="Ann <ann@customer.example>", subject="Ann's question"))
    max_receives = config.int_setting("INBOUND_MAX_RECEIVES")
    assert desk.pump() == max_receives + 1

    # Bob's failure did not hold Ann up: she was processed in the same, first batch.
    # ... and on giving up, the worker asks once more whether an earlier delivery stored it (no: it fails too)
    assert calls == [bob, ann] + [bob] * (max_receives - 1) + [bob]
    ticket = _only(desk.tickets())
    assert ticket["subject"] == "Ann's question" and ticket["acknowledgement"]["status"] == "sent"
    assert [m["To"].addresses[0].addr_spec for m in desk.sent_emails()] == ["ann@customer.example"]

    letter = _only(desk.dead_letters())
    assert letter["source"] == "process_inbound"
    assert f"failed {max_receives} times" in letter["reason"]
    assert f"cannot read lookups (attempt {len(calls) - 1})" in letter["reason"]  # the last error, not the first
    assert letter["stored_in"] is None
    assert letter["body"]["ses_message_id"] == bob_mail  # enough to replay Bob's mail


def test_a_message_whose_last_allowed_receive_died_is_parked_by_the_worker_with_its_reason(desk, monkeypatch):
    """The invocation of the last allowed receive can die (a timeout, out of memory) before the worker parks
    the message. The queue's ``maxReceiveCount`` is one above ``INBOUND_MAX_RECEIVES``, so the spare receive
    parks it with the reason; SQS's own redrive would have kept neither a reason nor whether it was stored."""
    from chalicelib import config
    from chalicelib.local.faults import FunctionCrashed
    from chalicelib.storage import repository

    max_receives = config.int_setting("INBOUND_MAX_RECEIVES")
    attempts = []

    def failing_then_dying(keys):
        attempts.append(1)
        if len(attempts) == max_receives:
            raise FunctionCrashed("the invocation timed out")
        raise ConnectionError(f"DynamoDB endpoint unreachable (attempt {len(attempts)})")

    monkeypatch.setattr(repository, "fetch_lookups", failing_then_dying)
    desk.receive_email(compose())
    assert desk.pump() == max_receives + 1
    letter = _only(desk.dead_letters())
    assert letter["source"] == "process_inbound"  # parked by the worker, not redriven by SQS
    assert f"failed {max_receives + 1} times" in letter["reason"]
    assert f"attempt {max_receives + 1}" in letter["reason"]


# --- The agent API with malformed input: a 4xx with a JSON reason, never a 500 --------


@pytest.mark.parametrize("environment", [dict(chat.SECRETS)])  # the webhooks configured: they read the body
def test_a_json_body_nested_past_the_parser_s_depth_is_4xx_on_every_route_that_takes_json(desk, admin_token):
    """``json.loads`` raises RecursionError (not ValueError) on a few KB of ``[``: every route that reads a JSON
    body, taken from ``/openapi.json``, answers it with a 4xx and a reason, with real ids in its path."""
    from chalicelib.api import openapi

    desk.receive_email(compose())
    desk.pump()
    ticket = desk.tickets()[0]
    agent_id = desk.add_agent("Agent", "agent@example.com")[0]
    ids = {"ticket_id": ticket["id"], "agent_id": agent_id, "customer_id": ticket["customer_id"],
           "macro_id": "m-000000000000", "article_id": "kb-000000000000", "link": "x", "token": "x",
           "session_id": "s-0000000000000000"}
    nested = b"[" * 5000
    routes = [(method, path) for path, operations in openapi.build()["paths"].items()
              for method, operation in operations.items() if method in ("post", "put", "patch")
              and "application/json" in (operation.get("requestBody") or {}).get("content", {})]
    assert len(routes) > 20
    for method, path in routes:
        url = path.format(**ids)
        response = getattr(desk.http, method)(url, body=nested, headers={
            "Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.body[:200])
        assert json.loads(response.body), (method, path)



def _get(desk, path, authorization=None):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = desk.http.get(path, headers=headers)
    try:
        body = json.loads(response.body)
    except ValueError:
        body = response.body[:300]
    return response.status_code, body


def test_odd_authorization_headers_get_401_with_a_json_reason(desk, admin_token):
    fake = "rd_a-000000000000_" + "0" * 64
    headers = [
        "Bearer", "Bearer ", "Bearer    ", "bearer", "Basic xyz", "Basic YWRhOnNlY3JldA==", "Token abc", "☃", "",
        "Bearer ünïcødé-tøken", f"Bearer \u202e{fake}", f"Bearer {fake}\x00", f"Bearer {fake}", "Bearer rd_../../etc/passwd",
        '{"token": "rd_a-000000000000"}', "Bearer " + "x" * 20_000,
        admin_token, f"Basic {admin_token}", f"Bearer{admin_token}", f"Bearer {admin_token[:-1]}",  # a real token, sent wrong
    ]
    problems = []
    for authorization in headers:
        status, body = _get(desk, "/tickets", authorization)
        if status != 401 or not isinstance(body, dict) or body.get("error") != "unauthorized" or not body.get("reason"):
            problems.append((authorization[:60], status, body))
    assert problems == []


def test_path_traversal_and_odd_ticket_ids_are_404_with_a_json_reason(desk, admin_token):
    paths = [
        "/tickets/..%2F..%2Fetc%2Fpasswd", "/tickets/%2e%2e", "/tickets/..%252F..%252F",
        "/tickets/t-00000000000000000000%00", "/tickets/t-00000000000000000000%2F..", "/tickets/%F0%9F%92%A9",
        "/tickets/T-00000000000000000000", "/tickets/t-0000000000000000000g", "/tickets/" + "a" * 10_000,
    ]
    problems = []
    for path in paths:
        status, body = _get(desk, path, f"Bearer {admin_token}")
        if status != 404 or not isinstance(body, dict) or body.get("error") != "not_found" or not body.get("reason"):
            problems.append((path[:60], status, body))
    assert problems == []

    # "../" is resolved before routing, as API Gateway does: no route, so a 4xx JSON error, not a 500.
    status, body = _get(desk, "/tickets/../../etc/passwd", f"Bearer {admin_token}")
    assert 400 <= status < 500 and isinstance(body, dict)


def _bad_requests(desk, token, queries):
    problems = []
    for query in queries:
        status, body = _get(desk, f"/tickets?{query}", f"Bearer {token}")
        if status != 400 or not isinstance(body, dict) or body.get("error") != "bad_request" or not body.get("reason"):
            problems.append((query[:60], status, body))
    return problems


def test_huge_or_odd_query_strings_are_400_with_a_json_reason(desk, admin_token):
    assert _bad_requests(desk, admin_token, [
        "status=" + "a" * 100_000,
        "status=%00",
        "status=OPEN",
        "cursor=" + "A" * 100_000,
        "cursor=" + "%FF" * 1000,
        "cursor=W10=",  # a JSON list
        "limit=-1",
        "limit=1e3",
        "limit=" + "0" * 50 + "1000",
        "&".join(f"p{n}=1" for n in range(2000)),
    ]) == []


def test_limit_that_str_isdigit_accepts_but_int_refuses_is_400_not_500(desk, admin_token):
    assert _bad_requests(desk, admin_token, [
        "limit=" + "9" * 5000,  # more digits than int() converts (Python's 4300-digit limit)
        "limit=%C2%B2",  # "²": a digit to str.isdigit(), not to int()
    ]) == []
