"""``GET /openapi.json``: the agent API described as OpenAPI 3.1, built from the code it describes.

Request bodies come from the pydantic models the handlers parse with
(``model_json_schema()``, their ``$defs`` moved to ``components/schemas``);
query and path parameters use the handlers' own patterns and limits; the
response shapes mirror ``chalicelib.api.views`` and the services' ``as_dict``s.
``tests/integration/test_openapi.py`` holds the document to that: every route
is documented, every documented operation exists, and schemathesis finds no
response outside what is written here.

Public and unauthenticated (it is a description, not data); built once per
process, on the first request, so a cold start that never serves it pays nothing.

The platforms' webhooks (``/webhooks/*``, ``/webchat/sessions``) are listed
only as minimal entries: the platforms sign them (Slack's, Meta's, Twilio's
and Telegram's schemes), so their answers are whatever each platform expects.

Some patterns and limits are private constants of the handlers' modules
(``agent_api._TICKET_ID``, ``survey_tokens._TOKEN``...): read here rather than
copied, so a change to a check changes the document with it.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import re
import typing
from typing import Any

from chalicelib.api.errors import json_response
from chalicelib.domain.vocabulary import CHANNELS, LANGUAGES, PRIORITIES, STATUSES

__all__ = ["OPENAPI_VERSION", "build", "document"]

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
_JSON = "application/json"

# Every operation declares its own ``security`` (tests/integration/test_authorization_matrix.py refuses one
# that does not, and tries every credential it must refuse). OpenAPI 3.1 lets a non-OAuth requirement list
# role names: ``bearerAuth: ["admin"]`` is an admin's token, ``bearerAuth: []`` any agent's.
_AGENT = [{"bearerAuth": []}]
_ADMIN = [{"bearerAuth": ["admin"]}]
_PORTAL = [{"portalSession": []}]
_VISITOR = [{"webchatSession": []}]
# What stands in for a credential on an operation without one (``security: []``), in ``x-credential``:
NO_CREDENTIAL = "none"  # public by design: this document, static files, sign-in requests, the anonymous forms
SIGNED_LINK = "signed-link"  # the signed token in the path is the credential (surveys, tracked KB links)
SIGN_IN_LINK = "sign-in-link"  # the mailed one-time link's token in the body (POST .../auth/sessions)


def document(request: Any) -> Any:
    """The OpenAPI document as JSON; no token needed."""
    return json_response(_built())


def build() -> dict[str, Any]:
    """A copy of the document (the cached one is shared by every request in this process)."""
    return copy.deepcopy(_built())


@functools.lru_cache(maxsize=1)
def _built() -> dict[str, Any]:
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation in _operations(components):
        paths.setdefault(path, {})[method.lower()] = operation
    for name, schema in _response_schemas(components).items():
        components.add(name, schema)
    path_parameters = _path_parameters()
    for path, item in paths.items():
        names = re.findall(r"{(\w+)}", path)
        if names:
            item["parameters"] = [path_parameters[name] for name in names]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Relay Desk agent API",
            "version": "1",
            "description": (
                "Tickets, agents, customers, macros and reports for a support team. Every operation "
                "declares its `security`: most need `Authorization: Bearer <token>` (an agent's token, "
                "`rd_<agent id>_<secret>`; `bearerAuth: [admin]`: an admin's); the customer portal takes a "
                "portal session (`portalSession`), the web-chat widget its session token (`webchatSession`), "
                "the platforms' webhooks their signatures. `security: []` names what stands in for a "
                "credential in `x-credential` (`none`, `signed-link` or `sign-in-link`): this document, the "
                "customers' survey links (the signed token in the path is the credential), the console's "
                "sign-in (`POST /auth/links`, "
                "`POST /auth/sessions`: the emailed link is the credential; the session token `rds_...` it "
                "gives is a bearer token like an agent's) and what anyone may ask for (the portal's contact "
                "form and sign-in links, a web-chat session, static files). Admin-only calls "
                "answer 403 to an agent's token. Every refusal is JSON `{\"error\": code, \"reason\": text}` "
                "except a body of a media type the call does not take (415, answered by Chalice as "
                "`{\"Code\", \"Message\"}`). Bodies are strict: unknown fields and wrong types are refused "
                "with 400, naming the field.\n\n"
                "The chat platforms' webhooks (`/webhooks/*`, `/webchat/sessions`) are listed only as "
                "minimal entries: each platform signs its calls and gets the answer its documentation "
                "asks for."
            ),
        },
        "tags": [
            {"name": "tickets", "description": "The queue of customer conversations."},
            {"name": "agents", "description": "The agent directory; admins manage it."},
            {"name": "customers", "description": "The shop's customer data, merges and context."},
            {"name": "macros", "description": "Canned responses with their ticket changes."},
            {"name": "reports", "description": "KPIs from the daily aggregates."},
            {"name": "knowledge base", "description": "Help articles in English, Danish and Norwegian, and ranked "
                                                      "search over the published ones (public: no token needed)."},
            {"name": "surveys", "description": "Customers' satisfaction answers (public: the link is signed)."},
            {"name": "sign-in", "description": "The console's sign-in: a one-time link by email, then a session."},
            {"name": "portal", "description": "The customer portal: a contact form, sign-in by a mailed link, and "
                                              "the customer's own tickets (a portal session, never an agent token)."},
            {"name": "webhooks", "description": "Platforms' inbound calls (signed by the platform)."},
            {"name": "meta", "description": "This document."},
        ],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "rd_<agent id>_<64 hex>",
                               "description": "An agent's token, shown once when the agent is created, or a "
                                              "console session, rds_<agent id>_<64 hex> (POST /auth/sessions). "
                                              "The role `admin` in a requirement: an admin's token only (an "
                                              "agent's is 403)."},
                "portalSession": {"type": "http", "scheme": "bearer", "bearerFormat": "rps_<64 hex>",
                                  "description": "A customer's portal session (POST /portal/auth/sessions); it "
                                                 "opens that customer's tickets only (another's is 404)."},
                "webchatSession": {"type": "http", "scheme": "bearer", "bearerFormat": "<claims>.<HMAC-SHA256>",
                                   "description": "A web-chat visitor's session token (POST /webchat/sessions); "
                                                  "it opens that session's conversation only (another's is 403). "
                                                  "POST /webhooks/webchat also takes it as `session_token` in "
                                                  "the body."},
                "slackSignature": {"type": "apiKey", "in": "header", "name": "X-Slack-Signature",
                                   "description": "Slack's v0 HMAC of the timestamp and body "
                                                  "(with X-Slack-Request-Timestamp)."},
                "metaSignature": {"type": "apiKey", "in": "header", "name": "X-Hub-Signature-256",
                                  "description": "Meta's HMAC-SHA256 of the body with the app secret."},
                "metaVerifyToken": {"type": "apiKey", "in": "query", "name": "hub.verify_token",
                                    "description": "The deployment's verify token, on Meta's subscription check."},
                "telegramSecretToken": {"type": "apiKey", "in": "header", "name": "X-Telegram-Bot-Api-Secret-Token",
                                        "description": "The secret token set with setWebhook."},
                "twilioSignature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature",
                                    "description": "Twilio's HMAC-SHA1 of the URL and form fields."},
            },
            "responses": _error_responses(),
            "schemas": components.schemas,
        },
    }


# --- request bodies: the handlers' pydantic models ----------------------------------------------


class _Components:
    """Collects request-body schemas from pydantic models, ``$defs`` lifted into one namespace."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def model(self, name: str, model: Any) -> dict[str, str]:
        """Add ``model``'s validation schema as ``name`` (its nested models under their own names)."""
        schema = model.model_json_schema(ref_template=_REF)
        for nested, definition in schema.pop("$defs", {}).items():
            self.add(nested, definition)
        self.add(name, schema)
        return _ref(name)

    def add(self, name: str, schema: dict[str, Any]) -> None:
        if self.schemas.get(name, schema) != schema:
            # Two models define different schemas under one name: refuse rather than let one win.
            raise ValueError(f"two different schemas are both called {name!r}")
        self.schemas[name] = schema


def _request_bodies(components: _Components) -> dict[str, dict[str, str]]:
    from chalicelib.api import agent_bodies, customer_bodies, ticket_bodies, upload_bodies
    from chalicelib.domain import macros

    refs = {
        "TicketUpdate": components.model("TicketUpdate", ticket_bodies.TicketUpdate),
        "Reply": components.model("Reply", ticket_bodies.ReplyBody),
        "Note": components.model("Note", ticket_bodies.NoteBody),
        "TicketMerge": components.model("TicketMerge", ticket_bodies.MergeBody),
        "NewAgent": components.model("NewAgent", agent_bodies.NewAgent),
        "AgentFields": components.model("AgentFields", agent_bodies.AgentFields),
        "Macro": components.model("Macro", macros.Macro),
        "CustomerImport": components.model("CustomerImport", customer_bodies.ImportBody),
        "CustomerPatch": components.model("CustomerPatch", customer_bodies.CustomerPatch),
        "CustomerMerge": components.model("CustomerMerge", customer_bodies.MergeBody),
        "Upload": components.model("Upload", upload_bodies.UploadBody),
        "NewTicket": components.model("NewTicket", ticket_bodies.OpenTicketBody),
    }
    _refine(components.schemas)
    return refs


