"""The customer portal as a channel: a form's submission, or a signed-in customer's reply, as an ``InboundMessage``.

Like every adapter it only turns what the route validated into the one inbound type;
the route enqueues it and the pipeline does the rest (customer, thread, triage,
acknowledgement, assignment), exactly as for mail or chat.

An address typed into the form proves nothing (the web chat's reasoning,
``channels/webchat.py``): trusting it would file the ticket as that customer's and let
a stranger write in their name. So an anonymous submission's sender is
``portal:<address>`` — a customer of its own, who has *claimed* the address — and the
address only says where the acknowledgement and replies are mailed. The claim is proven
when someone uses a sign-in link mailed to that address (``service/portal.py``): then the
claimant is folded into the customer who owns ``email:<address>``. A signed-in reply
comes from the identity the customer proved, and names its ticket in ``reply_route``;
the route checked that the ticket is theirs (the pipeline joins it, ``find_thread``).
"""
from __future__ import annotations

from datetime import datetime

from chalicelib.domain.messages import AttachmentRef, Identity, InboundMessage

__all__ = ["PROVIDER", "reply", "submission"]

PROVIDER = "portal"


def submission(*, submission_id: str, name: str, email: str, subject: str, text: str,
               attachments: list[AttachmentRef], language: str, now: datetime) -> InboundMessage:
    """A new ticket from the portal's form, sent by whoever claims ``email``."""
    address = email.strip().lower()
    return InboundMessage(
        channel="portal",
        external_id=submission_id,
        received_at=now,
        sender=Identity("portal", address),
        sender_name=name.strip(),
        subject=subject.strip(),
        text=text,
        reply_text=text,
        attachments=attachments,
        conversation_key=f"portal:{submission_id}",
        reply_route={"provider": PROVIDER, "to": address, "subject": subject.strip()[:200], "language": language},
    )


def reply(*, ticket_id: str, message_id: str, identity: str, email: str, subject: str, name: str, text: str,
          attachments: list[AttachmentRef], language: str, now: datetime) -> InboundMessage:
    """A signed-in customer's message on their ticket ``ticket_id``, from the identity they proved."""
    kind, _, value = identity.partition(":")
    return InboundMessage(
        channel="portal",
        external_id=message_id,
        received_at=now,
        sender=Identity(kind, value),
        sender_name=name,
        subject=subject,
        text=text,
        reply_text=text,
        attachments=attachments,
        conversation_key=f"portal:{ticket_id}",  # one FIFO group per ticket: a customer's replies stay in order
        reply_route={"provider": PROVIDER, "to": email, "subject": subject[:200], "language": language,
                     "ticket_id": ticket_id},
    )
