"""Signed reply addresses: only the address we issued leads back to its ticket."""
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.reply_address import reply_address, ticket_from_addresses

SECRET = b"unit-test-secret"
SUPPORT = "support@example.com"
ticket_ids = st.binary(min_size=1, max_size=16).map(lambda b: "t-" + hashlib.sha256(b).hexdigest()[:20])


@given(ticket_ids)
def test_issued_address_leads_back_to_its_ticket(ticket_id):
    address = reply_address(ticket_id, SUPPORT, SECRET)
    assert address.startswith("support+") and address.endswith("@example.com")
    assert ticket_from_addresses([address], SUPPORT, SECRET) == ticket_id
    assert ticket_from_addresses([address.upper()], SUPPORT, SECRET) == ticket_id  # mail systems change case


@given(ticket_ids, ticket_ids)
def test_signature_of_one_ticket_never_opens_another(ticket_id, other_id):
    signature = reply_address(ticket_id, SUPPORT, SECRET).split(".")[1].split("@")[0]
    forged = f"support+{other_id}.{signature}@example.com"
    expected = other_id if other_id == ticket_id else None
    assert ticket_from_addresses([forged], SUPPORT, SECRET) == expected


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_local_parts_are_never_accepted(local_part):
    assert ticket_from_addresses([f"support+{local_part}@example.com"], SUPPORT, SECRET) is None


@given(ticket_ids)
def test_other_secret_or_domain_is_refused(ticket_id):
    address = reply_address(ticket_id, SUPPORT, SECRET)
    assert ticket_from_addresses([address], SUPPORT, b"another-secret") is None
    assert ticket_from_addresses([address.replace("example.com", "evil.example")], SUPPORT, SECRET) is None
    assert ticket_from_addresses([address.replace("support+", "sales+")], SUPPORT, SECRET) is None
