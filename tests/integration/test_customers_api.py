"""Customers through the real routes and the admin CLI: import, context, edits, merges, refusals.

Each test looks at what an agent or admin sees (the HTTP answer, the CLI's
output and exit code, the ticket's customer) and, for the identity lookups the
pipeline reads, at the lookup items themselves.
"""
from __future__ import annotations

import json

import pytest

from chalicelib import admin
from chalicelib.domain.ids import customer_id_for
from tests import chat
from tests.mail import compose
from tests.api import call as _call

ANN_PHONE = "+4512345678"
SHEENA_PHONE = "+16505551234"  # the WhatsApp fixture's sender


@pytest.fixture
def environment():
    """The chat platforms' secrets, so WhatsApp customers can write in too."""
    return dict(chat.SECRETS)


@pytest.fixture
def agent_token(desk):
    return desk.add_agent("Ann Agent", "agent@example.com")[1]


def _import(desk, token, records):
    return _call(desk, "post", "/customers/import", token, {"customers": records})


def _customer(desk, token, customer_id):
    status, body = _call(desk, "get", f"/customers/{customer_id}", token)
    return body if status == 200 else None


def _lookup(identity):
    from chalicelib.storage.models import LookupModel

    return LookupModel.get(f"id:{identity}", consistent_read=True)


def _refused(status, body, expected_status, reason_part):
    return status == expected_status and body["error"] and reason_part in body["reason"]


def test_import_then_get_shows_name_tier_attributes_and_purchases(desk, admin_token):
    status, result = _import(desk, admin_token, [
        {"identities": ["email:Ann@Customer.example", "phone:+45 12 34 56 78"], "name": "Ann Jensen", "tier": "VIP",
         "attributes": {"plan": "pro", "seats": 5, "churn_risk": False},
         "purchases": [
             {"order_id": "o-1", "at": "2024-01-05", "total": 10, "currency": "dkk", "items": ["mug"]},
             {"order_id": "o-2", "at": "2024-03-01T10:00:00+01:00", "total": 99.5, "currency": "EUR"},
             {"order_id": "o-1", "at": "2024-01-05", "total": 12.5, "currency": "DKK", "items": ["mug", "lid"]},
         ]},
        {"identities": ["telegram:987654"], "name": "Bob"},
    ])
    assert status == 200, result
    ann_id = customer_id_for("email:ann@customer.example")
    assert (result["created"], result["updated"], result["conflicts"], result["invalid"]) == (2, 0, 0, 0)
    assert [(r["index"], r["status"], r["customer_id"]) for r in result["records"]] == [
        (0, "created", ann_id), (1, "created", customer_id_for("telegram:987654"))]

    ann = _customer(desk, admin_token, ann_id)
    assert ann["name"] == "Ann Jensen" and ann["tier"] == "vip"
    assert ann["identities"] == ["email:ann@customer.example", f"phone:{ANN_PHONE}"]
    assert ann["channels"] == {"email": ["ann@customer.example"], "phone": [ANN_PHONE]}
    assert ann["attributes"] == {"plan": "pro", "seats": 5, "churn_risk": False}
    assert [p["order_id"] for p in ann["purchases"]] == ["o-2", "o-1"]  # newest first, one per order
    assert ann["purchases"][0]["at"] == "2024-03-01T09:00:00.000000Z"
    assert ann["purchases"][1] == {"order_id": "o-1", "at": "2024-01-05", "total": 12.5, "currency": "DKK",
                                   "items": ["mug", "lid"]}
    assert ann["ticket_count"] == 0 and ann["previous_tickets"] == [] and ann["redirected_from"] is None
    for identity in ("email:ann@customer.example", f"phone:{ANN_PHONE}"):  # triage reads the tier from here
        assert (_lookup(identity).customer_id, _lookup(identity).tier) == (ann_id, "vip")


