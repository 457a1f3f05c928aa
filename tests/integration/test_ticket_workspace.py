"""Agents work tickets through the API: edit with optimistic concurrency, reply, note, macros, merge, views."""
import contextlib
import io
import json

from tests.mail import compose
from tests.api import call as _call


def _open_ticket(desk, subject="My order never arrived", sender="Ann Customer <ann@customer.example>", body=None):
    kwargs = {"body": body} if body else {}
    desk.receive_email(compose(sender=sender, subject=subject, **kwargs))
    desk.pump()
    return next(t for t in desk.tickets() if t["subject"] == subject)


def test_two_agents_editing_one_ticket_cannot_overwrite_each_other(desk, admin_token):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    _, bob = desk.add_agent("Bob", "bob@example.com")
    ticket = _open_ticket(desk)
    version = ticket["version"]

    status, body = _call(desk, "patch", f"/tickets/{ticket['id']}", ann, {"priority": "high", "version": version})
    assert status == 200 and body["changed"] == {"priority": ["normal", "high"]}
    status, body = _call(desk, "patch", f"/tickets/{ticket['id']}", bob, {"priority": "low", "version": version})
    assert status == 409 and body["error"] == "conflict" and "version" in body["reason"]
    status, body = _call(desk, "patch", f"/tickets/{ticket['id']}", bob, {"status": "pending"},
                         headers={"If-Match": str(version)})
    assert status == 409
    after = next(t for t in desk.tickets() if t["id"] == ticket["id"])
    assert (after["priority"], after["status"]) == ("high", "open")
    updates = [e for e in after["audit"] if e["action"] == "updated"]
    assert [(e["actor_name"], e["changes"]) for e in updates] == [("Ann", {"priority": ["normal", "high"]})]


def test_first_agent_reply_stamps_first_response_and_goes_out_threaded(desk, admin_token):
    _, ann = desk.add_agent("Ann Agent", "ann@example.com")
    ticket = _open_ticket(desk)
    assert ticket["first_response_at"] is None  # the acknowledgement never counts
    status, _ = _call(desk, "post", f"/tickets/{ticket['id']}/notes", ann, {"text": "Checking with the warehouse"})
    assert status == 201
    assert next(t for t in desk.tickets() if t["id"] == ticket["id"])["first_response_at"] is None  # nor a note

    status, sent = _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"text": "It ships today."})
    assert status == 201 and sent["first_response"] is True and sent["channel"] == "email"
    desk.pump()
    first = next(t for t in desk.tickets() if t["id"] == ticket["id"])
    status, _ = _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"text": "Tracking: 123"})
    desk.pump()
    later = next(t for t in desk.tickets() if t["id"] == ticket["id"])
    assert first["first_response_at"] and later["first_response_at"] == first["first_response_at"]
    assert later["agent_reply_count"] == 2

    mails = [m for m in desk.sent_emails() if "It ships today." in m.get_body(("plain",)).get_content()]
    assert len(mails) == 1
    reply = mails[0]
    assert reply["To"].addresses[0].addr_spec == "ann@customer.example"
    assert reply["In-Reply-To"] and reply["Subject"] == "Re: My order never arrived [#1]"
    assert "Ann Agent" in str(reply["From"])
    kinds = [(m["kind"], m["delivery"]) for m in later["messages"] if m["direction"] != "inbound"]
    assert ("note", None) in kinds and kinds.count(("agent", "sent")) == 2


def test_a_customer_answer_to_the_agents_reply_threads_into_the_ticket(desk):
    _, ann = desk.add_agent("Ann Agent", "ann@example.com")
    ticket = _open_ticket(desk)
    _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"text": "Which size?"})
    desk.pump()
    reply = next(m for m in desk.sent_emails() if m["Subject"] == "Re: My order never arrived [#1]"
                 and "Which size?" in m.get_body(("plain",)).get_content())
    desk.receive_email(compose(subject="Re: My order never arrived", body="Size 42",
                               in_reply_to=reply["Message-ID"], references=[reply["Message-ID"]]))
    desk.pump()
    tickets = desk.tickets()
    assert len(tickets) == 1 and tickets[0]["message_count"] == 2


def test_a_macro_fills_placeholders_and_applies_its_actions(desk):
    _, ann = desk.add_agent("Ann Agent", "ann@example.com")
    ticket = _open_ticket(desk, subject="Where is my parcel")
    status, sent = _call(desk, "post", f"/tickets/{ticket['id']}/replies", ann, {"macro_id": "ask-order-number"})
    assert status == 201
    assert "Ann" in sent["text"] and "{{" not in sent["text"]
    after = next(t for t in desk.tickets() if t["id"] == ticket["id"])
    assert after["status"] == "pending"
    assert any(e["action"] == "replied" for e in after["audit"])


