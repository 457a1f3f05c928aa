"""What a stored ticket change sets in motion happens off the request path, from the tickets table's stream.

The desk here holds the stream's records back (``stream_delivery="manual"``), as the
seconds between a write and Lambda's poll do, and hands them over in one batch.
"""

import pytest

from chalicelib.local import LocalDesk
from tests.api import call
from tests.mail import compose


@pytest.fixture
def held_desk(environment):
    with LocalDesk(environment=environment, stream_delivery="manual") as desk:
        yield desk


def _created(desk):
    """The day's ``created`` count in all#all, read straight from the table (a test may scan)."""
    items = desk._aws("dynamodb").scan(TableName="relay-desk-aggregates")["Items"]
    return sum(int(item.get("c_created", {}).get("N", 0)) for item in items if item["series"]["S"] == "all#all")


def _aggregate_writes(desk):
    """TransactWriteItems calls made on the aggregates table from now on (counted at botocore's door)."""
    from chalicelib.storage.models import AggregateModel

    seen = []
    connection = AggregateModel._get_connection().connection
    client = connection.client
    client.meta.events.register("before-call.dynamodb.TransactWriteItems",
                                lambda params, **_: seen.append(params) if "aggregates" in str(params) else None)
    return seen


def test_the_kpis_of_five_new_tickets_are_counted_from_one_batch_with_one_write_per_reader(held_desk):
    desk = held_desk
    desk.add_agent("Ann", "ann@example.com", capacity=10)
    for n in range(5):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.pump()
    assert _created(desk) == 0  # the requests paid for none of it
    assert desk.pending_stream_records() >= 5

    writes = _aggregate_writes(desk)
    desk.deliver_streams()
    assert _created(desk) == 5
    # one transaction per reader of the batch: ticket_stream's inbox counters, kpi_stream's one update per
    # series and day
    assert len(writes) == 2 and sum("applied#" in str(w) for w in writes) == 2
    assert desk.pending_stream_records() == 0


def test_solving_frees_the_agent_who_then_takes_the_oldest_waiting_ticket_after_the_request(held_desk):
    desk = held_desk
    ann, token = desk.add_agent("Ann", "ann@example.com", capacity=1)
    for n in range(2):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.pump()
    first, waiting = sorted(desk.tickets(), key=lambda t: t["number"])
    assert first["assignee_id"] == ann and waiting["assignee_id"] is None

    status, _ = call(desk, "patch", f"/tickets/{first['id']}", token, {"status": "solved"})
    assert status == 200
    assert next(t for t in desk.tickets() if t["id"] == waiting["id"])["assignee_id"] is None  # not in the request
    desk.deliver_streams()
    assert next(t for t in desk.tickets() if t["id"] == waiting["id"])["assignee_id"] == ann


def test_a_batch_that_frees_many_agents_reads_each_queue_s_waiting_line_once(held_desk):
    """Six solves in one batch free six agents of every queue: the waiting lines are read once per queue
    for the batch (5 queues), not once per queue for each freed agent (30), and the waiting tickets
    still go to the freed agents, oldest first."""
    from chalicelib.storage.models import TicketModel

    desk = held_desk
    team = [desk.add_agent(f"Agent {n}", f"agent{n}@example.com", capacity=1) for n in range(6)]
    for n in range(9):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
        desk.pump()
    desk.deliver_streams()
    tickets = sorted(desk.tickets(), key=lambda t: t["number"])
    assigned, waiting = tickets[:6], tickets[6:]
    assert all(t["assignee_id"] for t in assigned) and not any(t["assignee_id"] for t in waiting)
    tokens = dict(team)
    for ticket in assigned:
        status, _ = call(desk, "patch", f"/tickets/{ticket['id']}", tokens[ticket["assignee_id"]],
                         {"status": "solved"})
        assert status == 200

    queries = []
    client = TicketModel._get_connection().connection.client
    client.meta.events.register("provide-client-params.dynamodb.Query",
                                lambda params, **_: queries.append(params) if params.get("IndexName") == "waiting"
                                else None)
    desk.deliver_streams()
    assert len(queries) == 5  # one per queue (routing.yaml's five), whichever agents were freed
    now = {t["id"]: t["assignee_id"] for t in desk.tickets()}
    assert all(now[t["id"]] in tokens for t in waiting)  # the three waiting tickets found freed agents


