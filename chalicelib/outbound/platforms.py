"""Each platform's send API, as its documentation specifies; one function per provider.

Every function takes the ticket's reply route for that channel (recorded from
the customer's own message, see ``InboundMessage.reply_route``) and the text,
and returns the platform's message id. Secrets come by the names the
platforms' own tooling uses.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib import secrets
from chalicelib.outbound import portal_mail
from chalicelib.outbound.http import PermanentDeliveryError, request

GRAPH = "https://graph.facebook.com"
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)  # WhatsApp and Messenger: free-form replies only within it
MESSENGER_HUMAN_AGENT_WINDOW = timedelta(days=7)  # Messenger's HUMAN_AGENT tag


def _secret(name: str) -> str:
    value = secrets.get(name)
    if not value:
        raise PermanentDeliveryError(f"{name} is not configured")
    return value


def _graph_version() -> str:
    return secrets.get("META_GRAPH_VERSION") or "v21.0"


def send_slack(route: dict, text: str, since_customer: timedelta) -> str:
    body = {"channel": route["channel"], "text": text}
    if route.get("thread_ts"):
        body["thread_ts"] = route["thread_ts"]
    result = request("POST", "https://slack.com/api/chat.postMessage", platform="slack", json=body,
                     headers={"Authorization": f"Bearer {_secret('SLACK_BOT_TOKEN')}"})
    if not isinstance(result.body, dict) or not result.body.get("ok"):
        error = result.body.get("error") if isinstance(result.body, dict) else result.body
        raise PermanentDeliveryError(f"slack: chat.postMessage failed: {error}")
    return str(result.body.get("ts", ""))


def send_whatsapp(route: dict, text: str, since_customer: timedelta) -> str:
    if since_customer > CUSTOMER_SERVICE_WINDOW:
        template = secrets.get("WHATSAPP_REPLY_TEMPLATE")
        if not template:
            raise PermanentDeliveryError(
                "whatsapp: outside the 24-hour customer service window and no WHATSAPP_REPLY_TEMPLATE "
                "is configured; only template messages may be sent"
            )
        body = {"messaging_product": "whatsapp", "to": route["to"], "type": "template",
                "template": {"name": template, "language": {"code": secrets.get("WHATSAPP_TEMPLATE_LANGUAGE") or "en"}}}
    else:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": route["to"],
                "type": "text", "text": {"preview_url": False, "body": text}}
    result = request("POST", f"{GRAPH}/{_graph_version()}/{route['phone_number_id']}/messages", platform="whatsapp",
                     json=body, headers={"Authorization": f"Bearer {_secret('WHATSAPP_ACCESS_TOKEN')}"})
    messages = result.body.get("messages") if isinstance(result.body, dict) else None
    return str(messages[0].get("id", "")) if messages else ""


def send_messenger(route: dict, text: str, since_customer: timedelta) -> str:
    body: dict = {"recipient": {"id": route["recipient"]}, "message": {"text": text}}
    if since_customer <= CUSTOMER_SERVICE_WINDOW:
        body["messaging_type"] = "RESPONSE"
    elif since_customer <= MESSENGER_HUMAN_AGENT_WINDOW:
        body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    else:
        raise PermanentDeliveryError("messenger: more than 7 days since the customer's last message")
    result = request("POST", f"{GRAPH}/{_graph_version()}/me/messages", platform="messenger", json=body,
                     params={"access_token": _secret("MESSENGER_PAGE_ACCESS_TOKEN")})
    return str(result.body.get("message_id", "")) if isinstance(result.body, dict) else ""


def send_telegram(route: dict, text: str, since_customer: timedelta) -> str:
    result = request("POST", f"https://api.telegram.org/bot{_secret('TELEGRAM_BOT_TOKEN')}/sendMessage",
                     platform="telegram", json={"chat_id": route["chat_id"], "text": text})
    if isinstance(result.body, dict) and result.body.get("ok"):
        return str(result.body.get("result", {}).get("message_id", ""))
    raise PermanentDeliveryError(f"telegram: sendMessage failed: {result.body}")


def send_twilio(route: dict, text: str, since_customer: timedelta) -> str:
    account = _secret("TWILIO_ACCOUNT_SID")
    form = {"To": route["to"], "From": route["from"], "Body": text}
    if route["to"].startswith("whatsapp:") and since_customer > CUSTOMER_SERVICE_WINDOW:
        template = secrets.get("TWILIO_WHATSAPP_TEMPLATE_SID")  # WhatsApp's rule holds through Twilio too
        if not template:
            raise PermanentDeliveryError(
                "twilio whatsapp: outside the 24-hour customer service window and no "
                "TWILIO_WHATSAPP_TEMPLATE_SID is configured; only template messages may be sent"
            )
        form = {"To": route["to"], "From": route["from"], "ContentSid": template}
    result = request("POST", f"https://api.twilio.com/2010-04-01/Accounts/{account}/Messages.json",
                     platform="twilio", data=form, auth=(account, _secret("TWILIO_AUTH_TOKEN")))
    return str(result.body.get("sid", "")) if isinstance(result.body, dict) else ""


def send_webchat(route: dict, text: str, since_customer: timedelta) -> str:
    """The widget reads replies from the ticket; storing the message is the delivery."""
    return ""


SENDERS: dict[str, Callable[[dict, str, timedelta], str]] = {
    "slack": send_slack,
    "whatsapp": send_whatsapp,
    "messenger": send_messenger,
    "telegram": send_telegram,
    "twilio": send_twilio,
    "webchat": send_webchat,
    "portal": portal_mail.send_portal,  # mailed to the address the customer gave, with a link to the portal
}


def deliver(route: dict, text: str, now: datetime, last_inbound_at: datetime | None) -> str:
    provider = route.get("provider", "")
    sender = SENDERS.get(provider)
    if sender is None:
        raise PermanentDeliveryError(f"no sender for provider {provider!r}")
    since = now - last_inbound_at if last_inbound_at else timedelta(0)
    return sender(route, text, since)
