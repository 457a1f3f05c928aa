"""storage.repository checks an item's size against DynamoDB's limit from its JSON length first: that length
must never be below the item's DynamoDB size, or an item too large would pass the check."""
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.storage.repository import _json_size, item_size

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40) | st.text(
    alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x1F9FF), max_size=10)
_number = st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str)
_scalar = st.one_of(_text.map(lambda s: {"S": s}), _number.map(lambda n: {"N": n}),
                    st.booleans().map(lambda b: {"BOOL": b}), st.just({"NULL": True}),
                    st.lists(_text, min_size=1, max_size=5, unique=True).map(lambda v: {"SS": v}),
                    st.binary(max_size=20).map(lambda b: {"B": b}))
_value = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda v: {"L": v}),
    st.dictionaries(_text, inner, max_size=4).map(lambda v: {"M": v})), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, _value, min_size=1, max_size=8))
def test_the_json_length_is_never_below_the_dynamodb_size(item):
    assert _json_size(item) >= item_size(item)


def test_an_item_of_non_ascii_text_is_bounded_too():
    item = {"ticket_id": {"S": "t-1"}, "subject": {"S": "æøå 😀 " * 1000}, "n": {"N": "12345"}}
    assert _json_size(item) >= item_size(item) > 12_000
