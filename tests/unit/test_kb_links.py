"""Tracked article links: only a token we signed names its (ticket, article), any change to it is refused; and
the rule that says when self-service is credited with a ticket."""
import base64
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain.kb_links import (
    BAD_SIGNATURE,
    EXPIRED,
    MALFORMED,
    InvalidLinkToken,
    LinkClaim,
    is_article_id,
    issue,
    may_deflect,
    silent_due,
    verify,
)

SECRET = b"unit-test-kb-link-secret"
NOW = datetime(2026, 3, 10, 12, 0, 30, 500_000, tzinfo=timezone.utc)
YEAR = timedelta(days=365)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

ticket_ids = st.text(min_size=1, max_size=40).filter(lambda text: len(text.encode("utf-8", "surrogatepass")) <= 255)
article_ids = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14))]))


def reason_of(token, **kwargs):
    with pytest.raises(InvalidLinkToken) as caught:
        verify(token, **{"secret": SECRET, "now": NOW, "max_age": YEAR} | kwargs)
    return caught.value.reason


def _encodable(ticket_id: str) -> bool:
    try:
        ticket_id.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=200)
@given(ticket_ids, article_ids, moments)
def test_round_trip_for_any_ticket_and_article(ticket_id, article_id, now):
    assume(_encodable(ticket_id))
    token = issue(ticket_id, article_id, secret=SECRET, now=now)
    claim = verify(token, secret=SECRET, now=now, max_age=YEAR)
    assert claim == LinkClaim(ticket_id, article_id, claim.issued_at)
    assert now - timedelta(seconds=1) < claim.issued_at <= now and claim.issued_at.microsecond == 0
    assert re.fullmatch(r"k1\.[A-Za-z0-9_-]+", token) and quote(token, safe="") == token  # URL-safe as it is


@settings(max_examples=300)
@given(ticket_ids, article_ids, st.data())
def test_any_single_character_changed_inserted_or_deleted_is_refused(ticket_id, article_id, data):
    assume(_encodable(ticket_id))
    token = issue(ticket_id, article_id, secret=SECRET, now=NOW)
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="kind")
    character = data.draw(st.sampled_from(B64URL + ".=~ \n"), label="character")
    if kind == "replace":
        assume(token[position] != character)
        tampered = token[:position] + character + token[position + 1:]
    elif kind == "insert":
        tampered = token[:position] + character + token[position:]
    else:
        tampered = token[:position] + token[position + 1:]
    assert reason_of(tampered) in (MALFORMED, BAD_SIGNATURE)


@settings(max_examples=150)
@given(ticket_ids, article_ids, ticket_ids, article_ids)
def test_a_token_cannot_be_rewritten_to_name_another_ticket_or_article(ticket_id, article_id, other_ticket,
                                                                       other_article):
    """Swapping the payload for another (ticket, article) keeps the old MAC: refused, whatever is swapped in."""
    assume(_encodable(ticket_id) and _encodable(other_ticket))
    assume((ticket_id, article_id) != (other_ticket, other_article))
    raw = base64.urlsafe_b64decode(issue(ticket_id, article_id, secret=SECRET, now=NOW)[3:] + "==")
    other = base64.urlsafe_b64decode(issue(other_ticket, other_article, secret=SECRET, now=NOW)[3:] + "==")
    spliced = other[:-16] + raw[-16:]
    assert reason_of("k1." + base64.urlsafe_b64encode(spliced).rstrip(b"=").decode()) == BAD_SIGNATURE


@given(st.one_of(st.none(), st.integers(), st.binary(), st.text(max_size=600)))
def test_anything_else_is_refused_with_a_reason_and_never_another_error(value):
    assert reason_of(value) in (MALFORMED, BAD_SIGNATURE)


def test_another_secret_and_old_links_are_refused_in_that_order():
    token = issue("t-0123456789abcdef0123", "reset-your-password", secret=SECRET, now=NOW)
    assert len(token) == 87  # 22-character ticket id, 19-character slug
    assert reason_of(token, secret=b"another-secret-of-16+") == BAD_SIGNATURE
    assert reason_of(token, now=NOW + YEAR + timedelta(seconds=1)) == EXPIRED
    assert verify(token, secret=SECRET, now=NOW.replace(microsecond=0) + YEAR, max_age=YEAR).article_id \
        == "reset-your-password"  # issued to the whole second
    old = issue("t-0123456789abcdef0123", "reset-your-password", secret=b"another-secret-of-16+", now=NOW - 2 * YEAR)
    assert reason_of(old) == BAD_SIGNATURE  # a forged token never learns its age
    assert reason_of(token + "\n") == MALFORMED and reason_of("k1." + "A" * 600) == MALFORMED


@pytest.mark.parametrize("ticket_id, article_id", [
    ("", "returns"), ("t-1", ""), ("t-1", "Returns"), ("t-1", "returns\n"), ("t-1", "../etc"), ("t" * 256, "a"),
])
def test_ids_no_token_can_carry_are_refused_when_issued(ticket_id, article_id):
    with pytest.raises(ValueError):
        issue(ticket_id, article_id, secret=SECRET, now=NOW)


def test_article_ids_are_slugs_exactly():
    assert is_article_id("reset-your-password") and is_article_id("a")
    assert not any(is_article_id(value) for value in ("returns\n", "Returns", "-returns", "a/b", "", None, 7))


def test_a_weak_secret_or_a_naive_clock_is_a_programming_error():
    with pytest.raises(ValueError):
        issue("t-1", "returns", secret=b"short", now=NOW)
    with pytest.raises(ValueError):
        verify("k1.AAAA", secret=SECRET, now=NOW.replace(tzinfo=None), max_age=YEAR)


# --------------------------------------------------------------------------- when self-service is credited

OPENED = NOW
WINDOW = timedelta(hours=72)


def due(**overrides):
    values = {"opened_at": OPENED, "window": WINDOW, "last_customer_message_at": OPENED - timedelta(minutes=5),
              "last_agent_reply_at": None, "status": "open", "merged_into": None, "deflected": False}
    return silent_due(**(values | overrides))


def test_the_silent_window_starts_at_the_first_open():
    assert due() == OPENED + WINDOW
    assert due(status="pending") == OPENED + WINDOW


@pytest.mark.parametrize("overrides", [
    {"opened_at": None},  # never opened a suggested article
    {"window": timedelta(0)},  # the desk turned it off
    {"last_customer_message_at": OPENED + timedelta(hours=1)},  # wrote again after reading
    {"last_agent_reply_at": OPENED + timedelta(hours=1)},  # an agent answered
    {"last_agent_reply_at": OPENED - timedelta(hours=1)},  # an agent had answered already: the team's work
    {"status": "solved"}, {"status": "closed"}, {"status": "spam"},
    {"merged_into": "t-other"}, {"deflected": True},
])
def test_no_silent_deflection_when_the_customer_or_the_team_did_anything(overrides):
    assert due(**overrides) is None


def test_a_confirmation_counts_only_while_the_ticket_waits_for_the_team():
    assert may_deflect(status="open", merged_into=None, deflected=False, agent_replied=False)
    assert not may_deflect(status="open", merged_into=None, deflected=False, agent_replied=True)
    assert not may_deflect(status="solved", merged_into=None, deflected=False, agent_replied=False)
    assert not may_deflect(status="open", merged_into=None, deflected=True, agent_replied=False)
