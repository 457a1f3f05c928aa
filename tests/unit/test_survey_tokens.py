"""Survey links: only the token we issued rates its ticket, until it expires; answers are checked strictly."""
import base64
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain.survey_tokens import (
    BAD_SIGNATURE,
    COMMENT_MAX_CHARS,
    EXPIRED,
    MALFORMED,
    WRONG_TICKET,
    InvalidSurveyResponse,
    InvalidSurveyToken,
    SurveyClaim,
    SurveyResponse,
    issue,
    validate_response,
    verify,
)
from tests.strategies import JSON

SECRET = b"unit-test-survey-secret"
NOW = datetime(2024, 3, 10, 12, 0, 30, 500_000, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

ticket_ids = st.text(min_size=1, max_size=40)
nonces = st.text(min_size=1, max_size=16)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-9, minutes=-30))]
    ),
)  # fmt: skip
ttls = st.integers(1, 10**8).map(lambda seconds: timedelta(seconds=seconds))


def reason_of(token, **kwargs):
    with pytest.raises(InvalidSurveyToken) as caught:
        verify(token, **{"secret": SECRET, "now": NOW} | kwargs)
    return caught.value.reason


@settings(max_examples=150)
@given(ticket_ids, nonces, moments, ttls)
def test_round_trip_for_any_ticket_id_and_nonce(ticket_id, nonce, now, ttl):
    token = issue(ticket_id, secret=SECRET, now=now, ttl=ttl, nonce=nonce)
    claim = verify(token, secret=SECRET, now=now, ticket_id=ticket_id)
    assert (claim.ticket_id, claim.nonce) == (ticket_id, nonce)
    assert now < claim.expires_at <= now + ttl and claim.expires_at.microsecond == 0
    assert re.fullmatch(r"s1\.[A-Za-z0-9_-]+", token) and quote(token, safe="") == token  # URL-safe as is


def test_token_is_compact_and_claim_is_exact():
    token = issue("t-0123456789abcdef0123", secret=SECRET, now=NOW, ttl=WEEK, nonce="Zq3vTn8xYw2LpR5k")
    assert len(token) == 83
    assert verify(token, secret=SECRET, now=NOW) == SurveyClaim(
        "t-0123456789abcdef0123", "Zq3vTn8xYw2LpR5k", datetime(2024, 3, 17, 12, 0, 30, tzinfo=timezone.utc)
    )


def test_token_works_until_the_second_it_expires():
    token = issue("t-1", secret=SECRET, now=NOW, ttl=WEEK, nonce="n")
    expires_at = verify(token, secret=SECRET, now=NOW).expires_at
    assert verify(token, secret=SECRET, now=expires_at - timedelta(microseconds=1)).ticket_id == "t-1"
    assert reason_of(token, now=expires_at) == EXPIRED


@st.composite
def mutated(draw):
    """A valid token with one character substituted, deleted or inserted anywhere (prefix included)."""
    token = issue(draw(ticket_ids), secret=SECRET, now=NOW, ttl=WEEK, nonce=draw(nonces))
    position = draw(st.integers(0, len(token) - 1) | st.just(len(token) - 1))  # the tail is where base64 hides bits
    character = draw(st.sampled_from(B64URL + ".=+/ \n") | st.characters())
    edit = draw(st.sampled_from(["substitute", "delete", "insert"]))
    if edit == "substitute":
        changed = token[:position] + character + token[position + 1 :]
    elif edit == "delete":
        changed = token[:position] + token[position + 1 :]
    else:
        changed = token[:position] + character + token[position:]
    return token, changed


@settings(max_examples=300)
@given(mutated())
def test_any_single_character_change_is_refused(pair):
    # Strict, not "or decodes to the same claim": verify demands canonical base64, so even a
    # change in the unused low bits of the last character (which decoders ignore) is refused.
    token, changed = pair
    assume(changed != token)
    assert reason_of(changed) in {MALFORMED, BAD_SIGNATURE}


@pytest.mark.parametrize("nonce", ["n", "n2", "n23"])  # 26, 27, 28 bytes: every base64 tail shape
def test_every_substitution_and_deletion_of_every_character_is_refused(nonce):
    token = issue("t-1", secret=SECRET, now=NOW, ttl=WEEK, nonce=nonce)
    variants = {token[:i] + c + token[i + 1 :] for i in range(len(token)) for c in B64URL + "."}
    variants |= {token[:i] + token[i + 1 :] for i in range(len(token))}
    variants.discard(token)
    reasons = {reason_of(variant) for variant in variants}
    assert len(variants) > 64 * len(token) - len(token) and reasons <= {MALFORMED, BAD_SIGNATURE}


def test_unused_base64_bits_cannot_make_a_second_spelling_of_a_token():
    token = issue("t-abc", secret=SECRET, now=NOW, ttl=WEEK, nonce="nonce-1")

    def lenient_decode(body):
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))

    body = token[3:]
    assert len(lenient_decode(body)) % 3 == 1  # 34 bytes: the last character carries 2 bits and 4 unused ones
    twin = token[:-1] + B64URL[B64URL.index(body[-1]) ^ 1]  # flip an unused low bit
    assert twin != token
    assert lenient_decode(twin[3:]) == lenient_decode(body)  # a lenient decoder sees the same bytes...
    assert reason_of(twin) == MALFORMED  # ...but verify refuses the second spelling


