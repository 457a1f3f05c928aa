"""Ticket numbers stay unique and gap-free when several Lambda copies work at once.

These run against ``LocalDesk(server=True)``: a real HTTP moto server in this process
(in-process ``mock_aws`` is not thread-safe; the server takes concurrent requests).
Concurrent Lambda copies are emulated the way Lambda runs them: the counter test uses
threads, each with its own number block (one per copy); the end-to-end test uses
separate processes, each with its own module state, clients and Chalice test client,
polling the queue as the event source mapping does. Threads would share the worker's
batch processor and the test client's ``os.environ`` swap, which one Lambda copy never
shares with another.
"""
import multiprocessing
import os
import time

import pytest

from tests.concurrency import make_moto_requests_atomic, run_together

from tests.mail import compose

_CONTAINERS = 4


@pytest.fixture
def server_desk(monkeypatch):
    from moto.core.base_backend import BackendDict

    from chalicelib.local import LocalDesk

    # The moto server shares moto's in-process backends, and LocalDesk(server=True) does
    # not reset them: start from (and leave) an empty AWS so tests on one worker stay apart.
    BackendDict.reset()
    try:
        with LocalDesk(server=True) as desk:
            make_moto_requests_atomic(monkeypatch)
            yield desk
    finally:
        BackendDict.reset()


def test_ticket_numbers_from_eight_threads_are_exactly_one_to_two_hundred(server_desk):
    from chalicelib.storage import repository

    taken = [[] for _ in range(8)]
    run_together(8, lambda index: taken[index].extend(repository.next_ticket_number() for _ in range(25)))
    numbers = [number for per_thread in taken for number in per_thread]
    assert sorted(numbers) == list(range(1, 201))
    assert all(per_thread == sorted(per_thread) for per_thread in taken)  # each caller sees them rise


def test_lambda_copies_with_their_own_number_blocks_never_hand_out_a_number_twice(server_desk, monkeypatch):
    from chalicelib.storage import repository

    monkeypatch.setenv("TICKET_NUMBER_BLOCK", "5")
    taken = [[] for _ in range(8)]

    def lambda_copy(index):
        block = repository._NumberBlock()  # each Lambda copy reserves its own blocks of the shared counter
        taken[index].extend(block.take() for _ in range(25))  # uses whole blocks: no gaps expected

    run_together(8, lambda_copy)
    numbers = [number for per_copy in taken for number in per_copy]
    assert sorted(numbers) == list(range(1, 201))
    assert all(per_copy == sorted(per_copy) for per_copy in taken)


def _lambda_copy(name, environment, start, results, batch_size):
    """One Lambda execution environment, in its own process: poll the inbound queue, invoke
    ``process_inbound`` through Chalice's test client, delete what succeeded."""
    import os

    os.environ.update(environment)  # the moto server's endpoint, the stage's settings

    from chalice.cli.factory import CLIFactory
    from chalice.test import Client

    from chalicelib import aws, config
    from chalicelib.local.desk import PROJECT_DIR

    client = Client(CLIFactory(str(PROJECT_DIR)).load_chalice_app(), stage_name="dev", project_dir=str(PROJECT_DIR))
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=config.setting("INBOUND_QUEUE"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    start.wait(timeout=600)  # the last copy may take long to start on a loaded machine
    deliveries, failures, idle_polls = 0, 0, 0
    while idle_polls < 5:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch_size, AttributeNames=["All"],
                                       MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            idle_polls += 1
            time.sleep(0.05)
            continue
        idle_polls = 0
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": arn,
            "awsRegion": config.region(),
        } for m in messages]}
        try:
            response = client.lambda_.invoke("process_inbound", event).payload or {}
            failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - as Lambda does: an invocation that raises returns the whole batch
            # (Powertools raises when every record failed, e.g. OutOfTime in the test client's 3 s context)
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        deliveries += len(messages)
        failures += len(failed)
    results.put((name, deliveries, failures))


