"""GET /search: one box finds tickets and customers by number, email, phone, order or name — never a Scan."""
from __future__ import annotations

import pytest

from chalicelib import admin
from tests import chat
from tests.api import call
from tests.mail import compose


@pytest.fixture
def environment():
    return dict(chat.SECRETS)  # so SMS customers can write in


@pytest.fixture
def no_scan(monkeypatch):
    """Searching must never read a whole table."""
    from pynamodb.models import Model

    def refuse(*args, **kwargs):
        raise AssertionError("a search made a Scan")

    monkeypatch.setattr(Model, "scan", classmethod(refuse))


def _search(desk, token, q):
    from urllib.parse import quote

    return call(desk, "get", f"/search?q={quote(q)}", token)


def test_a_ticket_number_finds_the_ticket_and_its_customer(desk, admin_token, no_scan):
    desk.receive_email(compose(subject="first"))
    desk.receive_email(compose(sender="Bo <bo@shop.example>", subject="second"))
    desk.pump()
    second = next(t for t in desk.tickets() if t["subject"] == "second")
    for q in (f"#{second['number']}", str(second["number"]), f"# {second['number']}"):
        status, found = _search(desk, admin_token, q)
        assert status == 200 and found["kind"] == "number" and found["query"] == q
        assert [t["id"] for t in found["tickets"]] == [second["id"]]
        assert found["tickets"][0]["subject"] == "second" and "sla_due_at" in found["tickets"][0]
        assert [c["identities"] for c in found["customers"]] == [["email:bo@shop.example"]]
    status, found = _search(desk, admin_token, "#99999")
    assert status == 200 and found == {"query": "#99999", "kind": "number", "tickets": [], "customers": []}


def test_an_email_address_finds_the_customers_tickets_newest_first(desk, admin_token, no_scan):
    for subject in ("one", "two", "three"):
        desk.receive_email(compose(subject=subject))
        desk.pump()
    desk.receive_email(compose(sender="x@else.example", subject="other"))
    desk.pump()
    status, found = _search(desk, admin_token, "  Ann@Customer.EXAMPLE ")
    assert status == 200 and found["kind"] == "email"
    assert [t["subject"] for t in found["tickets"]] == ["three", "two", "one"]
    assert found["customers"] == [{"id": found["tickets"][0]["customer_id"], "name": "Ann Customer",
                                   "identities": ["email:ann@customer.example"], "tier": None}]
    status, found = _search(desk, admin_token, "nobody@nowhere.example")
    assert status == 200 and found["kind"] == "email" and found["tickets"] == [] and found["customers"] == []


def test_a_phone_number_finds_sms_customers_however_it_is_written(desk, admin_token, no_scan):
    assert chat.post_twilio(desk, chat.twilio_sms()).status_code == 200
    desk.pump()
    for q in ("+1 415 555 0123", "+1-415-555-0123", "+14155550123", "+1 (415) 555-0123"):
        status, found = _search(desk, admin_token, q)
        assert status == 200 and found["kind"] == "phone", (q, found)
        assert len(found["tickets"]) == 1 and found["tickets"][0]["channel"] == "sms"
        assert found["customers"][0]["identities"] == ["phone:+14155550123"]


def test_an_order_number_finds_the_buyer_from_the_import_and_from_a_patch(desk, admin_token, no_scan):
    record = {"identities": ["email:ann@customer.example"], "name": "Ann Customer",
              "purchases": [{"order_id": "A-1001", "at": "2025-01-02", "total": 10.0, "currency": "EUR"}]}
    status, result = call(desk, "post", "/customers/import", admin_token, {"customers": [record]})
    assert status == 200 and result["created"] == 1, result
    desk.receive_email(compose(subject="where is A-1001"))
    desk.pump()
    for q in ("order:A-1001", "order: a-1001", "A-1001", "a-1001"):
        status, found = _search(desk, admin_token, q)
        assert status == 200 and found["kind"] == "order", (q, found)
        assert found["customers"][0]["name"] == "Ann Customer"
        assert [t["subject"] for t in found["tickets"]] == ["where is A-1001"]
    customer_id = found["customers"][0]["id"]
    status, _ = call(desk, "patch", f"/customers/{customer_id}", admin_token,
                     {"purchases_add": [{"order_id": "777123", "at": "2025-02-01"}]})
    assert status == 200
    status, found = _search(desk, admin_token, "order:777123")
    assert found["kind"] == "order" and found["customers"][0]["id"] == customer_id
    # all digits is a ticket number first; an order with that number when no such ticket exists
    status, found = _search(desk, admin_token, "777123")
    assert found["kind"] == "order" and found["customers"][0]["id"] == customer_id
    status, found = _search(desk, admin_token, "order:nope-1")
    assert status == 200 and found["kind"] == "order" and found["customers"] == [] and found["tickets"] == []


