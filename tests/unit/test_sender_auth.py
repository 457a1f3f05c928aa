"""Sender authentication from SES verdicts, the daily acknowledgement cap and who may join a ticket."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import acknowledgement as ack_policy
from chalicelib.domain.sender_auth import assess
from chalicelib.domain.threading import copied_identities, may_join

STATUSES = ["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED", "MISSING", "", "pass", None]


@pytest.mark.parametrize("spf, dkim, dmarc, status", [
    ("PASS", "PASS", "PASS", "pass"),
    ("FAIL", "FAIL", "FAIL", "fail"),
    ("PASS", "PASS", "FAIL", "fail"),  # aligned nowhere: the domain's own DMARC verdict wins
    ("FAIL", "FAIL", "GRAY", "fail"),  # no DMARC record, both checks fail
    ("FAIL", "PASS", "GRAY", "pass"),
    ("PASS", "FAIL", "GRAY", "pass"),  # a forwarder breaks DKIM; SPF still vouches
    ("GRAY", "GRAY", "GRAY", "unknown"),
    ("DISABLED", "DISABLED", "DISABLED", "unknown"),  # the receipt rule does not scan: nothing to judge
    ("FAIL", "FAIL", "PROCESSING_FAILED", "fail"),
])
def test_verdict_table(spf, dkim, dmarc, status):
    result = assess({"spf": spf, "dkim": dkim, "dmarc": dmarc})
    assert result.status == status and result.reason


@given(st.fixed_dictionaries({name: st.sampled_from(STATUSES) for name in ("spf", "dkim", "dmarc")}))
def test_dmarc_fail_always_fails_and_a_dmarc_pass_never_does(verdicts):
    result = assess(verdicts)
    dmarc = str(verdicts["dmarc"] or "").upper()
    if dmarc == "FAIL":
        assert result.failed
    if dmarc == "PASS":
        assert result.status == "pass"
    if result.failed:
        assert dmarc == "FAIL" or (str(verdicts["spf"]).upper() == "FAIL" and str(verdicts["dkim"]).upper() == "FAIL")


def _decide(observed_day, observed_day_count, day="2026-12-04"):
    return ack_policy.decide(quarantine_reason=None, auto_reply_reason=None, window="60m:1", observed_window=None,
                             observed_count=0, max_per_sender=3, day=day, observed_day=observed_day,
                             observed_day_count=observed_day_count, max_per_day=10)


def test_daily_cap_counts_within_one_utc_day_and_resets_the_next():
    assert _decide("2026-12-04", 9).send and _decide("2026-12-04", 9).day_count == 10
    refused = _decide("2026-12-04", 10)
    assert not refused.send and refused.reason == "daily limit: 10 acknowledgements to this sender on 2026-12-04"
    assert _decide("2026-12-03", 10).send and _decide("2026-12-03", 10).day_count == 1


def test_day_key_is_the_utc_day():
    from datetime import timedelta

    late_in_oslo = datetime(2026, 12, 5, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert ack_policy.day_key(late_in_oslo) == "2026-12-04"


def test_copied_identities_leave_out_our_addresses_and_the_sender():
    recipients = ["support@example.com", "support+t-1.abc@example.com", "ann@customer.example",
                  "bob@customer.example", "BOB@customer.example", "sales@example.com"]
    assert copied_identities(recipients, "support@example.com", "email:ann@customer.example") == [
        "email:bob@customer.example", "email:sales@example.com"]


def test_copied_identities_are_capped():
    recipients = [f"p{n}@many.example" for n in range(100)]
    assert len(copied_identities(recipients, "support@example.com", "email:x@y.example")) == 20


def test_may_join_only_participants_and_people_they_copied():
    assert may_join("email:a@x", {"email:a@x"}, set())
    assert may_join("email:b@x", {"email:a@x"}, {"email:b@x"})
    assert not may_join("email:mallory@evil", {"email:a@x"}, {"email:b@x"})


def test_item_size_counts_names_and_values_like_dynamodb():
    from chalicelib.storage.repository import item_size

    # DynamoDB: attribute name bytes + UTF-8 value bytes; "ø" is two bytes.
    assert item_size({"k": {"S": "abc"}, "name": {"S": "ø"}}) == 1 + 3 + 4 + 2
    assert item_size({"tags": {"SS": ["a", "bb"]}}) == 4 + 3
    assert item_size({"m": {"M": {"x": {"S": "yy"}}}}) == 1 + 3 + 1 + 2


def test_check_refuses_keys_and_items_dynamodb_would_refuse_before_any_call():
    from chalicelib.storage import repository
    from chalicelib.storage.exceptions import RejectedWrite
    from chalicelib.storage.models import LookupModel

    writes = repository.Writes()
    writes.save(LookupModel("id:email:" + "a" * 2100 + "@x.example", ticket_id="t"))
    with pytest.raises(RejectedWrite, match="key lookup_key is 2,119 bytes; DynamoDB allows 2,048"):
        repository.check(writes)
    writes = repository.Writes()
    writes.save(LookupModel("k", ticket_id="t" * 410_000))
    with pytest.raises(RejectedWrite, match="LookupModel item would be 400 KB; DynamoDB allows 400 KB"):
        repository.check(writes)