def test_an_imported_customer_who_emails_is_recognised(desk, admin_token, agent_token):
    status, _ = _import(desk, admin_token, [
        {"identities": [f"phone:{ANN_PHONE}", "email:ann@customer.example"], "name": "Ann Jensen", "tier": "vip",
         "purchases": [{"order_id": "1234", "at": "2026-11-20", "total": 49, "currency": "EUR",
                        "items": ["teapot"]}]}])
    customer_id = customer_id_for(f"phone:{ANN_PHONE}")  # not the id the email alone would derive
    assert status == 200 and customer_id != customer_id_for("email:ann@customer.example")

    desk.receive_email(compose())
    desk.pump()
    ticket = desk.tickets()[0]
    assert ticket["customer_id"] == customer_id

    status, detail = _call(desk, "get", f"/tickets/{ticket['id']}", agent_token)
    assert status == 200 and detail["customer"]["id"] == customer_id
    assert f"phone:{ANN_PHONE}" in detail["customer"]["identities"]
    if "purchases" in detail["customer"]:  # views.ticket_detail does not show purchases yet
        assert [p["order_id"] for p in detail["customer"]["purchases"]] == ["1234"]
    context = _customer(desk, agent_token, customer_id)
    assert [p["order_id"] for p in context["purchases"]] == ["1234"] and context["tier"] == "vip"
    assert context["ticket_count"] == 1 and [t["id"] for t in context["previous_tickets"]] == [ticket["id"]]
    assert context["last_inquiry"]["ticket_id"] == ticket["id"]


def test_importing_the_same_file_twice_changes_nothing(desk, admin_token, tmp_path, capsys):
    records = [
        {"identities": ["email:ann@customer.example", f"phone:{ANN_PHONE}"], "name": "Ann", "tier": "vip",
         "attributes": {"plan": "pro"}, "purchases": [{"order_id": "o-1", "at": "2024-01-05T10:00:00Z", "total": 5}]},
        {"identities": ["email:bob@customer.example"], "name": "Bob"},
    ]
    path = tmp_path / "customers.json"
    path.write_text(json.dumps({"customers": records}))
    ids = [customer_id_for("email:ann@customer.example"), customer_id_for("email:bob@customer.example")]

    assert admin.main(["import-customers", str(path)]) == 0
    assert "created: 2" in capsys.readouterr().out
    before = [_customer(desk, admin_token, i) for i in ids]
    assert admin.main(["import-customers", str(path)]) == 0
    second = capsys.readouterr().out
    assert "created: 0" in second and "updated: 0" in second and "unchanged: 2" in second
    assert [_customer(desk, admin_token, i) for i in ids] == before

    status, result = _import(desk, admin_token, records)  # the API agrees
    assert status == 200 and result["unchanged"] == 2 and result["created"] == result["updated"] == 0

    records[1]["name"] = "Bob Builder"
    path.write_text(json.dumps(records))  # a bare list works too
    assert admin.main(["import-customers", str(path)]) == 0
    assert "updated: 1" in capsys.readouterr().out
    assert _customer(desk, admin_token, ids[1])["name"] == "Bob Builder"


