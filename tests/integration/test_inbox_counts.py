"""GET /tickets/counts: active tickets by owner, status, queue, priority and channel, and the SLA clock in lists."""
from tests.api import call
from tests.mail import compose


def _ticket_ids(desk):
    return {t["subject"]: t["id"] for t in desk.tickets()}


def test_counts_match_the_lists_they_label(desk, admin_token):
    agent_id, token = desk.add_agent("Ann Agent", "ann@example.com", status="away")
    for n in range(4):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.receive_email(compose(sender="spam@x.example", subject="junk"), spam="FAIL")
    desk.pump()
    ids = _ticket_ids(desk)
    assert call(desk, "patch", f"/tickets/{ids['question 0']}", admin_token,
                {"assignee_id": agent_id, "force": True, "priority": "urgent"})[0] == 200
    assert call(desk, "patch", f"/tickets/{ids['question 1']}", admin_token, {"status": "pending"})[0] == 200
    assert call(desk, "patch", f"/tickets/{ids['question 2']}", admin_token, {"status": "solved"})[0] == 200
    desk.pump()

    status, counts = call(desk, "get", "/tickets/counts", token)
    assert status == 200, counts
    assert counts["mine"] == 1 and counts["unassigned"] == 2 and counts["overdue"] == 0
    assert counts["by_status"] == {"open": 2, "pending": 1, "on_hold": 0}
    assert counts["by_priority"]["urgent"] == 1 and sum(counts["by_priority"].values()) == 3
    assert counts["by_channel"]["email"] == 3 and sum(counts["by_channel"].values()) == 3
    assert sum(counts["by_queue"].values()) == 3
    # the admin owns nothing
    assert call(desk, "get", "/tickets/counts", admin_token)[1]["mine"] == 0
    # the same numbers as the lists
    _, mine = call(desk, "get", "/tickets?assignee=me", token)
    assert len(mine["tickets"]) == 1
    _, pending = call(desk, "get", "/tickets?status=pending", token)
    assert len(pending["tickets"]) == counts["by_status"]["pending"]


def test_counts_need_a_token_and_take_no_parameters(desk, admin_token):
    status, body = call(desk, "get", "/tickets/counts")
    assert status == 401 and body["reason"]
    status, body = call(desk, "get", "/tickets/counts?status=open", admin_token)
    assert status == 400 and "unknown query parameter" in body["reason"]


def test_overdue_tickets_are_counted_and_lists_show_the_sla_clock(desk, admin_token):
    desk.receive_email(compose(subject="help, nothing works"))
    desk.pump()
    _, listed = call(desk, "get", "/tickets", admin_token)
    ticket = listed["tickets"][0]
    assert ticket["sla_due_at"] == ticket["sla"]["due_at"] and ticket["sla_due_at"] is not None
    assert ticket["sla_breached"] is False

    desk.advance(days=10)
    _, listed = call(desk, "get", "/tickets", admin_token)
    assert listed["tickets"][0]["sla_breached"] is True  # past due even before the sweep wrote it
    desk.run_schedules()
    desk.pump()
    _, counts = call(desk, "get", "/tickets/counts", admin_token)
    assert counts["overdue"] == 1
    _, overdue = call(desk, "get", "/tickets?overdue=true", admin_token)
    assert [t["id"] for t in overdue["tickets"]] == [ticket["id"]] and overdue["tickets"][0]["sla_breached"]

    # solved: no clock runs, nothing is breached any more, and it leaves the overdue count
    call(desk, "post", f"/tickets/{ticket['id']}/replies", admin_token, {"text": "Fixed."})
    assert call(desk, "patch", f"/tickets/{ticket['id']}", admin_token, {"status": "solved"})[0] == 200
    desk.pump()
    _, detail = call(desk, "get", f"/tickets/{ticket['id']}", admin_token)
    assert detail["sla_due_at"] is None and detail["sla_breached"] is False
    assert call(desk, "get", "/tickets/counts", admin_token)[1]["overdue"] == 0


def test_counts_are_one_read_and_a_recount_rebuilds_the_same_numbers(desk, admin_token):
    from chalicelib import admin
    from chalicelib.storage import ticket_counts

    agent_id, token = desk.add_agent("Ann Agent", "ann@example.com", capacity=3)
    for n in range(5):
        desk.receive_email(compose(sender=f"c{n}@shop.example", subject=f"question {n}"))
    desk.pump()
    _, kept = call(desk, "get", "/tickets/counts", token)
    assert kept["mine"] == 3 and kept["unassigned"] == 2 and sum(kept["by_status"].values()) == 5

    calls = []
    desk.client._app  # noqa: B018 - the app is loaded; count what one call costs
    import botocore.client
    original = botocore.client.BaseClient._make_api_call

    def counted(client, operation, params):
        calls.append(operation)
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        assert call(desk, "get", "/tickets/counts", token)[1] == kept
    finally:
        botocore.client.BaseClient._make_api_call = original
    assert sorted(calls) == ["BatchGetItem", "GetItem"]  # the token's agent, then both counter items

    # counters lost (an upgrade from a version without them): the admin's recount rebuilds them
    from chalicelib.storage.models import AggregateModel
    for item in AggregateModel.scan():
        if item.series.startswith("inbox#"):
            item.delete()
    assert call(desk, "get", "/tickets/counts", token)[1]["unassigned"] == 0
    assert admin.main(["recount-inbox"]) == 0
    assert call(desk, "get", "/tickets/counts", token)[1] == kept
    assert ticket_counts.recount() == 5  # again: the same, not doubled
    assert call(desk, "get", "/tickets/counts", token)[1] == kept
