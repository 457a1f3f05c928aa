"""Who else an agent copies (Cc) on an email reply: checked before anything is stored or sent.

An address goes into a header we write (``Cc:``) and into SES's destinations,
so it must be one plain ``local@domain`` and nothing more: CR or LF would let a
caller add headers (header injection, RFC 5322 §2.2), a comma or angle bracket
a second address. ASCII only: SES SendRawEmail cannot deliver a non-ASCII local
part (no SMTPUTF8). Our own support address is refused: the copy would come
back as inbound mail on the ticket.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MAX_CC", "cc_addresses"]

MAX_CC = 10
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def cc_addresses(values: Iterable[str], *, own_addresses: Iterable[str] = (), to_address: str = "") -> list[str]:
    """The Cc addresses, lower-cased, each once and never the To address; ValueError naming the bad one."""
    chosen: list[str] = []
    own = {address.lower() for address in own_addresses}
    for value in values:
        if not isinstance(value, str):
            raise ValueError("cc must list email addresses")
        if "\r" in value or "\n" in value:
            raise ValueError(f"cc address {value[:80]!r} contains a line break")
        address = value.strip().lower()
        if len(address) > 254 or not _ADDRESS.match(address) or ".." in address or address.startswith("."):
            raise ValueError(f"cc address {value[:80]!r} is not a plain ASCII address such as ann@example.com")
        if address in own:
            raise ValueError(f"cc address {address!r} is the desk's own address; the copy would come back as mail")
        if address != to_address.lower() and address not in chosen:
            chosen.append(address)
    if len(chosen) > MAX_CC:
        raise ValueError(f"at most {MAX_CC} cc addresses")
    return chosen