def test_csv_import_reports_counts_and_exits_1_on_a_conflict(desk, admin_token, tmp_path, capsys):
    path = tmp_path / "customers.csv"
    path.write_text("\ufeffEmail,phone,name,tier\nann@customer.example,+45 12 34 56 78,Ann,Gold\n"
                    "bob@customer.example,,Bob,\n,not-a-phone,Nobody,\n")
    assert admin.main(["import-customers", str(path)]) == 1  # the third row is invalid
    captured = capsys.readouterr()
    assert "created: 2" in captured.out and "invalid: 1" in captured.out
    assert "record 3: invalid" in captured.err and "E.164" in captured.err
    ann_id = customer_id_for("email:ann@customer.example")
    ann = _customer(desk, admin_token, ann_id)
    assert ann["tier"] == "gold" and ann["identities"] == ["email:ann@customer.example", f"phone:{ANN_PHONE}"]

    before = [_customer(desk, admin_token, ann_id),
              _customer(desk, admin_token, customer_id_for("email:bob@customer.example"))]
    path.write_text("email,phone,name\nbob@customer.example,+4512345678,Bob Twice\n")
    assert admin.main(["import-customers", str(path)]) == 1
    captured = capsys.readouterr()
    assert "conflicts: 1" in captured.out and "record 1: conflict" in captured.err and ann_id in captured.err
    assert [_customer(desk, admin_token, ann_id),
            _customer(desk, admin_token, customer_id_for("email:bob@customer.example"))] == before
    assert _lookup(f"phone:{ANN_PHONE}").customer_id == ann_id

    path.write_text("email,shoe_size\nann@customer.example,42\n")
    assert admin.main(["import-customers", str(path)]) == 2
    assert "shoe_size" in capsys.readouterr().err


def test_identities_of_two_customers_in_one_record_are_a_conflict_and_change_nothing(desk, admin_token):
    status, _ = _import(desk, admin_token, [{"identities": ["email:ann@customer.example"], "name": "Ann"},
                                            {"identities": [f"phone:{ANN_PHONE}"], "name": "Phone Ann", "tier": "vip"}])
    ann_id, phone_id = customer_id_for("email:ann@customer.example"), customer_id_for(f"phone:{ANN_PHONE}")
    before = [_customer(desk, admin_token, ann_id), _customer(desk, admin_token, phone_id)]
    assert status == 200 and all(before)

    status, result = _import(desk, admin_token, [
        {"identities": ["email:ann@customer.example", f"phone:{ANN_PHONE}", "email:new@customer.example"],
         "name": "Both", "tier": "gold", "purchases": [{"order_id": "o-1"}]},
        {"identities": ["email:carl@customer.example"]},
    ])
    assert status == 200 and (result["conflicts"], result["created"]) == (1, 1)
    conflict = result["records"][0]
    assert conflict["status"] == "conflict" and conflict["customer_id"] is None
    assert ann_id in conflict["reason"] and phone_id in conflict["reason"] and "merge" in conflict["reason"]
    assert [_customer(desk, admin_token, ann_id), _customer(desk, admin_token, phone_id)] == before
    assert _customer(desk, admin_token, customer_id_for("email:new@customer.example")) is None
    from pynamodb.exceptions import DoesNotExist

    with pytest.raises(DoesNotExist):
        _lookup("email:new@customer.example")
    assert (_lookup(f"phone:{ANN_PHONE}").customer_id, _lookup(f"phone:{ANN_PHONE}").tier) == (phone_id, "vip")


