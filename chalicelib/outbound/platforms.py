"""Each platform's send API, as its documentation specifies; one function per provider.

Every function takes the ticket's reply route for that channel (recorded from
the customer's own message, see ``InboundMessage.reply_route``) and the text,
and returns the platform's message id. Secrets come by the names the
platforms' own tooling uses.

A reply may carry ``choices`` (the bot's "did this solve it?", ``domain.bot.choices_in``): at most
``MAX_CHOICES`` ``{"value", "label"}`` pairs, checked by the worker. Each platform shows them as its own
buttons (Slack Block Kit, WhatsApp reply buttons, Messenger quick replies, Telegram inline keyboard), and the
press comes back as an inbound message whose ``choice`` is the value (``chalicelib/channels``). A channel
without buttons (SMS, Twilio, portal mail) gets the labels as one plain line, so a typed answer works.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from chalicelib import secrets
from chalicelib.outbound import portal_mail
from chalicelib.outbound.http import PermanentDeliveryError, request

GRAPH = "https://graph.facebook.com"
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)  # WhatsApp and Messenger: free-form replies only within it
MESSENGER_HUMAN_AGENT_WINDOW = timedelta(days=7)  # Messenger's HUMAN_AGENT tag

# What every platform's buttons can hold, so one set of choices renders everywhere: WhatsApp allows at most
# 3 reply buttons with titles of at most 20 characters (its interactive reply-buttons reference); Telegram's
# callback_data is 1-64 bytes (InlineKeyboardButton). Slack (75-character button text, 2,000-character value)
# and Messenger (13 quick replies, 20-character titles) allow more.
MAX_CHOICES = 3
MAX_CHOICE_LABEL_CHARS = 20
MAX_CHOICE_VALUE_BYTES = 64
WHATSAPP_BODY_MAX = 1024  # an interactive message's body.text, in characters (counted here as UTF-16 units)
SLACK_SECTION_MAX = 3000  # a section block's text, likewise
_SLACK_MAX_BLOCKS = 50  # blocks per message

Choice = Mapping[str, str]  # {"value": "bot:yes", "label": "Yes, solved"}


def _secret(name: str) -> str:
    value = secrets.get(name)
    if not value:
        raise PermanentDeliveryError(f"{name} is not configured")
    return value


def _graph_version() -> str:
    return secrets.get("META_GRAPH_VERSION") or "v21.0"


def send_slack(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    body: dict = {"channel": route["channel"], "text": text}  # with blocks, the text is the notification's
    if choices:
        body["blocks"] = _slack_blocks(text, choices)
    if route.get("thread_ts"):
        body["thread_ts"] = route["thread_ts"]
    result = request("POST", "https://slack.com/api/chat.postMessage", platform="slack", json=body,
                     headers={"Authorization": f"Bearer {_secret('SLACK_BOT_TOKEN')}"})
    if not isinstance(result.body, dict) or not result.body.get("ok"):
        error = result.body.get("error") if isinstance(result.body, dict) else result.body
        raise PermanentDeliveryError(f"slack: chat.postMessage failed: {error}")
    return str(result.body.get("ts", ""))


def send_whatsapp(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    if since_customer > CUSTOMER_SERVICE_WINDOW:  # only a template may be sent: it has no room for our buttons
        template = secrets.get("WHATSAPP_REPLY_TEMPLATE")
        if not template:
            raise PermanentDeliveryError(
                "whatsapp: outside the 24-hour customer service window and no WHATSAPP_REPLY_TEMPLATE "
                "is configured; only template messages may be sent"
            )
        body = {"messaging_product": "whatsapp", "to": route["to"], "type": "template",
                "template": {"name": template, "language": {"code": secrets.get("WHATSAPP_TEMPLATE_LANGUAGE") or "en"}}}
    elif choices and text.strip():  # reply buttons need a body
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": route["to"],
                "type": "interactive", "interactive": {
                    "type": "button",
                    "body": {"text": _cut_at_word(text, WHATSAPP_BODY_MAX)},
                    "action": {"buttons": [{"type": "reply", "reply": {"id": choice["value"], "title": choice["label"]}}
                                           for choice in choices]}}}
    else:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": route["to"],
                "type": "text", "text": {"preview_url": False, "body": text}}
    result = request("POST", f"{GRAPH}/{_graph_version()}/{route['phone_number_id']}/messages", platform="whatsapp",
                     json=body, headers={"Authorization": f"Bearer {_secret('WHATSAPP_ACCESS_TOKEN')}"})
    messages = result.body.get("messages") if isinstance(result.body, dict) else None
    return str(messages[0].get("id", "")) if messages else ""


def send_messenger(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    body: dict = {"recipient": {"id": route["recipient"]}, "message": {"text": text}}
    if choices:  # the tapped title comes back as the message text, the payload as message.quick_reply.payload
        body["message"]["quick_replies"] = [{"content_type": "text", "title": choice["label"],
                                             "payload": choice["value"]} for choice in choices]
    if since_customer <= CUSTOMER_SERVICE_WINDOW:
        body["messaging_type"] = "RESPONSE"
    elif since_customer <= MESSENGER_HUMAN_AGENT_WINDOW:
        body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    else:
        raise PermanentDeliveryError("messenger: more than 7 days since the customer's last message")
    result = request("POST", f"{GRAPH}/{_graph_version()}/me/messages", platform="messenger", json=body,
                     params={"access_token": _secret("MESSENGER_PAGE_ACCESS_TOKEN")})
    return str(result.body.get("message_id", "")) if isinstance(result.body, dict) else ""


def send_telegram(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    body: dict = {"chat_id": route["chat_id"], "text": text}
    if choices:  # one row of buttons; a press comes back as a callback_query carrying callback_data
        body["reply_markup"] = {"inline_keyboard": [[{"text": choice["label"], "callback_data": choice["value"]}
                                                     for choice in choices]]}
    result = request("POST", f"https://api.telegram.org/bot{_secret('TELEGRAM_BOT_TOKEN')}/sendMessage",
                     platform="telegram", json=body)
    if isinstance(result.body, dict) and result.body.get("ok"):
        return str(result.body.get("result", {}).get("message_id", ""))
    raise PermanentDeliveryError(f"telegram: sendMessage failed: {result.body}")


def send_twilio(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    account = _secret("TWILIO_ACCOUNT_SID")
    # SMS has no buttons, and Twilio's WhatsApp buttons need a pre-approved Content template: a typed answer.
    form = {"To": route["to"], "From": route["from"], "Body": with_typed_choices(text, choices)}
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


def send_webchat(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    """The widget reads replies from the ticket; storing the message is the delivery (it shows the choices too)."""
    return ""


def send_portal(route: dict, text: str, since_customer: timedelta, choices: Sequence[Choice] = ()) -> str:
    """Portal replies go by mail, which has no buttons: the choices as a line to answer with."""
    return portal_mail.send_portal(route, with_typed_choices(text, choices), since_customer)


def with_typed_choices(text: str, choices: Sequence[Choice]) -> str:
    """The text and, on a line of its own, the labels to answer with: ``Yes, solved / No, I need help``.

    Only the labels, which are already in the customer's language (a "Reply:" here would be English in a Danish
    chat); ``domain.bot.understand`` reads either label typed back, or a plain yes or no.
    """
    if not choices:
        return text
    line = " / ".join(choice["label"] for choice in choices)
    return f"{text.rstrip()}\n{line}" if text.strip() else line


def _slack_blocks(text: str, choices: Sequence[Choice]) -> list[dict]:
    """The text as section blocks (3,000 characters each) and the choices as an actions block of buttons."""
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": part}}
                for part in _parts(text, SLACK_SECTION_MAX)][:_SLACK_MAX_BLOCKS - 1]
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": choice["label"]},
                "value": choice["value"], "action_id": choice["value"]} for choice in choices]
    return [*sections, {"type": "actions", "elements": buttons}]


def _parts(text: str, limit: int) -> list[str]:
    """The text in pieces of at most ``limit`` characters, cut at words where there are any."""
    parts, rest = [], text.strip()
    while rest:
        part = _cut_at_word(rest, limit, ellipsis="")
        parts.append(part)
        rest = rest[len(part):].strip()
    return parts


def _cut_at_word(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """At most ``limit`` characters, ending at a word when cut. Counted in UTF-16 code units (an emoji is two),
    never fewer than the platform counts, whichever way it does."""
    text = text.strip()
    if _units(text) <= limit:
        return text
    room, units, end = limit - _units(ellipsis), 0, 0
    for end, character in enumerate(text):  # the text is longer than room: this always stops early
        units += 2 if ord(character) > 0xFFFF else 1
        if units > room:
            break
    cut = text[:end]
    space = max(cut.rfind(blank) for blank in " \n\t")
    if space > room // 2:  # a word boundary not too far back; else cut inside the one long word
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


SENDERS: dict[str, Callable[[dict, str, timedelta, Sequence[Choice]], str]] = {
    "slack": send_slack,
    "whatsapp": send_whatsapp,
    "messenger": send_messenger,
    "telegram": send_telegram,
    "twilio": send_twilio,
    "webchat": send_webchat,
    "portal": send_portal,  # mailed to the address the customer gave, with a link to the portal
}


def deliver(route: dict, text: str, now: datetime, last_inbound_at: datetime | None,
            choices: Sequence[Choice] = ()) -> str:
    provider = route.get("provider", "")
    sender = SENDERS.get(provider)
    if sender is None:
        raise PermanentDeliveryError(f"no sender for provider {provider!r}")
    since = now - last_inbound_at if last_inbound_at else timedelta(0)
    return sender(route, text, since, tuple(choices or ()))
