"""When a new ticket gets an acknowledgement (RFC 3834) and how its promise reads."""
from datetime import datetime, timezone

from chalicelib.domain.acknowledgement import decide, humanise_minutes, window_key

W = window_key(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), 60)


def _decide(**overrides):
    args = dict(quarantine_reason=None, auto_reply_reason=None, window=W, observed_window=None,
                observed_count=0, max_per_sender=3)
    args.update(overrides)
    return decide(**args)


def test_human_mail_is_acknowledged_and_counted():
    decision = _decide()
    assert decision.send and decision.count == 1 and decision.window == W


def test_machine_sent_and_quarantined_mail_is_never_acknowledged():
    assert not _decide(auto_reply_reason="Auto-Submitted: auto-replied").send
    assert "quarantined" in _decide(quarantine_reason="spam verdict FAIL").reason


def test_cap_per_sender_applies_within_the_window_only():
    assert not _decide(observed_window=W, observed_count=3).send
    assert _decide(observed_window=W, observed_count=2).count == 3
    assert _decide(observed_window="60m:1", observed_count=99).count == 1


def test_promise_wording():
    assert [humanise_minutes(m) for m in (60, 240, 1440, 4320, 90)] == [
        "1 hour", "4 hours", "1 day", "3 days", "90 minutes"]