def _refine(schemas: dict[str, Any]) -> None:
    """What the handlers check beyond the models' fields, so the document tells the whole rule.

    Each constant is read from the module that checks it, so the two cannot drift.
    """
    from chalicelib.api import agent_bodies, ticket_bodies
    from chalicelib.domain import macros

    tag = ticket_bodies.Tag.metadata[0].pattern  # update_ticket checks each tag against it
    for name in ("add_tags", "remove_tags"):
        _array_of(schemas["TicketUpdate"], name)["items"]["pattern"] = tag
        actions = _array_of(schemas["MacroActions"], name)
        actions["items"]["pattern"] = macros._TAG.pattern
        actions["uniqueItems"] = True
    _array_of(schemas["Macro"], "categories")["items"]["pattern"] = macros._CATEGORY.pattern
    for model in ("NewAgent", "AgentFields"):
        _array_of(schemas[model], "skills")["items"]["pattern"] = agent_bodies.SKILL_PATTERN
        _array_of(schemas[model], "languages")["items"]["pattern"] = r"^[a-z]{2}$"
    # reply: exactly one of text and macro_id (null counts as left out)
    schemas["Reply"]["oneOf"] = [
        {"required": [field], "properties": {field: {"type": "string"}}} for field in ("text", "macro_id")
    ]
    # update: at least one change besides version and force
    changes = ("status", "priority", "category", "assignee_id", "add_tags", "remove_tags")
    schemas["TicketUpdate"]["anyOf"] = [{"required": [field]} for field in changes]
    schemas["AgentFields"]["minProperties"] = 1  # "nothing to change"
    # POST /tickets (ticket_open): a customer named by at least one of these; a call is on phone, and only a call
    schemas["CustomerRef"]["anyOf"] = [
        {"required": [field], "properties": {field: {"type": "string"}}} for field in ("email", "phone", "customer_id")
    ]
    schemas["NewTicket"]["anyOf"] = [
        {"properties": {"kind": {"const": "call"}}},
        {"properties": {"kind": {"const": "outbound"}, "channel": {"enum": ["email", "sms", "whatsapp", "webchat"]}}},
    ]
    for field in ("subject", "text"):
        schemas["NewTicket"]["properties"][field]["pattern"] = r"\S"  # not blank
    schemas["CustomerPatch"]["minProperties"] = 1


def _array_of(schema: dict[str, Any], field: str) -> dict[str, Any]:
    """The array schema of ``field`` (an ``X | None`` field keeps it inside ``anyOf``)."""
    prop = schema["properties"][field]
    for candidate in [prop, *prop.get("anyOf", [])]:
        if candidate.get("type") == "array":
            return candidate
    raise KeyError(f"{field} is not an array field")


# --- parameters ----------------------------------------------------------------------------------


def _path_parameters() -> dict[str, dict[str, Any]]:
    from chalicelib.api import agent_api, customers_api, macros_api
    from chalicelib.domain import kb
    from chalicelib.domain import kb_links
    from chalicelib.domain import survey_tokens

    def parameter(name: str, pattern: str, description: str, **limits: Any) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "description": description,
                "schema": {"type": "string", "pattern": pattern, **limits}}

    return {
        "ticket_id": parameter("ticket_id", agent_api._TICKET_ID.pattern, "A ticket id: t- and 20 hex digits."),
        "agent_id": parameter("agent_id", agent_api._AGENT_ID.pattern, "An agent id: a- and 12 hex digits."),
        "customer_id": parameter("customer_id", customers_api._CUSTOMER_ID.pattern,
                                 "A customer id: c- and 20 hex digits."),
        "macro_id": parameter("macro_id", macros_api._MACRO_ID.pattern,
                              "A macro id: lower-case letters, digits and -, at most 63."),
        "token": parameter("token", f"^{survey_tokens._TOKEN.pattern}$", "The survey link's signed token.",
                           maxLength=survey_tokens._MAX_TOKEN_CHARS),
        "link": parameter("link", f"^{kb_links._TOKEN.pattern}$",
                          "A tracked article link's signed token (k1.…): names the ticket and the article.",
                          maxLength=kb_links._MAX_TOKEN_CHARS),
        "name": parameter("name", r"^[a-z0-9][a-z0-9_.-]{0,63}$", "A console file's name, e.g. app.js."),
        "article_id": parameter("article_id", kb.SLUG.pattern,
                                "An article's id (its slug): lower-case letters, digits and -, at most 80."),
        "session_id": parameter("session_id", r"^ws-[0-9a-f]{20}$", "A web-chat session id (POST /webchat/sessions)."),
        "attachment_id": {"name": "attachment_id", "in": "path", "required": True, "schema": {"type": "string"},
                          "description": "An attachment's id as GET /tickets/{ticket_id} shows it."},
    }


def _ticket_list_parameters() -> list[dict[str, Any]]:
    """GET /tickets' query, exactly as ``agent_api.list_tickets`` validates it."""
    from chalicelib.api import agent_api

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    agent_id = agent_api._AGENT_ID.pattern.removeprefix("^").removesuffix("$")
    return [
        query("status", {"type": "string", "enum": list(STATUSES), "default": "open"},
              "Tickets in this status (default open). Not with overdue."),
        query("assignee", {"type": "string", "pattern": f"^(me|none|{agent_id})$"},
              "me, none (unassigned) or an agent id. One of assignee, queue, priority, channel at a time."),
        query("queue", {"type": "string", "pattern": agent_api._SLUG.pattern},
              "A queue (category) name. One of assignee, queue, priority, channel at a time."),
        query("priority", {"type": "string", "enum": list(PRIORITIES)},
              "One of assignee, queue, priority, channel at a time."),
        query("channel", {"type": "string", "enum": list(CHANNELS)},
              "The channel the conversation started on. One of assignee, queue, priority, channel at a time."),
        query("overdue", {"type": "string", "enum": ["true"]},
              "Every active ticket past an SLA due time, most overdue first; takes no other filter."),
        query("limit", {"type": "integer", "minimum": 1, "maximum": agent_api._MAX_LIMIT, "default": 25},
              "Page size."),
        query("cursor", {"type": "string"}, "next_cursor of the previous page."),
    ]


# --- responses -----------------------------------------------------------------------------------

_ERROR_STATUSES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
                   413: "PayloadTooLarge"}


def _error_responses() -> dict[str, Any]:
    """One reusable response per refusal, its ``error`` code fixed by ``chalicelib.errors``."""
    from chalicelib import errors

    codes = {cls.status: cls.code for cls in (errors.BadRequest, errors.Unauthorized, errors.Forbidden,
                                               errors.NotFound, errors.Conflict, errors.PayloadTooLarge)}
    described = {
        400: "The request is malformed or breaks a rule; `reason` names the field.",
        401: "No token, or a malformed, unknown or revoked one.",
        403: "The token is valid but this call needs an admin token.",
        404: "Nothing with that id.",
        409: "The change conflicts with the current state (a newer version, a merge); read again and retry.",
        413: "The body is larger than the API accepts.",
    }
    responses: dict[str, Any] = {
        name: {
            "description": described[status],
            "content": {_JSON: {"schema": {
                "allOf": [{"$ref": _REF.format(model="Error")}],
                "properties": {"error": {"const": codes[status]}},
            }}},
        }
        for status, name in _ERROR_STATUSES.items()
    }
    responses["Unauthorized"]["headers"] = {
        "WWW-Authenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}},
    }
    responses["UnsupportedMediaType"] = {
        "description": "The body is not application/json (refused by Chalice before the handler runs).",
        "content": {_JSON: {"schema": {"$ref": _REF.format(model="GatewayError")}}},
    }
    return responses


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed object: every property listed, all required but ``optional``."""
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "required": [name for name in properties if name not in optional]}


def _json_type(hint: Any) -> dict[str, Any]:
    """int, float, str and their Optional forms, and dict[str, int] (an object of counts), as JSON Schema types."""
    if typing.get_origin(hint) is dict:
        return {"type": "object", "additionalProperties": _json_type(typing.get_args(hint)[1])}
    names = {int: "integer", float: "number", str: "string", type(None): "null"}
    kinds = [names[arg] for arg in (typing.get_args(hint) or (hint,))]
    return {"type": kinds[0] if len(kinds) == 1 else kinds}


def _survey_field(name: str) -> dict[str, Any]:
    """A survey answer's field, with the bounds ``survey_tokens.validate_response`` checks."""
    from chalicelib.domain import survey_tokens

    if name == "comment":
        return {"type": ["string", "null"], "maxLength": survey_tokens.COMMENT_MAX_CHARS}
    low, high = survey_tokens._SCORES[name]
    score = {"type": "integer", "minimum": low, "maximum": high}
    return score if name == "rating" else {"anyOf": [score, {"type": "null"}]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _nullable_ref(name: str) -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, _ref(name)]}


