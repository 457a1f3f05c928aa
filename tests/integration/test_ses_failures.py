"""``ses_failures``: what ses_inbound failed on after Lambda's retries is handed over again at once, so every mail
ends in exactly one place — a ticket, or the inbound dead-letter queue with its reason — and never in two.

Records reach the failure queue as Lambda's on-failure destination writes them (``local.desk.on_failure_record``);
``desk.pump()`` delivers that queue to ``ses_failures`` as the SQS event source mapping does."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib import admin
from chalicelib.local.desk import on_failure_record, ses_event
from chalicelib.storage import queues
from tests.mail import compose


def _stored_mail(desk: Any, subject: str) -> dict[str, Any]:
    """An SES event whose raw mail SES has stored, as its receipt rule's S3 action does before ses_inbound runs."""
    raw = compose(sender="Di <di@customer.example>", subject=subject, body="My password reset link never arrives.")
    ses_id = uuid.uuid4().hex + "00000000"
    desk._aws("s3").put_object(Bucket=desk.inbound_bucket, Key=desk.inbound_prefix + ses_id, Body=raw)
    return ses_event(raw, ses_id, recipients=["support@example.com"],
                     verdicts={name: "PASS" for name in ("spam", "virus", "spf", "dkim", "dmarc")})


def _fail_over(desk: Any, body: Any) -> None:
    """Lambda gave up on an asynchronous invocation: its record goes to ses_inbound's failure queue."""
    sqs = desk._aws("sqs")
    url = sqs.get_queue_url(QueueName=desk._env("SES_FAILURE_QUEUE"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body if isinstance(body, str) else json.dumps(body))


def _failure_queue_depth(desk: Any) -> int:
    sqs = desk._aws("sqs")
    url = sqs.get_queue_url(QueueName=desk._env("SES_FAILURE_QUEUE"))["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _acknowledgements(desk: Any) -> list[Any]:
    return [mail for mail in desk.sent_emails() if mail["Auto-Submitted"] == "auto-replied"]


def test_a_mail_an_earlier_try_handed_over_is_stored_once_and_its_failure_record_goes(desk, monkeypatch):
    # The first try enqueued the pointer and died before answering; the next two could not enqueue at all.
    event = _stored_mail(desk, "Cannot log in")
    desk.invoke("ses_inbound", event)
    desk.pump()
    assert len(desk.tickets()) == 1 and len(_acknowledgements(desk)) == 1

    _fail_over(desk, on_failure_record(event, RuntimeError("SQS is unavailable")))
    desk.pump()

    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 1 and len(_acknowledgements(desk)) == 1
    assert desk.dead_letters() == [] and _failure_queue_depth(desk) == 0


def test_a_mail_no_try_handed_over_becomes_a_ticket_without_anyone_redriving_it(desk, monkeypatch):
    event = _stored_mail(desk, "Cannot log in")

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SQS is unavailable")

    monkeypatch.setattr(queues, "enqueue", unavailable)
    with pytest.raises(RuntimeError) as failed:
        desk.invoke("ses_inbound", event)
    monkeypatch.undo()
    assert desk.tickets() == []
    _fail_over(desk, on_failure_record(event, failed.value))

    desk.pump()

    (ticket,) = desk.tickets()
    assert ticket["subject"] == "Cannot log in" and ticket["message_count"] == 1
    assert len(_acknowledgements(desk)) == 1
    assert desk.dead_letters() == [] and _failure_queue_depth(desk) == 0


@pytest.mark.parametrize("body, reason", [
    ('{"note": "not from Lambda"}', "not a Lambda on-failure record (no requestPayload)"),
    ("{not json", "not a Lambda on-failure record (not JSON: "),
])
def test_a_record_that_holds_no_ses_event_is_parked_with_its_reason(desk, body, reason):
    _fail_over(desk, body)

    desk.pump()

    (letter,) = desk.dead_letters()
    assert letter["queue"] == desk._env("INBOUND_DLQ") and letter["reason"].startswith(reason)
    assert letter["source"] == "ses_failures" and letter["body"] == body
    assert _failure_queue_depth(desk) == 0 and desk.tickets() == []


def test_an_event_of_the_wrong_shape_is_parked_by_ses_inbound_with_its_reason(desk):
    _fail_over(desk, on_failure_record({"Records": [{"ses": {"mail": {}}}]}, RuntimeError("timed out")))

    desk.pump()

    (letter,) = desk.dead_letters()
    assert letter["source"] == "ses_inbound" and letter["reason"].startswith("SES event of the wrong shape")
    assert _failure_queue_depth(desk) == 0


def test_a_hand_over_that_keeps_failing_is_parked_with_both_errors_and_redriven_once_fixed(desk, monkeypatch, capsys):
    event = _stored_mail(desk, "Cannot log in")
    calls = []

    def unavailable(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise RuntimeError("SQS is still unavailable")

    monkeypatch.setattr(queues, "enqueue", unavailable)
    _fail_over(desk, on_failure_record(event, RuntimeError("SQS is unavailable")))
    desk.pump()
    monkeypatch.undo()

    assert len(calls) == int(desk._env("INBOUND_MAX_RECEIVES"))  # one try per receive, then parked
    (letter,) = desk.dead_letters()
    assert letter["queue"] == desk._env("INBOUND_DLQ") and letter["source"] == "ses_inbound"
    assert letter["reason"].startswith("ses_inbound failed: SQS is unavailable; handing it over again failed 5 times; "
                                       "last error: RuntimeError('SQS is still unavailable')")
    assert letter["receives"] == 5 and desk.tickets() == [] and _failure_queue_depth(desk) == 0

    assert admin.main(["redrive", "--queue", "inbound"]) == 0, capsys.readouterr().err
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 1 and desk.dead_letters() == []


def test_a_receive_after_the_last_allowed_one_parks_without_handing_over_again(desk, monkeypatch):
    # The 5th receive's invocation died before it answered (a timeout, a crash): the 6th parks the record once.
    event = _stored_mail(desk, "Cannot log in")
    _fail_over(desk, on_failure_record(event, RuntimeError("SQS is unavailable")))
    sqs = desk._aws("sqs")
    url = sqs.get_queue_url(QueueName=desk._env("SES_FAILURE_QUEUE"))["QueueUrl"]
    for _ in range(int(desk._env("INBOUND_MAX_RECEIVES"))):  # five receives that ended without an answer
        (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    handed_over = []
    monkeypatch.setattr(queues, "enqueue", lambda *args, **kwargs: handed_over.append(args))

    desk.pump()

    assert handed_over == [] and desk.tickets() == [] and _failure_queue_depth(desk) == 0
    (letter,) = desk.dead_letters()
    assert letter["source"] == "ses_inbound" and letter["receives"] == 6
    assert letter["reason"] == ("ses_inbound failed: SQS is unavailable; receive 5, the last allowed, ended without "
                                "handing it over or parking it")


def test_a_parked_record_with_no_ses_event_is_kept_by_redrive_not_sent_to_the_pipeline(desk, capsys):
    _fail_over(desk, '{"note": "not from Lambda"}')
    desk.pump()

    code = admin.main(["redrive", "--queue", "inbound"])
    captured = capsys.readouterr()

    assert code == 1 and "inbound: 0 redriven, 1 kept, 0 failed" in captured.out
    assert "kept: a failure-queue record with no SES event in it" in captured.err
    desk.pump()
    (letter,) = desk.dead_letters()
    assert letter["source"] == "ses_failures" and letter["reason"].startswith("not a Lambda on-failure record")