@given(ticket_ids, ticket_ids)
def test_a_token_for_one_ticket_never_verifies_as_another(ticket_a, ticket_b):
    token = issue(ticket_a, secret=SECRET, now=NOW, ttl=WEEK, nonce="n")
    if ticket_a == ticket_b:
        assert verify(token, secret=SECRET, now=NOW, ticket_id=ticket_b).ticket_id == ticket_b
    else:
        assert reason_of(token, ticket_id=ticket_b) == WRONG_TICKET


@settings(max_examples=300)
@given(st.text(max_size=120) | st.text(B64URL, max_size=120).map(lambda body: "s1." + body))
def test_arbitrary_strings_raise_only_invalid_survey_token(text):
    assert reason_of(text) in {MALFORMED, BAD_SIGNATURE}


def test_non_strings_and_huge_inputs_are_malformed():
    assert {reason_of(None), reason_of(b"s1.abc"), reason_of("s1." + "A" * 10_000)} == {MALFORMED}
    token = issue("t-1", secret=SECRET, now=NOW, ttl=WEEK, nonce="n")
    assert reason_of(token + "\n") == MALFORMED
    assert reason_of(token.replace("s1.", "s2.")) == MALFORMED


def test_the_four_reasons_are_distinct_and_checked_in_order():
    token = issue("t-1", secret=SECRET, now=NOW, ttl=WEEK, nonce="n")
    late = NOW + WEEK * 2
    assert reason_of(token, secret=b"another-secret-of-16b") == BAD_SIGNATURE
    assert reason_of(token, secret=b"another-secret-of-16b", now=late) == BAD_SIGNATURE  # forgers learn nothing
    assert reason_of(token, now=late, ticket_id="t-2") == WRONG_TICKET
    assert reason_of(token, now=late) == EXPIRED
    assert len({MALFORMED, BAD_SIGNATURE, EXPIRED, WRONG_TICKET}) == 4
    assert str(InvalidSurveyToken(EXPIRED)) == "survey token refused: expired"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ticket_id": ""},
        {"ticket_id": "x" * 256},
        {"nonce": ""},
        {"nonce": "n" * 65},
        {"nonce": "\ud800"},
        {"secret": b"short"},
        {"secret": "not-bytes-but-long-enough"},
        {"now": datetime(2024, 3, 10)},
        {"ttl": timedelta(0)},
        {"ttl": timedelta(milliseconds=999)},
    ],
)
def test_issue_refuses_what_no_token_can_carry(kwargs):
    arguments = {"ticket_id": "t-1", "secret": SECRET, "now": NOW, "ttl": WEEK, "nonce": "n"} | kwargs
    ticket_id = arguments.pop("ticket_id")
    with pytest.raises(ValueError):
        issue(ticket_id, **arguments)


def test_verify_refuses_a_misconfigured_secret_or_naive_clock_loudly():
    token = issue("t-1", secret=SECRET, now=NOW, ttl=WEEK, nonce="n")
    with pytest.raises(ValueError, match="at least 16 bytes") as caught:
        verify(token, secret=b"", now=NOW)
    assert not isinstance(caught.value, InvalidSurveyToken)  # a config error, not the customer's fault
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(token, secret=SECRET, now=datetime(2024, 3, 10))


def test_valid_responses():
    assert validate_response({"rating": 5}) == SurveyResponse(rating=5)
    full = validate_response({"rating": 1, "comment": "  Took a week.\n", "nps": 0, "ces": 7})
    assert full == SurveyResponse(rating=1, comment="Took a week.", nps=0, ces=7)
    assert validate_response({"rating": 3, "comment": "   ", "nps": None, "ces": None}) == SurveyResponse(rating=3)
    assert validate_response({"rating": 4, "comment": "é" * COMMENT_MAX_CHARS}).comment == "é" * 2000


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "rating"),
        ({"rating": None}, "rating"),
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": True}, "rating"),
        ({"rating": 4.0}, "rating"),
        ({"rating": "4"}, "rating"),
        ({"rating": 4, "nps": 11}, "nps"),
        ({"rating": 4, "nps": -1}, "nps"),
        ({"rating": 4, "nps": False}, "nps"),
        ({"rating": 4, "ces": 0}, "ces"),
        ({"rating": 4, "ces": 8}, "ces"),
        ({"rating": 4, "ces": 2.5}, "ces"),
        ({"rating": 4, "comment": 5}, "comment"),
        ({"rating": 4, "comment": "x" * (COMMENT_MAX_CHARS + 1)}, "comment"),
        ({"rating": 4, "raiting": 5}, "raiting"),
        ({"rating": 4, 7: 1}, "7"),
    ],
)
def test_invalid_responses_name_the_field(payload, field):
    with pytest.raises(InvalidSurveyResponse) as caught:
        validate_response(payload)
    assert caught.value.field == field and field in caught.value.reason


@pytest.mark.parametrize("payload", [None, [], "rating=5", 5])
def test_a_response_must_be_an_object(payload):
    with pytest.raises(InvalidSurveyResponse, match="JSON object"):
        validate_response(payload)


@settings(max_examples=200)
@given(JSON | st.dictionaries(st.sampled_from(["rating", "comment", "nps", "ces"]), JSON))
def test_arbitrary_json_is_accepted_only_when_valid_and_never_crashes(payload):
    try:
        response = validate_response(payload)
    except InvalidSurveyResponse as error:
        assert error.reason
    else:
        assert 1 <= response.rating <= 5 and type(response.rating) is int
        assert response.nps is None or 0 <= response.nps <= 10
        assert response.ces is None or 1 <= response.ces <= 7
        assert response.comment is None or 0 < len(response.comment) <= COMMENT_MAX_CHARS
