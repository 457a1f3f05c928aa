"""``python -m chalicelib.admin redrive``: after a fix, dead-lettered messages go back where they came from and
become tickets (or replies) once. Messages are parked the way production parks them: a pipeline step fails
until it is "fixed", SES's send fails until it recovers, ses_inbound cannot enqueue and Lambda hands its event
to the on-failure queue."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib import admin
from chalicelib.pipeline import runner, steps
from tests.api import call
from tests.mail import compose


class Broken:
    """A pipeline step that raises for mails whose subject has ``marker``, until ``fixed``."""

    def __init__(self, step: Any, marker: str) -> None:
        self.step, self.marker, self.fixed, self.calls = step, marker, False, 0

    def __call__(self, ctx: Any) -> None:
        if not self.fixed and self.marker in (ctx.message.subject or ""):
            self.calls += 1
            raise RuntimeError(f"{self.step.__name__} is broken")
        self.step(ctx)


@pytest.fixture
def broken(monkeypatch) -> dict[str, Broken]:
    """``before``: triage fails (nothing stored); ``after``: measure fails (ticket stored, then parked)."""
    before = Broken(steps.triage, "[before-write]")
    after = Broken(steps.measure, "[after-write]")
    monkeypatch.setattr(runner, "STEPS", [before if step is steps.triage else step for step in steps.STEPS])
    monkeypatch.setattr(runner, "AFTER", [after if step is steps.measure else step for step in steps.AFTER])
    return {"before": before, "after": after}


def redrive(capsys, *args: str) -> tuple[int, str, str]:
    code = admin.main(["redrive", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def queued(desk: Any, setting: str) -> int:
    sqs = desk._aws("sqs")
    url = sqs.get_queue_url(QueueName=desk._env(setting))["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def messages_with(desk: Any, marker: str) -> list[dict[str, Any]]:
    return [m for t in desk.tickets() for m in t["messages"] if marker in (m.get("text") or "")]


@pytest.mark.parametrize("module, reader, endpoint", [
    # its lookups cannot be read on any receive: the worker, giving up, asks once more where the mail is
    ("chalicelib.storage.repository", "fetch_lookups", "DynamoDB"),
    # its raw mail cannot be fetched (the 2,000-event proof's reply): the delivery never got as far as the
    # mail's Message-ID, so the worker fetches and reads it once more for the question
    ("chalicelib.channels.email.intake", "fetch", "S3"),
])
def test_a_second_delivery_that_fails_before_it_can_tell_is_parked_saying_where_the_mail_is(
        desk, monkeypatch, module, reader, endpoint):
    """SES delivers a stored mail again, and that delivery fails before it can tell the mail is stored: its
    record says ``stored_in`` instead of looking unstored."""
    import importlib

    raw = compose(sender="Ann <ann@customer.example>", subject="Refund", body="Please refund order 17.")
    desk.receive_email(raw)
    desk.pump()
    (ticket,) = desk.tickets()
    owner = importlib.import_module(module)
    real_read, calls = getattr(owner, reader), []

    def failing_while_processing(argument):
        calls.append(1)
        if len(calls) <= 5:  # every receive of the second delivery fails at this read
            raise ConnectionError(f"{endpoint} endpoint unreachable (attempt {len(calls)})")
        return real_read(argument)  # the worker's question on giving up

    monkeypatch.setattr(owner, reader, failing_while_processing)
    desk.receive_email(raw)  # the same mail, delivered again (another SES id, the same Message-ID and text)
    desk.pump()
    (letter,) = desk.dead_letters()
    assert letter["stored_in"] == ticket["id"] and len(calls) == 6
    assert f"failed 5 times after it was stored in ticket {ticket['id']}" in letter["reason"]
    assert f"{endpoint} endpoint unreachable (attempt 5)" in letter["reason"]
    assert [t["message_count"] for t in desk.tickets()] == [1]


def test_parked_mails_become_tickets_once_after_the_fix_and_a_second_redrive_does_nothing(desk, broken, capsys):
    desk.receive_email(compose(sender="Ann <ann@customer.example>", subject="Refund [before-write]",
                               body="Please refund order 17. [before-write]"))
    desk.receive_email(compose(sender="Bo <bo@customer.example>", subject="Broken lid [after-write]",
                               body="The lid cracked. [after-write]"))
    desk.pump()

    parked = desk.dead_letters()
    assert sorted(letter["reason"][:14] for letter in parked) == ["failed 5 times"] * 2
    (ticket,) = desk.tickets()
    assert ticket["subject"] == "Broken lid [after-write]"  # stored, then the work after it parked, saying so
    assert sorted((letter["stored_in"] or "") for letter in parked) == ["", ticket["id"]]
    after = next(letter for letter in parked if letter["stored_in"])
    assert f"after it was stored in ticket {ticket['id']}" in after["reason"] and "measure is broken" in after["reason"]
    assert broken["before"].calls == 5 and broken["after"].calls == 5

    code, out, err = redrive(capsys, "--dry-run")  # before the fix: shows, changes nothing
    assert code == 0, err
    assert out.count("would go to relay-desk-inbound.fifo") == 2 and "nothing was sent or deleted" in out
    assert desk.dead_letters() == parked and queued(desk, "INBOUND_QUEUE") == 0
    assert len(desk.tickets()) == 1

    broken["before"].fixed = broken["after"].fixed = True
    code, out, err = redrive(capsys, "--queue", "inbound")
    assert code == 0, err
    assert "inbound: 2 redriven, 0 kept, 0 failed; 0 in relay-desk-inbound-dlq.fifo" in out
    assert desk.dead_letters() == []
    desk.pump()

    tickets = {t["subject"]: t for t in desk.tickets()}
    assert set(tickets) == {"Refund [before-write]", "Broken lid [after-write]"}
    assert len(messages_with(desk, "[before-write]")) == 1
    assert len(messages_with(desk, "[after-write]")) == 1  # redriving a stored message stored nothing new
    acknowledged = [str(mail["To"]) for mail in desk.sent_emails() if mail["Auto-Submitted"] == "auto-replied"]
    assert sorted(acknowledged) == ["Ann <ann@customer.example>", "Bo <bo@customer.example>"]  # one each
    assert desk.dead_letters() == []

    code, out, err = redrive(capsys)  # a second run: nothing left to do
    assert code == 0 and err == ""
    assert all(f"{name}: 0 redriven" in out for name in ("inbound", "outbound", "ses-failures"))
    desk.pump()
    assert len(desk.tickets()) == 2 and len(messages_with(desk, "[before-write]")) == 1


def test_a_message_put_back_but_not_deleted_is_enqueued_once_by_the_next_run(desk, broken, capsys, monkeypatch):
    from chalicelib.storage import queues

    desk.receive_email(compose(subject="Invoice [before-write]", body="The invoice is wrong. [before-write]"))
    desk.pump()
    assert len(desk.dead_letters()) == 1
    broken["before"].fixed = True

    def lost_delete(*args: Any) -> None:
        raise RuntimeError("connection reset")

    monkeypatch.setattr(queues, "drop_parked", lost_delete)
    code, out, err = redrive(capsys)
    assert code == 1 and "put back on relay-desk-inbound.fifo" in err and "run redrive again" in err
    assert queued(desk, "INBOUND_QUEUE") == 1 and len(desk.dead_letters()) == 1

    monkeypatch.undo()  # the delete works again (and the steps are the real ones)
    code, out, err = redrive(capsys)
    assert code == 0, err
    assert queued(desk, "INBOUND_QUEUE") == 1  # SQS dropped the second put: the same deduplication id
    assert desk.dead_letters() == []
    desk.pump()
    assert len(messages_with(desk, "[before-write]")) == 1


def test_a_reply_ses_kept_refusing_goes_out_once_after_redrive(desk, admin_token, capsys, monkeypatch):
    from chalicelib.outbound import email as email_out

    desk.receive_email(compose(sender="Cy <cy@customer.example>", subject="Where is my parcel?"))
    desk.pump()
    (ticket,) = desk.tickets()
    real_send, refused = email_out.send, []

    def throttled(*args: Any, **kwargs: Any) -> str:  # what email.send raises when SES throttles
        refused.append(1)
        raise email_out.NotSent("SES answered Throttling: Maximum sending rate exceeded.")

    monkeypatch.setattr(email_out, "send", throttled)
    assert call(desk, "post", f"/tickets/{ticket['id']}/replies", admin_token,
                {"text": "It left our warehouse today."})[0] == 201
    desk.pump()
    (letter,) = desk.dead_letters()
    # Parked by the worker on its last allowed receive, with the reason (not moved blind by SQS on the spare one)
    assert letter["source"] == "send_outbound" and len(refused) == 5
    assert letter["reason"].startswith("failed 5 times; last error: NotSent(") and "Throttling" in letter["reason"]
    from chalicelib.storage.models import TicketModel

    assert TicketModel.get(ticket["id"]).delivery_failures[-1]["reason"] == letter["reason"]  # agents see it

    monkeypatch.setattr(email_out, "send", real_send)
    code, out, err = redrive(capsys, "--queue", "outbound")
    assert code == 0, err
    assert "outbound: 1 redriven" in out and "failed 5 times; last error: NotSent(" in out
    desk.pump()
    replies = [mail for mail in desk.sent_emails() if "It left our warehouse today." in mail.get_body().get_content()]
    assert len(replies) == 1 and desk.dead_letters() == []


def test_an_ses_event_ses_inbound_failed_on_becomes_a_ticket_after_redrive(desk, capsys, monkeypatch):
    from chalicelib.local.desk import on_failure_record, ses_event
    from chalicelib.storage import queues

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SQS is unavailable")

    raw = compose(sender="Di <di@customer.example>", subject="Cannot log in", body="My password reset fails.")
    ses_id = uuid.uuid4().hex + "00000000"
    desk._aws("s3").put_object(Bucket=desk.inbound_bucket, Key=desk.inbound_prefix + ses_id, Body=raw)
    event = ses_event(raw, ses_id, recipients=["support@example.com"],
                      verdicts={name: "PASS" for name in ("spam", "virus", "spf", "dkim", "dmarc")})
    monkeypatch.setattr(queues, "enqueue", unavailable)
    with pytest.raises(RuntimeError) as failed:
        desk.invoke("ses_inbound", event)
    sqs = desk._aws("sqs")
    failures = sqs.get_queue_url(QueueName=desk._env("SES_FAILURE_QUEUE"))["QueueUrl"]
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps(on_failure_record(event, failed.value)))
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps({"note": "not from Lambda"}))
    monkeypatch.undo()

    code, out, err = redrive(capsys, "--queue", "ses-failures")
    assert code == 1  # one record is not Lambda's: kept, and said so
    assert "ses-failures: 1 redriven, 1 kept, 0 failed; 1 in relay-desk-ses-inbound-failures" in out
    assert "ses_inbound failed: SQS is unavailable" in out
    assert "kept: not a Lambda on-failure record" in err
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["subject"] == "Cannot log in" and ticket["message_count"] == 1
    assert [letter["body"] for letter in desk.dead_letters()] == ['{"note": "not from Lambda"}']


def test_max_limits_the_run_and_the_rest_waits(desk, broken, capsys):
    for n in range(3):
        desk.receive_email(compose(sender=f"C{n} <c{n}@customer.example>", subject=f"Question {n} [before-write]",
                                   body=f"Question {n}. [before-write]"))
    desk.pump()
    broken["before"].fixed = True

    code, out, err = redrive(capsys, "--max", "2")
    assert code == 0, err
    assert "inbound: 2 redriven, 0 kept, 0 failed; 1 in relay-desk-inbound-dlq.fifo" in out
    desk.pump()
    assert len(desk.tickets()) == 2 and len(desk.dead_letters()) == 1


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        admin.main(["redrive", "--max", "0"])
    assert exited.value.code == 2 and "must be 1 or more" in capsys.readouterr().err


def test_a_message_whose_put_fails_stays_parked(desk, broken, capsys, monkeypatch):
    from chalicelib.storage import queues

    desk.receive_email(compose(subject="Address change [before-write]", body="New address. [before-write]"))
    desk.pump()
    (parked,) = desk.dead_letters()
    broken["before"].fixed = True

    def refused(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("SQS refused the message")

    monkeypatch.setattr(queues, "put_back", refused)
    code, out, err = redrive(capsys)
    assert code == 1 and "failed, left in relay-desk-inbound-dlq.fifo: RuntimeError: SQS refused" in err
    assert "inbound: 0 redriven, 0 kept, 1 failed; 1 in relay-desk-inbound-dlq.fifo" in out
    assert desk.dead_letters() == [parked] and queued(desk, "INBOUND_QUEUE") == 0


def test_a_delivery_event_ses_events_failed_on_is_recorded_after_redrive_once_however_often(desk, capsys, monkeypatch,
                                                                                             admin_token):
    from chalicelib.local.desk import on_failure_record
    from chalicelib.service import deliveries
    from tests.integration.test_delivery_status import _ses_event

    desk.receive_email(compose(sender="Di <di@customer.example>", subject="Cannot log in", body="Reset fails."))
    desk.pump()
    (ticket,) = desk.tickets()
    event = _ses_event("Delivery", ticket["acknowledgement"]["provider_message_id"], recipient="di@customer.example",
                       at="2026-12-05T09:31:00.000000Z")

    def unavailable(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(deliveries, "record", unavailable)
    with pytest.raises(RuntimeError) as failed:  # every try of the asynchronous invocation, as Lambda's
        desk.invoke("ses_events", event)
    monkeypatch.undo()
    sqs = desk._aws("sqs")
    failures = sqs.get_queue_url(QueueName=desk._env("SES_EVENTS_FAILURE_QUEUE"))["QueueUrl"]
    record = json.dumps(on_failure_record(event, failed.value, function_name="ses_events"))
    sqs.send_message(QueueUrl=failures, MessageBody=record)
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps({"note": "not from Lambda"}))
    empty = on_failure_record({"Records": []}, RuntimeError("timed out"), function_name="ses_events")
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps(empty))

    code, out, err = redrive(capsys, "--queue", "ses-events", "--dry-run")
    assert code == 1 and "would go to ses_events (its delivery status recorded)" in out
    assert call(desk, "get", f"/tickets/{ticket['id']}", admin_token)[1]["acknowledgement"]["delivery"] is None

    code, out, err = redrive(capsys, "--queue", "ses-events")
    assert code == 1  # the record that is not Lambda's is kept, the one with nothing to record fails: both said
    assert "ses-events: 1 redriven, 1 kept, 1 failed; 2 in relay-desk-ses-events-failures" in out
    assert "ValueError: nothing in it could be recorded: skipped: no eventType: not an SES sending event" in err
    assert "(parked: ses_events failed: DynamoDB is unavailable)" in out
    assert "kept: not a Lambda on-failure record (no requestPayload)" in err
    shown = call(desk, "get", f"/tickets/{ticket['id']}", admin_token)[1]["acknowledgement"]
    assert shown["delivery"] == "delivered" and shown["delivery_report"]["at"] == "2026-12-05T09:31:00.000000Z"

    sqs.send_message(QueueUrl=failures, MessageBody=record)  # the same record twice: recorded once
    code, out, err = redrive(capsys, "--queue", "ses-events")
    assert "ses-events: 1 redriven, 1 kept, 1 failed" in out
    again = call(desk, "get", f"/tickets/{ticket['id']}", admin_token)[1]["acknowledgement"]
    assert again == shown


def _created_today() -> int:
    from chalicelib import clock
    from chalicelib.storage import aggregates

    today = clock.now().date()
    return sum(day.counters.get("created", 0) for day in aggregates.read(today, today, "all"))


def _stubbed_stream(records: list[dict[str, Any]]) -> Any:
    """The tickets stream as GetShardIterator and GetRecords answer for a batch's records (moto does not serve the
    DynamoDB Streams API): botocore's Stubber, which checks our requests and the answers against the API model."""
    from datetime import datetime, timezone

    from botocore.stub import Stubber

    from chalicelib import aws

    wire = []
    for record in records:
        data = dict(record["dynamodb"])
        data["ApproximateCreationDateTime"] = datetime.fromtimestamp(data["ApproximateCreationDateTime"], timezone.utc)
        wire.append({key: value for key, value in {**record, "dynamodb": data}.items() if key != "eventSourceARN"})
    return Stubber(aws.client("dynamodbstreams")), wire