def test_macro_crud_refuses_template_injection_with_a_clear_400(desk, admin_token):
    _, agent = desk.add_agent("Ann", "ann@example.com")
    for body in ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ cycler.__init__.__globals__.os }}",
                 "{% include '/etc/passwd' %}", "{{ customer.name", "{{ secret_key }}"):
        status, reply = _call(desk, "post", "/macros", admin_token, {"id": "evil", "title": "Evil", "body": body})
        assert status == 400 and reply["error"] == "bad_request" and reply["reason"], body
    assert _call(desk, "get", "/macros/evil", agent)[0] == 404

    macro = {"id": "thanks-wait", "title": "Thanks for waiting", "body": "Hi {{ customer.first_name }}, thanks!",
             "actions": {"add_tags": ["waited"]}}
    assert _call(desk, "post", "/macros", agent, macro)[0] == 403
    assert _call(desk, "post", "/macros", admin_token, macro)[0] == 201
    assert _call(desk, "post", "/macros", admin_token, macro)[0] == 409
    status, listed = _call(desk, "get", "/macros", agent)
    ids = [m["id"] for m in listed["macros"]]
    assert "thanks-wait" in ids and "ask-order-number" in ids and "password-reset" in ids
    macro["body"] = "Hello {{ customer.name }}"
    assert _call(desk, "put", "/macros/thanks-wait", admin_token, macro)[1]["body"] == "Hello {{ customer.name }}"
    assert _call(desk, "delete", "/macros/thanks-wait", admin_token)[0] == 200
    assert _call(desk, "get", "/macros/thanks-wait", agent)[0] == 404


def test_merging_a_duplicate_closes_it_and_its_thread_continues_on_the_survivor(desk):
    _, ann = desk.add_agent("Ann", "ann@example.com")
    original = _open_ticket(desk, subject="Broken zipper")
    desk.receive_email(compose(subject="Broken zipper (again)", message_id="<dup-1@customer.example>"))
    desk.pump()
    duplicate = next(t for t in desk.tickets() if t["subject"] == "Broken zipper (again)")

    status, body = _call(desk, "post", f"/tickets/{duplicate['id']}/merge", ann, {"into": original["id"]})
    assert status == 200 and body["into"]["merged_from"] == [duplicate["id"]]
    desk.receive_email(compose(subject="Re: Broken zipper (again)", body="Any news?",
                               in_reply_to="<dup-1@customer.example>"))
    desk.pump()
    tickets = {t["id"]: t for t in desk.tickets()}
    assert tickets[duplicate["id"]]["status"] == "closed" and tickets[duplicate["id"]]["merged_into"] == original["id"]
    texts = [m["text"] for m in tickets[original["id"]]["messages"] if m["direction"] == "inbound"]
    assert len(texts) == 3 and "Any news?" in texts[-1]
    for bad in ({"into": original["id"]}, {"into": duplicate["id"]}):
        status, body = _call(desk, "post", f"/tickets/{original['id']}/merge", ann, bad)
        assert status == 409 and body["reason"]


def test_views_query_by_queue_priority_channel_and_overdue(desk, admin_token):
    _open_ticket(desk, subject="Refund please", body="I want a refund for my invoice")
    _open_ticket(desk, subject="Shop is down", body="The checkout is down, urgent!")
    tickets = {t["subject"]: t for t in desk.tickets()}
    refund, outage = tickets["Refund please"], tickets["Shop is down"]

    status, body = _call(desk, "get", f"/tickets?queue={refund['category']}", admin_token)
    assert status == 200 and refund["id"] in [t["id"] for t in body["tickets"]]
    assert refund["priority"] != outage["priority"]
    status, body = _call(desk, "get", f"/tickets?priority={outage['priority']}", admin_token)
    assert [t["id"] for t in body["tickets"]] == [outage["id"]]
    status, body = _call(desk, "get", "/tickets?channel=email", admin_token)
    assert {t["id"] for t in body["tickets"]} == {refund["id"], outage["id"]}
    assert _call(desk, "get", "/tickets?overdue=true", admin_token)[1]["tickets"] == []

    desk.advance(days=8)  # past every first-response target
    desk.run_schedules()  # the sweep escalates the breaches, which puts them in the overdue view
    status, body = _call(desk, "get", "/tickets?overdue=true", admin_token)
    assert status == 200 and {t["id"] for t in body["tickets"]} == {refund["id"], outage["id"]}
    for query in ("queue=../x", "priority=meh", "channel=fax", "assignee=bob", "queue=a&priority=low",
                  "overdue=yes", "overdue=true&status=open"):
        status, body = _call(desk, "get", f"/tickets?{query}", admin_token)
        assert status == 400 and body["reason"], query