def _response_schemas(components: _Components) -> dict[str, Any]:
    """What the handlers answer with, field by field (``chalicelib.api.views`` and the services)."""
    from chalicelib.domain import kpis, survey_texts
    from chalicelib.service import agents, deliveries

    hints = typing.get_type_hints(kpis.ReportRow)

    text, integer, boolean = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
    delivery_status = {"type": ["string", "null"], "enum": [*deliveries.STATUSES, None],
                       "description": "Outbound mail: queued, sent, then what SES reported (the most final state)."}
    report_fields = {
        "status": {"type": "string", "enum": list(deliveries.STATUSES[2:])},
        "at": {"type": "string", "description": "When SES saw it."},
        "recipient": _nullable("string"), "bounce_type": _nullable("string"), "bounce_subtype": _nullable("string"),
        "diagnostic": {"type": ["string", "null"], "maxLength": deliveries.DIAGNOSTIC_CHARS,
                       "description": "The receiving server's answer (bounces, delays), SES's reason (rejects)."},
    }
    summary_fields = {
        "id": text, "number": integer, "subject": text,
        "status": {"type": "string", "enum": list(STATUSES)},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "category": text, "tags": _strings(), "triage": _nullable("object"), "channel": text,
        "channels": _strings(), "customer_id": text, "requester": _nullable("string"),
        "requester_name": _nullable("string"), "created_at": text, "last_activity_at": text,
        "last_customer_message_at": _nullable("string"), "first_response_at": _nullable("string"),
        "message_count": integer, "reopen_count": integer, "quarantine_reason": _nullable("string"),
        "acknowledgement": {"anyOf": [{"type": "null"}, _object({
            "status": text, "reason": _nullable("string"), "message_id": _nullable("string"),
            "provider_message_id": _nullable("string"), "to": _nullable("string"), "sent_at": _nullable("string"),
            "delivery": delivery_status, "delivery_report": _nullable_ref("DeliveryReport"),
        })]},
        "delivery_problem": _nullable_ref("DeliveryProblem"),
        "language": _nullable("string"), "customer_tier": _nullable("string"), "assignee_id": _nullable("string"),
        "assignee_name": _nullable("string"), "assigned_at": _nullable("string"),
        "assignment_source": _nullable("string"), "status_changed_at": _nullable("string"),
        "last_agent_reply_at": _nullable("string"), "agent_reply_count": integer, "solved_at": _nullable("string"),
        "sla": _nullable("object"),
        "sla_due_at": {"type": ["string", "null"],
                       "description": "The running SLA clock's next due time (ISO); null when none runs."},
        "sla_breached": {"type": "boolean",
                         "description": "A running SLA clock is past due (or the ticket is on the overdue list)."},
        "merged_into": _nullable("string"), "merged_from": _strings(),
        "survey": {"anyOf": [{"type": "null"}, {
            "type": "object", "description": "The satisfaction survey sent, and its answer once given.",
            "properties": {"sent_at": text, "expires_at": text, "answered_at": text,
                           **{name: _survey_field(name) for name in ("rating", "comment", "nps", "ces")}},
            "not": {"required": ["nonce"]},  # half of a valid answer link: never shown
        }]},
        "bot": {"type": ["object", "null"], "description": "The chat bot's part: state (asked, handed_off or "
                "solved), article_id, at, reason (why it handed over)."},
        "kb_suggested": {**_strings(), "description": "Knowledge-base articles suggested to the customer (ids)."},
        "kb_links": {"type": ["object", "null"], "description": "What the customer did with the tracked links: "
                     "opened_at (first open), opened (article ids), answers ({article id: {answer, at}})."},
        "deflection": {"type": ["object", "null"], "description": "Solved by self-service: how (confirmed or "
                       "silent), via (portal, bot or window), at, article."},
        "version": integer,
    }
    past_ticket = {"id": text, "number": integer, "subject": text, "status": text, "created_at": text}
    customer_fields = {
        "id": text, "name": _nullable("string"), "identities": _strings(), "first_seen_at": _nullable("string"),
        "last_seen_at": _nullable("string"), "ticket_count": integer, "last_inquiry": _nullable("object"),
        "tier": _nullable("string"), "attributes": {"type": "object"},
        "purchases": {"type": "array", "items": {"type": "object"}}, "merged_into": _nullable("string"),
    }
    context_fields = {
        "id": text, "name": _nullable("string"), "tier": _nullable("string"), "identities": _strings(),
        "language": {"enum": [*LANGUAGES, None], "description": "The customer's stated preference; null: the "
                     "language of their messages, else the desk's default_language, decides."},
        "channels": {"type": "object", "additionalProperties": _strings()}, "attributes": {"type": "object"},
        "purchases": {"type": "array", "items": {"type": "object"}}, "purchase_count": integer,
        "last_inquiry": _nullable("object"),
        "previous_tickets": {"type": "array", "items": _object({**past_ticket, "channel": text})},
        "ticket_count": integer, "first_seen_at": _nullable("string"), "last_seen_at": _nullable("string"),
        "redirected_from": _nullable("string"),
    }
    macro = copy.deepcopy(components.schemas["Macro"])  # the view is model_dump(mode="json") plus starter
    macro["properties"]["starter"] = {"type": "boolean", "description": "Shipped with the deployment."}
    macro["required"] = sorted(macro["properties"])  # model_dump writes every field
    for rule in ("anyOf", "oneOf"):
        macro.pop(rule, None)
    return {
        "Error": {"type": "object", "additionalProperties": False, "required": ["error", "reason"],
                  "properties": {"error": {"type": "string", "description": "A stable code, e.g. not_found."},
                                 "reason": {"type": "string", "description": "What to fix, for a person."}}},
        "GatewayError": _object({"Code": text, "Message": text}),
        "TicketSummary": _object(summary_fields),
        "TicketDetail": _object({
            **summary_fields,
            "messages": {"type": "array", "items": _ref("Message")},
            "audit": {"type": "array", "items": _ref("AuditEntry")},
            "customer": {"anyOf": [{"type": "null"}, _object(customer_fields)]},
            "customer_tickets": {"type": "array", "items": _object(past_ticket)},
        }),
        "Message": _object({
            "id": text, "direction": text, "kind": text, "channel": text, "from": text, "from_name": text,
            "to": _strings(), "subject": text, "text": _nullable("string"), "full_text": _nullable("string"),
            "html": _nullable("string"), "body_s3_key": _nullable("string"),
            "attachments": {"type": "array", "items": _object({
                "id": {"type": "string", "description": "For GET /tickets/{ticket_id}/attachments/{attachment_id}."},
                "filename": text, "content_type": text, "size": integer, "ref": _nullable("string"),
            })},
            "message_id": _nullable("string"), "auto_reply_reason": _nullable("string"),
            "joined_by": _nullable("string"), "flags": _strings(), "sender_auth": _nullable("string"),
            "delivery": delivery_status, "delivery_report": _nullable_ref("DeliveryReport"), "created_at": text,
            "choices": {"anyOf": [{"type": "null"}, {"type": "array", "items": _object({"value": text, "label": text}),
                        "description": "The chat bot's buttons on its question."}]},
        }),
        "DeliveryReport": {**_object(report_fields),
                           "description": "What SES reported about one mail we sent: delivered, delayed, bounced..."},
        "DeliveryProblem": {**_object({
            **report_fields,
            "status": {"type": "string", "enum": sorted(deliveries.FLAGGED)},
            "message": {"type": "string", "description": "The message's id, or \"acknowledgement\"."},
            "sent_at": {"type": "string", "description": "When SES accepted that mail."},
        }), "description": "The ticket's newest mail that bounced, was rejected or drew a complaint; a later "
                           "mail delivered to the same address clears a bounce or rejection."},
        "SearchResult": _object({
            "query": text, "kind": {"type": "string", "enum": ["number", "email", "phone", "order", "name"]},
            "tickets": {"type": "array", "items": _ref("TicketSummary"), "maxItems": 25},
            "customers": {"type": "array", "maxItems": 25, "items": _object({
                "id": text, "name": _nullable("string"), "identities": _strings(), "tier": _nullable("string")})},
        }),
        "TicketCounts": _object({
            "mine": integer, "unassigned": integer, "overdue": integer,
            **{name: {"type": "object", "additionalProperties": integer}
               for name in ("by_status", "by_queue", "by_priority", "by_channel")},
        }),
        "AuditEntry": _object({"at": text, "actor": text, "actor_name": text, "action": text,
                               "changes": _nullable("object"), "detail": _nullable("string")}),
        "TicketList": {"anyOf": [_ref("TicketPage"), _ref("OverduePage")]},
        "TicketPage": _object({
            "status": {"type": "string", "enum": list(STATUSES)},
            "assignee": text, "queue": text, "priority": text, "channel": text,
            "tickets": {"type": "array", "items": _ref("TicketSummary")},
            "next_cursor": _nullable("string"),
        }, optional=("assignee", "queue", "priority", "channel")),
        "OverduePage": _object({"overdue": {"const": True},
                                "tickets": {"type": "array", "items": _ref("TicketSummary")},
                                "next_cursor": _nullable("string")}),
        "TicketChanged": _object({
            "changed": {"type": "object", "description": "field → [before, after]",
                        "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2}},
            "ticket": _ref("TicketSummary"),
        }),
        "ReplyQueued": _object({"message_id": text, "channel": text, "queued": {"const": True},
                                "first_response": boolean, "text": text, "cc": _strings(),
                                "repeated": {"type": "boolean", "description": "An earlier request with this "
                                             "Idempotency-Key stored it; nothing new was stored."},
                                "attachments": {"type": "array", "items": _object({
                                    "id": text, "filename": text, "content_type": text, "size": integer})}}),
        "AttachmentLink": _object({
            "url": {"type": "string", "description": "A pre-signed S3 GET, served as a download."},
            "expires_in": {"type": "integer", "description": "Seconds the URL works."},
            "filename": text, "content_type": text, "size": integer}),
        "UploadGrant": _object({
            "upload_id": {"type": "string", "description": "Name it in a reply's `attachments`."},
            "url": {"type": "string", "description": "A pre-signed S3 PUT for the file's bytes."},
            "headers": _object({"Content-Type": text}),
            "expires_in": {"type": "integer", "description": "Seconds the URL works."},
            "max_bytes": {"type": "integer", "description": "The largest object the reply will accept."}}),
        "NoteAdded": _object({"message_id": text}),
        "TicketMerged": _object({"merged": text, "into": _ref("TicketSummary")}),
        "Agent": _object({
            "id": text, "name": text, "email": text, "role": {"type": "string", "enum": list(agents.ROLES)},
            "skills": _strings(), "languages": _strings(), "capacity": integer, "open_count": integer,
            "status": {"type": "string", "enum": list(agents.AGENT_STATUSES)},
            "working_hours": _nullable("object"), "last_assigned_at": _nullable("string"), "active": boolean,
            "created_at": text,
        }),
        "AgentList": _object({"agents": {"type": "array", "items": _ref("Agent")}}),
        "AgentCreated": _object({"agent": _ref("Agent"), "token": {
            "type": "string", "description": "The agent's bearer token; shown this once."}}),
        "MacroView": macro,
        "MacroList": _object({"macros": {"type": "array", "items": _ref("MacroView")}}),
        "MacroDeleted": _object({"deleted": text}),
        "CustomerContext": _object(context_fields),
        "CustomerMerged": _object({**context_fields, "merge": _object({
            "source_id": text, "target_id": text, "identities_moved": integer, "tickets_moved": integer,
            "repeated": boolean, "identities_skipped": _strings(),
        })}),
        "CustomerImported": _object({
            "created": integer, "updated": integer, "unchanged": integer, "conflicts": integer, "invalid": integer,
            "records": {"type": "array", "items": _object({
                "index": integer,
                "status": {"type": "string", "enum": ["created", "updated", "unchanged", "conflict", "invalid"]},
                "customer_id": _nullable("string"), "reason": _nullable("string"),
            })},
        }),
        "KpiRow": _object({field.name: _json_type(hints[field.name]) for field in dataclasses.fields(kpis.ReportRow)}),
        "KpiReport": _object({
            "group_by": {"type": "string", "enum": list(kpis.GROUP_BY)},
            "start": {"type": "string", "format": "date"}, "end": {"type": "string", "format": "date"},
            "percentile_relative_error": {"type": "number"},
            "rows": {"type": "array", "items": _ref("KpiRow")}, "totals": _ref("KpiRow"),
            "backlog": {"anyOf": [{"type": "null"}, {
                "type": "object", "additionalProperties": False, "required": list(kpis.BACKLOG_BUCKETS),
                "properties": {bucket: integer for bucket in kpis.BACKLOG_BUCKETS}}]},
        }),
        "SurveyAnswer": {
            "type": "object", "additionalProperties": False, "required": ["rating"],
            "properties": {name: _survey_field(name) for name in ("rating", "comment", "nps", "ces")},
        },
        "SurveyForm": _object({
            "ticket_number": integer, "language": {"enum": list(survey_texts.LANGUAGES)},
            "rating": {"anyOf": [_survey_field("rating"), {"type": "null"}]}, "expires_at": _nullable("string"),
            "answered": boolean, "answered_at": _nullable("string"),
            "questions": {"type": "array", "items": {"type": "object"}},
        }),
        "SurveyRecorded": _object({
            "status": {"const": "recorded"}, "message": text, "ticket_number": integer,
            **{name: _survey_field(name) for name in ("rating", "comment", "nps", "ces")}, "answered_at": text,
        }),
        "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"], "properties": {
            "openapi": {"const": OPENAPI_VERSION}, "info": {"type": "object"}, "paths": {"type": "object"},
        }},
    }


