"""GET /openapi.json: a valid OpenAPI 3.1 document, in step with app.py, and true of the running app.

The last two tests let schemathesis loose on the real handlers (in-process, on
moto): every documented operation gets generated requests, authenticated with a
real admin token and aimed, most of the time, at seeded tickets, customers,
agents, macros and a survey link. Every answer must be documented — no 500, no
status, content type, header or body the document does not describe — and a
request the document rules out must be refused.

The Chalice app is handed to schemathesis as a WSGI callable: a few lines that
pass each request to the local HTTP API (``desk.http``), so no
port, no thread and no network are involved.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.api import static
from chalicelib.local import LocalDesk
from chalicelib.local.serve import LOCAL_SECRETS
from tests.mail import compose

MAX_EXAMPLES = 12  # per operation: 33 operations in about 10 s on moto (negative: about 6 s)
NEGATIVE_EXAMPLES = 8
PLATFORM_EXAMPLES = 10  # webhooks: signed by the platforms, so nearly every request ends at the signature check
_REFUSALS = (400, 401, 403, 404, 405, 409, 413, 415)  # what a request the document rules out may get
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
_PARAMETER = re.compile(r"{(\w+)}")
# Signed by the chat platforms, or by a web-chat session token (never an agent's: GET .../messages answers it 401).
_PLATFORMS = ("POST /webhooks/", "GET /webhooks/", "POST /webchat/", "GET /webchat/", "OPTIONS /webhooks/",
              "OPTIONS /webchat/")
# What an operation without a credential names instead (openapi.py; the authorization matrix tries each kind).
_CREDENTIALS_INSTEAD = {"none", "signed-link", "sign-in-link"}


class ChaliceAsWsgi:
    """The Chalice app behind the local HTTP API (``desk.http``), as the WSGI callable schemathesis drives."""

    def __init__(self, desk: LocalDesk) -> None:
        self._desk = desk

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # WSGI gives the path decoded (as latin-1): encode it again, all but "/" (Chalice's stand-in
        # for API Gateway reads the path with urlparse, which would take a raw ";" as the end of it).
        path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        # Not Accept-Encoding: the WSGI client schemathesis drives does not undo a content coding, and the
        # API gzips text answers for a client that asks (tests/integration/test_api_gateways.py checks that).
        headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items()
                   if name.startswith("HTTP_") and name != "HTTP_ACCEPT_ENCODING"}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        response = self._desk.http.request(environ["REQUEST_METHOD"], path, headers=headers, body=body)
        pairs = [(name, str(item)) for name, value in response.headers.items()
                 for item in (value if isinstance(value, list) else [value])]
        try:
            phrase = HTTPStatus(response.status_code).phrase
        except ValueError:
            phrase = "Unknown"
        start_response(f"{response.status_code} {phrase}", pairs)
        return [response.body or b""]


@pytest.fixture
def seeded_desk():
    """A desk with the platforms' development secrets (webhooks reach their signature checks), an
    admin to call with, another agent, three tickets from two customers (one tagged, one solved and
    surveyed) and the names of all of these for the fuzzers to aim at."""
    with LocalDesk(environment=dict(LOCAL_SECRETS)) as desk:
        _, token = desk.add_agent("Ada Admin", "ada@example.com", role="admin")
        other_agent, _ = desk.add_agent("Sam Agent", "sam@example.com")
        receipt = [("receipt.pdf", "application/pdf", b"%PDF-1.4 a receipt")]
        for sender, subject, files in (("Ann Customer <ann@customer.example>", "My order never arrived", receipt),
                                       ("Bo Buyer <bo@buyer.example>", "Refund for order 1234", []),
                                       ("Bo Buyer <bo@buyer.example>", "Thanks, all sorted", [])):
            desk.receive_email(compose(sender=sender, subject=subject, attachments=files))
        desk.pump()
        tickets = desk.tickets()
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for ticket, change in ((tickets[0], b'{"add_tags": ["vip", "refund"]}'), (tickets[2], b'{"status": "solved"}')):
            answer = desk.http.patch(f"/tickets/{ticket['id']}", body=change, headers=auth)
            assert answer.status_code == 200, answer.body
        from chalicelib.configuration import starter_macros
        from chalicelib.service import surveys
        from chalicelib.service.assign import queues
        from chalicelib.storage import repository

        assert surveys.send(repository.get_ticket(tickets[2]["id"])), "the solved ticket got no survey"
        desk.pump()
        texts = [m["text"] or "" for m in desk.tickets()[2]["messages"]]
        links = sorted({found for text in texts for found in re.findall(r"/surveys/(s1\.[A-Za-z0-9_-]+)", text)})
        assert links, texts
        from chalicelib.admin import DEMO_ARTICLES
        from chalicelib.service import kb

        articles = kb.import_folder(DEMO_ARTICLES)
        from chalicelib.service import kb_tracking

        tracked = [kb_tracking.tracked_url(t["id"], articles.created[0]).rsplit("/", 1)[1] for t in tickets[:2]]
        known = {  # path parameters and body fields that name something, by name
            "ticket_id": [t["id"] for t in tickets],
            "customer_id": sorted({t["customer_id"] for t in tickets}),
            "agent_id": [other_agent],  # never the caller: a generated PATCH could demote it mid-run
            "assignee_id": [other_agent],
            "macro_id": [m.id for m in starter_macros()[:2]],
            "category": queues()[:3],
            "tags": ["vip", "refund"],
            "token": links,
            "link": tracked,  # tracked article links of two open tickets
            "name": sorted(path.name for path in (static.STATIC_DIR / "console").iterdir() if path.is_file()),
            "attachment_id": [a["id"] for m in desk.tickets()[0]["messages"] for a in m["attachments"]],
            "article_id": articles.created[:3],  # the demo knowledge base, imported above
            # whole bodies that pass the checks the document cannot express (an extension that fits the type)
            "bodies": {
                "/uploads": [{"filename": "notes.txt", "content_type": "text/plain", "size": 120}],
                "/tickets": [{"customer": {"email": "new@customer.example", "name": "New Customer"},
                              "kind": "call", "channel": "phone", "subject": "Called about a refund",
                              "text": "Wants a refund for order 1234."}],
            },
        }
        assert known["attachment_id"], "the seeded mail's attachment is not listed"
        yield desk, token, known


def _fetch_document(desk: LocalDesk) -> tuple[Any, dict[str, Any]]:
    response = desk.http.get("/openapi.json")
    return response, response.json_body


def test_document_is_valid_openapi_and_served_without_a_token(desk):
    from openapi_spec_validator import validate  # with moto[server] (requirements-dev.txt)

    from chalicelib.api import openapi

    response, document = _fetch_document(desk)
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert document == openapi.build()
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises with the offending place if the document is not OpenAPI 3.1
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()
    broken = [result.err() for result in schema.get_all_operations() if not hasattr(result, "ok")]
    assert broken == []


def test_every_route_is_documented_and_every_documented_operation_is_routed(desk):
    _, document = _fetch_document(desk)
    routed = {(path, method.upper()) for path, methods in desk.client._app.routes.items() for method in methods}
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    assert routed - documented == set(), "routes missing from the document"
    assert documented - routed == set(), "documented operations that app.py does not route"
    for path, item in document["paths"].items():
        declared = {parameter["name"] for parameter in item.get("parameters", []) if parameter["in"] == "path"}
        assert declared == set(_PARAMETER.findall(path)), path
    operation_ids = [operation["operationId"] for item in document["paths"].values()
                     for method, operation in item.items() if method != "parameters"]
    assert len(operation_ids) == len(set(operation_ids))


def test_every_operation_declares_its_security_and_documents_its_refusals(desk):
    """``security`` on every operation (none inherited), each scheme defined; an operation open to anyone
    says what stands in for a credential; a bearer credential documents 401, an admin's 403 too."""
    _, document = _fetch_document(desk)
    schemes = document["components"]["securitySchemes"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            label = f"{method.upper()} {path}"
            assert "security" in operation, f"{label} declares no security"
            requirements = operation["security"]
            named = {name for requirement in requirements for name in requirement}
            assert named <= set(schemes), (label, named - set(schemes))
            if not requirements or {} in requirements:
                assert operation.get("x-credential") in _CREDENTIALS_INSTEAD, label
                if not requirements:
                    continue
            else:
                assert "x-credential" not in operation, label
            responses = operation["responses"]
            if any("admin" in roles for requirement in requirements for roles in requirement.values()):
                assert "403" in responses, label
            if not named & {"bearerAuth", "portalSession"}:
                continue  # the platforms' and the widget's calls: minimal entries ("default")
            assert "401" in responses, label
            assert any(code.startswith("2") for code in responses), label
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(responses), label


def _agent_operations(document: dict[str, Any]) -> set[str]:
    """Labels of the operations an agent's token opens (the KB's public reads too: a token shows drafts)."""
    return {f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method, operation in item.items() if method != "parameters"
            and any("bearerAuth" in requirement for requirement in operation["security"])}


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(seeded_desk):
    desk, token, known = seeded_desk
    failures, statuses = _run_schemathesis(desk, token, known, GenerationMode.POSITIVE, CHECKS, MAX_EXAMPLES)
    assert not failures, _report(failures)
    agent_labels = _agent_operations(_fetch_document(desk)[1])
    agent_api = {label: counts for label, counts in statuses.items() if label in agent_labels}
    assert len(agent_api) >= 30, sorted(agent_api)
    assert all(counts and 401 not in counts for counts in agent_api.values()), "the admin token was refused"
    never = sorted(label for label, counts in agent_api.items() if not any(200 <= s < 300 for s in counts))
    assert never == [], "operations whose generated requests never succeeded: is the document too loose?"


def test_schemathesis_requests_that_break_the_document_are_refused(seeded_desk):
    """Negative data (wrong types, patterns, limits, unknown fields) must get a documented 4xx:
    a 2xx would mean the document is stricter than the handler."""
    desk, token, known = seeded_desk
    failures, statuses = _run_schemathesis(desk, token, known, GenerationMode.NEGATIVE,
                                           [*CHECKS, negative_data_rejection], NEGATIVE_EXAMPLES)
    assert not failures, _report(failures)
    assert sum(counts.total() for counts in statuses.values()) > 0


def _run_schemathesis(desk: LocalDesk, token: str, known: dict[str, list[str]], mode: GenerationMode,
                      checks: list[Any], max_examples: int) -> tuple[dict[tuple[str, ...], str], dict[str, Counter]]:
    """Every documented operation, ``max_examples`` requests each: failures by kind, and statuses seen."""
    config = schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [str(s) for s in _REFUSALS]}}})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", ChaliceAsWsgi(desk), config=config)
    failures: dict[tuple[str, ...], str] = {}
    statuses: dict[str, Counter] = {}
    started = time.monotonic()
    app = desk.client._app  # loaded once per process: shared with the other tests
    debug, app.debug = app.debug, True  # a 500's body is then its traceback, for the failure report
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            statuses[label] = Counter()
            # The platforms' entries are minimal (any object, any answer but a 500): fewer requests do.
            examples = min(max_examples, PLATFORM_EXAMPLES) if label.startswith(_PLATFORMS) else max_examples
            try:
                _fuzz(operation, token, known, failures, statuses[label], mode=mode, checks=checks,
                      max_examples=examples)
            except Unsatisfiable:  # nothing to negate (no parameters, no body): nothing to test
                assert mode is GenerationMode.NEGATIVE, label
    finally:
        app.debug = debug
    print(f"schemathesis ({mode.value}): {sum(c.total() for c in statuses.values())} requests "
          f"in {time.monotonic() - started:.1f} s")
    for label, counts in statuses.items():
        print(f"  {label}: {dict(sorted(counts.items()))}")
    return failures, statuses