def test_merging_an_email_customer_into_a_whatsapp_customer(desk, admin_token, agent_token):
    from chalicelib.storage.models import AuditModel

    status, _ = _import(desk, admin_token, [
        {"identities": [f"phone:{SHEENA_PHONE}"], "name": "Sheena Nelson", "tier": "vip",
         "attributes": {"plan": "pro"}, "purchases": [{"order_id": "o-9", "at": "2026-10-01"}]},
        {"identities": ["email:sheena@shop.example"], "attributes": {"plan": "basic", "country": "DK"},
         "purchases": [{"order_id": "o-1", "at": "2025-01-01"}]},
    ])
    target, source = customer_id_for(f"phone:{SHEENA_PHONE}"), customer_id_for("email:sheena@shop.example")
    assert status == 200
    assert chat.post_meta(desk, "whatsapp", chat.whatsapp_text()).status_code == 200
    for subject in ("Where is my parcel?", "Invoice address"):
        desk.receive_email(compose(sender="Sheena N <sheena@shop.example>", subject=subject))
    desk.pump()
    by_subject = {t["subject"]: t for t in desk.tickets()}
    email_tickets = [by_subject["Where is my parcel?"]["id"], by_subject["Invoice address"]["id"]]
    assert [t["customer_id"] for t in desk.tickets()] == [target, source, source]

    status, merged = _call(desk, "post", f"/customers/{source}/merge", agent_token, {"into": target})
    assert status == 200, merged
    assert merged["id"] == target and merged["name"] == "Sheena Nelson" and merged["tier"] == "vip"
    assert merged["identities"] == ["email:sheena@shop.example", f"phone:{SHEENA_PHONE}"]
    assert merged["ticket_count"] == 3 and len(merged["previous_tickets"]) == 3
    assert [p["order_id"] for p in merged["purchases"]] == ["o-9", "o-1"]
    assert merged["attributes"] == {"plan": "pro", "country": "DK"}  # the target wins
    assert merged["merge"] == {"source_id": source, "target_id": target, "identities_moved": 1, "tickets_moved": 2,
                               "repeated": False, "identities_skipped": []}
    assert all(t["customer_id"] == target for t in desk.tickets())
    for ticket_id in email_tickets:
        audit = [a for a in AuditModel.query(ticket_id) if a.action == "customer_merged"]
        assert len(audit) == 1 and audit[0].actor.startswith("a-") and source in audit[0].detail
    assert (_lookup("email:sheena@shop.example").customer_id, _lookup("email:sheena@shop.example").tier) == (
        target, "vip")
    old = _customer(desk, agent_token, source)
    assert old["id"] == target and old["redirected_from"] == source

    desk.receive_email(compose(sender="Sheena N <sheena@shop.example>", subject="One more thing"))
    desk.pump()
    newest = desk.tickets()[-1]
    assert newest["subject"] == "One more thing" and newest["customer_id"] == target
    assert _customer(desk, agent_token, target)["ticket_count"] == 4

    status, again = _call(desk, "post", f"/customers/{source}/merge", agent_token, {"into": target})
    assert status == 200 and again["merge"]["repeated"] is True
    assert (again["merge"]["tickets_moved"], again["merge"]["identities_moved"], again["ticket_count"]) == (0, 0, 4)


def test_merge_refusals_say_why_and_change_nothing(desk, admin_token, agent_token):
    ids = {name: customer_id_for(f"email:{name}@customer.example") for name in ("ann", "bob", "carl")}
    status, _ = _import(desk, admin_token, [{"identities": [f"email:{name}@customer.example"], "name": name.title()}
                                            for name in ids])
    assert status == 200
    status, _ = _call(desk, "post", f"/customers/{ids['ann']}/merge", agent_token, {"into": ids["bob"]})
    assert status == 200
    before = {name: _customer(desk, admin_token, customer_id) for name, customer_id in ids.items()}

    cases = [
        (ids["carl"], {"into": ids["carl"]}, 400, "itself"),
        (ids["carl"], {"into": "c-" + "0" * 20}, 404, "no customer"),
        ("c-" + "0" * 20, {"into": ids["carl"]}, 404, "no customer"),
        (ids["carl"], {"into": ids["ann"]}, 409, f"merged into {ids['bob']}"),  # a chain
        (ids["ann"], {"into": ids["carl"]}, 409, f"already merged into {ids['bob']}"),
        (ids["carl"], {"into": "carl"}, 400, "into:"),
        ("not-a-customer", {"into": ids["carl"]}, 400, "not a customer id"),
        (ids["carl"], {"into": ids["bob"], "why": "dupes"}, 400, "why: unknown field"),
        (ids["carl"], {"into": 7}, 400, "into:"),
    ]
    for source, body, expected, reason in cases:
        status, answer = _call(desk, "post", f"/customers/{source}/merge", agent_token, body)
        assert _refused(status, answer, expected, reason), (source, body, status, answer)
    status, answer = _call(desk, "post", f"/customers/{ids['carl']}/merge", None, {"into": ids["bob"]})
    assert _refused(status, answer, 401, "bearer")
    assert {name: _customer(desk, admin_token, customer_id) for name, customer_id in ids.items()} == before


