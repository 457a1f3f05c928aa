"""Hostile senders through the real handlers: forged From, borrowed Message-IDs, floods, refused items.

Each test is a defect found by probing the desk as an attacker would (issue 10);
each failed on the code before the fix.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.api import call
from tests.mail import compose


def _acks_to(desk, address):
    return [m for m in desk.sent_emails() if m["To"].addresses[0].addr_spec == address]


# --- Sender authentication -------------------------------------------------------


def test_forged_senders_failing_dmarc_get_no_acknowledgement_and_wait_for_review(desk):
    for n in range(20):
        desk.receive_email(compose(sender=f"CEO of Bank {n} <victim{n}@bank{n}.example>", subject=f"Invoice {n}"),
                           spf="FAIL", dkim="FAIL", dmarc="FAIL")
    desk.pump()
    assert desk.sent_emails() == []  # no backscatter to twenty third parties
    tickets = desk.tickets()
    assert len(tickets) == 20
    for ticket in tickets:
        assert ticket["status"] == "spam"
        assert ticket["quarantine_reason"].startswith("sender authentication failed: DMARC FAIL")
        assert ticket["acknowledgement"]["status"] == "suppressed"
        assert ticket["messages"][0]["flags"] == ["sender-unauthenticated"]
        assert ticket["assignee_id"] is None


def test_a_held_mail_run_again_after_its_senders_counts_moved_is_held_for_one_reason(desk, monkeypatch):
    """The pipeline runs a message again when another of its sender's messages moved their counts: each run
    starts from the message as received, so the reason it is held is not noted twice."""
    from chalicelib.storage import inbound
    from chalicelib.storage.exceptions import SenderCountsMoved

    real, calls = inbound.commit_new_ticket, []

    def moved_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise SenderCountsMoved(["ConditionalCheckFailed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(inbound, "commit_new_ticket", moved_once)
    desk.receive_email(compose(sender="CEO <ceo@bank.example>", subject="Invoice"), spf="FAIL", dkim="FAIL",
                       dmarc="FAIL")
    desk.pump()
    (ticket,) = desk.tickets()
    assert len(calls) == 2 and ticket["quarantine_reason"].count("sender authentication failed") == 1
    assert desk.dead_letters() == []


def test_spf_and_dkim_failing_without_dmarc_is_held_but_one_pass_is_enough(desk):
    desk.receive_email(compose(sender="a@nodmarc.example"), spf="FAIL", dkim="FAIL", dmarc="GRAY")
    desk.receive_email(compose(sender="b@nodmarc.example"), spf="FAIL", dkim="PASS", dmarc="GRAY")
    desk.receive_email(compose(sender="c@small.example"), spf="GRAY", dkim="GRAY", dmarc="GRAY")
    desk.pump()
    by_sender = {t["requester"]: t for t in desk.tickets()}
    assert by_sender["email:a@nodmarc.example"]["status"] == "spam"
    assert "SPF FAIL and DKIM FAIL" in by_sender["email:a@nodmarc.example"]["quarantine_reason"]
    assert by_sender["email:b@nodmarc.example"]["status"] == "open"
    assert by_sender["email:c@small.example"]["status"] == "open"  # publishes nothing: still most real mail
    assert sorted(m["To"].addresses[0].addr_spec for m in desk.sent_emails()) == ["b@nodmarc.example",
                                                                                  "c@small.example"]


def test_spoofed_customer_quoting_the_ticket_number_does_not_join_or_touch_the_customer(desk):
    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.pump()
    desk.receive_email(compose(subject="Re: [#1] change my delivery address", body="Send it to 1 Thief Lane",
                               sender="Ann Customer <ann@customer.example>",
                               in_reply_to="<first@customer.example>", references=["<first@customer.example>"]),
                       spf="FAIL", dkim="FAIL", dmarc="FAIL")
    desk.pump()
    first, forged = desk.tickets()
    assert first["message_count"] == 1 and first["status"] == "open"
    assert forged["status"] == "spam" and forged["message_count"] == 1
    assert first["customer"]["last_inquiry"]["subject"] == "My order never arrived"  # the forger wrote nothing there
    assert len(desk.sent_emails()) == 1  # only the first mail's acknowledgement


def test_an_agent_releases_a_held_mail_and_it_joins_the_queue(desk, admin_token):
    agent_id, _ = desk.add_agent("Olga Online", "olga@example.com")
    desk.receive_email(compose(sender="Real Person <real@misconfigured.example>"), spf="FAIL", dkim="FAIL",
                       dmarc="FAIL")
    desk.pump()
    held = desk.tickets()[0]
    assert held["status"] == "spam" and held["assignee_id"] is None
    status, listed = call(desk, "get", "/tickets?status=spam", admin_token)
    assert status == 200 and [t["id"] for t in listed["tickets"]] == [held["id"]]

    status, body = call(desk, "patch", f"/tickets/{held['id']}", admin_token,
                        {"status": "open", "version": held["version"]})
    assert status == 200, body
    desk.pump()
    released = desk.tickets()[0]
    assert released["status"] == "open" and released["assignee_id"] == agent_id


@pytest.mark.parametrize("mode, status, acknowledged, flags", [
    ("monitor", "open", True, ["sender-unauthenticated"]),
    ("off", "open", True, []),
])
def test_sender_authentication_policy_is_configurable(tmp_path, monkeypatch, mode, status, acknowledged, flags):
    import json
    from pathlib import Path

    from chalicelib.local import LocalDesk

    settings = json.loads(Path("chalicelib/desk_settings.json").read_text())
    settings["sender_authentication"] = {"mode": mode}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    monkeypatch.setenv("DESK_SETTINGS", str(path))
    with LocalDesk() as desk:
        desk.receive_email(compose(), spf="FAIL", dkim="FAIL", dmarc="FAIL")
        desk.pump()
        ticket = desk.tickets()[0]
        assert ticket["status"] == status and ticket["quarantine_reason"] is None
        assert bool(desk.sent_emails()) is acknowledged
        assert ticket["messages"][0]["flags"] == flags


# --- Header threading needs a participant ---------------------------------------------


def test_a_stranger_with_a_customers_message_id_gets_a_ticket_of_their_own(desk, admin_token):
    desk.receive_email(compose(message_id="<private@customer.example>"))
    desk.pump()
    first = desk.tickets()[0]
    status, body = call(desk, "patch", f"/tickets/{first['id']}", admin_token,
                        {"status": "solved", "version": first["version"]})
    assert status == 200, body
    desk.receive_email(compose(sender="Mallory <mallory@evil.example>", subject="Re: My order never arrived",
                               in_reply_to="<private@customer.example>"))
    desk.receive_email(compose(sender="Mallory <mallory@evil.example>", subject="hello again",
                               references=["<private@customer.example>"]))
    desk.pump()
    tickets = desk.tickets()
    assert tickets[0]["status"] == "solved" and tickets[0]["message_count"] == 1  # not reopened, not joined
    assert [t["requester"] for t in tickets[1:]] == ["email:mallory@evil.example"] * 2


def test_a_colleague_the_customer_copied_joins_by_reply_all(desk):
    desk.receive_email(compose(message_id="<q@customer.example>", to="support@example.com",
                               headers={"Cc": "Bob Colleague <bob@customer.example>"}))
    desk.pump()
    desk.receive_email(compose(sender="Bob Colleague <bob@customer.example>", subject="Re: My order never arrived",
                               body="Adding: it was order 1235 too.", in_reply_to="<q@customer.example>"))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 2
    assert ticket["messages"][1]["joined_by"] == "message-id"


# --- Nothing vanishes ----------------------------------------------------------------


def test_a_reused_message_id_with_other_content_is_stored_and_flagged_not_dropped(desk):
    desk.receive_email(compose(message_id="<same@id.example>"))
    desk.pump()
    desk.receive_email(compose(sender="Other Person <other@else.example>", subject="A different problem",
                               body="My invoice is wrong.", message_id="<same@id.example>"))
    desk.pump()
    first, second = desk.tickets()
    assert first["message_count"] == 1
    assert second["requester"] == "email:other@else.example" and second["subject"] == "A different problem"
    assert second["messages"][0]["flags"] == ["message-id-reused"]
    assert len(desk.sent_emails()) == 2
    assert desk.dead_letters() == []


def test_the_same_mail_delivered_twice_by_ses_is_still_one_message(desk):
    raw = compose(message_id="<twice@customer.example>")
    desk.receive_email(raw)
    desk.receive_email(raw)  # a second SES delivery: new SES message id, same bytes
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 1 and len(desk.sent_emails()) == 1


def _s3_keys(desk, prefix):
    listed = desk._aws("s3").list_objects_v2(Bucket=desk.inbound_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_items_dynamodb_would_refuse_are_parked_at_once_and_nothing_is_left_in_s3(desk, monkeypatch):
    from chalicelib.storage import inbound

    monkeypatch.setattr(inbound, "INLINE_BODY_BYTES", 10_000_000)  # as if bodies were never moved to S3
    desk.receive_email(compose(body="x" * 500_000, attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4")]))
    desk.pump()
    (letter,) = desk.dead_letters()
    assert "MessageModel item would be" in letter["reason"] and "400" in letter["reason"]
    assert letter["receives"] == 1  # recognised as permanent on the first delivery, not retried five times
    assert desk.tickets() == [] and _s3_keys(desk, "attachments/") == []


def test_a_validation_exception_from_dynamodb_is_permanent(desk, monkeypatch):
    from chalicelib.storage import inbound, repository

    monkeypatch.setattr(inbound, "INLINE_BODY_BYTES", 10_000_000)
    monkeypatch.setattr(repository, "check", lambda writes: None)  # let DynamoDB itself refuse
    desk.receive_email(compose(body="y" * 500_000))
    desk.pump()
    (letter,) = desk.dead_letters()
    assert letter["reason"].startswith("DynamoDB refused the message's items") and letter["receives"] == 1


def test_parsing_past_its_time_budget_is_parked_at_once_and_the_batch_goes_on(desk, monkeypatch):
    import time

    from chalicelib.channels.email import intake

    real = intake.to_inbound_message

    def slow_for_one(pointer, raw):
        if b"pathological" in raw:
            end = time.monotonic() + 30
            while time.monotonic() < end:  # CPU-bound, like a regex gone quadratic
                pass
        return real(pointer, raw)

    monkeypatch.setattr(intake, "to_inbound_message", slow_for_one)
    monkeypatch.setenv("PARSE_BUDGET_SECONDS", "0.5")
    desk.receive_email(compose(sender="x@hostile.example", body="pathological"))
    desk.receive_email(compose(sender="ann@customer.example"))
    started = time.monotonic()
    desk.pump()
    assert time.monotonic() - started < 25  # the busy loop was cut short (it would run 30 s)
    (letter,) = desk.dead_letters()
    assert letter["reason"] == "parsing the mail took longer than 0.5 s" and letter["receives"] == 1
    assert [t["requester"] for t in desk.tickets()] == ["email:ann@customer.example"]


# --- Floods ------------------------------------------------------------------------


def test_one_sender_gets_at_most_the_daily_number_of_acknowledgements(desk):
    now = desk.advance()
    next_midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    desk.advance(minutes=(next_midnight - now).total_seconds() / 60 + 1)
    for hour in range(5):  # three new tickets an hour: under the hourly cap of 3 every hour
        for n in range(3):
            desk.receive_email(compose(subject=f"Question {hour}.{n}", message_id=f"<q{hour}.{n}@customer.example>"))
        desk.pump()
        desk.advance(hours=1)
    assert len(desk.tickets()) == 15
    assert len(_acks_to(desk, "ann@customer.example")) == 10  # max_per_sender_per_day
    reasons = [t["acknowledgement"]["reason"] for t in desk.tickets()[10:]]
    assert all(reason.startswith("daily limit: 10 acknowledgements") for reason in reasons)


def test_a_mail_met_by_an_invocation_short_of_time_goes_back_to_sqs_not_to_the_dead_letters(desk, monkeypatch):
    from chalicelib.pipeline import worker

    calls = []

    def nearly_out_of_time() -> float:
        calls.append(1)
        return 1.5 if len(calls) == 1 else float("inf")  # the first invocation is almost over

    monkeypatch.setattr(worker, "time_left", nearly_out_of_time)
    desk.receive_email(compose())
    desk.pump()
    assert desk.dead_letters() == []
    (ticket,) = desk.tickets()  # the next delivery, with time to spare, made the ticket
    assert ticket["message_count"] == 1 and len(calls) >= 2


# --- Found in review: what must still reach the right ticket ---------------------------


def test_the_customer_replying_from_another_known_address_of_theirs_joins_their_ticket(desk, admin_token):
    status, body = call(desk, "post", "/customers/import", admin_token, {"customers": [
        {"identities": ["email:ann@customer.example", "email:ann.home@mail.example"], "name": "Ann"}]})
    assert status == 200, body
    desk.receive_email(compose(message_id="<work@customer.example>"))
    desk.pump()
    desk.receive_email(compose(sender="Ann <ann.home@mail.example>", subject="Re: My order never arrived",
                               body="From my phone: still nothing.", in_reply_to="<work@customer.example>"))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["message_count"] == 2 and ticket["messages"][1]["joined_by"] == "message-id"


def test_a_colleague_copied_on_a_merged_duplicate_still_joins_the_survivor(desk, admin_token):
    desk.receive_email(compose(message_id="<first@customer.example>"))
    desk.receive_email(compose(subject="Second try", message_id="<dup@customer.example>",
                               headers={"Cc": "Bob <bob@customer.example>"}))
    desk.pump()
    first, duplicate = desk.tickets()
    status, body = call(desk, "post", f"/tickets/{duplicate['id']}/merge", admin_token,
                        {"into": first["id"]})
    assert status == 200, body
    desk.receive_email(compose(sender="Bob <bob@customer.example>", subject="Re: Second try",
                               in_reply_to="<dup@customer.example>"))
    desk.pump()
    assert len(desk.tickets()) == 2 and desk.tickets()[0]["message_count"] == 2


def test_mail_forwarded_by_microsoft_365_is_a_persons_mail(desk):
    # Microsoft 365 rewrites the envelope sender of forwarded mail (SRS): it is not a bounce address.
    desk.receive_email(compose(headers={"Return-Path": "<bounces+SRS=44ldt=IX@contoso.example>"}))
    desk.pump()
    (ticket,) = desk.tickets()
    assert ticket["messages"][0]["kind"] == "customer" and len(desk.sent_emails()) == 1


def test_held_mail_does_not_count_as_the_customers_contact(desk):
    desk.receive_email(compose(message_id="<real@customer.example>"))
    desk.pump()
    for n in range(3):
        desk.receive_email(compose(subject=f"forged {n}"), spf="FAIL", dkim="FAIL", dmarc="FAIL")
    desk.pump()
    customer = desk.tickets()[0]["customer"]
    assert customer["ticket_count"] == 1  # the three held mails are not the customer's tickets
    desk.receive_email(compose(subject="A real second question", message_id="<real2@customer.example>"))
    desk.pump()
    assert desk.tickets()[-1]["priority"] == "normal"  # no "repeat contacts" raise from forged mail


def test_a_large_body_refused_with_its_message_leaves_nothing_in_s3(desk, monkeypatch):
    from chalicelib.storage import repository

    monkeypatch.setattr(repository, "MAX_ITEM_BYTES", 1_000)  # every message item is now "too large"
    desk.receive_email(compose(body="z" * 400_000))
    desk.pump()
    (letter,) = desk.dead_letters()
    assert "item would be" in letter["reason"] and _s3_keys(desk, "bodies/") == []


def test_mail_reusing_our_acknowledgements_message_id_is_kept_and_flagged(desk):
    desk.receive_email(compose())
    desk.pump()
    ack_id = desk.sent_emails()[0]["Message-ID"]
    desk.receive_email(compose(sender="Someone <someone@else.example>", subject="Hello", message_id=ack_id))
    desk.pump()
    tickets = desk.tickets()
    assert len(tickets) == 2 and tickets[1]["messages"][0]["flags"] == ["message-id-reused"]
