"""How a stored change moves the inbox counters: every active ticket in each of its counters exactly once."""
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import inbox_counts
from chalicelib.domain.vocabulary import PRIORITIES, STATUSES

tickets = st.builds(SimpleNamespace, status=st.sampled_from(STATUSES), priority=st.sampled_from(PRIORITIES),
                    channel=st.sampled_from(["email", "webchat", "sms"]), category=st.sampled_from(["billing", "tech"]),
                    assignee_id=st.sampled_from([None, "a-1", "a-2"]),
                    overdue_at=st.sampled_from([None, "2026-12-05T10:00:00Z"]))


@given(st.lists(st.lists(tickets, min_size=1, max_size=6), max_size=8))
def test_applying_every_change_in_order_gives_the_counters_of_the_final_tickets(histories):
    total, expected = {}, {}
    for history in histories:  # each ticket: created, then changed step by step
        for old, new in zip([None, *history], history):
            for key, delta in inbox_counts.moved(old, new).items():
                total[key] = total.get(key, 0) + delta
        for key, n in inbox_counts.counters_of(history[-1]).items():
            expected[key] = expected.get(key, 0) + n
    assert {k: v for k, v in total.items() if v} == expected


def test_an_active_ticket_counts_once_per_group_and_a_solved_one_not_at_all():
    ticket = SimpleNamespace(status="open", priority="high", channel="email", category="billing",
                             assignee_id=None, overdue_at="2026-12-05T10:00:00Z")
    assert inbox_counts.counters_of(ticket) == {
        ("desk", "status_open"): 1, ("desk", "priority_high"): 1, ("desk", "channel_email"): 1,
        ("desk", "queue_billing"): 1, ("desk", "unassigned"): 1, ("desk", "overdue"): 1}
    solved = SimpleNamespace(**{**vars(ticket), "status": "solved"})
    assert inbox_counts.counters_of(solved) == {}
    taken = SimpleNamespace(**{**vars(ticket), "assignee_id": "a-1", "overdue_at": None})
    assert inbox_counts.moved(ticket, taken) == {("desk", "unassigned"): -1, ("a-1", "mine"): 1,
                                                 ("desk", "overdue"): -1}