def test_each_reader_reads_the_stream_on_its_own_so_a_failing_one_holds_back_only_its_own_work(held_desk,
                                                                                                 monkeypatch, capsys):
    """ticket_stream (the inbox counts) and kpi_stream (the KPIs) are two event source mappings on one stream:
    a batch one of them gives up on neither blocks nor repeats the other's."""
    from chalicelib.storage import ticket_counts

    desk = held_desk
    for n in range(3):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.pump()

    def unavailable(*args, **kwargs):
        raise RuntimeError("the inbox counters cannot be written")

    monkeypatch.setattr(ticket_counts, "adjustments", unavailable)  # ticket_stream's write, not kpi_stream's
    desk.deliver_streams()
    assert "ticket_stream failed 11 times" in capsys.readouterr().out  # given up on, as Lambda does
    assert _created(desk) == 3  # kpi_stream counted its batch regardless
    assert ticket_counts.read("nobody")[0].get("status_open", 0) == 0  # and ticket_stream's counts stayed unwritten

    monkeypatch.undo()
    desk.receive_email(compose(sender="c9@shop.example", subject="question 9"))
    desk.pump()
    desk.deliver_streams()
    assert _created(desk) == 4  # each reader goes on from its own position: nothing counted twice
    assert ticket_counts.read("nobody")[0].get("status_open", 0) == 1


def test_a_customers_last_inquiry_follows_their_replies_from_the_stream_and_never_moves_back(held_desk):
    """A known sender's reply leaves their customer record to ticket_stream: it is current once the batch
    is read, and a record delivered again or late (Lambda retries, out-of-order batches) changes nothing."""
    desk = held_desk
    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.pump()
    desk.deliver_streams()
    for n, text in enumerate(("First follow-up: still nothing.", "Second follow-up: it came, thanks!")):
        desk.receive_email(compose(subject="Re: My order never arrived", body=text,
                                   message_id=f"<reply{n}@customer.example>",
                                   references=["<first@customer.example>"]))
        desk.pump()

    def last_inquiry():
        (ticket,) = desk.tickets()
        return ticket["customer"]["last_inquiry"]

    assert last_inquiry()["subject"] == "My order never arrived"  # the replies' requests wrote no customer
    records = desk.undelivered_stream_records("ticket_stream")
    desk.deliver_streams()
    latest = last_inquiry()
    assert latest["excerpt"].startswith("Second follow-up") and latest["subject"] == "Re: My order never arrived"

    desk.invoke("ticket_stream", {"Records": list(reversed(records))})  # again, the newest first
    assert last_inquiry() == latest


def _last_inquiry_and_seen(desk):
    (ticket,) = desk.tickets()
    from chalicelib.storage.models import CustomerModel

    customer = CustomerModel.get(ticket["customer"]["id"])
    return customer.last_inquiry.excerpt, customer.last_seen_at


def _first_mail_and_a_reply(desk):
    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.pump()
    desk.deliver_streams()
    desk.receive_email(compose(subject="Re: My order never arrived", body="REPLY: still nothing",
                               message_id="<r1@customer.example>", references=["<first@customer.example>"]))
    desk.pump()


def test_an_out_of_office_stored_before_the_batch_is_read_keeps_the_replys_last_inquiry(held_desk):
    """The out-of-office writes "last seen" with its own message; the reply's later stream record still
    becomes the last inquiry, and "last seen" stays the out-of-office's (the later one)."""
    desk = held_desk
    _first_mail_and_a_reply(desk)
    desk.receive_email(compose(subject="Automatic reply: Re: My order never arrived", body="I am away",
                               message_id="<ooo@customer.example>", references=["<first@customer.example>"],
                               headers={"Auto-Submitted": "auto-replied"}))
    desk.pump()
    seen_before = _last_inquiry_and_seen(desk)[1]
    desk.deliver_streams()
    excerpt, seen = _last_inquiry_and_seen(desk)
    assert excerpt.startswith("REPLY") and seen == seen_before


def test_a_customer_record_the_batch_could_not_write_is_written_when_the_batch_comes_again(held_desk, monkeypatch):
    """Nothing else would redo it: the batch fails, and Lambda delivers it again."""
    from chalicelib.storage import customers

    desk = held_desk
    _first_mail_and_a_reply(desk)
    real, calls = customers.record_contact, []

    def throttled_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return real(*args, **kwargs)

    monkeypatch.setattr(customers, "record_contact", throttled_once)
    desk.deliver_streams()
    assert len(calls) == 2 and _last_inquiry_and_seen(desk)[0].startswith("REPLY")


def test_a_batch_writes_each_customer_who_wrote_once_with_their_latest_message(held_desk, monkeypatch):
    """Three follow-ups of one customer in one batch: one write of their record (a loud sender's replies do
    not each write the same item), and it is the latest."""
    from pynamodb.connection.base import Connection

    desk = held_desk
    _first_mail_and_a_reply(desk)
    for n in (2, 3):
        desk.receive_email(compose(subject="Re: My order never arrived", body=f"REPLY {n}",
                                   message_id=f"<r{n}@customer.example>", references=["<first@customer.example>"]))
        desk.pump()
    writes, send = [], Connection._make_api_call

    def watched(self, operation_name, operation_kwargs):
        if operation_name == "UpdateItem" and operation_kwargs.get("TableName") == "relay-desk-customers":
            writes.append(operation_kwargs)
        return send(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", watched)
    desk.deliver_streams()
    assert len(writes) == 1 and _last_inquiry_and_seen(desk)[0].startswith("REPLY 3")
