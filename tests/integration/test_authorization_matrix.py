"""Every route × every credential it must refuse (issue 16), generated from ``GET /openapi.json``.

Each operation in the document is classified by the ``security`` it declares (``api/openapi.py``):

* ``bearerAuth`` — an agent's API token (``rd_``) or console session (``rds_``); ``["admin"]``: an admin's;
* ``portalSession`` — a customer's portal session (``rps_``); ``webchatSession`` — a web-chat visitor's token;
* a chat platform's signature (``slackSignature``, ``metaSignature``, ``metaVerifyToken``, ...);
* ``security: []`` with ``x-credential``: ``signed-link`` (the signed token in the path), ``sign-in-link``
  (the mailed link's token in the body) or ``none`` (public by design); ``{}`` among the requirements: the
  credential is optional (a bad one is still refused).

For every credential an operation must refuse — none, forged, expired, signed out, a removed or
deactivated agent's, an agent's on an admin's call, another realm's token, a customer's on another
customer's ticket, a visitor's on another visitor's conversation, a tampered link — the request is
sent at real objects (the path's ids exist), and the test asserts the documented refusal status, a
JSON ``{error, reason}`` body that names no other customer's data, and that nothing changed: every
DynamoDB item, every S3 object, every queue's message count and every mail SES sent are the same
after the request as before. Then the same request with the right credential must succeed, so a
refusal cannot come from a request that could never work.

A route added to ``app.py`` is in the document (``test_openapi.py`` holds the two together) and so in
this matrix: without a request below (``REQUESTS``) or with a security this file does not know, the
meta-test fails naming it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from chalicelib.api import openapi
from chalicelib.local import LocalDesk
from tests import chat
from tests.chat import from_address
from tests.mail import compose

_AGENT_SCHEME, _PORTAL_SCHEME, _VISITOR_SCHEME = "bearerAuth", "portalSession", "webchatSession"
_PLATFORM_SCHEMES = {"slackSignature", "metaSignature", "metaVerifyToken", "telegramSecretToken", "twilioSignature"}
_CREDENTIALS_INSTEAD = {openapi.NO_CREDENTIAL, openapi.SIGNED_LINK, openapi.SIGN_IN_LINK}
_TEXT_FILE = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}


def _labels(document: dict[str, Any]) -> list[str]:
    return [f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method in item if method != "parameters"]


OPERATIONS = _labels(openapi.build())  # the served document is the same (asserted below and in test_openapi)


# --- the desk the matrix runs against ------------------------------------------------------------------


@dataclass
class World:
    """A desk with something real behind every path parameter, and every kind of credential."""

    desk: LocalDesk
    document: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)  # what the requests point at
    tokens: dict[str, str] = field(default_factory=dict)  # credentials by kind
    leaks: list[str] = field(default_factory=list)  # other customers' data no refusal may show
    counter: int = 0

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:04d}"


def _ip(n: int) -> str:
    """A client address of its own per request: the per-address limits (sign-in links, forms) never bite."""
    return f"198.51.{100 + n // 250}.{1 + n % 250}"


def _console_session(desk: LocalDesk, email: str, n: int) -> str:
    """A console session by the real flow: ask for a link, read it from the mail, use it."""
    with from_address(_ip(n)):
        asked = desk.http.post("/auth/links", headers={"Content-Type": "application/json"},
                               body=json.dumps({"email": email}))
    assert asked.status_code == 202, asked.body
    desk.pump()
    link = [found for to, found in desk.signin_links() if email in to][-1].split("#signin=", 1)[1]
    return _use(desk, "/auth/sessions", link)


def _portal_link(desk: LocalDesk, email: str, n: int) -> str:
    with from_address(_ip(n)):
        asked = desk.http.post("/portal/auth/links", headers={"Content-Type": "application/json"},
                               body=json.dumps({"email": email, "language": "en"}))
    assert asked.status_code == 202, asked.body
    desk.pump()
    found = []
    for mail in desk.sent_emails():
        if email in str(mail["To"]).lower():
            found += re.findall(r"/portal#signin=(rpl_[0-9a-f]+)", mail.get_body(("plain",)).get_content())
    assert found, f"no portal sign-in mail to {email}"
    return found[-1]


def _use(desk: LocalDesk, path: str, link: str) -> str:
    response = desk.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps({"token": link}))
    assert response.status_code == 201, response.body
    return json.loads(response.body)["session_token"]


def _as_admin(world: World, method: str, path: str, body: Any = None) -> Any:
    response = getattr(world.desk.http, method)(
        path, headers={"Authorization": f"Bearer {world.tokens['admin']}", "Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None)
    assert 200 <= response.status_code < 300, (method, path, response.status_code, response.body)
    return json.loads(response.body)


def _works(desk: LocalDesk, path: str, token: str) -> None:
    """The credential opens ``path`` now: what the matrix later sees refused was a real credential before."""
    response = desk.http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, (path, response.status_code, response.body)


def _webchat_token(claims: dict[str, Any], secret: str) -> str:
    """A session token as ``channels/webchat.issue_session`` signs one (base64url claims, HMAC-SHA256)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())}"