# --- operations ----------------------------------------------------------------------------------


def _operation(operation_id: str, tag: str, summary: str, ok: tuple[int, str, str], refusals: tuple[int, ...], *,
               body: dict[str, str] | None = None, parameters: list[dict[str, Any]] | None = None,
               description: str | None = None, security: list[dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """An operation; ``security`` defaults to any agent's token (``_ADMIN``: an admin's, which adds 403)."""
    status, schema, what = ok
    security = _AGENT if security is None else security
    if security == _ADMIN:
        refusals = (*refusals, 403)
    responses: dict[str, Any] = {str(status): {"description": what, "content": {_JSON: {"schema": _ref(schema)}}}}
    if body is not None:  # every body is read by requests.read_object: 400 and 413, and Chalice's 415
        refusals = (*refusals, 400, 413, 415)
    for code in sorted(set(refusals)):
        name = "UnsupportedMediaType" if code == 415 else _ERROR_STATUSES[code]
        responses[str(code)] = {"$ref": f"#/components/responses/{name}"}
    operation: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary,
                                 "security": copy.deepcopy(security), "responses": responses}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {_JSON: {"schema": body}}}
    return operation


def _operations(components: _Components) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every route in app.py."""
    bodies = _request_bodies(components)
    if_match = {"name": "If-Match", "in": "header", "required": False,
                "description": 'The ticket version you read, e.g. 7, "7" or W/"7" (as `version` in the body; '
                               "the body wins).",
                # ticket_api._if_match: quotes stripped, then W/, then quotes again; 1-12 digits left
                "schema": {"type": "string", "pattern": r'^"*(W/"*)?[0-9]{1,12}"*$'}}
    admin = "Admin token only."
    return [
        ("/tickets", "GET", _operation(
            "listTickets", "tickets", "List tickets, newest activity first.", (200, "TicketList", "A page."),
            (400, 401), parameters=_ticket_list_parameters(),
            description="Each filter is its own index: use at most one of assignee, queue, priority and "
                        "channel (each combined with status), or overdue alone. Unknown parameters are refused.")),
        ("/search", "GET", _operation(
            "search", "tickets", "Find tickets and customers by ticket number, email, phone, order or name.",
            (200, "SearchResult", "What the query names (empty lists when nothing)."), (400, 401),
            parameters=[{"name": "q", "in": "query", "required": True,
                         "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                         "description": "`#123` or digits: a ticket number (else an order with that number); "
                                        "with `@`: an email address; `+` and digits (spaces, dashes allowed): a "
                                        "phone number; `order:<id>` or an imported order id: the buyer; "
                                        "otherwise the start of a customer's name (2+ letters, case and accents "
                                        "ignored)."}],
            description="Tickets are the customer's newest 25 (for a name: only when exactly one customer "
                        "matches). Every kind is a key lookup or one index query.")),
        ("/tickets/counts", "GET", _operation(
            "ticketCounts", "tickets", "How many active tickets each inbox view holds.",
            (200, "TicketCounts", "Counts of open, pending and on-hold tickets."), (400, 401),
            description="mine (the caller's), unassigned, overdue, and by status, queue, priority and "
                        "channel. Counted on the indexes the lists read, so each matches its list.")),
        ("/tickets", "POST", _operation(
            "openTicket", "tickets", "Open a ticket for a customer: log a phone call or write to them first.",
            (201, "TicketDetail", "The ticket, as GET /tickets/{ticket_id} shows it."), (401, 404, 409),
            body=bodies["NewTicket"],
            parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,100}$"},
                         "description": "Repeat the request with the same key to get the ticket it opened "
                                        "(or send `request_id`); a different request with a used key is 409."}],
            description="The customer is found by email, phone or customer_id (404 for an unknown id) or "
                        "created. kind call: the text is the agent's record of the call, never sent; the caller "
                        "owns the ticket unless assignee_id names someone; its channel is phone or where "
                        "follow-ups go. kind outbound: the text is sent on "
                        "the channel (email with the ticket's [#N] token; a chat channel only where the "
                        "customer wrote before, else 409). Neither counts as a first response.")),
        ("/tickets/{ticket_id}", "GET", _operation(
            "getTicket", "tickets", "A ticket with its messages, audit trail and customer.",
            (200, "TicketDetail", "The ticket."), (401, 404))),
        ("/tickets/{ticket_id}", "PATCH", _operation(
            "updateTicket", "tickets", "Change status, priority, queue, assignee or tags.",
            (200, "TicketChanged", "What changed, and the ticket after it."), (401, 404, 409),
            body=bodies["TicketUpdate"], parameters=[if_match],
            description="Send `version` (or If-Match) to refuse the change if someone changed the ticket since "
                        "you read it (409). `force` (admins) assigns over capacity or to an away agent.")),
        ("/tickets/{ticket_id}/replies", "POST", _operation(
            "replyToTicket", "tickets", "Reply to the customer, with text or a macro.",
            (201, "ReplyQueued", "The reply is stored and queued for sending."), (401, 404, 409),
            body=bodies["Reply"],
            parameters=[{"name": "Idempotency-Key", "in": "header", "required": False,
                         "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,100}$"},
                         "description": "Repeat the request with the same key (yours: keys are per agent) to get "
                                        "the reply it stored, `repeated: true`, instead of a second reply."}],
            description="`attachments` (upload ids from POST /tickets/{ticket_id}/uploads) and `cc` go by email "
                        "only (400 on a chat channel). Each upload is checked before anything is stored: a "
                        "missing file or one another ticket uploaded is 409, one larger than declared 413.")),
        ("/tickets/{ticket_id}/attachments/{attachment_id}", "GET", _operation(
            "downloadAttachment", "tickets", "A short-lived download URL for one attachment of the ticket.",
            (200, "AttachmentLink", "A pre-signed GET URL (300 s) and the file's name, type and size."), (401, 404),
            description="`attachment_id` is a message attachment's `id` in GET /tickets/{ticket_id}. An id of "
                        "another ticket, or an attachment whose file was never stored, is 404.")),
        ("/tickets/{ticket_id}/uploads", "POST", _upload_operation(bodies["Upload"])),
        ("/tickets/{ticket_id}/notes", "POST", _operation(
            "addNote", "tickets", "An internal note (never sent to the customer).",
            (201, "NoteAdded", "The note is stored."), (401, 404, 409), body=bodies["Note"])),
        ("/tickets/{ticket_id}/merge", "POST", _operation(
            "mergeTicket", "tickets", "Merge this ticket into another.",
            (200, "TicketMerged", "The surviving ticket."), (401, 404, 409), body=bodies["TicketMerge"])),
        ("/agents", "GET", _operation(
            "listAgents", "agents", "Every active agent.", (200, "AgentList", "The agents."), (401,))),
        ("/agents", "POST", _operation(
            "createAgent", "agents", "Create an agent and its token.", (201, "AgentCreated", "The new agent."),
            (401, 403), body=bodies["NewAgent"], security=_ADMIN, description=admin)),
        ("/agents/{agent_id}", "GET", _operation(
            "getAgent", "agents", "One agent.", (200, "Agent", "The agent."), (401, 404))),
        ("/agents/{agent_id}", "PATCH", _operation(
            "updateAgent", "agents", "Change an agent's profile or status.", (200, "Agent", "The agent after it."),
            (401, 403, 404), body=bodies["AgentFields"],
            description="Admins change anything; an agent may change only their own status.")),
        ("/agents/{agent_id}", "DELETE", _operation(
            "removeAgent", "agents", "Remove an agent: token revoked, tickets handed over.",
            (200, "Agent", "The removed agent."), (401, 403, 404, 409), security=_ADMIN, description=admin)),
        ("/customers/import", "POST", _operation(
            "importCustomers", "customers", "Create or update customers from the shop's records.",
            (200, "CustomerImported", "An outcome per record; a bad record does not stop the rest."),
            (401, 403), body=bodies["CustomerImport"], security=_ADMIN, description=admin)),
        ("/customers/{customer_id}", "GET", _operation(
            "getCustomer", "customers", "A customer's context: identities, purchases, past tickets.",
            (200, "CustomerContext", "The customer (the survivor, if it was merged)."), (400, 401, 404))),
        ("/customers/{customer_id}", "PATCH", _operation(
            "updateCustomer", "customers", "Change a customer's name, tier, attributes or purchases.",
            (200, "CustomerContext", "The customer after it."), (401, 403, 404, 409), body=bodies["CustomerPatch"],
            security=_ADMIN, description=admin)),
        ("/customers/{customer_id}/merge", "POST", _operation(
            "mergeCustomer", "customers", "Merge this customer into another.",
            (200, "CustomerMerged", "The surviving customer and what moved."), (401, 404, 409),
            body=bodies["CustomerMerge"])),
        ("/macros", "GET", _operation(
            "listMacros", "macros", "Every macro; with queue, those suggested for it first.",
            (200, "MacroList", "The macros."), (401,),
            parameters=[{"name": "queue", "in": "query", "required": False, "schema": {"type": "string"},
                         "description": "Only macros for this queue and for every queue."}])),
        ("/macros", "POST", _operation(
            "createMacro", "macros", "Create a macro.", (201, "MacroView", "The macro."), (401, 403, 409),
            body=bodies["Macro"], security=_ADMIN, description=admin)),
        ("/macros/{macro_id}", "GET", _operation(
            "getMacro", "macros", "One macro.", (200, "MacroView", "The macro."), (401, 404))),
        ("/macros/{macro_id}", "PUT", _operation(
            "replaceMacro", "macros", "Create or replace a macro (the body's id must be the URL's).",
            (200, "MacroView", "The macro."), (401, 403, 404), body=bodies["Macro"],
            security=_ADMIN,
            description=admin + " An id that is not a macro id is 404, as on every /macros/{macro_id} call.")),
        ("/macros/{macro_id}", "DELETE", _operation(
            "deleteMacro", "macros", "Delete a macro (a starter macro is hidden).",
            (200, "MacroDeleted", "Deleted."), (401, 403, 404), security=_ADMIN, description=admin)),
        ("/reports/kpis", "GET", _operation(
            "kpiReport", "reports", "KPIs per channel, priority, queue or agent over a range of UTC days.",
            (200, "KpiReport", "The report, a totals row and the open backlog by age."), (400, 401, 403),
            parameters=_kpi_parameters(),
            security=_ADMIN,
            description=admin + " `to` defaults to today, `from` to 29 days before `to`; at most 366 days, "
                                "not reversed, not starting in the future. Unknown parameters are refused.")),
        *_kb_operations(components),
        *_kb_link_operations(components),
        *_survey_operations(),
        *_signin_operations(components),
        *_portal_operations(components),
        ("/openapi.json", "GET", {
            "operationId": "getOpenApiDocument", "tags": ["meta"], "summary": "This document.", "security": [],
            "x-credential": NO_CREDENTIAL,
            "responses": {"200": {"description": "OpenAPI 3.1.",
                                  "content": {_JSON: {"schema": _ref("OpenApiDocument")}}}},
        }),
        *_webhooks(),
        *_static_operations(),
    ]


def _upload_operation(body: dict[str, str]) -> dict[str, Any]:
    """POST /tickets/{ticket_id}/uploads: its 415 is also the policy's (a type never accepted), in our shape."""
    from chalicelib.domain import attachment_policy

    operation = _operation(
        "uploadAttachment", "tickets", "A pre-signed URL to upload a file for a reply.",
        (201, "UploadGrant", "PUT the bytes to `url` with `headers`; then name `upload_id` in a reply."),
        (401, 404, 409), body=body,
        description=f"At most {attachment_policy.MAX_FILE_BYTES:,} bytes (413). Accepted: images except SVG, "
                    "PDF, plain text, CSV, office documents, zip; HTML, SVG, scripts and programs are refused "
                    "(415), and a filename whose extension disagrees with `content_type` is 400. Unclaimed "
                    "uploads expire after a day.")
    operation["responses"]["415"] = {
        "description": "A media type the policy never accepts (`{error, reason}`), or a body that is not JSON "
                       "(refused by Chalice).",
        "content": {_JSON: {"schema": {"anyOf": [_ref("Error"), _ref("GatewayError")]}}}}
    return operation