def _report(failures: dict[tuple[str, ...], str]) -> str:
    return f"{len(failures)} kind(s) of failure\n\n" + "\n\n".join(
        f"=== {' | '.join(key)}\n{text}" for key, text in failures.items())


def _fuzz(operation: Any, token: str, known: dict[str, list[str]], failures: dict[tuple[str, ...], str],
          statuses: Counter, *, mode: GenerationMode, checks: list[Any], max_examples: int) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    headers = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(data=st.data())
    def run(data: Any) -> None:
        # The token is given, not generated: schemathesis then neither draws nor negates it.
        case = data.draw(operation.as_strategy(generation_mode=mode, headers=headers), label="case")
        _point_at_known_things(case, data, operation.path, known)
        response = case.call()
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            key = (label, str(response.status_code), *sorted({type(f).__name__ for f in group.exceptions}))
            if key not in failures:  # the first request of each kind is enough to act on
                body = response.content.decode("utf-8", "replace")
                if len(body) > 8000:  # a traceback's end says what broke
                    body = body[:2000] + "\n[...]\n" + body[-6000:]
                failures[key] = f"{group}\nresponse body ({response.status_code}):\n{body}"

    run()


def _point_at_known_things(case: Any, data: Any, path: str, known: dict[str, list[str]]) -> None:
    """Most of the time, ids and names of things that exist, so requests get past the lookups.

    Only in parts generated valid: a value swapped into a negated part could make the
    request valid while schemathesis still expects a refusal.
    """
    negated = {location for location, info in case.meta.components.items() if info.mode.is_negative}
    if ParameterLocation.PATH not in negated:
        for name in _PARAMETER.findall(path):
            chosen = data.draw(st.sampled_from([*known.get(name, []), None]), label=name)
            if chosen is not None:
                case.path_parameters[name] = chosen
    if ParameterLocation.BODY not in negated and isinstance(case.body, dict):
        into = "ticket_id" if path.startswith("/tickets") else "customer_id"
        for field, kind in (("into", into), ("assignee_id", "assignee_id"), ("macro_id", "macro_id"),
                            ("category", "category")):
            if isinstance(case.body.get(field), str):
                chosen = data.draw(st.sampled_from([*known[kind], None]), label=field)
                if chosen is not None:
                    case.body[field] = chosen
        if "macro_id" in case.path_parameters and isinstance(case.body.get("id"), str):  # PUT: ids must agree
            if data.draw(st.booleans(), label="same id"):
                case.body["id"] = case.path_parameters["macro_id"]
        for ending, bodies in known["bodies"].items():
            if path.endswith(ending) and data.draw(st.booleans(), label="a known good body"):
                case.body = dict(data.draw(st.sampled_from(bodies)))
        for field in ("add_tags", "remove_tags"):  # tags the seeded ticket has
            if isinstance(case.body.get(field), list) and case.body[field]:
                if data.draw(st.booleans(), label=field):
                    case.body[field] = [*case.body[field][1:], data.draw(st.sampled_from(known["tags"]))]