def _stream_failure(desk: Any, records: list[dict[str, Any]], function: str = "ticket_stream") -> dict[str, Any]:
    """Lambda's on-failure record for a stream batch (the DynamoDB Streams destination's documented shape)."""
    info = {"shardId": "shardId-00000001733390000000-0a1b2c3d",
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": "2026-12-05T08:00:00Z", "approximateArrivalOfLastRecord": "2026-12-05T08:00:01Z",
            "batchSize": len(records), "streamArn": records[0]["eventSourceARN"]}
    record = {"requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetryAttemptsExhausted",
                                 "approximateInvokeCount": 11,
                                 "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:relay-desk-dev-{function}"},
              "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
              "version": "1.0", "timestamp": "2026-12-05T08:05:00.000Z", "DDBStreamBatchInfo": info}
    sqs = desk._aws("sqs")
    url = sqs.get_queue_url(QueueName=desk._env(f"{function.upper()}_FAILURE_QUEUE"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    return info


def test_a_stream_batch_kpi_stream_gave_up_on_is_read_back_and_counted_once(environment, capsys, monkeypatch):
    from chalicelib.local.desk import LocalDesk
    from chalicelib.storage import aggregates

    with LocalDesk(environment=environment, stream_delivery="manual") as desk:
        desk.receive_email(compose(sender="Di <di@customer.example>", subject="Cannot log in", body="Reset fails."))
        desk.pump()
        records = desk.undelivered_stream_records("kpi_stream")
        assert records and _created_today() == 0

        def unavailable(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("DynamoDB is unavailable")

        monkeypatch.setattr(aggregates, "record_all", unavailable)
        with pytest.raises(RuntimeError):  # every one of its 11 attempts; then Lambda sends the batch's position
            desk.invoke("kpi_stream", {"Records": records})
        monkeypatch.undo()
        info = _stream_failure(desk, records, "kpi_stream")
        sqs = desk._aws("sqs")
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=desk._env("KPI_STREAM_FAILURE_QUEUE"))["QueueUrl"],
                         MessageBody=json.dumps({"note": "not from Lambda"}))

        stub, wire = _stubbed_stream(records)
        stub.add_response("get_shard_iterator", {"ShardIterator": "iterator-1"},
                          {"StreamArn": info["streamArn"], "ShardId": info["shardId"],
                           "ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": info["startSequenceNumber"]})
        stub.add_response("get_records", {"Records": wire, "NextShardIterator": "iterator-2"},
                          {"ShardIterator": "iterator-1", "Limit": 1000})
        with stub:
            code, out, err = redrive(capsys, "--queue", "kpi-stream")
        stub.assert_no_pending_responses()

        assert code == 1, err  # the record that is not Lambda's is kept, and said so
        assert "kpi-stream: 1 redriven, 1 kept, 0 failed; 1 in relay-desk-kpi-stream-failures" in out
        assert f"kpi_stream (the records {info['startSequenceNumber']}..{info['endSequenceNumber']}" in out
        assert "(parked: kpi_stream failed: RetryAttemptsExhausted)" in out
        assert "kept: not a Lambda on-failure record of a stream batch" in err
        assert _created_today() == 1


@pytest.mark.parametrize("code", ["TrimmedDataAccessException", "ResourceNotFoundException"])
def test_a_stream_batch_the_stream_no_longer_holds_stays_parked_and_says_why(environment, capsys, code):
    from chalicelib.local.desk import LocalDesk

    with LocalDesk(environment=environment, stream_delivery="manual") as desk:
        desk.receive_email(compose(sender="Di <di@customer.example>", subject="Cannot log in", body="Reset fails."))
        desk.pump()
        records = desk.undelivered_stream_records()
        _stream_failure(desk, records)

        stub, _ = _stubbed_stream(records)
        stub.add_client_error("get_shard_iterator", service_error_code=code, service_message="gone")
        with stub:
            code_, out, err = redrive(capsys, "--queue", "ticket-stream")

        assert code_ == 1 and "0 redriven, 0 kept, 1 failed; 1 in relay-desk-ticket-stream-failures" in out
        assert f"the stream no longer holds this batch ({code}: it keeps records 24 hours)" in err
        assert "deploy" not in err and _created_today() == 0


def test_a_stream_batch_read_back_only_in_part_is_not_replayed(environment, capsys):
    from chalicelib.local.desk import LocalDesk

    with LocalDesk(environment=environment, stream_delivery="manual") as desk:
        for subject in ("Cannot log in", "Refund please"):
            desk.receive_email(compose(sender="Di <di@customer.example>", subject=subject, body="Help."))
        desk.pump()
        records = desk.undelivered_stream_records()
        assert len(records) >= 2
        info = _stream_failure(desk, records)

        stub, wire = _stubbed_stream(records)
        stub.add_response("get_shard_iterator", {"ShardIterator": "iterator-1"})
        stub.add_response("get_records", {"Records": wire[:1]})  # a closed shard's end: no NextShardIterator
        with stub:
            code, out, err = redrive(capsys, "--queue", "ticket-stream")

        assert code == 1 and "0 redriven, 0 kept, 1 failed" in out
        assert (f"read 1 records of the batch, up to {records[0]['dynamodb']['SequenceNumber']}, not to its last, "
                f"{info['endSequenceNumber']}: nothing replayed") in err
        assert _created_today() == 0