def _kb_operations(components: _Components) -> list[tuple[str, str, dict[str, Any]]]:
    """The knowledge base (``api/kb_api.py``): reads are public (a token, if sent, must be good and shows
    drafts); writes need an agent token."""
    from chalicelib.api import kb_api
    from chalicelib.domain import kb

    body = components.model("KbArticleBody", kb_api.ArticleBody)
    components.schemas["KbArticleBody"]["properties"]["related"]["items"]["pattern"] = kb.SLUG.pattern
    text, integer = {"type": "string"}, {"type": "integer"}
    language = {"type": "string", "enum": list(kb.LANGUAGES)}
    status = {"type": "string", "enum": list(kb.STATUSES)}
    summary_fields = {"id": text, "title": text, "language": language, "status": status, "tags": _strings(),
                      "updated_at": text, "version": integer, "url": text}
    components.add("KbArticleSummary", _object(summary_fields))
    components.add("KbArticle", _object({**summary_fields, "body": text, "related": _strings(),
                                         "updated_by": text}))
    components.add("KbArticleList", _object({"articles": {"type": "array", "items": _ref("KbArticleSummary")},
                                             "next_cursor": _nullable("string")}))
    components.add("KbArticleDeleted", _object({"deleted": text, "version": integer}))
    components.add("KbSearchResults", _object({"results": {"type": "array", "items": _object({
        "id": text, "title": text, "language": language, "snippet": text, "score": {"type": "number"},
        "url": text})}}))
    components.add("KbSuggestions", _object({"suggestions": {"type": "array", "items": _object({
        "id": text, "title": text, "language": language, "url": text})}}))

    optional_token = [{}, {"bearerAuth": []}]
    common = {"tags": ["knowledge base"]}

    def query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}

    in_language = query("language", language, "Only this language; leave it out for all three. Any other "
                                               "value is a 400.")
    question = query("q", {"type": "string", "maxLength": kb.MAX_QUERY_CHARS},
                     "The customer's question, as typed.", required=True)

    def public(operation: dict[str, Any]) -> dict[str, Any]:
        return {**operation, **common, "security": optional_token, "x-credential": NO_CREDENTIAL}

    put = {**_operation(
        "putKbArticle", "knowledge base", "Create (no version) or replace (the version you read) an article.",
        (200, "KbArticle", "Replaced."), (401, 404, 409), body=body,
        description="A body over 100 kB is a 413; a stale version, or a create over an existing id, a 409. "
                    "Publishing, or changing a published article, rebuilds the search index."), **common}
    put["responses"]["201"] = {"description": "Created.", "content": {_JSON: {"schema": _ref("KbArticle")}}}

    return [
        ("/kb/articles", "GET", public(_operation(
            "listKbArticles", "knowledge base", "Articles by id, a page at a time (summaries, no bodies).",
            (200, "KbArticleList", "A page; next_cursor continues it."), (400, 401),
            parameters=[in_language,
                        query("status", status, "published or draft; without a token only published "
                                                "(draft is a 401)."),
                        query("limit", {"type": "integer", "minimum": 1, "maximum": kb_api.MAX_LIST_LIMIT,
                                        "default": kb_api.LIST_LIMIT}, "Articles per page."),
                        query("cursor", text, "next_cursor of the previous page.")]))),
        ("/kb/articles/{article_id}", "GET", public(_operation(
            "getKbArticle", "knowledge base", "One article: published for everyone, a draft for agents.",
            (200, "KbArticle", "The article; for the public, related lists only published articles."),
            (401, 404)))),
        ("/kb/articles/{article_id}", "PUT", put),
        ("/kb/articles/{article_id}", "DELETE", {**_operation(
            "deleteKbArticle", "knowledge base", "Delete an article (a published one leaves the search index).",
            (200, "KbArticleDeleted", "Deleted."), (400, 401, 404, 409),
            parameters=[query("version", {"type": "integer", "minimum": 1},
                              "The version you read: a newer one is a 409.")]), **common}),
        ("/kb/search", "GET", public(_operation(
            "searchKb", "knowledge base", "Published articles ranked for a question (BM25, stemming, typos).",
            (200, "KbSearchResults", "Best first; empty when nothing matches."), (400, 401),
            parameters=[question, in_language,
                        query("limit", {"type": "integer", "minimum": 1, "maximum": kb_api.MAX_SEARCH_LIMIT,
                                        "default": kb_api.SEARCH_LIMIT}, "How many results.")]))),
        ("/kb/suggest", "GET", public(_operation(
            "suggestKb", "knowledge base", "Type-ahead: up to 5 article titles for what is typed so far.",
            (200, "KbSuggestions", "Best first."), (400, 401), parameters=[question, in_language]))),
    ]