def _drain_with_lambda_copies(desk, messages, *, batch_size):
    """Four Lambda copies (``_lambda_copy``) drain the inbound queue at once; every one of ``messages`` was
    delivered (a retried batch item is Lambda's normal business, not a fault) and the copies really worked
    side by side."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per copy, as Lambda gives
    start, results = context.Barrier(_CONTAINERS), context.Queue()
    copies = [context.Process(target=_lambda_copy, args=(f"copy-{n}", dict(os.environ), start, results, batch_size))
              for n in range(_CONTAINERS)]
    for copy in copies:
        copy.start()
    # Generous limits: four fresh interpreters importing the app on a loaded 2-core CI machine (browser
    # tests in the other worker) can take minutes; a copy that fails shows as its exit code, not a timeout.
    for copy in copies:
        copy.join(timeout=600)
    assert [copy.exitcode for copy in copies] == [0] * len(copies), copies
    outcomes = [results.get(timeout=30) for _ in copies]
    assert sum(deliveries - failures for _, deliveries, failures in outcomes) == messages, outcomes
    assert sum(1 for _, deliveries, _ in outcomes if deliveries) >= 2, outcomes
    assert desk.pump() == 0  # nothing left behind in the queue


def test_thirty_mails_processed_by_four_lambda_copies_at_once_are_tickets_one_to_thirty(server_desk):
    desk = server_desk
    senders = [f"customer{n:02d}@shop{n % 3}.example" for n in range(30)]
    for n, sender in enumerate(senders):
        desk.receive_email(compose(sender=f"Customer {n} <{sender}>", subject=f"Question {n}"))

    _drain_with_lambda_copies(desk, len(senders), batch_size=3)

    tickets = desk.tickets()
    assert [ticket["number"] for ticket in tickets] == list(range(1, len(senders) + 1))
    assert sorted(ticket["requester"] for ticket in tickets) == sorted(f"email:{s}" for s in senders)
    assert all(ticket["message_count"] == 1 for ticket in tickets)
    assert desk.dead_letters() == []

    # Every customer got one acknowledgement, naming their own ticket number.
    number_of = {ticket["requester"].removeprefix("email:"): ticket["number"] for ticket in tickets}
    acks = desk.sent_emails()
    assert sorted(ack["To"].addresses[0].addr_spec for ack in acks) == sorted(senders)
    for ack in acks:
        text = ack.get_body(("plain",)).get_content()
        assert f"#{number_of[ack['To'].addresses[0].addr_spec]}" in text


def test_one_senders_threads_processed_side_by_side_store_every_mail_once_and_count_exactly(server_desk,
                                                                                            monkeypatch):
    """EMAIL_FIFO_GROUP=thread: one sender's six threads (a new mail and the customer's own follow-up each) go
    to four Lambda copies at once. A thread stays in order (the follow-up joins its ticket), and the sender's
    counts are exact: a message that counted on stale figures loses its write and is delivered again."""
    desk = server_desk
    monkeypatch.setenv("EMAIL_FIFO_GROUP", "thread")
    sender = "Ann Loud <ann@loud.example>"
    threads = 6
    for n in range(threads):
        desk.receive_email(compose(sender=sender, subject=f"Incident {n}", message_id=f"<incident{n}@loud.example>"))
        desk.receive_email(compose(sender=sender, subject=f"Re: Incident {n}", body=f"More on incident {n}.",
                                   message_id=f"<incident{n}-more@loud.example>",
                                   references=[f"<incident{n}@loud.example>"]))

    _drain_with_lambda_copies(desk, 2 * threads, batch_size=1)
    assert desk.dead_letters() == []

    tickets = desk.tickets()
    assert sorted(ticket["subject"] for ticket in tickets) == [f"Incident {n}" for n in range(threads)]
    assert all(ticket["message_count"] == 2 for ticket in tickets)  # each follow-up joined its own thread
    assert len({ticket["number"] for ticket in tickets}) == threads  # unique (a copy that dies may leave a gap)
    customer = tickets[0]["customer"]
    assert customer["ticket_count"] == threads

    from chalicelib.storage.models import LookupModel

    identity = LookupModel.get("id:email:ann@loud.example")
    assert identity.contacts_count == threads  # no count lost to a race
    acks = desk.sent_emails()
    acknowledged = [ticket for ticket in tickets if ticket["acknowledgement"]["status"] in ("sent", "unknown")]
    assert len(acks) == len(acknowledged) and identity.ack_count == len(acks)  # each counted once, none twice
    assert len(acks) == 3  # the cap (desk_settings.json: 3 a sender an hour) holds with threads side by side
    assert len({ack["Subject"] for ack in acks}) == len(acks)
