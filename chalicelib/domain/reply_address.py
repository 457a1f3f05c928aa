"""Signed reply addresses: ``support+<ticket>.<signature>@domain``.

The signature is an HMAC of the ticket id, so nobody can make mail join a
ticket by guessing an address (the weakness of plain ticket-number tokens).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

_SIGNATURE_CHARS = 16
_TOKEN = re.compile(r"^(?P<ticket>t-[0-9a-f]{20})\.(?P<sig>[a-z2-7]{%d})$" % _SIGNATURE_CHARS)


def _signature(ticket_id: str, secret: bytes) -> str:
    mac = hmac.new(secret, ticket_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().lower()[:_SIGNATURE_CHARS]


def reply_address(ticket_id: str, support_address: str, secret: bytes) -> str:
    local, _, domain = support_address.partition("@")
    return f"{local}+{ticket_id}.{_signature(ticket_id, secret)}@{domain}"


def ticket_from_addresses(addresses: Iterable[str], support_address: str, secret: bytes) -> str | None:
    """The ticket id carried by a correctly signed reply address among ``addresses``, if any."""
    local, _, domain = support_address.lower().partition("@")
    for address in addresses:
        addr_local, _, addr_domain = address.lower().partition("@")
        base, plus, token = addr_local.partition("+")
        if not plus or base != local or addr_domain != domain:
            continue
        match = _TOKEN.match(token)
        if match and hmac.compare_digest(match["sig"], _signature(match["ticket"], secret)):
            return match["ticket"]
    return None