def _kb_link_operations(components: _Components) -> list[tuple[str, str, dict[str, Any]]]:
    """Tracked article links (``api/kb_links_api.py``): the signed link in the path is the credential."""
    from chalicelib.api import kb_links_api
    from chalicelib.domain import kb

    body = components.model("KbLinkEvent", kb_links_api.EventBody)
    answer = {"type": ["string", "null"], "enum": ["solved", "not_solved", None]}
    components.add("KbLinkRecorded", _object({
        "recorded": {"type": "boolean", "description": "False: a repeat, nothing changed."},
        "answer": {**answer, "description": "The customer's answer for this article so far."},
        "deflected": {"type": "boolean", "description": "Self-service answered the request."},
        "language": {"type": "string", "enum": list(kb.LANGUAGES), "description": "The customer's language."}}))
    codes: dict[int, list[str]] = {400: ["bad_request"], 409: ["conflict"], 413: ["payload_too_large"]}
    for code, status in kb_links_api.STATUS.items():
        codes.setdefault(status, []).append(code)
    no_cache = {name: {"required": True, "schema": {"type": "string", "const": value}}
                for name, value in kb_links_api.HEADERS.items()}

    def refusals(*statuses: int) -> dict[str, Any]:
        return {str(status): {
            "description": f"Refused: {', '.join(sorted(codes[status]))}.", "headers": no_cache,
            "content": {_JSON: {"schema": {"allOf": [_ref("Error")],
                                           "properties": {"error": {"enum": sorted(codes[status])}}}}},
        } for status in statuses}

    common = {"tags": ["knowledge base"], "security": [], "x-credential": SIGNED_LINK}
    return [
        ("/kb/go/{link}", "GET", {
            **common, "operationId": "followKbLink", "summary": "Follow a tracked article link; records nothing.",
            "description": "302 to the portal's article with the link kept for the page "
                           "(`/portal?ref=<link>#article/<id>`). Mail scanners follow every link, so a GET "
                           "records nothing: the page POSTs what the customer did.",
            "responses": {"302": {"description": "To the portal's article.", "headers": {
                "Location": {"required": True, "schema": {"type": "string"}}, **no_cache}},
                **{code: value for code, value in refusals(400, 403, 410, 503).items()}},
        }),
        ("/kb/go/{link}", "POST", {
            **common, "operationId": "recordKbLinkEvent",
            "summary": "The customer opened the article, or answered \"did this answer your question?\".",
            "description": "`solved` marks the request deflected and solved while it still waits for the team's "
                           "first answer; `not_solved` leaves it with the team. Repeats change nothing; a "
                           "`not_solved` after `solved` is a 409.",
            "requestBody": {"required": True, "content": {_JSON: {"schema": body}}},
            "responses": {"200": {"description": "Recorded (or already).", "headers": no_cache,
                                  "content": {_JSON: {"schema": _ref("KbLinkRecorded")}}},
                          **refusals(400, 403, 404, 409, 410, 413, 503),
                          "415": {"$ref": "#/components/responses/UnsupportedMediaType"}},
        }),
    ]


def _static_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """The console and the widget: files, not JSON (``api/static.py``)."""
    def page(operation_id: str, summary: str, *media: str) -> dict[str, Any]:
        content = {kind: {"schema": {"type": "string"}} for kind in media}
        return {"operationId": operation_id, "tags": ["faces"], "summary": summary, "security": [],
                "x-credential": NO_CREDENTIAL,
                "responses": {"200": {"description": "The file.", "content": content},
                              "304": {"description": "Not modified (If-None-Match)."},
                              "404": {"$ref": "#/components/responses/NotFound"}}}
    return [
        ("/console", "GET", page("getConsole", "The agents' console (HTML, with its CSP).", "text/html")),
        ("/console/{name}", "GET", page("getConsoleFile", "A file of the console (script, style or image).",
                                        "text/javascript", "text/css", "image/svg+xml", "text/html")),
        ("/widget.js", "GET", page("getWidgetScript", "The web-chat widget a site embeds.", "text/javascript")),
        ("/survey.css", "GET", page("getSurveyStylesheet", "The survey pages' style sheet.", "text/css")),
    ]


def _kpi_parameters() -> list[dict[str, Any]]:
    """GET /reports/kpis' query, as ``reports_api.kpis`` reads it."""
    from chalicelib.api import reports_api
    from chalicelib.domain import kpis

    day = {"type": "string", "format": "date", "pattern": reports_api._DAY.pattern}
    return [
        {"name": "from", "in": "query", "required": False, "schema": day, "description": "First day, inclusive."},
        {"name": "to", "in": "query", "required": False, "schema": day, "description": "Last day, inclusive."},
        {"name": "group_by", "in": "query", "required": False,
         "schema": {"type": "string", "enum": list(kpis.GROUP_BY), "default": reports_api.DEFAULT_GROUP_BY}},
    ]


def _survey_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """The public survey link: the signed token in the path is the credential, refusals carry survey codes."""
    from chalicelib.api import surveys_api

    codes: dict[int, list[str]] = {400: ["bad_request"], 409: ["conflict"], 413: ["payload_too_large"]}
    for code, status in surveys_api._STATUS.items():
        codes.setdefault(status, []).append(code)
    no_cache = {name: {"required": True, "schema": {"type": "string", "const": value}}
                for name, value in surveys_api._HEADERS.items()}

    page = {"text/html": {"schema": {"type": "string"}}}  # for a browser: Accept weighs text/html above JSON

    def refusals(*statuses: int) -> dict[str, Any]:
        return {str(status): {
            "description": f"Refused: {', '.join(sorted(codes[status]))} (a browser: a page saying why).",
            "headers": no_cache,
            "content": {_JSON: {"schema": {"allOf": [_ref("Error")],
                                           "properties": {"error": {"enum": sorted(codes[status])}}}}, **page},
        } for status in statuses}

    def answered(schema: str, what: str) -> dict[str, Any]:
        return {"description": what, "headers": no_cache, "content": {_JSON: {"schema": _ref(schema)}, **page}}

    rating = {"name": "rating", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                             "maximum": 5},
              "description": "The rating link from the survey message: pre-selects it on the page; records "
                             "nothing."}
    answer = {"required": True, "content": {media: {"schema": _ref("SurveyAnswer")} for media in
                                            (_JSON, "application/x-www-form-urlencoded")}}
    common = {"tags": ["surveys"], "security": [], "x-credential": SIGNED_LINK}
    return [
        ("/surveys/{token}", "GET", {
            **common, "operationId": "getSurvey", "summary": "The survey behind a link; never records an answer.",
            "description": "Mail scanners open every link, so a GET records nothing. A browser gets the survey "
                           "page (the ticket's language; the link's rating pre-selected; NPS, CES, comment, a "
                           "button that POSTs the form); an answered survey's page is a 409. Anyone else gets "
                           "the survey as JSON.",
            "parameters": [rating],
            "responses": {"200": answered("SurveyForm", "The survey: JSON, or the page for a browser."),
                          **refusals(400, 403, 409, 410, 503)},
        }),
        ("/surveys/{token}", "POST", {
            **common, "operationId": "answerSurvey", "summary": "Answer the survey: rating, comment, NPS, CES.",
            "requestBody": answer,
            "responses": {"200": answered("SurveyRecorded", "The recorded answer (a browser: a thank-you page)."),
                          **refusals(400, 403, 409, 410, 413, 503),
                          "415": {"$ref": "#/components/responses/UnsupportedMediaType"}},
        }),
    ]