def test_a_name_prefix_finds_customers_ignoring_case_and_accents(desk, admin_token, no_scan):
    desk.receive_email(compose(sender="José Álvarez <jose@shop.example>", subject="hola"))
    desk.receive_email(compose(sender="Josefine Ørsted <josefine@shop.example>", subject="hej"))
    desk.receive_email(compose(sender="Bo Berg <bo@shop.example>", subject="hi"))
    desk.pump()
    status, found = _search(desk, admin_token, "jos")
    assert status == 200 and found["kind"] == "name"
    assert [c["name"] for c in found["customers"]] == ["José Álvarez", "Josefine Ørsted"]
    assert found["tickets"] == []  # two match: the agent picks one first
    status, found = _search(desk, admin_token, "JOSE  ALV")
    assert [c["name"] for c in found["customers"]] == ["José Álvarez"]
    assert [t["subject"] for t in found["tickets"]] == ["hola"]  # one match: their tickets too
    status, found = _search(desk, admin_token, "josefine ør")
    assert [c["name"] for c in found["customers"]] == ["Josefine Ørsted"]
    status, found = _search(desk, admin_token, "zz")
    assert status == 200 and found["customers"] == [] and found["tickets"] == []


def test_a_merged_customer_is_found_once_as_the_survivor(desk, admin_token, no_scan):
    desk.receive_email(compose(sender="Kim Lund <kim@a.example>", subject="from a"))
    desk.receive_email(compose(sender="Kim Lund <kim@b.example>", subject="from b"))
    desk.pump()
    _, found = _search(desk, admin_token, "kim lund")
    assert len(found["customers"]) == 2
    survivor, duplicate = found["customers"][0]["id"], found["customers"][1]["id"]
    status, body = call(desk, "post", f"/customers/{duplicate}/merge", admin_token, {"into": survivor})
    assert status == 200, body
    _, found = _search(desk, admin_token, "kim lund")
    assert [c["id"] for c in found["customers"]] == [survivor]
    _, found = _search(desk, admin_token, "kim@b.example")
    assert [c["id"] for c in found["customers"]] == [survivor]
    assert sorted(t["subject"] for t in found["tickets"]) == ["from a", "from b"]


def test_bad_queries_are_400_with_a_reason(desk, admin_token):
    for q, reason in (("", "empty"), ("   ", "empty"), ("x" * 201, "at most 200"), ("a", "at least 2"),
                      ("12 34 56 78", "country code"), ("ann@", "not an email"), ("@@", "not an email")):
        status, body = _search(desk, admin_token, q)
        assert status == 400 and body["error"] == "bad_request" and reason in body["reason"], (q, body)
    status, body = call(desk, "get", "/search", admin_token)
    assert status == 400 and "empty" in body["reason"]
    status, body = call(desk, "get", "/search?q=ann&limit=3", admin_token)
    assert status == 400 and "unknown query parameter" in body["reason"]
    assert call(desk, "get", "/search?q=ann")[0] == 401


def test_the_admin_cli_backfills_names_and_orders_stored_before_search(desk, admin_token):
    from chalicelib.storage.models import CustomerModel, LookupModel

    desk.receive_email(compose(sender="Åse Holm <ase@shop.example>", subject="old"))
    desk.pump()
    record = {"identities": ["email:ase@shop.example"], "purchases": [{"order_id": "OLD-9"}]}
    assert call(desk, "post", "/customers/import", admin_token, {"customers": [record]})[0] == 200
    # as an older version stored them: no name keys, no order lookups
    for customer in CustomerModel.scan():
        customer.update(actions=[CustomerModel.name_prefix.remove(), CustomerModel.name_key.remove()])
    LookupModel("order:old-9").delete()
    assert _search(desk, admin_token, "ase")[1]["customers"] == []
    assert admin.main(["index-customers"]) == 0
    assert admin.main(["index-customers"]) == 0  # repeatable
    assert [c["name"] for c in _search(desk, admin_token, "ÅSE h")[1]["customers"]] == ["Åse Holm"]
    assert _search(desk, admin_token, "order:OLD-9")[1]["customers"][0]["name"] == "Åse Holm"