def test_a_filtered_view_pages_through_every_match_once(desk, admin_token):
    """Priority and channel views filter the status index: pages of one must still hold every match once."""
    for n in range(7):
        urgent = n % 3 == 0
        _open_ticket(desk, subject=f"Question {n}", sender=f"C{n} <c{n}@shop.example>",
                     body="The checkout is down, urgent!" if urgent else "Where is my parcel?")
    wanted = {t["id"] for t in desk.tickets() if t["priority"] == "urgent"}
    assert len(wanted) == 3
    seen, cursor = [], None
    for _ in range(10):
        query = "/tickets?priority=urgent&limit=1" + (f"&cursor={cursor}" if cursor else "")
        status, body = _call(desk, "get", query, admin_token)
        assert status == 200
        seen += [t["id"] for t in body["tickets"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(wanted)


def test_bad_ticket_edits_are_4xx_and_change_nothing(desk, admin_token):
    _, agent = desk.add_agent("Ann", "ann@example.com")
    ticket = _open_ticket(desk)
    path = f"/tickets/{ticket['id']}"
    cases = [
        (None, "{not json", 400), ({"status": "deleted"}, None, 400), ({"priority": 3}, None, 400),
        ({"colour": "red"}, None, 400), ({}, None, 400), ({"assignee_id": "a-000000000000"}, None, 409),
        ({"add_tags": ["Not A Tag"]}, None, 400), ({"category": "nope"}, None, 400),
        ({"status": "open", "force": True}, None, 400), (None, json.dumps({"x": "y" * 300_000}), 413),
        (None, "[1, 2]", 400),
    ]
    for body, raw, expected in cases:
        status, reply = _call(desk, "patch", path, agent, body, raw=raw)
        assert status == expected and reply["reason"], (body, raw, reply)
    assert _call(desk, "patch", "/tickets/t-00000000000000000000", agent, {"status": "open"})[0] == 404
    assert _call(desk, "post", f"{path}/replies", agent, {"text": "a", "macro_id": "x"})[0] == 400
    assert _call(desk, "post", f"{path}/replies", agent, {"macro_id": "no-such-macro"})[0] == 404
    assert _call(desk, "post", f"{path}/replies", agent, {"text": "hi", "channel": "whatsapp"})[0] == 409
    after = next(t for t in desk.tickets() if t["id"] == ticket["id"])
    assert after["version"] == ticket["version"] and after["audit"] == ticket["audit"]
    assert (after["status"], after["priority"], after["tags"]) == (ticket["status"], ticket["priority"], ticket["tags"])


def test_adding_one_tag_and_removing_another_in_one_edit_works(desk, admin_token):
    """Found by schemathesis: ADD and DELETE on one attribute in one update is refused by DynamoDB."""
    ticket = _open_ticket(desk)
    path = f"/tickets/{ticket['id']}"
    assert _call(desk, "patch", path, admin_token, {"add_tags": ["a"]})[0] == 200
    status, body = _call(desk, "patch", path, admin_token, {"add_tags": ["c"], "remove_tags": ["a"]})
    assert status == 200 and body["ticket"]["tags"] == ["c"]
    status, body = _call(desk, "patch", path, admin_token, {"remove_tags": ["c"]})
    assert status == 200 and body["ticket"]["tags"] == []
    status, body = _call(desk, "patch", path, admin_token, {"add_tags": ["x"], "remove_tags": ["x"]})
    assert status == 400 and "both added and removed" in body["reason"]


def test_forged_cursors_are_400_not_500(desk, admin_token):
    import base64

    for forged in ({"a": {}}, {"status": {"N": "x"}}, {"ticket_id": {"S": 1}}, {}, {"k": {"S": "a", "N": "1"}}):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
        status, body = _call(desk, "get", f"/tickets?cursor={cursor}", admin_token)
        assert status == 400 and body["reason"] == "cursor is not one this API issued", forged


def test_a_reply_lands_even_when_the_ticket_moved_on_since_it_was_read(desk, admin_token):
    """Optimistic concurrency (``changes.retrying``): a lost race on the version reads the ticket again."""
    from chalicelib.service import changes, tickets
    from chalicelib.storage import repository

    desk.receive_email(compose())
    desk.pump()
    ticket_id = desk.tickets()[0]["id"]
    stale = repository.get_ticket(ticket_id)
    status, body = _call(desk, "patch", f"/tickets/{ticket_id}", admin_token,
                         {"priority": "high", "version": int(stale.version)})
    assert status == 200, body
    agent = changes.Actor("a-000000000001", "Ada Admin", "admin")
    with contextlib.redirect_stdout(io.StringIO()):
        sent = tickets.reply(stale, "We are on it.", agent)
    detail = desk.tickets()[0]
    assert sent["first_response"] and detail["priority"] == "high"
    assert [m["text"] for m in detail["messages"] if m["direction"] == "outbound" and m["kind"] == "agent"] == [
        "We are on it."]