def _signin_operations(components: _Components) -> list[tuple[str, str, dict[str, Any]]]:
    """Console sign-in (``signin_api``): the two POSTs take no token (the emailed link is the credential)."""
    from chalicelib.api import signin_bodies
    from chalicelib.errors import TooManyRequests

    link_body = components.model("SignInLinkRequest", signin_bodies.LinkRequest)
    session_body = components.model("SessionRequest", signin_bodies.SessionRequest)
    components.add("SignInLinkSent", _object({"sent": {"const": True}}))
    components.add("ConsoleSession", _object({
        "session_token": {"type": "string", "description": "rds_<agent id>_<64 hex>: a bearer token; shown once."},
        "expires_at": {"type": "string", "description": "When the session ends (ISO 8601, UTC)."},
        "agent": _ref("Agent")}))
    components.add("SignedOut", _object({"signed_out": {
        "type": "boolean", "description": "false for an API token (rd_...): no session to end, it keeps working."}}))

    def answer(status: int, schema: str, what: str) -> dict[str, Any]:
        return {str(status): {"description": what, "content": {_JSON: {"schema": _ref(schema)}}}}

    def refused(*statuses: int) -> dict[str, Any]:
        names = {status: "UnsupportedMediaType" if status == 415 else _ERROR_STATUSES[status] for status in statuses}
        return {str(status): {"$ref": f"#/components/responses/{name}"} for status, name in names.items()}

    too_many = {"429": {
        "description": "Too many links asked for from this client address or for this email address.",
        "headers": {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"},
                                    "description": "Seconds until the window ends."}},
        "content": {_JSON: {"schema": {"allOf": [_ref("Error")],
                                       "properties": {"error": {"const": TooManyRequests.code}}}}}}}
    unsigned = {"tags": ["sign-in"], "security": []}
    signed = {"tags": ["sign-in"], "security": copy.deepcopy(_AGENT)}
    return [
        ("/auth/links", "POST", {
            **unsigned, "x-credential": NO_CREDENTIAL, "operationId": "requestSignInLink",
            "summary": "Mail a one-time sign-in link to an agent.",
            "description": "Always 202 for a well-formed address, whether or not an active agent has it (the link "
                           "is made and mailed behind the outbound queue). The link, "
                           "`{PUBLIC_BASE_URL}/console#signin=rdl_...`, works once, for 15 minutes "
                           "(`SIGNIN_LINK_MINUTES`); a newer one replaces it.",
            "requestBody": {"required": True, "content": {_JSON: {"schema": link_body}}},
            "responses": {**answer(202, "SignInLinkSent", "Accepted: mailed if the address is an active agent's."),
                          **refused(400, 413, 415), **too_many}}),
        ("/auth/sessions", "POST", {
            **unsigned, "x-credential": SIGN_IN_LINK, "operationId": "openSession",
            "summary": "Use a sign-in link: a console session.",
            "description": "The session token works as a bearer token on every agent call for 12 hours "
                           "(`SESSION_HOURS`), until sign-out, or until the agent is removed. A forged, expired, "
                           "used or replaced link is 401 and changes nothing.",
            "requestBody": {"required": True, "content": {_JSON: {"schema": session_body}}},
            "responses": {**answer(201, "ConsoleSession", "The session and the agent."),
                          **refused(400, 401, 413, 415)}}),
        ("/auth/sessions/current", "DELETE", {
            **signed, "operationId": "signOut", "summary": "Sign out: end the session this token is.",
            "responses": {**answer(200, "SignedOut", "The session's token no longer works."), **refused(401)}}),
        ("/auth/me", "GET", {
            **signed, "operationId": "whoAmI", "summary": "The agent this token (API token or session) belongs to.",
            "responses": {**answer(200, "Agent", "The agent, as GET /agents/{agent_id} shows it."),
                          **refused(401)}}),
    ]


