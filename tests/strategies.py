"""Hypothesis strategies shared by the adapter property tests."""
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@st.composite
def mutations(draw, value):
    """The value with any part kept (mostly), dropped or replaced by other JSON: shapes a parser must survive."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON)
    if isinstance(value, dict):
        return {key: draw(mutations(item)) for key, item in value.items() if draw(st.integers(0, 19)) != 0}
    if isinstance(value, list):
        return [draw(mutations(item)) for item in value]
    return value
