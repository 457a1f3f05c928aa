"""Mailing console sign-in links (``kind: "signin"`` on the outbound queue; ``service/signin.py``).

The link is made here, behind the queue, not in the request that asked for it: so
the API answers the same, in the same time, for an address that is an agent's and
one that is not. The mail is a plain notification (``email.build_notification``:
``Auto-Submitted: auto-generated``) sent through SES like every other.
"""
from __future__ import annotations

from typing import Any

from chalicelib import clock, config
from chalicelib.observability import count, logger

__all__ = ["SUBJECT", "send_links"]

SUBJECT = "Your sign-in link"


def send_links(message: dict[str, Any]) -> int:
    """Make and mail a link to each active agent with ``message["email"]``; returns how many were mailed.

    An address SES cannot carry is logged and dropped (retrying cannot help); throttling and outages
    raise, and SQS delivers the message again (a new link then replaces the unmailed one).
    """
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound.templates import render
    from chalicelib.service import signin

    now = clock.now()
    sent = 0
    for link in signin.issue_links(message["email"], now=now):
        text = render("signin_link.txt.j2", agent_name=link.agent_name, url=link.url,
                      support_name=config.setting("SUPPORT_NAME"), expires_at=link.expires_at.strftime("%H:%M"),
                      minutes=config.int_setting("SIGNIN_LINK_MINUTES"))
        try:
            email_out.send(email_out.build_notification(link.to_address, SUBJECT, text), link.to_address)
        except email_out.Undeliverable as err:
            logger.warning("sign-in link not mailed", extra={"agent_id": link.agent_id, "reason": err.reason})
            continue
        sent += 1
        count("SigninLinksSent", channel="email")
    if not sent:
        logger.info("sign-in link asked for an address with no active agent, or not deliverable")
    return sent
