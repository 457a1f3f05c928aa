"""chalicelib/api/http_api.py: the HTTP API's events find the route Chalice would have been handed."""
from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

import app as app_module
from chalicelib.api import http_api
from chalicelib.local.gateway import http_api_event

ROUTES = sorted(app_module.app.routes)


def _concrete(template: str) -> tuple[str, dict[str, str]]:
    """The template with each {name} filled by a value of its own, and those values."""
    values: dict[str, str] = {}

    def fill(match: re.Match[str]) -> str:
        values[match.group(1)] = f"v-{match.group(1)}-1"
        return values[match.group(1)]

    return re.sub(r"\{([^}]+)\}", fill, template), values


def test_every_route_of_the_app_is_found_with_its_parameters():
    for template in ROUTES:
        path, values = _concrete(template)
        assert http_api.find_route(ROUTES, path) == (template, values), template


def test_a_literal_segment_wins_over_a_variable_one_as_api_gateway_chooses():
    assert http_api.find_route(ROUTES, "/tickets/counts") == ("/tickets/counts", {})
    assert http_api.find_route(ROUTES, "/tickets/t-1") == ("/tickets/{ticket_id}", {"ticket_id": "t-1"})
    assert http_api.find_route(ROUTES, "/portal/tickets") == ("/portal/tickets", {})
    assert http_api.find_route(ROUTES, "/portal/app.js") == ("/portal/{name}", {"name": "app.js"})
    # Leftmost literal first, whatever order the routes come in.
    routes = ["/a/{x}/c", "/a/b/{y}"]
    assert http_api.find_route(routes, "/a/b/c") == ("/a/b/{y}", {"y": "c"})
    assert http_api.find_route(list(reversed(routes)), "/a/b/c") == ("/a/b/{y}", {"y": "c"})


def test_paths_no_route_takes_are_none():
    for path in ("/", "", "tickets", "/tickets/", "/tickets//replies", "/nope", "/tickets/t-1/replies/extra",
                 "/" + "a/" * 5000, "/tickets/" + "x" * 5000):
        assert http_api.find_route(ROUTES, path) is None, path[:40]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["tickets", "portal", "{ticket_id}", "", "counts", "t-1", "..", "%2F", "ü", "replies"])
                | st.text(alphabet=st.characters(blacklist_characters="/"), max_size=12), max_size=8))
def test_any_path_finds_a_route_that_matches_it_or_none(segments):
    path = "/" + "/".join(segments)
    found = http_api.find_route(ROUTES, path)
    if found is None:
        return
    template, parameters = found
    pattern = template[1:].split("/")
    assert len(pattern) == len(segments)
    for wanted, given_segment in zip(pattern, segments):
        if wanted.startswith("{"):
            assert parameters[wanted[1:-1]] == given_segment and given_segment
        else:
            assert wanted == given_segment


class _App:
    """Stands in for the Chalice app: records the event it was handed."""

    routes = app_module.app.routes

    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event, context):
        self.events.append(event)
        return {"statusCode": 200, "headers": {}, "body": "{}"}


