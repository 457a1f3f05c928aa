"""The portal's mail: sign-in links (``kind: "portal_signin"`` on the outbound queue) and the messages
of portal tickets (the ``portal`` provider of ``platforms.SENDERS``).

The link is made here, behind the queue, not in the request that asked for it: the API
answers the same, in the same time, whether or not a customer has the address
(``service/portal.py``). A portal ticket's acknowledgement and agents' replies are stored
on the ticket (the portal shows them) and mailed to the address the customer gave, with
a pointer back to the portal; both are plain notifications (``Auto-Submitted``), in the
language the customer chose on the page.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib import clock, config
from chalicelib.observability import count, logger

__all__ = ["SUBJECTS", "send_link", "send_portal"]

SUBJECTS = {"en": "Your sign-in link", "da": "Dit login-link", "no": "Din innloggingslenke"}


def send_link(message: dict[str, Any]) -> bool:
    """Make and mail a portal link for ``message["email"]``; False when nobody has that address."""
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound.templates import render, template_in
    from chalicelib.service import portal

    link = portal.issue_link(message["email"], now=clock.now())
    if link is None:
        logger.info("portal link asked for an address no customer has")
        return False
    language = _language(message.get("language"))
    text = render(template_in("portal_signin.txt.j2", language), customer_name=link.customer_name, url=link.url,
                  support_name=config.setting("SUPPORT_NAME"), expires_at=link.expires_at.strftime("%H:%M"),
                  minutes=config.int_setting("SIGNIN_LINK_MINUTES"))
    try:
        email_out.send(email_out.build_notification(link.to_address, SUBJECTS[language], text), link.to_address)
    except email_out.Undeliverable as err:
        logger.warning("portal link not mailed", extra={"reason": err.reason})
        return False
    count("PortalLinksSent", channel="portal")
    return True


def send_portal(route: dict, text: str, since_customer: timedelta) -> str:
    """Mail a portal ticket's acknowledgement or reply to the address its customer gave; returns SES's id."""
    from chalicelib.outbound import email as email_out
    from chalicelib.outbound.templates import render, template_in

    to_address = route.get("to") or ""
    language = _language(route.get("language"))
    body = render(template_in("portal_message.txt.j2", language), text=text,
                  portal_url=f"{config.setting('PUBLIC_BASE_URL').rstrip('/')}/portal",
                  support_name=config.setting("SUPPORT_NAME"))
    subject = f"Re: {route.get('subject') or config.setting('SUPPORT_NAME')}"
    try:
        return email_out.send(email_out.build_notification(to_address, subject, body), to_address)
    except email_out.Undeliverable as err:
        from chalicelib.outbound.http import PermanentDeliveryError

        raise PermanentDeliveryError(f"portal mail cannot be sent: {err.reason}") from err


def _language(value: Any) -> str:
    from chalicelib.domain.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

    return value if value in LANGUAGES else DEFAULT_LANGUAGE