def _portal_operations(components: _Components) -> list[tuple[str, str, dict[str, Any]]]:
    """The customer portal (``api/portal_api.py``): no agent token. The form, uploads and sign-in are open
    (counted per client address); the rest takes a portal session, ``Bearer rps_...``."""
    from chalicelib.api import portal_api, portal_bodies
    from chalicelib.domain.vocabulary import CHANNELS, STATUSES
    from chalicelib.errors import TooManyRequests

    bodies = {name: components.model(name, model) for name, model in (
        ("PortalTicket", portal_bodies.PortalTicketBody), ("PortalReply", portal_bodies.PortalReplyBody),
        ("PortalUpload", portal_bodies.PortalUploadBody), ("PortalLinkRequest", portal_bodies.PortalLinkBody),
        ("PortalSessionRequest", portal_bodies.PortalSessionBody))}
    text = {"type": "string"}
    components.add("PortalAccepted", _object({"accepted": {"const": True}, "reference": text}))
    components.add("PortalSession", _object({
        "session_token": {"type": "string", "description": "rps_<64 hex>: the portal's bearer token; shown once."},
        "expires_at": {"type": "string", "description": "When the session ends (ISO 8601, UTC)."}}))
    components.add("PortalSignedOut", _object({"signed_out": {"const": True}}))
    components.add("PortalUploadGrant", _object({
        "upload_id": {"type": "string", "description": "Name it in the form's (or a reply's) `attachments`."},
        "url": {"type": "string", "description": "A pre-signed S3 PUT for the file's bytes."},
        "headers": _object({"Content-Type": text}), "expires_in": {"type": "integer"}, "max_bytes": {"type": "integer"},
        "draft": {"type": "string", "description": "Send it with every other file of the form, and with the form."}}))
    summary = _object({"id": text, "number": {"type": "integer"}, "subject": text,
                       "status": {"type": "string", "enum": list(STATUSES)},
                       "channel": {"type": "string", "enum": list(CHANNELS)}, "created_at": text,
                       "last_activity_at": text})
    components.add("PortalTicketSummary", summary)
    components.add("PortalTickets", _object({"tickets": {"type": "array", "items": _ref("PortalTicketSummary")},
                                             "next_cursor": {"type": ["string", "null"]}}))
    file = _object({"filename": text, "content_type": text, "size": {"type": "integer"}})
    components.add("PortalConversation", _object({"ticket": _ref("PortalTicketSummary"), "messages": {
        "type": "array", "items": _object({
            "from": {"type": "string", "enum": ["customer", "agent", "desk"]}, "author_name": text, "text": text,
            "at": text, "channel": {"type": "string", "enum": list(CHANNELS)},
            "attachments": {"type": "array", "items": file}})}}))

    too_many = {"429": {
        "description": "Too many from this client address (or, for links, for this email address) in the window.",
        "headers": {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
        "content": {_JSON: {"schema": {"allOf": [_ref("Error")],
                                       "properties": {"error": {"const": TooManyRequests.code}}}}}}}
    policy_415 = {"415": {"description": "A file type the policy never accepts (`{error, reason}`), or a body "
                                         "that is not JSON (refused by Chalice).",
                          "content": {_JSON: {"schema": {"anyOf": [_ref("Error"), _ref("GatewayError")]}}}}}
    # Never an agent token: the portal session (portalSession), or nothing where the call is open.
    signed_in = {"security": copy.deepcopy(_PORTAL)}
    anonymous = {"security": [], "credential": NO_CREDENTIAL}
    upload_session = {"security": [{}, *_PORTAL], "credential": NO_CREDENTIAL}  # signed in: not counted per address

    def operation(operation_id: str, summary: str, ok: tuple[int, str, str], refusals: tuple[int, ...], *,
                  security: list[dict[str, list[str]]], credential: str | None = None, body: str | None = None,
                  parameters: list[dict[str, Any]] | None = None, description: str = "",
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
        built = _operation(operation_id, "portal", summary, ok, refusals, description=description or None,
                           body=bodies[body] if body else None, parameters=parameters, security=security)
        if credential is not None:
            built["x-credential"] = credential
        built["responses"].update(extra or {})
        return built

    limit = {"name": "limit", "in": "query", "required": False, "description": "Page size.",
             "schema": {"type": "integer", "minimum": 1, "maximum": portal_api._MAX_LIMIT, "default": 20}}
    cursor = {"name": "cursor", "in": "query", "required": False, "schema": text,
              "description": "next_cursor of the previous page."}

    def page(operation_id: str, what: str, *media: str) -> dict[str, Any]:
        return {"operationId": operation_id, "tags": ["portal"], "summary": what, "security": [],
                "x-credential": NO_CREDENTIAL,
                "responses": {"200": {"description": "The file.",
                                      "content": {kind: {"schema": {"type": "string"}} for kind in media}},
                              "304": {"description": "Not modified (If-None-Match)."},
                              "404": {"$ref": "#/components/responses/NotFound"}}}

    return [
        ("/portal", "GET", page("getPortal", "The customer portal (HTML, with its CSP).", "text/html")),
        ("/portal/{name}", "GET", page("getPortalFile", "A file of the portal (script or style).",
                                       "text/javascript", "text/css", "text/html")),
        ("/portal/tickets", "POST", operation(
            "openPortalTicket", "The contact form: a new `portal` ticket through the pipeline.",
            (202, "PortalAccepted", "Queued; the acknowledgement is mailed to `email`."), (409,),
            body="PortalTicket", extra={**too_many, **policy_415}, **anonymous,
            description="Anonymous: the address is where mail goes, not an identity; the submitter sees the "
                        "ticket after signing in with a link mailed to it. Counted per client address "
                        "(`PORTAL_TICKETS_PER_CLIENT` per `PORTAL_LIMIT_MINUTES`).")),
        ("/portal/tickets", "GET", operation(
            "listPortalTickets", "The signed-in customer's tickets, newest first.",
            (200, "PortalTickets", "A page."), (400, 401), parameters=[limit, cursor], **signed_in)),
        ("/portal/tickets/{ticket_id}", "GET", operation(
            "getPortalTicket", "One of the customer's tickets, as they may read it.",
            (200, "PortalConversation", "Their messages, agents' replies, the desk's acknowledgements."),
            (401, 404), **signed_in,
            description="Another customer's ticket is 404, as a ticket that does not exist.")),
        ("/portal/tickets/{ticket_id}/replies", "POST", operation(
            "replyOnPortalTicket", "The customer's message on their ticket (reopens a solved one).",
            (202, "PortalAccepted", "Queued for the pipeline."), (401, 404, 409), body="PortalReply",
            extra=policy_415, **signed_in,
            description="Another customer's ticket is 404, as a ticket that does not exist.")),
        ("/portal/uploads", "POST", operation(
            "portalUpload", "A pre-signed URL to upload one file of a form or reply.",
            (201, "PortalUploadGrant", "PUT the bytes to `url` with `headers`."), (401,), body="PortalUpload",
            extra={**too_many, **policy_415}, **upload_session,
            description="Anonymous, counted per client address; with a portal session (a bad one is 401), "
                        "not counted.")),
        ("/portal/auth/links", "POST", operation(
            "requestPortalLink", "Mail a one-time sign-in link to a customer.",
            (202, "SignInLinkSent", "Accepted: mailed if a customer has the address."), (), body="PortalLinkRequest",
            extra=too_many, **anonymous,
            description="Always 202 for a well-formed address. The link, `{PUBLIC_BASE_URL}/portal#signin=rpl_...`, "
                        "works once, for 15 minutes, and opens that one customer's tickets.")),
        ("/portal/auth/sessions", "POST", operation(
            "openPortalSession", "Use a portal sign-in link: a session for 12 hours.",
            (201, "PortalSession", "The session."), (401,), body="PortalSessionRequest", security=[],
            credential=SIGN_IN_LINK,
            description="A forged, expired or used link is 401.")),
        ("/portal/auth/sessions/current", "DELETE", operation(
            "closePortalSession", "Sign out of the portal: this session's token stops working.",
            (200, "PortalSignedOut", "Signed out."), (401,), **signed_in)),
    ]


def _webhooks() -> list[tuple[str, str, dict[str, Any]]]:
    """Minimal entries: the platform signs the call and gets the answer its documentation asks for."""
    def webhook(operation_id: str, summary: str, security: list[dict[str, list[str]]], *,
                body: str | None = _JSON) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "operationId": operation_id, "tags": ["webhooks"], "summary": summary, "security": security,
            "responses": {"default": {"description": "What the platform expects; refusals are "
                                                     "`{\"error\", \"reason\"}` (401/403 when the signature "
                                                     "is missing or wrong, 503 when a secret is not configured)."}},
        }
        if body:
            operation["requestBody"] = {"required": False, "content": {body: {"schema": {"type": "object"}}}}
        if not security:
            operation["x-credential"] = NO_CREDENTIAL
        return operation

    platforms = {"slack": ("Slack Events API", "slackSignature"), "whatsapp": ("WhatsApp Cloud API", "metaSignature"),
                 "messenger": ("Messenger Platform", "metaSignature"),
                 "telegram": ("Telegram Bot API", "telegramSecretToken"),
                 "twilio": ("Twilio Messaging (SMS)", "twilioSignature"),
                 "webchat": ("The web chat widget", "webchatSession")}
    entries = [(f"/webhooks/{name}", "POST", webhook(f"{name}Webhook", f"{label} events.", [{scheme: []}], body=(
                   "application/x-www-form-urlencoded" if name == "twilio" else _JSON)))
               for name, (label, scheme) in platforms.items()]
    entries += [(f"/webhooks/{name}", "GET", webhook(f"{name}WebhookVerify", "Meta's subscription check "
                                                     "(hub.challenge echoed back).", [{"metaVerifyToken": []}],
                                                     body=None))
                for name in ("whatsapp", "messenger")]
    # Anyone may open a session (anonymous ones are counted per client address; email_hash vouches for an address).
    entries.append(("/webchat/sessions", "POST", webhook("webchatSession", "Start a web chat session.", [])))
    return entries + _webchat_visitor_operations()


def _webchat_visitor_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """The widget's own calls (``channels/webchat_visitor.py``): CORS for allow-listed origins, preflights
    answered 204, any other ``Origin`` refused 403; the session token (not an agent's) in ``Authorization``."""
    from chalicelib.channels import webchat_visitor
    from chalicelib.service.visitor_chat import MAX_WAIT_SECONDS

    cors = {"Vary": {"required": True, "schema": {"type": "string", "const": "Origin"}},
            "Access-Control-Allow-Origin": {"required": False, "schema": {"type": "string"},
                                            "description": "The request's Origin, when it is allow-listed."}}
    refused = {"description": "Refused: `{error, reason}` — 400 a bad `wait` or `after`, 404 a malformed session id, 401 a missing, forged or "
                              "expired session token, 403 an Origin not on the allow-list or another session's "
                              "token, 503 WEBCHAT_SECRET not configured.",
               "content": {_JSON: {"schema": {"anyOf": [_ref("Error"), _ref("GatewayError")]}}}}

    def preflight(operation_id: str, methods: str) -> dict[str, Any]:
        return {"operationId": operation_id, "tags": ["webhooks"], "security": [], "x-credential": NO_CREDENTIAL,
                "summary": f"CORS preflight for {methods} from an allow-listed site's page.",
                "responses": {"204": {"description": "Allowed: Access-Control-Allow-Methods, -Headers "
                                                     f"({webchat_visitor.ALLOWED_HEADERS}), -Max-Age.",
                                      "headers": cors},
                              "default": refused}}

    message = _object({
        "id": {"type": "string", "description": "The widget's own message_id for the visitor's messages."},
        "from": {"enum": ["visitor", "agent", "desk"]},
        "author_name": {"type": "string"},
        "text": {"type": "string"},
        "at": {"type": "string"},
        "attachments": {"type": "array", "items": _object({"filename": {"type": "string"},
                                                           "content_type": {"type": "string"},
                                                           "size": {"type": "integer"}})},
    })
    transcript = _object({"messages": {"type": "array", "items": message},
                          "cursor": {"type": "string", "description": "Pass back as `after`."}})
    status = _object({"humans_available": {"type": "boolean"},
                      "next_human_at": {"type": ["string", "null"], "format": "date-time"},
                      "expected_reply": {"type": "string"},
                      "language": {"enum": list(LANGUAGES),
                                   "description": "Of both texts: the browser's Accept-Language, else the desk's "
                                                  "default_language."},
                      "message": {"type": "string", "description": "The whole status line to show."}})
    query = [
        {"name": "after", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 8000},
         "description": "The cursor of the previous answer; none: the whole conversation."},
        {"name": "wait", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0},
         "description": "Seconds to wait for something new (long polling); an empty list when nothing came."},
    ]
    return [
        ("/webhooks/webchat", "OPTIONS", preflight("webchatWebhookPreflight", "POST /webhooks/webchat")),
        ("/webchat/sessions", "OPTIONS", preflight("webchatSessionPreflight", "POST /webchat/sessions")),
        ("/webchat/sessions/{session_id}/messages", "GET", {
            "operationId": "webchatMessages", "tags": ["webhooks"], "security": copy.deepcopy(_VISITOR),
            "parameters": query,
            "summary": "The visitor's conversation: their messages, agents' replies, the desk's acknowledgements.",
            "description": "`Authorization: Bearer <session_token>`. Never internal notes, other sessions' "
                           "messages, agents' ids or addresses. All the session's tickets, oldest first.",
            "responses": {"200": {"description": "What is new after `after` (empty when `wait` ran out).",
                                  "headers": cors, "content": {_JSON: {"schema": transcript}}},
                          "default": refused}}),
        ("/webchat/sessions/{session_id}/messages", "OPTIONS",
         preflight("webchatMessagesPreflight", "GET .../messages")),
        ("/webchat/sessions/{session_id}/uploads", "POST", {
            "operationId": "webchatUpload", "tags": ["webhooks"], "security": copy.deepcopy(_VISITOR),
            "summary": "A pre-signed URL for one of the visitor's files; a message then names `upload_id` in "
                       "`attachments`.",
            "description": "`Authorization: Bearer <session_token>`. The attachment policy of agents' uploads "
                           "applies (size 413, refused types 415, a filename that disagrees with the type 400).",
            "requestBody": {"required": True, "content": {_JSON: {"schema": _object({
                "filename": {"type": "string", "minLength": 1, "maxLength": 200},
                "content_type": {"type": "string", "minLength": 3, "maxLength": 255},
                "size": {"type": "integer", "minimum": 1}})}}},
            "responses": {"201": {"description": "PUT the bytes to `url` with `headers`.", "headers": cors,
                                  "content": {_JSON: {"schema": _ref("UploadGrant")}}},
                          "default": refused}}),
        ("/webchat/sessions/{session_id}/uploads", "OPTIONS",
         preflight("webchatUploadPreflight", "POST .../uploads")),
        ("/webchat/status", "GET", {
            "operationId": "webchatStatus", "tags": ["webhooks"], "security": [], "x-credential": NO_CREDENTIAL,
            "summary": "Whether a person can answer a chat now, and if not, when (the widget shows it).",
            "responses": {"200": {"description": "From the chat SLA's schedule and the agents on duty, worded in "
                                                 "the browser's Accept-Language (else the desk's default_language).",
                                  "headers": {**cors, "Vary": {"required": True, "schema": {
                                      "type": "string", "const": "Origin, Accept-Language"}}},
                                  "content": {_JSON: {"schema": status}}},
                          "default": refused}}),
        ("/webchat/status", "OPTIONS", preflight("webchatStatusPreflight", "GET /webchat/status")),
    ]
