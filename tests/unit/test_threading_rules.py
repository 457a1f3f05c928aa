"""Which ticket a message continues: the order of evidence, and the participant rule."""
from chalicelib.domain.threading import candidates, lookup_keys, subject_ticket_number


def test_message_ids_come_before_reply_address_and_subject_token():
    found = {"mid:b@x": "t-b", "tno:7": "t-7"}
    ranked = candidates(["a@x", "b@x"], "Re: thing [#7]", found, signed_ticket_id="t-signed")
    assert [(c.ticket_id, c.method) for c in ranked] == [
        ("t-b", "message-id"),
        ("t-signed", "reply-address"),
        ("t-7", "subject-token"),
    ]
    # Only the signed reply address admits a newcomer: ids and ticket numbers are no secret.
    assert [c.requires_participant for c in ranked] == [True, False, True]


def test_subject_token_is_only_looked_up_when_present():
    assert lookup_keys(["a@x"], "Hello") == ["mid:a@x"]
    assert lookup_keys([], "Re: [#1234] Hello") == ["tno:1234"]
    assert subject_ticket_number("Order #12 [# 3]") is None