def test_bad_import_bodies_are_refused_with_reasons_and_change_nothing(desk, admin_token, agent_token):
    record = {"identities": ["email:ann@customer.example"], "name": "Ann"}
    cases = [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[]", 400, "JSON object"),
        (json.dumps({"customers": [record], "dry_run": True}).encode(), 400, "dry_run: unknown field"),
        (json.dumps({"customers": record}).encode(), 400, "customers:"),
        (json.dumps({"customers": ["ann@customer.example"]}).encode(), 400, "customers.0:"),
        (json.dumps({"customers": []}).encode(), 400, "customers:"),
        (json.dumps({"customers": [record] * 501}).encode(), 400, "at most 500"),
        (json.dumps({"customers": [{**record, "name": "x" * 300_000}]}).encode(), 413, "limit"),
    ]
    for raw, expected, reason in cases:
        status, body = _call(desk, "post", "/customers/import", admin_token, raw=raw)
        assert _refused(status, body, expected, reason), (raw[:60], status, body)
    status, body = _import(desk, agent_token, [record])
    assert _refused(status, body, 403, "admin")
    status, body = _import(desk, None, [record])
    assert _refused(status, body, 401, "bearer")
    assert _customer(desk, admin_token, customer_id_for("email:ann@customer.example")) is None


def test_invalid_records_are_reported_one_by_one_and_the_rest_is_imported(desk, admin_token):
    good = {"identities": ["email:ok@customer.example"]}
    bad = [
        ({"identities": ["email:not-an-address"]}, "valid email"),
        ({"identities": ["phone:4512345678"]}, "E.164"),
        ({"identities": ["fax:+4512345678"]}, "kind one of"),
        ({"identities": []}, "identities:"),
        ({"identities": [f"email:x{n}@customer.example" for n in range(21)]}, "at most 20"),
        ({**good, "nickname": "Okie"}, "nickname: unknown field"),
        ({**good, "tier": 5}, "tier:"),
        ({**good, "tier": "very important!"}, "slug"),
        ({**good, "attributes": {"address": {"city": "Aarhus"}}}, "string, number or boolean"),
        ({**good, "attributes": {f"k{n}": n for n in range(51)}}, "at most 50"),
        ({**good, "purchases": [{"total": 5}]}, "order_id"),
        ({**good, "purchases": [{"order_id": "o-1", "at": "yesterday"}]}, "ISO 8601"),
        ({**good, "purchases": [{"order_id": "o-1", "total": "5"}]}, "total"),
        ({**good, "purchases": [{"order_id": "o-1", "currency": "euro"}]}, "currency"),
    ]
    status, result = _import(desk, admin_token, [record for record, _ in bad] + [good])
    assert status == 200 and (result["invalid"], result["created"]) == (len(bad), 1)
    for outcome, (_, reason) in zip(result["records"], bad):
        assert outcome["status"] == "invalid" and reason in outcome["reason"], (outcome, reason)
    assert result["records"][-1] == {"index": len(bad), "status": "created",
                                     "customer_id": customer_id_for("email:ok@customer.example"), "reason": None}
    assert _customer(desk, admin_token, customer_id_for("email:ok@customer.example"))["attributes"] == {}


