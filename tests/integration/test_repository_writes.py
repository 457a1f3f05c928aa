"""storage.repository sends each saved item serialised once: the Put it builds is PynamoDB's own, and a model
changed after the check is stored as changed (a new ticket's acknowledgement is recorded after its check)."""
from pynamodb.transactions import TransactWrite

from chalicelib.storage import repository
from chalicelib.storage.models import LookupModel, TicketModel


def _ticket(**extra):
    return TicketModel("t-repository-writes", number=7, subject="Order 7", status="open", priority="normal",
                       channel="email", customer_id="c-1", created_at="2026-12-05T06:00:00.000000Z",
                       last_activity_at="2026-12-05T06:00:00.000000Z", timeline=[["2026-12-05T06:00:00.000000Z",
                                                                                   "status", "open"]], **extra)


def test_the_put_from_the_cached_item_is_pynamodbs_own(desk):
    cases = [(_ticket(), TicketModel.ticket_id.does_not_exist()),
             (_ticket(version=3), None),  # a loaded item: the version condition and the next version
             (LookupModel("tno:7", ticket_id="t-repository-writes"), LookupModel.lookup_key.does_not_exist()),
             (LookupModel("tno:8", ticket_id="t-repository-writes"), None)]
    for model, condition in cases:
        ours, theirs = repository._TransactWrite(connection=None), TransactWrite(connection=None)
        ours.save_serialized(model, model.serialize(), condition=condition)
        version = model.version if isinstance(model, TicketModel) else None
        theirs.save(model, condition=condition)
        assert ours._put_items == theirs._put_items
        if version is not None:
            assert model.version == version  # building the request moves no local version


def test_a_model_changed_after_the_check_is_stored_as_changed(desk):
    ticket = _ticket()
    writes = repository.Writes()
    writes.save(ticket, TicketModel.ticket_id.does_not_exist())
    repository.check(writes)
    ticket.subject = "Order 7 (changed after the check)"
    writes.changed(ticket)
    repository.commit(writes)
    stored = TicketModel.get("t-repository-writes", consistent_read=True)
    assert stored.subject == "Order 7 (changed after the check)"
    assert stored.version == 1 and ticket.version == 1


def test_a_model_changed_without_saying_so_keeps_the_checked_item(desk):
    """What ``changed`` is for: the check's serialisation is what is sent."""
    ticket = _ticket()
    writes = repository.Writes()
    writes.save(ticket)
    repository.check(writes)
    ticket.subject = "not sent"
    repository.commit(writes)
    assert TicketModel.get("t-repository-writes", consistent_read=True).subject == "Order 7"


def test_an_attribute_changed_after_the_check_is_serialised_as_the_whole_model_would_be(desk):
    from chalicelib.storage.models import Acknowledgement

    ticket = _ticket(acknowledgement=Acknowledgement(status="pending", message_id="ack.t-1@example.com",
                                                     to="ann@customer.example"), language="en")
    writes = repository.Writes()
    writes.save(ticket, TicketModel.ticket_id.does_not_exist())
    repository.check(writes)
    ticket.acknowledgement.status, ticket.acknowledgement.sent_at = "sent", "2026-12-05T06:00:01.000000Z"
    ticket.acknowledgement.provider_message_id = "0100-ses@email.amazonses.com"
    ticket.language = None
    writes.changed(ticket, "acknowledgement", "language")
    assert writes.serialized(ticket) == ticket.serialize()
