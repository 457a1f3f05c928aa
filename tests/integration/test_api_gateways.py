"""The HTTP API (deployed) and the REST API (KeepRestApi) in front of the same app answer alike.

The rest of the suite goes through the HTTP API (``desk.http``, ``chalicelib/local/gateway.py``); this runs one
agent's and one visitor's requests through both and compares what came back.
"""
from __future__ import annotations

import json
import re

import pytest

from chalicelib.local import LocalDesk
from tests import chat
from tests.api import call
from tests.mail import compose

SHOP = "https://shop.example"
_MADE_UP = re.compile(r"[0-9a-f]{8}|\d{4}-\d\d-\d\dT|@email\.amazonses\.com|rd_")


def _shape(value: object) -> object:
    """``value`` with what differs run to run (ids, times, SES's message ids, tokens, durations) blanked."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    if isinstance(value, str) and _MADE_UP.search(value) or isinstance(value, float):
        return "<made up>"  # a float is a duration so far: the clock's
    return value


def _session(api_gateway: str) -> list[tuple[str, int, object]]:
    """One desk's answers to a fixed run of requests, with ids and times blanked."""
    seen: list[tuple[str, int, object]] = []
    environment = {**chat.SECRETS, "WEBCHAT_ALLOWED_ORIGINS": SHOP}
    with LocalDesk(api_gateway=api_gateway, environment=environment) as desk:
        agent_id, token = desk.add_agent("Ann Agent", "ann@example.com")
        desk.receive_email(compose(subject="Where is my order?"))
        desk.pump()

        def record(what: str, status: int, body: object) -> None:
            seen.append((what, status, _shape(body)))

        status, listing = call(desk, "get", "/tickets?status=open", token)
        record("list", status, listing)
        ticket_id = listing["tickets"][0]["id"]
        record("detail", *call(desk, "get", f"/tickets/{ticket_id}", token))
        record("counts", *call(desk, "get", "/tickets/counts", token))
        record("reply", *call(desk, "post", f"/tickets/{ticket_id}/replies", token, {"text": "It ships today."}))
        record("solve", *call(desk, "patch", f"/tickets/{ticket_id}", token, {"status": "solved"}))
        record("bad body", *call(desk, "patch", f"/tickets/{ticket_id}", token, raw="{not json"))
        record("wrong method", *call(desk, "delete", "/tickets", token))
        record("no token", *call(desk, "get", f"/tickets/{ticket_id}"))
        preflight = desk.http.request("OPTIONS", "/webchat/sessions", headers={
            "Origin": SHOP, "Access-Control-Request-Method": "POST"})
        record("preflight", preflight.status_code, dict(sorted(
            (k, v) for k, v in preflight.headers.items() if k.lower().startswith("access-control"))))
        telegram = chat.post_telegram(desk, chat.telegram_text(text="hello"))
        record("telegram webhook", telegram.status_code, json.loads(telegram.body or b"null"))
        spec = desk.http.get("/openapi.json")
        record("openapi", spec.status_code, sorted(json.loads(spec.body)["paths"]))
    return seen


@pytest.fixture(scope="module")
def answers() -> dict[str, list[tuple[str, int, object]]]:
    return {gateway: _session(gateway) for gateway in ("http", "rest")}


def test_both_gateways_answer_every_request_alike(answers):
    assert answers["http"] == answers["rest"]
    statuses = {what: status for what, status, _ in answers["http"]}
    assert statuses == {"list": 200, "detail": 200, "counts": 200, "reply": 201, "solve": 200, "bad body": 400,
                        "wrong method": 405, "no token": 401, "preflight": 204, "telegram webhook": 200,
                        "openapi": 200}


def test_a_path_no_route_takes_is_404_with_a_reason_on_the_http_api():
    with LocalDesk() as desk:
        for path in ("/nope", "/tickets//", "/tickets/t-1/unknown"):
            status, body = call(desk, "get", path)
            assert status == 404 and body == {"error": "not_found", "reason": f"no route for GET {path}"}
    with LocalDesk(api_gateway="rest") as desk:  # Chalice's emulation of the REST API's answer
        assert call(desk, "get", "/nope")[0] == 403


def test_the_http_api_path_gzips_text_and_a_revalidation_still_gets_its_304():
    import gzip

    with LocalDesk() as desk:
        plain = desk.http.get("/openapi.json")
        zipped = desk.http.get("/openapi.json", headers={"Accept-Encoding": "gzip, deflate, br"})
        assert "Content-Encoding" not in plain.headers and zipped.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(zipped.body)) == json.loads(plain.body)
        assert len(zipped.body) < len(plain.body) / 3

        first = desk.http.get("/console/app.js", headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
        again = desk.http.get("/console/app.js", headers={"Accept-Encoding": "gzip",
                                                          "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and not again.body
        assert desk.http.get("/console/app.js", headers={"If-None-Match": first.headers["ETag"][2:]}).status_code == 304