def test_the_event_gets_the_template_and_path_parameters_and_keeps_the_rest():
    fake = _App()
    event = http_api_event("PATCH", "/tickets/t-42?x=1&x=2", {"Authorization": "Bearer a", "Content-Type": "application/json"},
                           b'{"status": "solved"}')
    http_api.handle(fake, event, None)
    (handed,) = fake.events
    assert handed["requestContext"]["resourcePath"] == handed["resource"] == "/tickets/{ticket_id}"
    assert handed["pathParameters"] == {"ticket_id": "t-42"}
    assert handed["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert handed["headers"]["authorization"] == "Bearer a" and handed["body"] == '{"status": "solved"}'
    assert handed["requestContext"]["httpMethod"] == "PATCH"
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"  # the caller's event is not changed


def test_one_trailing_slash_is_dropped_as_the_rest_api_did():
    fake = _App()
    http_api.handle(fake, http_api_event("GET", "/tickets/", {}, None), None)
    http_api.handle(fake, http_api_event("GET", "/tickets/t-1/", {}, None), None)
    assert [e["resource"] for e in fake.events] == ["/tickets", "/tickets/{ticket_id}"]
    assert fake.events[1]["pathParameters"] == {"ticket_id": "t-1"}


def test_chalices_request_keys_are_there_even_when_the_event_lacks_them():
    fake = _App()
    http_api.handle(fake, {"version": "1.0", "pathParameters": {"proxy": "tickets"},
                           "requestContext": {"httpMethod": "GET"}}, None)
    (handed,) = fake.events
    assert {k: handed[k] for k in ("headers", "multiValueQueryStringParameters", "stageVariables", "body")} == \
        dict.fromkeys(("headers", "multiValueQueryStringParameters", "stageVariables", "body"))


def test_a_route_without_parameters_gets_none_as_the_rest_api_sends():
    fake = _App()
    http_api.handle(fake, http_api_event("GET", "/tickets", {}, None), None)
    assert fake.events[0]["pathParameters"] is None


def test_unknown_paths_are_404_with_a_json_reason_and_never_reach_the_app():
    fake = _App()
    for path in ("/nope", "/tickets//", "/tickets/t-1/unknown", "/" + "x" * 10_000):
        answer = http_api.handle(fake, http_api_event("GET", path, {}, None), None)
        body = json.loads(answer["body"])
        assert answer["statusCode"] == 404 and body["error"] == "not_found" and body["reason"].startswith("no route")
        assert len(body["reason"]) < 300 and answer["headers"]["Content-Type"] == "application/json"
    assert fake.events == []


def test_payload_format_2_is_refused_with_the_reason_not_misrouted():
    fake = _App()
    event = {"version": "2.0", "routeKey": "ANY /{proxy+}", "rawPath": "/tickets", "pathParameters": {"proxy": "tickets"},
             "requestContext": {"http": {"method": "GET"}}}
    answer = http_api.handle(fake, event, None)
    assert answer["statusCode"] == 500 and "payload format 1.0" in json.loads(answer["body"])["reason"]
    assert fake.events == []


def test_the_rest_apis_own_events_pass_through_unchanged():
    fake = _App()
    event = {"resource": "/tickets/{ticket_id}", "path": "/tickets/t-1", "httpMethod": "GET",
             "requestContext": {"resourcePath": "/tickets/{ticket_id}", "httpMethod": "GET", "stage": "api"},
             "pathParameters": {"ticket_id": "t-1"}, "headers": {}, "multiValueQueryStringParameters": None,
             "body": None, "stageVariables": None}
    http_api.handle(fake, event, None)
    assert fake.events == [event]


def test_a_body_other_than_text_or_json_arrives_base64_encoded_as_the_http_api_sends_it():
    event = http_api_event("POST", "/webhooks/twilio", {"Content-Type": "application/octet-stream"}, b"\xff\x00")
    assert event["isBase64Encoded"] is True and event["body"] == "/wA="
    form = http_api_event("POST", "/webhooks/twilio", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1")
    assert form["isBase64Encoded"] is True and form["body"] == "YT0x"
    event = http_api_event("POST", "/webhooks/twilio", {"Content-Type": "application/json"}, b'{"a": "\xc3\xa6"}')
    assert event["isBase64Encoded"] is False and event["body"] == '{"a": "æ"}'


# --- gzip: what the REST API did (minimum_compression_size) and the HTTP API does not ------------------------


def _answer(body: str, **headers: str) -> dict:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", **headers}, "multiValueHeaders": {},
            "body": body}


def test_a_text_answer_of_1_kb_or_more_is_gzipped_for_a_client_that_takes_gzip():
    import base64
    import gzip

    body = json.dumps({"tickets": [{"subject": f"Order {n} never arrived"} for n in range(60)]})
    out = http_api.compressed(_answer(body, ETag='"abc"', Vary="Origin"), {"Accept-Encoding": "br, gzip;q=0.8"})
    assert out["isBase64Encoded"] is True and out["headers"]["Content-Encoding"] == "gzip"
    assert gzip.decompress(base64.b64decode(out["body"])).decode() == body
    assert out["headers"]["Vary"] == "Origin, Accept-Encoding" and out["headers"]["ETag"] == 'W/"abc"'


def test_small_binary_refused_or_already_encoded_answers_are_left_as_they_are():
    big = "x" * http_api.MIN_COMPRESSED_BYTES
    takes = {"accept-encoding": "gzip"}
    for answer, headers in [
        (_answer(big[:-1]), takes),  # under 1 KB
        (_answer(big), {}),  # no Accept-Encoding
        (_answer(big), {"accept-encoding": "gzip;q=0, deflate"}),  # gzip refused
        (_answer(big), {"accept-encoding": "br"}),
        (_answer(big, **{"Content-Encoding": "br"}), takes),
        ({**_answer(big), "isBase64Encoded": True}, takes),
        (_answer(big, **{"Content-Type": "application/pdf"}), takes),
        ({**_answer(big), "body": None}, takes),
    ]:
        assert http_api.compressed(answer, headers) is answer