def test_patch_edits_the_customer_and_the_tier_on_every_identity(desk, admin_token, agent_token):
    customer_id = customer_id_for("email:ann@customer.example")
    status, _ = _import(desk, admin_token, [{"identities": ["email:ann@customer.example", f"phone:{ANN_PHONE}"],
                                             "name": "Ann", "attributes": {"plan": "pro", "legacy": True},
                                             "purchases": [{"order_id": "o-1", "at": "2024-01-01"}]}])
    assert status == 200
    status, body = _call(desk, "patch", f"/customers/{customer_id}", admin_token, {
        "name": "Ann Jensen", "tier": "Gold", "attributes": {"plan": "enterprise", "legacy": None, "seats": 12},
        "purchases_add": [{"order_id": "o-2", "at": "2024-02-01", "total": 30, "currency": "EUR"}]})
    assert status == 200, body
    assert body["name"] == "Ann Jensen" and body["tier"] == "gold"
    assert body["attributes"] == {"plan": "enterprise", "seats": 12}
    assert [p["order_id"] for p in body["purchases"]] == ["o-2", "o-1"]
    assert {_lookup(i).tier for i in ("email:ann@customer.example", f"phone:{ANN_PHONE}")} == {"gold"}

    status, body = _call(desk, "patch", f"/customers/{customer_id}", admin_token, {"tier": None})
    assert status == 200 and body["tier"] is None
    assert {_lookup(i).tier for i in ("email:ann@customer.example", f"phone:{ANN_PHONE}")} == {None}

    before = _customer(desk, admin_token, customer_id)
    cases = [
        (admin_token, customer_id, {}, 400, "nothing to change"),
        (admin_token, customer_id, {"nickname": "A"}, 400, "nickname: unknown field"),
        (admin_token, customer_id, {"name": None}, 400, "name"),
        (admin_token, customer_id, {"name": 5}, 400, "name:"),
        (admin_token, customer_id, {"tier": "Not a slug!"}, 400, "slug"),
        (admin_token, customer_id, {"attributes": {"tags": ["a"]}}, 400, "string, number, boolean or null"),
        (admin_token, customer_id, {"purchases_add": [{"total": 5}]}, 400, "order_id"),
        (admin_token, "c-" + "0" * 20, {"name": "Ghost"}, 404, "no customer"),
        (admin_token, "ann", {"name": "Ghost"}, 400, "not a customer id"),
        (agent_token, customer_id, {"name": "Agent Edit"}, 403, "admin"),
    ]
    for token, target, payload, expected, reason in cases:
        status, answer = _call(desk, "patch", f"/customers/{target}", token, payload)
        assert _refused(status, answer, expected, reason), (payload, status, answer)
    status, answer = _call(desk, "patch", f"/customers/{customer_id}", admin_token, raw=b"{oops")
    assert _refused(status, answer, 400, "not valid JSON")
    assert _customer(desk, admin_token, customer_id) == before


def test_get_refuses_malformed_ids_and_unknown_customers(desk, agent_token):
    cases = [("nope", 400, "not a customer id"), ("c-XYZ", 400, "not a customer id"),
             ("c-" + "0" * 21, 400, "not a customer id"), ("c-" + "0" * 20, 404, "no customer")]
    for customer_id, expected, reason in cases:
        status, body = _call(desk, "get", f"/customers/{customer_id}", agent_token)
        assert _refused(status, body, expected, reason), (customer_id, status, body)
    status, body = _call(desk, "get", "/customers/" + "c-" + "0" * 20, None)
    assert _refused(status, body, 401, "bearer")


def test_a_merged_customer_cannot_be_edited_or_imported_into_separately(desk, admin_token, agent_token):
    ann, bob = customer_id_for("email:ann@customer.example"), customer_id_for("email:bob@customer.example")
    _import(desk, admin_token, [{"identities": ["email:ann@customer.example"]}, {"identities": ["email:bob@customer.example"]}])
    status, _ = _call(desk, "post", f"/customers/{ann}/merge", agent_token, {"into": bob})
    assert status == 200
    status, body = _call(desk, "patch", f"/customers/{ann}", admin_token, {"name": "Ann"})
    assert _refused(status, body, 409, f"merged into {bob}")

    # The merged-away identity now imports onto the survivor.
    status, result = _import(desk, admin_token, [{"identities": ["email:ann@customer.example"], "tier": "vip"}])
    assert status == 200 and result["records"][0]["customer_id"] == bob and result["updated"] == 1
    assert _customer(desk, admin_token, bob)["tier"] == "vip"
    assert _lookup("email:bob@customer.example").tier == "vip"