def _claims(token: str) -> dict[str, Any]:
    payload = token.partition(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _tampered(token: str) -> str:
    """The token with the first character of its signature changed (well-formed, no longer signed by us)."""
    head, dot, signature = token.rpartition(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{head}{dot}{flipped}"


@pytest.fixture(scope="module")
def world():
    with LocalDesk(environment=dict(chat.SECRETS)) as desk:
        yield _build(desk)


def _build(desk: LocalDesk) -> World:
    from chalicelib import config
    from chalicelib.service import kb_tracking, surveys
    from chalicelib.storage import repository
    from chalicelib.storage.models import AgentModel

    document = desk.http.get("/openapi.json").json_body
    w = World(desk, document)
    ids, tokens = w.ids, w.tokens
    ids["admin"], tokens["admin"] = desk.add_agent("Ada Admin", "ada@example.com", role="admin")
    ids["agent"], tokens["agent"] = desk.add_agent("Sam Agent", "sam@example.com")
    ids["removed"], tokens["removed"] = desk.add_agent("Rex Removed", "rex@example.com")
    ids["inactive"], tokens["inactive"] = desk.add_agent("Ivy Inactive", "ivy@example.com")
    ids["linked"], _ = desk.add_agent("Lin Link", "lin@example.com")
    ids["patched"], _ = desk.add_agent("Pat Patched", "pat@example.com")
    ids["spare_agent"], _ = desk.add_agent("Spare Agent", "spare@example.com")

    # Customers A and B write by mail; A's first mail carries a file. C's two tickets merge, D merges into E.
    mails = [("Ann Customer <ann@customer.example>", "My order never arrived", "Order 1234 is late.",
              [("receipt.pdf", "application/pdf", b"%PDF-1.4 a receipt")]),
             ("Ann Customer <ann@customer.example>", "Please close this", "All sorted, thanks.", []),
             ("Bo Buyer <bo@buyer.example>", "Bo's private refund case", "My card ending 4242 was charged twice.", []),
             ("Cy Customer <cy@customer.example>", "Duplicate one", "First copy.", []),
             ("Cy Customer <cy@customer.example>", "Duplicate two", "Second copy.", []),
             ("Dee Customer <dee@customer.example>", "Dee's question", "Hello.", []),
             ("Eve Customer <eve@customer.example>", "Eve's question", "Hello.", []),
             ("Fay Customer <fay@customer.example>", "Fay's question", "Hello.", [])]
    for sender, subject, body, files in mails:
        desk.receive_email(compose(sender=sender, subject=subject, body=body, attachments=files))
        desk.pump()  # one at a time: each mail is its own ticket
    tickets = {t["subject"]: t for t in desk.tickets()}
    ann_ticket, bo_ticket = tickets["My order never arrived"], tickets["Bo's private refund case"]
    ids.update(ticket=ann_ticket["id"], ann_solved=tickets["Please close this"]["id"], bo_ticket=bo_ticket["id"],
               merge_from=tickets["Duplicate one"]["id"], merge_into=tickets["Duplicate two"]["id"],
               customer=ann_ticket["customer_id"], bo_customer=bo_ticket["customer_id"],
               merge_customer=tickets["Dee's question"]["customer_id"],
               into_customer=tickets["Eve's question"]["customer_id"],
               attachment=ann_ticket["messages"][0]["attachments"][0]["id"])
    w.leaks += ["bo@buyer.example", "Bo Buyer", "Bo's private refund case", "card ending 4242", ids["bo_customer"],
                ids["bo_ticket"]]

    # Sessions that will have expired: a console session and a portal session, then the clock moves past them.
    tokens["expired_session"] = _console_session(desk, "ada@example.com", 1)
    tokens["expired_portal"] = _use(desk, "/portal/auth/sessions", _portal_link(desk, "ann@customer.example", 2))
    _works(desk, "/auth/me", tokens["expired_session"])
    _works(desk, "/portal/tickets", tokens["expired_portal"])
    desk.advance(hours=config.int_setting("SESSION_HOURS") + 1)

    tokens["admin_session"] = _console_session(desk, "ada@example.com", 3)
    tokens["agent_session"] = _console_session(desk, "sam@example.com", 4)
    tokens["signed_out_session"] = _console_session(desk, "sam@example.com", 5)
    _works(desk, "/auth/me", tokens["signed_out_session"])
    assert desk.http.delete("/auth/sessions/current", headers={
        "Authorization": f"Bearer {tokens['signed_out_session']}"}).status_code == 200
    tokens["removed_session"] = _console_session(desk, "rex@example.com", 6)
    tokens["inactive_session"] = _console_session(desk, "ivy@example.com", 7)
    for kind in ("removed", "removed_session", "inactive", "inactive_session"):
        _works(desk, "/auth/me", tokens[kind])
    _as_admin(w, "delete", f"/agents/{ids['removed']}")
    # Deactivated without the removal's revocation (token hash and sessions kept): `active` alone must refuse.
    AgentModel.get(ids["inactive"]).update(actions=[AgentModel.active.set(False)])
    with from_address(_ip(8)):
        desk.http.post("/auth/links", headers={"Content-Type": "application/json"},
                       body=json.dumps({"email": "lin@example.com"}))
    desk.pump()
    tokens["signin_link"] = [link for to, link in desk.signin_links() if "lin@" in to][-1].split("#signin=")[1]

    tokens["portal"] = _use(desk, "/portal/auth/sessions", _portal_link(desk, "ann@customer.example", 9))
    tokens["portal_to_close"] = _use(desk, "/portal/auth/sessions", _portal_link(desk, "ann@customer.example", 10))
    tokens["portal_b"] = _use(desk, "/portal/auth/sessions", _portal_link(desk, "bo@buyer.example", 11))
    tokens["portal_signed_out"] = _use(desk, "/portal/auth/sessions", _portal_link(desk, "ann@customer.example", 12))
    _works(desk, "/portal/tickets", tokens["portal_signed_out"])
    assert desk.http.delete("/portal/auth/sessions/current", headers={
        "Authorization": f"Bearer {tokens['portal_signed_out']}"}).status_code == 200
    tokens["portal_link"] = _portal_link(desk, "fay@customer.example", 13)

    # Web chat: visitors A and B, each with a conversation.
    for name in ("a", "b"):
        with from_address(_ip(20 + len(name))):
            tokens[f"visitor_{name}"] = chat.start_webchat(desk, name=f"Visitor {name.upper()}")
        ids[f"session_{name}"] = _claims(tokens[f"visitor_{name}"])["sid"]
    assert chat.post_webchat(desk, tokens["visitor_a"], "Hi from A").status_code == 202
    assert chat.post_webchat(desk, tokens["visitor_b"], "B's private chat about invoice 777",
                             message_id="msg-00000002").status_code == 202
    desk.pump()
    w.leaks += ["invoice 777", ids["session_b"]]

    # Macros, knowledge-base articles, a survey link and a tracked article link.
    _as_admin(w, "post", "/macros", {"id": "matrix-macro", "title": "Matrix", "body": "Hello"})
    _as_admin(w, "post", "/macros", {"id": "matrix-spare", "title": "Spare", "body": "Hello"})
    for slug, status in (("matrix-returns", "published"), ("matrix-draft", "draft"), ("matrix-spare", "draft")):
        _as_admin(w, "put", f"/kb/articles/{slug}", {"title": f"Returns {slug}", "body": "How to return an order.",
                                                     "language": "en", "status": status})
    _as_admin(w, "patch", f"/tickets/{ids['ann_solved']}", {"status": "solved"})
    assert surveys.send(repository.get_ticket(ids["ann_solved"])), "the solved ticket got no survey"
    desk.pump()
    texts = [m["text"] or "" for t in desk.tickets() if t["id"] == ids["ann_solved"] for m in t["messages"]]
    links = {found for text in texts for found in re.findall(r"/surveys/(s1\.[A-Za-z0-9_-]+)", text)}
    tokens["survey"] = sorted(links)[0]
    tokens["kb_link"] = kb_tracking.tracked_url(ids["ticket"], "matrix-returns").rsplit("/", 1)[1]
    return w


# --- what changed, what leaked ---------------------------------------------------------------------------


def _state(desk: LocalDesk) -> dict[str, Any]:
    """Every DynamoDB item, S3 object, queue depth and mail sent: a refusal must leave all of it alone.

    Read from moto's in-process backends (the API's Scan costs ~0.7 s a snapshot; this, ~20 ms).
    """
    import os

    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends
    from moto.sqs.models import sqs_backends

    account, region = "123456789012", os.environ["AWS_DEFAULT_REGION"]  # moto's default account (LocalDesk's)
    tables = {name: sorted(json.dumps(item.to_json(), sort_keys=True, default=str) for item in table.all_items())
              for name, table in dynamodb_backends[account][region].tables.items()}
    objects = sorted(f"{name}/{key}" for name, bucket in s3_backends[account]["global"].buckets.items()
                     for key in bucket.keys)
    queues = {name: len(queue._messages) for name, queue in sqs_backends[account][region].queues.items()}
    return {"tables": tables, "objects": objects, "queues": queues, "mails": len(desk._ses_backend().sent_messages)}


def _difference(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = []
    for name in sorted(set(before["tables"]) | set(after["tables"])):
        old, new = set(before["tables"].get(name, [])), set(after["tables"].get(name, []))
        if old != new:
            added, removed = sorted(new - old), sorted(old - new)
            found.append(f"table {name}: {len(added)} item(s) written, {len(removed)} gone or rewritten "
                         f"(first: {(added or removed)[0][:200]})")
    if before["objects"] != after["objects"]:
        found.append(f"S3: +{sorted(set(after['objects']) - set(before['objects']))[:3]}")
    for part in ("queues", "mails"):
        if before[part] != after[part]:
            found.append(f"{part}: {before[part]} → {after[part]}")
    return found


# --- requests: one per operation, at real objects ----------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    body: Any = None  # a dict is sent as JSON; str/bytes as given
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] | None = None


#: label → (world, the credential carried inside the request or None) → the request. Header credentials
#: (bearer tokens of every kind) are added by the matrix; links and platform secrets go where each call takes them.
REQUESTS: dict[str, Callable[[World, Any], Request]] = {}
#: Operations whose request needs an admin although the document lets an agent call the operation
#: (PATCH /agents/{id}: an agent may change only their own status).
ADMIN_REQUESTS = {"PATCH /agents/{agent_id}"}


def _request(*labels: str) -> Callable[[Callable[[World, Any], Request]], Callable[[World, Any], Request]]:
    def register(build: Callable[[World, Any], Request]) -> Callable[[World, Any], Request]:
        for label in labels:
            assert label not in REQUESTS, label
            REQUESTS[label] = build
        return build
    return register


def _simple(label: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> None:
    method = label.split(" ", 1)[0]
    REQUESTS[label] = lambda w, _: Request(method, path.format(**w.ids), body, query=query)


# The agent API.
_simple("GET /tickets", "/tickets")
_simple("GET /search", "/search", query={"q": "ann@customer.example"})
_simple("GET /tickets/counts", "/tickets/counts")
_simple("GET /tickets/{ticket_id}", "/tickets/{ticket}")
_simple("PATCH /tickets/{ticket_id}", "/tickets/{ticket}", {"add_tags": ["matrix"]})
_simple("POST /tickets/{ticket_id}/replies", "/tickets/{ticket}/replies", {"text": "We are looking into it."})
_simple("GET /tickets/{ticket_id}/attachments/{attachment_id}", "/tickets/{ticket}/attachments/{attachment}")
_simple("POST /tickets/{ticket_id}/uploads", "/tickets/{ticket}/uploads", _TEXT_FILE)
_simple("POST /tickets/{ticket_id}/notes", "/tickets/{ticket}/notes", {"text": "internal: matrix note"})
_simple("GET /agents", "/agents")
_simple("GET /agents/{agent_id}", "/agents/{patched}")
_simple("PATCH /agents/{agent_id}", "/agents/{patched}", {"name": "Pat Renamed"})
_simple("DELETE /agents/{agent_id}", "/agents/{spare_agent}")
_simple("POST /agents", "/agents", {"name": "New Agent", "email": "new.agent@example.com"})
_simple("POST /customers/import", "/customers/import",
        {"customers": [{"email": "imported@customer.example", "name": "Imported Customer"}]})
_simple("GET /customers/{customer_id}", "/customers/{customer}")
_simple("PATCH /customers/{customer_id}", "/customers/{customer}", {"name": "Ann C. Customer"})
_simple("GET /macros", "/macros")
_simple("POST /macros", "/macros", {"id": "matrix-new", "title": "New", "body": "Hello"})
_simple("GET /macros/{macro_id}", "/macros/matrix-macro")
_simple("PUT /macros/{macro_id}", "/macros/matrix-macro", {"id": "matrix-macro", "title": "Changed", "body": "Hi"})
_simple("DELETE /macros/{macro_id}", "/macros/matrix-spare")
_simple("GET /reports/kpis", "/reports/kpis")
_simple("GET /auth/me", "/auth/me")
_simple("DELETE /auth/sessions/current", "/auth/sessions/current")


@_request("POST /tickets")
def _open_ticket(w: World, _: Any) -> Request:
    return Request("POST", "/tickets", {"customer": {"email": "caller@customer.example", "name": "Cal Caller"},
                                        "kind": "call", "channel": "phone", "subject": "Called about a refund",
                                        "text": "Wants a refund for order 1234."})


REQUESTS["POST /tickets/{ticket_id}/merge"] = lambda w, _: Request(
    "POST", f"/tickets/{w.ids['merge_from']}/merge", {"into": w.ids["merge_into"]})
REQUESTS["POST /customers/{customer_id}/merge"] = lambda w, _: Request(
    "POST", f"/customers/{w.ids['merge_customer']}/merge", {"into": w.ids["into_customer"]})

# The knowledge base: reads public (a token shows drafts), writes an agent's.
_simple("GET /kb/articles", "/kb/articles")
_simple("GET /kb/articles/{article_id}", "/kb/articles/matrix-returns")
_simple("PUT /kb/articles/{article_id}", "/kb/articles/matrix-draft",
        {"title": "Draft", "body": "Changed.", "language": "en", "status": "draft", "version": 1})
_simple("DELETE /kb/articles/{article_id}", "/kb/articles/matrix-spare")
_simple("GET /kb/search", "/kb/search", query={"q": "return"})
_simple("GET /kb/suggest", "/kb/suggest", query={"q": "ret"})

# Signed links in the path, sign-in links in the body.
REQUESTS["GET /kb/go/{link}"] = lambda w, link: Request("GET", f"/kb/go/{link}")
REQUESTS["POST /kb/go/{link}"] = lambda w, link: Request("POST", f"/kb/go/{link}", {"event": "opened"})
REQUESTS["GET /surveys/{token}"] = lambda w, token: Request("GET", f"/surveys/{token}",
                                                            headers={"Accept": "application/json"})
REQUESTS["POST /surveys/{token}"] = lambda w, token: Request("POST", f"/surveys/{token}", {"rating": 5},
                                                             headers={"Accept": "application/json"})
REQUESTS["POST /auth/sessions"] = lambda w, link: Request("POST", "/auth/sessions", {"token": link})
REQUESTS["POST /portal/auth/sessions"] = lambda w, link: Request("POST", "/portal/auth/sessions", {"token": link})
_simple("POST /auth/links", "/auth/links", {"email": "nobody@example.com"})

# The customer portal.
_simple("GET /portal", "/portal")
_simple("GET /portal/{name}", "/portal/app.js")
_simple("GET /portal/tickets", "/portal/tickets")
_simple("GET /portal/tickets/{ticket_id}", "/portal/tickets/{ticket}")
_simple("POST /portal/tickets/{ticket_id}/replies", "/portal/tickets/{ticket}/replies", {"text": "Any news?"})
_simple("POST /portal/uploads", "/portal/uploads", _TEXT_FILE)
_simple("POST /portal/auth/links", "/portal/auth/links", {"email": "nobody@customer.example"})
_simple("DELETE /portal/auth/sessions/current", "/portal/auth/sessions/current")
_simple("POST /portal/tickets", "/portal/tickets", {"name": "Gus Guest", "email": "gus@customer.example",
                                                    "subject": "A question", "message": "Do you ship to Norway?",
                                                    "language": "en"})

# Static files and this document.
for _label, _path in (("GET /console", "/console"), ("GET /console/{name}", "/console/app.js"),
                      ("GET /widget.js", "/widget.js"), ("GET /survey.css", "/survey.css"),
                      ("GET /openapi.json", "/openapi.json"), ("GET /webchat/status", "/webchat/status"),
                      ("OPTIONS /webchat/status", "/webchat/status"),
                      ("OPTIONS /webhooks/webchat", "/webhooks/webchat"),
                      ("OPTIONS /webchat/sessions", "/webchat/sessions"),
                      ("OPTIONS /webchat/sessions/{session_id}/messages", "/webchat/sessions/{session_a}/messages"),
                      ("OPTIONS /webchat/sessions/{session_id}/uploads", "/webchat/sessions/{session_a}/uploads")):
    _simple(_label, _path)
_simple("POST /webchat/sessions", "/webchat/sessions", {"name": "Visitor C"})

# The widget's calls: visitor A's session.
_simple("GET /webchat/sessions/{session_id}/messages", "/webchat/sessions/{session_a}/messages")
_simple("POST /webchat/sessions/{session_id}/uploads", "/webchat/sessions/{session_a}/uploads", _TEXT_FILE)
REQUESTS["POST /webhooks/webchat"] = lambda w, _: Request(
    "POST", "/webhooks/webchat", {"text": "Another question", "message_id": w.unique("matrix-msg")})


# The chat platforms, signed (or not) with the secret given.
@_request("POST /webhooks/slack")
def _slack(w: World, secret: str | None) -> Request:
    from chalicelib import clock

    body = json.dumps(chat.slack_message(event_id=w.unique("EvMATRIX"))).encode()
    stamp = str(int(clock.now().timestamp()))  # the desk's clock: it was moved past the sessions above
    headers = {"X-Slack-Request-Timestamp": stamp}
    if secret is not None:
        headers["X-Slack-Signature"] = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return Request("POST", "/webhooks/slack", body, headers)


def _meta(product: str) -> Callable[[World, Any], Request]:
    def build(w: World, secret: str | None) -> Request:
        payload = (chat.whatsapp_text(message_id=f"wamid.{w.unique('m')}") if product == "whatsapp"
                   else chat.messenger_text(mid=f"m_{w.unique('m')}"))
        body = json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": chat.meta_signature(body, secret)} if secret is not None else {}
        return Request("POST", f"/webhooks/{product}", body, headers)
    return build


def _meta_verify(product: str) -> Callable[[World, Any], Request]:
    def build(w: World, token: str | None) -> Request:
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        if token is not None:
            query["hub.verify_token"] = token
        return Request("GET", f"/webhooks/{product}", query=query)
    return build


for _product in ("whatsapp", "messenger"):
    REQUESTS[f"POST /webhooks/{_product}"] = _meta(_product)
    REQUESTS[f"GET /webhooks/{_product}"] = _meta_verify(_product)


@_request("POST /webhooks/telegram")
def _telegram(w: World, token: str | None) -> Request:
    headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token is not None else {}
    return Request("POST", "/webhooks/telegram", json.dumps(chat.telegram_text(update_id=700000 + w.counter)),
                   headers)


@_request("POST /webhooks/twilio")
def _twilio(w: World, token: str | None) -> Request:
    fields = chat.twilio_sms(MessageSid="SM" + secrets.token_hex(16))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(
            chat.PUBLIC_BASE_URL + "/webhooks/twilio", fields)
    return Request("POST", "/webhooks/twilio", urlencode(fields), headers)


_PLATFORM_SECRETS = {"slackSignature": {"POST /webhooks/slack": chat.SLACK_SIGNING_SECRET},
                     "metaSignature": {"POST /webhooks/whatsapp": chat.WHATSAPP_APP_SECRET,
                                       "POST /webhooks/messenger": chat.MESSENGER_APP_SECRET},
                     "metaVerifyToken": {"GET /webhooks/whatsapp": chat.META_VERIFY_TOKEN,
                                         "GET /webhooks/messenger": chat.META_VERIFY_TOKEN},
                     "telegramSecretToken": {"POST /webhooks/telegram": chat.TELEGRAM_SECRET_TOKEN},
                     "twilioSignature": {"POST /webhooks/twilio": chat.TWILIO_AUTH_TOKEN}}


# --- the credentials each kind of security must refuse ----------------------------------------------------


@dataclass(frozen=True)
class Credential:
    name: str
    value: Any  # an Authorization header value, or what the request carries itself (a link, a secret)
    statuses: tuple[int, ...]  # the refusal: one of these (each must also be documented)


def _random_hex() -> str:
    return secrets.token_hex(32)


def _relabelled(token: str, agent_id: str) -> str:
    """An agent's token with another agent's id in it: the secret is real, the claim of who is forged."""
    prefix, _, rest = token.partition("_")
    return f"{prefix}_{agent_id}_{rest.split('_', 1)[1]}"


def _header_refusals(w: World, scheme: str, roles: list[str], optional: bool, label: str) -> list[Credential]:
    from chalicelib import clock

    t, ids = w.tokens, w.ids
    common = [Credential("not a bearer token", "Basic YWRhOmFkYQ==", (401,)),
              Credential("an empty bearer token", "Bearer ", (401,))]
    if not optional:
        common.insert(0, Credential("no token", None, (401,)))
    secret = chat.WEBCHAT_SECRET
    visitor_a = _claims(t["visitor_a"])
    if scheme == _AGENT_SCHEME:
        kinds = [
            Credential("forged API token", f"Bearer rd_{ids['admin']}_{_random_hex()}", (401,)),
            Credential("forged console session", f"Bearer rds_{ids['admin']}_{_random_hex()}", (401,)),
            Credential("an agent's token relabelled as the admin's", f"Bearer {_relabelled(t['agent'], ids['admin'])}",
                       (401,)),
            Credential("an agent's session relabelled as the admin's",
                       f"Bearer {_relabelled(t['agent_session'], ids['admin'])}", (401,)),
            Credential("expired console session", f"Bearer {t['expired_session']}", (401,)),
            Credential("signed-out console session", f"Bearer {t['signed_out_session']}", (401,)),
            Credential("removed agent's token", f"Bearer {t['removed']}", (401,)),
            Credential("removed agent's session", f"Bearer {t['removed_session']}", (401,)),
            Credential("deactivated agent's token", f"Bearer {t['inactive']}", (401,)),
            Credential("deactivated agent's session", f"Bearer {t['inactive_session']}", (401,)),
            Credential("a sign-in link used as a token", f"Bearer {t['signin_link']}", (401,)),
            Credential("a customer's portal session", f"Bearer {t['portal']}", (401,)),
            Credential("a web-chat visitor's token", f"Bearer {t['visitor_a']}", (401,)),
        ]
        if "admin" in roles or label in ADMIN_REQUESTS:
            kinds += [Credential("an agent's token on an admin's call", f"Bearer {t['agent']}", (403,)),
                      Credential("an agent's session on an admin's call", f"Bearer {t['agent_session']}", (403,))]
    elif scheme == _PORTAL_SCHEME:
        kinds = [
            Credential("forged portal session", f"Bearer rps_{_random_hex()}", (401,)),
            Credential("expired portal session", f"Bearer {t['expired_portal']}", (401,)),
            Credential("signed-out portal session", f"Bearer {t['portal_signed_out']}", (401,)),
            Credential("a portal sign-in link used as a session", f"Bearer {t['portal_link']}", (401,)),
            Credential("an admin's token", f"Bearer {t['admin']}", (401,)),
            Credential("an admin's console session", f"Bearer {t['admin_session']}", (401,)),
            Credential("a web-chat visitor's token", f"Bearer {t['visitor_a']}", (401,)),
        ]
        if "{ticket_id}" in label:
            kinds.append(Credential("another customer's session", f"Bearer {t['portal_b']}", (404,)))
    elif scheme == _VISITOR_SCHEME:
        kinds = [
            Credential("forged session token (another secret)",
                       f"Bearer {_webchat_token(visitor_a, 'not-the-webchat-secret')}", (401,)),
            Credential("B's token with A's session id in its claims",
                       "Bearer " + _webchat_token(visitor_a, secret).partition(".")[0] + "."
                       + t["visitor_b"].partition(".")[2], (401,)),
            Credential("expired session token",  # A's own claims, signed by the desk, a minute past their end
                       f"Bearer {_webchat_token({**visitor_a, 'exp': int(clock.now().timestamp()) - 60}, secret)}",
                       (401,)),
            Credential("an admin's token", f"Bearer {t['admin']}", (401,)),
            Credential("a customer's portal session", f"Bearer {t['portal']}", (401,)),
        ]
        if "{session_id}" in label:
            kinds.append(Credential("another visitor's session token", f"Bearer {t['visitor_b']}", (403,)))
    else:
        raise AssertionError(f"{label}: no refusals known for {scheme}")
    return common + kinds


def _right_header(w: World, scheme: str, roles: list[str], label: str) -> str:
    if scheme == _AGENT_SCHEME:
        admin = "admin" in roles or label in ADMIN_REQUESTS
        return f"Bearer {w.tokens['admin_session' if admin else 'agent']}"
    if scheme == _PORTAL_SCHEME:
        return f"Bearer {w.tokens['portal_to_close' if label.startswith('DELETE') else 'portal']}"
    return f"Bearer {w.tokens['visitor_a']}"


@dataclass(frozen=True)
class Plan:
    """One operation's row of the matrix: what it must refuse, and what it must accept."""

    label: str
    refusals: list[Credential]
    accepted: list[Credential]  # each must succeed (public operations: no credential)
    in_header: bool  # the credentials are Authorization headers (else the request carries them)


def _plan(w: World, label: str) -> Plan:
    method, path = label.split(" ", 1)
    operation = w.document["paths"][path][method.lower()]
    requirements = operation["security"]
    optional = {} in requirements
    schemes = [(name, roles) for requirement in requirements for name, roles in requirement.items()]
    credential_instead = operation.get("x-credential")
    if not schemes:
        t = w.tokens
        if credential_instead == openapi.SIGNED_LINK:
            link = t["survey"] if "/surveys/" in path else t["kb_link"]
            return Plan(label, [Credential("tampered signed link", _tampered(link), (403,))],
                        [Credential("the signed link", link, ())], in_header=False)
        if credential_instead == openapi.SIGN_IN_LINK:
            right, realm, other = ((t["signin_link"], "rdl", t["portal_link"]) if path == "/auth/sessions"
                                   else (t["portal_link"], "rpl", t["signin_link"]))
            forged = f"{right.rsplit('_', 1)[0]}_{_random_hex()}" if realm == "rdl" else f"rpl_{_random_hex()}"
            refusals = [Credential("forged sign-in link", forged, (401,)),
                        Credential("the other realm's sign-in link", other, (401,))]
            if realm == "rdl":  # Lin's real link secret under the admin's id: a link opens only its own agent
                refusals.append(Credential("a sign-in link relabelled as the admin's",
                                           _relabelled(right, w.ids["admin"]), (401,)))
            return Plan(label, refusals,
                        [Credential("the mailed link", right, ())], in_header=False)
        assert credential_instead == openapi.NO_CREDENTIAL, f"{label}: security [] without a known x-credential"
        return Plan(label, [], [Credential("no credential", None, ())], in_header=True)
    assert len(schemes) == 1, f"{label}: one security scheme per operation is what this matrix knows"
    scheme, roles = schemes[0]
    if scheme in _PLATFORM_SCHEMES:
        right = _PLATFORM_SECRETS[scheme][label]
        wrong = "not-the-platform-secret-0000000000"
        return Plan(label, [Credential("unsigned", None, (401, 403)), Credential("wrong signature", wrong, (401, 403))],
                    [Credential("signed by the platform", right, ())], in_header=False)
    accepted = [Credential("the right credential", _right_header(w, scheme, roles, label), ())]
    if optional:
        accepted.insert(0, Credential("no credential", None, ()))
    return Plan(label, _header_refusals(w, scheme, roles, optional, label), accepted, in_header=True)


# --- running one request ----------------------------------------------------------------------------------


def _send(w: World, label: str, credential: Credential, in_header: bool, source: int) -> Any:
    request = REQUESTS[label](w, None if in_header else credential.value)
    headers = {"Content-Type": "application/json", **request.headers}
    if in_header and credential.value is not None:
        headers["Authorization"] = credential.value
    body = request.body
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    path = request.path + (f"?{urlencode(request.query)}" if request.query else "")
    with from_address(_ip(source)):
        return getattr(w.desk.http, request.method.lower())(path, headers=headers, body=body)


def _refusal(w: World, plan: Plan, credential: Credential, responses: dict[str, Any]) -> list[str]:
    """Send one request that must be refused; what was wrong with the answer (empty: refused as it should be)."""
    before = _state(w.desk)
    w.counter += 1
    response = _send(w, plan.label, credential, plan.in_header, w.counter)
    problems = []
    where = f"{plan.label} × {credential.name}"
    if response.status_code not in credential.statuses:
        problems.append(f"{where}: {response.status_code}, not {credential.statuses}: {response.body[:300]!r}")
    elif str(response.status_code) not in responses and "default" not in responses:
        problems.append(f"{where}: {response.status_code} is not documented")
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if not (isinstance(body, dict) and set(body) == {"error", "reason"} and body["error"] and body["reason"]):
        problems.append(f"{where}: the refusal is not {{error, reason}}: {response.body[:300]!r}")
    text = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else str(response.body)
    leaked = [secret for secret in w.leaks if secret.lower() in text.lower()]
    if leaked:
        problems.append(f"{where}: the refusal shows {leaked}")
    changed = _difference(before, _state(w.desk))
    if changed:
        problems.append(f"{where}: the refusal changed {changed}")
    return problems


def _accepted(w: World, plan: Plan, credential: Credential) -> tuple[list[str], Any]:
    w.counter += 1
    response = _send(w, plan.label, credential, plan.in_header, w.counter)
    if not 200 <= response.status_code < 400:
        return [f"{plan.label} × {credential.name}: {response.status_code}, not a success: {response.body[:300]!r}"], \
            response
    return [], response


# --- the matrix --------------------------------------------------------------------------------------------


def test_the_served_document_is_the_one_the_matrix_was_generated_from(world):
    assert _labels(world.document) == OPERATIONS
    assert world.document == openapi.build()


def test_every_operation_has_a_security_and_a_request_the_matrix_knows(world):
    """The meta-test: a new route (in app.py, so in the document) fails here, by name, until it is classified."""
    unclassified, unknown = [], []
    for label in OPERATIONS:
        method, path = label.split(" ", 1)
        operation = world.document["paths"][path][method.lower()]
        if "security" not in operation:
            unclassified.append(f"{label}: declares no security in api/openapi.py")
            continue
        schemes = {name for requirement in operation["security"] for name in requirement}
        if schemes - {_AGENT_SCHEME, _PORTAL_SCHEME, _VISITOR_SCHEME, *_PLATFORM_SCHEMES}:
            unknown.append(f"{label}: security {sorted(schemes)} is not one this matrix can try")
        if (not schemes or {} in operation["security"]) and operation.get("x-credential") not in _CREDENTIALS_INSTEAD:
            unknown.append(f"{label}: open to anyone, but x-credential does not say why")
        if label not in REQUESTS:
            unclassified.append(f"{label}: no request in REQUESTS to try it with")
    assert unclassified == [] and unknown == [], "\n".join(unclassified + unknown)
    assert set(REQUESTS) - set(OPERATIONS) == set(), "requests for operations the document no longer has"
    assert ADMIN_REQUESTS <= set(OPERATIONS)

    rows = {label: _plan(world, label) for label in OPERATIONS}
    refused = sum(len(plan.refusals) for plan in rows.values())
    kinds = sorted({c.name for plan in rows.values() for c in plan.refusals})
    print(f"authorization matrix: {len(rows)} operations, {refused} refusals over {len(kinds)} kinds of credential, "
          f"{sum(1 for p in rows.values() if not p.refusals)} public by design")
    for name in kinds:
        print(f"  {name}: {sum(1 for plan in rows.values() for c in plan.refusals if c.name == name)} operations")
    public = sorted(label for label, plan in rows.items() if not plan.refusals)
    # Public by design, and nothing else: a route that loses its credential by mistake shows up here.
    assert public == sorted([
        "GET /console", "GET /console/{name}", "GET /openapi.json", "GET /portal", "GET /portal/{name}",
        "GET /survey.css", "GET /webchat/status", "GET /widget.js", "OPTIONS /webchat/sessions",
        "OPTIONS /webchat/sessions/{session_id}/messages", "OPTIONS /webchat/sessions/{session_id}/uploads",
        "OPTIONS /webchat/status", "OPTIONS /webhooks/webchat", "POST /auth/links", "POST /portal/auth/links",
        "POST /portal/tickets", "POST /webchat/sessions"]), public


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_credential_an_operation_must_refuse_is_refused_and_the_right_one_works(world, label):
    method, path = label.split(" ", 1)
    responses = world.document["paths"][path][method.lower()]["responses"]
    plan = _plan(world, label)
    problems = []
    for credential in plan.refusals:
        problems += _refusal(world, plan, credential, responses)
    for credential in plan.accepted:  # last: some of them change what the refusals were aimed at
        found, response = _accepted(world, plan, credential)
        problems += found
        if not found and credential.value is not None and plan.in_header and not label.startswith(
                ("GET /portal/{", "GET /console", "GET /widget")):
            # A customer's or a visitor's own answer (their list, their conversation) shows nothing of B's;
            # agents see every customer, so their answers are not checked.
            if "rps_" in credential.value or credential.value == f"Bearer {world.tokens['visitor_a']}":
                shown = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) \
                    else str(response.body)
                problems += [f"{label}: the answer to A shows {secret}" for secret in world.leaks
                             if secret.lower() in shown.lower()]
    assert problems == [], "\n".join(problems)


# --- the other customer's conversation, by the side doors --------------------------------------------------


def _messages_of(desk: LocalDesk, ticket_id: str) -> list[str]:
    return [m["text"] or "" for t in desk.tickets() if t["id"] == ticket_id for m in t["messages"]]


def test_the_change_check_sees_a_change(world):
    """What makes "the refusal changed nothing" able to fail: an accepted note is seen, item by item."""
    before = _state(world.desk)
    noted = world.desk.http.post(f"/tickets/{world.ids['ticket']}/notes", body=json.dumps({"text": "seen?"}), headers={
        "Authorization": f"Bearer {world.tokens['agent']}", "Content-Type": "application/json"})
    assert noted.status_code == 201, noted.body
    changed = " ".join(_difference(before, _state(world.desk)))
    assert "relay-desk-messages" in changed and "relay-desk-audit" in changed, changed


def test_uploads_are_claimed_only_where_they_were_granted(world):
    """An upload grant names its ticket or chat session: naming it elsewhere is refused and changes nothing."""
    w, desk = world, world.desk
    agent = {"Authorization": f"Bearer {w.tokens['agent']}", "Content-Type": "application/json"}
    granted = json.loads(desk.http.post(f"/tickets/{w.ids['bo_ticket']}/uploads", headers=agent,
                                        body=json.dumps(_TEXT_FILE)).body)
    before = _state(desk)
    reply = desk.http.post(f"/tickets/{w.ids['ticket']}/replies", headers=agent,
                           body=json.dumps({"text": "See the file.", "attachments": [granted["upload_id"]]}))
    assert reply.status_code == 409 and set(json.loads(reply.body)) == {"error", "reason"}, reply.body
    assert _difference(before, _state(desk)) == []

    visitor_b = {"Authorization": f"Bearer {w.tokens['visitor_b']}", "Content-Type": "application/json"}
    b_upload = json.loads(desk.http.post(f"/webchat/sessions/{w.ids['session_b']}/uploads", headers=visitor_b,
                                         body=json.dumps(_TEXT_FILE)).body)
    before = _state(desk)
    stolen = desk.http.post("/webhooks/webchat", headers={"Content-Type": "application/json"}, body=json.dumps({
        "session_token": w.tokens["visitor_a"], "text": "", "message_id": "msg-steal-0001",
        "attachments": [b_upload["upload_id"]]}))
    assert stolen.status_code == 409 and set(json.loads(stolen.body)) == {"error", "reason"}, stolen.body
    assert _difference(before, _state(desk)) == []


def test_an_agent_may_set_their_own_status_but_not_their_role(world):
    w, desk = world, world.desk
    headers = {"Authorization": f"Bearer {w.tokens['agent']}", "Content-Type": "application/json"}
    before = _state(desk)
    for change in ({"role": "admin"}, {"status": "online", "role": "admin"}, {"capacity": 1000}):
        answer = desk.http.patch(f"/agents/{w.ids['agent']}", headers=headers, body=json.dumps(change))
        assert answer.status_code == 403 and set(json.loads(answer.body)) == {"error", "reason"}, (change, answer.body)
    # force (assign over capacity or to an away agent) is an admin's: an agent's is refused (400, as
    # test_ticket_workspace pins it) and changes nothing.
    forced = desk.http.patch(f"/tickets/{w.ids['ticket']}", headers=headers,
                             body=json.dumps({"assignee_id": w.ids["patched"], "force": True}))
    assert forced.status_code in (400, 403) and set(json.loads(forced.body)) == {"error", "reason"}, forced.body
    assert _difference(before, _state(desk)) == []
    answer = desk.http.patch(f"/agents/{w.ids['agent']}", headers=headers, body=json.dumps({"status": "away"}))
    assert answer.status_code == 200 and json.loads(answer.body)["status"] == "away", answer.body


def test_the_public_sees_no_draft_and_a_forged_vouch_opens_no_chat(world):
    w, desk = world, world.desk
    before = _state(desk)
    draft = desk.http.get("/kb/articles/matrix-draft")
    assert draft.status_code == 404 and set(json.loads(draft.body)) == {"error", "reason"}, draft.body
    listed = json.loads(desk.http.get("/kb/articles").body)["articles"]
    assert listed and all(article["status"] == "published" for article in listed), listed
    asked = desk.http.get("/kb/articles?status=draft")
    assert asked.status_code == 401 and set(json.loads(asked.body)) == {"error", "reason"}, asked.body
    with from_address(_ip(242)):
        vouched = chat.open_webchat_session(desk, source_ip=_ip(242), email="ann@customer.example",
                                            email_hash="0" * 64)
    assert vouched.status_code == 401 and set(json.loads(vouched.body)) == {"error", "reason"}, vouched.body
    assert _difference(before, _state(desk)) == []
    agent = desk.http.get("/kb/articles/matrix-draft", headers={"Authorization": f"Bearer {w.tokens['agent']}"})
    assert agent.status_code == 200, agent.body  # the same read with an agent's token: the draft is there


def test_an_address_typed_into_the_chat_or_the_portal_form_joins_nobody_elses_ticket(world):
    """Only a vouched-for address (or the mailbox itself) is the customer: a visitor or a form that types Ann's
    address and her ticket's [#N] opens a ticket of its own, and the visitor reads nothing of Ann's."""
    w, desk = world, world.desk
    ann = next(t for t in desk.tickets() if t["id"] == w.ids["ticket"])
    headers = {"Authorization": f"Bearer {w.tokens['agent']}", "Content-Type": "application/json"}
    secret_reply = "Your replacement ships with tracking TRACK-998877."
    assert desk.http.post(f"/tickets/{ann['id']}/replies", headers=headers,
                          body=json.dumps({"text": secret_reply})).status_code == 201
    desk.pump()
    with from_address(_ip(240)):
        token = chat.start_webchat(desk, name="Ann Customer", email="ann@customer.example")
    session = _claims(token)["sid"]
    assert chat.post_webchat(desk, token, f"[#{ann['number']}] about my order", message_id="msg-claim-0001"
                             ).status_code == 202
    with from_address(_ip(241)):
        form = desk.http.post("/portal/tickets", headers={"Content-Type": "application/json"}, body=json.dumps({
            "name": "Ann Customer", "email": "ann@customer.example", "subject": f"[#{ann['number']}] my order",
            "message": "Injected into Ann's ticket?", "language": "en"}))
    assert form.status_code == 202, form.body
    desk.pump()
    texts = _messages_of(desk, ann["id"])
    assert not any("about my order" in text or "Injected" in text for text in texts), texts
    elsewhere = {m["text"] for t in desk.tickets() if t["id"] != ann["id"] for m in t["messages"]}
    assert {f"[#{ann['number']}] about my order", "Injected into Ann's ticket?"} <= elsewhere, \
        "both messages were stored, each on a ticket of its own"
    read = desk.http.get(f"/webchat/sessions/{session}/messages", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200, read.body
    shown = read.body.decode() if isinstance(read.body, bytes) else read.body
    assert "TRACK-998877" not in shown and "never arrived" not in shown, shown
