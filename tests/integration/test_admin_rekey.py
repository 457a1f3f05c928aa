"""Upgrading: tickets stored before a derived index key existed reach the new indexes after rekey-tickets."""
from chalicelib import admin
from tests.api import call
from tests.mail import compose


def test_a_ticket_missing_its_view_key_is_listed_again_after_rekey(desk, admin_token, capsys):
    from chalicelib.storage.models import TicketModel

    desk.receive_email(compose(subject="Stored by an older version"))
    desk.pump()
    ticket_id = desk.tickets()[0]["id"]
    TicketModel.get(ticket_id).update(actions=[TicketModel.view_order.remove()])  # as an older version stored it
    listed = call(desk, "get", "/tickets?status=open", admin_token)[1]
    assert [t["id"] for t in listed["tickets"]] == []  # not in the view indexes any more

    assert admin.main(["rekey-tickets"]) == 0
    assert "1 tickets' index keys rewritten" in capsys.readouterr().out
    listed = call(desk, "get", "/tickets?status=open", admin_token)[1]
    assert [t["id"] for t in listed["tickets"]] == [ticket_id]
    assert admin.main(["rekey-tickets"]) == 0  # nothing left to do
    assert "0 tickets' index keys rewritten" in capsys.readouterr().out
