"""Console sign-in (issue 13): a one-time link by email, a session token, sign-out — and every way to get it wrong.

Everything goes through the HTTP API on LocalDesk (moto), the link read from the mail
moto's SES keeps; time moves with time-machine. "Nothing changed" is checked on the
agent's own item: the pending link, the sessions.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine

from tests.api import call
from tests.chat import from_address

PROJECT = Path(__file__).resolve().parents[2]


def _agent(desk, name="Ann Agent", email="ann@example.com"):
    return desk.add_agent(name, email)


def _ask(desk, email, *, source_ip="198.51.100.7"):
    with from_address(source_ip):
        response = desk.http.post("/auth/links", headers={"Content-Type": "application/json"},
                                  body=json.dumps({"email": email}))
    return response


def _link_for(desk, email="ann@example.com"):
    """Ask for a link, deliver the outbound queue, and return the token from the newest mail to ``email``."""
    response = _ask(desk, email)
    assert response.status_code == 202, response.body
    desk.pump()
    links = [link for to, link in desk.signin_links() if email.lower() in to.lower()]
    assert links, "no sign-in mail was sent"
    return links[-1].split("#signin=", 1)[1]


def _sign_in(desk, token):
    return call(desk, "post", "/auth/sessions", None, {"token": token})


def _session(desk, email="ann@example.com"):
    status, body = _sign_in(desk, _link_for(desk, email))
    assert status == 201, body
    return body["session_token"]


def _stored(agent_id):
    from chalicelib.storage import agents

    agent = agents.get(agent_id)
    return {"link": agent.signin_link_hash, "link_expires": agent.signin_link_expires,
            "sessions": agents.sessions_of(agent), "active": agent.active}


# --- the way it should go -------------------------------------------------------------------------


def test_a_mailed_link_opens_a_session_that_works_everywhere_until_sign_out(desk):
    agent_id, _ = _agent(desk)
    token = _link_for(desk)

    mail = [m for m in desk.sent_emails() if "ann@example.com" in str(m["To"])][-1]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert mail["From"].addresses[0].addr_spec == "support@example.com"
    assert mail["Subject"] == "Your sign-in link" and mail["Auto-Submitted"] == "auto-generated"
    assert f"https://support.example.com/console#signin={token}" in text  # a fragment: never sent to a server
    assert re.fullmatch(r"rdl_a-[0-9a-f]{12}_[0-9a-f]{64}", token) and agent_id in token

    status, body = _sign_in(desk, token)
    assert status == 201, body
    session = body["session_token"]
    assert re.fullmatch(rf"rds_{agent_id}_[0-9a-f]{{64}}", session)
    assert body["agent"] == call(desk, "get", f"/agents/{agent_id}", session)[1]
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(timezone.utc) <= timedelta(hours=12)
    assert _stored(agent_id)["link"] is None, "a used link stays usable"

    assert call(desk, "get", "/auth/me", session) == (200, body["agent"])
    assert call(desk, "get", "/tickets", session)[0] == 200

    assert call(desk, "delete", "/auth/sessions/current", session) == (200, {"signed_out": True})
    status, refusal = call(desk, "get", "/auth/me", session)
    assert status == 401 and refusal["error"] == "unauthorized" and "sign in again" in refusal["reason"]
    assert call(desk, "get", "/tickets", session)[0] == 401
    assert _stored(agent_id)["sessions"] == {}


def test_auth_me_works_with_an_api_token_and_sign_out_leaves_an_api_token_working(desk, admin_token):
    status, me = call(desk, "get", "/auth/me", admin_token)
    assert status == 200 and me["email"] == "ada@example.com" and me["role"] == "admin"
    assert call(desk, "delete", "/auth/sessions/current", admin_token) == (200, {"signed_out": False})
    assert call(desk, "get", "/auth/me", admin_token)[0] == 200


def test_the_address_is_matched_without_regard_to_case(desk):
    agent_id, _ = _agent(desk, email="Ann.Agent@Example.COM")
    token = _link_for(desk, "ANN.agent@example.com")
    assert _sign_in(desk, token)[1]["agent"]["id"] == agent_id


def test_signing_out_ends_only_that_session(desk):
    _agent(desk)
    first, second = _session(desk), _session(desk)
    assert call(desk, "delete", "/auth/sessions/current", first)[1] == {"signed_out": True}
    assert call(desk, "get", "/auth/me", first)[0] == 401
    assert call(desk, "get", "/auth/me", second)[0] == 200
    assert call(desk, "delete", "/auth/sessions/current", first)[0] == 401  # signed out already


# --- no account enumeration -----------------------------------------------------------------------


def test_the_answer_is_the_same_for_an_agent_a_stranger_and_a_removed_agent(desk, admin_token):
    _agent(desk)
    removed_id, _ = _agent(desk, "Rita Removed", "rita@example.com")
    assert call(desk, "delete", f"/agents/{removed_id}", admin_token)[0] == 200

    answers = []
    for email in ("ann@example.com", "nobody@example.com", "rita@example.com"):
        response = _ask(desk, email)
        answers.append((response.status_code, response.body, response.headers.get("Content-Type")))
    assert answers[0] == answers[1] == answers[2] == (202, b'{"sent": true}', "application/json")

    desk.pump()
    assert [to for to, _ in desk.signin_links()] == ["ann@example.com"]  # only the active agent got mail


# --- links: forged, expired, used, replaced, of a removed agent: 401 and nothing changed -------------


def test_a_forged_link_is_refused_and_the_real_one_still_works(desk):
    agent_id, _ = _agent(desk)
    real = _link_for(desk)
    before = _stored(agent_id)
    for forged in (f"rdl_{agent_id}_{'0' * 64}", f"rdl_a-{'1' * 12}_{real[-64:]}", real[:-1] + "x",
                   real.upper(), real + "0"):
        status, body = _sign_in(desk, forged)
        assert status == 401 and body["error"] == "unauthorized", forged
        assert forged not in body["reason"] and real[-64:] not in body["reason"]  # nothing echoed
    assert _stored(agent_id) == before
    assert _sign_in(desk, real)[0] == 201


def test_a_link_works_for_15_minutes_only(desk):
    agent_id, _ = _agent(desk)
    token = _link_for(desk)
    before = _stored(agent_id)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=15, seconds=1)):
        status, body = _sign_in(desk, token)
    assert status == 401 and "expired" in body["reason"]
    assert _stored(agent_id) == before

    fresh = _link_for(desk)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=14)):
        assert _sign_in(desk, fresh)[0] == 201


def test_a_link_works_once(desk):
    agent_id, _ = _agent(desk)
    token = _link_for(desk)
    assert _sign_in(desk, token)[0] == 201
    after_first = _stored(agent_id)
    status, body = _sign_in(desk, token)
    assert status == 401 and "already used" in body["reason"]
    assert _stored(agent_id) == after_first
    assert len(after_first["sessions"]) == 1


def test_a_new_link_replaces_the_one_before(desk):
    _agent(desk)
    older, newer = _link_for(desk), _link_for(desk)
    assert older != newer
    assert _sign_in(desk, older)[0] == 401
    assert _sign_in(desk, newer)[0] == 201


def test_the_link_of_a_removed_agent_is_refused(desk, admin_token):
    agent_id, _ = _agent(desk)
    token = _link_for(desk)
    assert call(desk, "delete", f"/agents/{agent_id}", admin_token)[0] == 200
    status, body = _sign_in(desk, token)
    assert status == 401 and body["error"] == "unauthorized"
    assert _stored(agent_id) == {"link": None, "link_expires": None, "sessions": {}, "active": False}


def test_changing_an_agents_address_voids_the_link_mailed_to_the_old_one(desk, admin_token):
    agent_id, _ = _agent(desk)
    token = _link_for(desk)
    assert call(desk, "patch", f"/agents/{agent_id}", admin_token, {"email": "ann.new@example.com"})[0] == 200
    assert _sign_in(desk, token)[0] == 401
    assert _sign_in(desk, _link_for(desk, "ann.new@example.com"))[0] == 201


def test_two_uses_of_one_link_racing_open_exactly_one_session(desk):
    """Both requests read the agent before either writes (what two Lambda copies can do): the conditional
    write lets exactly one through."""
    from chalicelib.domain import agent_tokens
    from chalicelib.storage import agents

    agent_id, _ = _agent(desk)
    _link_for(desk)
    first_read, second_read = agents.get(agent_id), agents.get(agent_id)
    now = int(datetime.now(timezone.utc).timestamp())
    outcomes = [agents.open_session(read, link_hash=read.signin_link_hash, now=now,
                                    session_hash=agent_tokens.new_session(agent_id).token_hash,
                                    expires_at=(now + 3600) * 1000, drop=[])
                for read in (first_read, second_read)]
    assert outcomes == [True, False]
    assert len(_stored(agent_id)["sessions"]) == 1


# --- sessions: expired, of a removed agent, of another agent, capped --------------------------------


def test_a_session_ends_after_12_hours(desk):
    _agent(desk)
    session = _session(desk)
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=11, minutes=59)):
        assert call(desk, "get", "/auth/me", session)[0] == 200
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=12, seconds=1)):
        status, body = call(desk, "get", "/auth/me", session)
    assert status == 401 and "expired" in body["reason"]


def test_removing_an_agent_ends_their_sessions_at_once_and_clears_them(desk, admin_token):
    agent_id, _ = _agent(desk)
    session = _session(desk)
    assert call(desk, "delete", f"/agents/{agent_id}", admin_token)[0] == 200
    assert call(desk, "get", "/auth/me", session)[0] == 401
    assert call(desk, "get", "/tickets", session)[0] == 401
    assert _stored(agent_id)["sessions"] == {}
    assert call(desk, "delete", "/auth/sessions/current", session)[0] == 401


def test_a_session_token_with_another_agents_id_is_refused(desk):
    ann_id, _ = _agent(desk)
    bo_id, _ = _agent(desk, "Bo Agent", "bo@example.com")
    ann_session = _session(desk)
    moved = ann_session.replace(ann_id, bo_id)
    status, body = call(desk, "get", "/auth/me", moved)
    assert status == 401 and body == {"error": "unauthorized",
                                      "reason": "unknown, expired or signed-out session: sign in again"}
    assert call(desk, "get", "/auth/me", ann_session)[1]["id"] == ann_id


@pytest.mark.parametrize("environment", [{"SIGNIN_LINKS_PER_ADDRESS": "20"}], ids=["more links"])
def test_an_agent_keeps_at_most_5_sessions_the_oldest_goes_and_expired_ones_are_dropped(desk):
    agent_id, _ = _agent(desk)
    sessions = [_session(desk) for _ in range(6)]
    assert call(desk, "get", "/auth/me", sessions[0])[0] == 401
    assert [call(desk, "get", "/auth/me", s)[0] for s in sessions[1:]] == [200] * 5
    assert len(_stored(agent_id)["sessions"]) == 5

    with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=13)):
        latest = _session(desk)
        assert call(desk, "get", "/auth/me", latest)[0] == 200
    assert len(_stored(agent_id)["sessions"]) == 1


# --- malformed input: 400 for a bad body, 401 for a bad credential, always JSON ----------------------


@pytest.mark.parametrize("raw, field", [
    ("", "empty"), ("not json", "not valid JSON"), ("[]", "JSON object"), ("{}", "token"),
    ('{"token": 7}', "token"), ('{"token": ""}', "token"), (json.dumps({"token": "rdl_" + "a" * 300}), "token"),
    ('{"token": "x", "extra": 1}', "extra"),
])
def test_a_malformed_session_request_is_400(desk, raw, field):
    status, body = call(desk, "post", "/auth/sessions", raw=raw)
    assert status == 400 and body["error"] == "bad_request" and field in body["reason"], body


@pytest.mark.parametrize("raw, field", [
    ("", "empty"), ("{", "not valid JSON"), ('{"email": "no-at-sign"}', "email"), ('{"email": "a b@c.d"}', "email"),
    ('{"email": null}', "email"), ('{}', "email"), ('{"email": "ann@example.com", "name": "x"}', "name"),
    (json.dumps({"email": "a" * 64 + "@" + "b" * 256}), "email"),
])
def test_a_malformed_link_request_is_400_and_mails_nothing(desk, raw, field):
    _agent(desk)
    status, body = call(desk, "post", "/auth/links", raw=raw)
    assert status == 400 and body["error"] == "bad_request" and field in body["reason"], body
    desk.pump()
    assert desk.signin_links() == []


def test_malformed_tokens_of_every_kind_are_401_json(desk, admin_token):
    agent_id, _ = _agent(desk)
    session = _session(desk)
    link = _link_for(desk)
    for token in ("rd_", "rds_", "rdl_", "rds_garbage", f"rds_{agent_id}_{'g' * 64}", f"rds_{agent_id}_{'0' * 63}",
                  session + "0", session[:-1], f"rdl_{agent_id}_{'0' * 64}", link, "rds_" + admin_token[3:],
                  "Bearer", "x" * 5000):
        status, body = call(desk, "get", "/auth/me", token)
        assert status == 401 and body["error"] == "unauthorized", token
    for header in ("", "Basic YWRhOnB3", f"Token {session}", "Bearer ", session):
        response = desk.http.get("/auth/me", headers={"Authorization": header})
        assert response.status_code == 401 and json.loads(response.body)["error"] == "unauthorized", header
        assert response.headers["WWW-Authenticate"] == "Bearer"
    for token in (session, admin_token, "garbage", f"rdl_{agent_id}_{'0' * 64}"):
        status, body = _sign_in(desk, token)
        assert status == 401 and body["error"] == "unauthorized", token
    assert _sign_in(desk, link)[0] == 201  # none of that used up the pending link


# --- limits: per address and per client, the same for every address ---------------------------------


def test_links_are_limited_per_address_with_a_429_that_says_when_to_retry(desk):
    _agent(desk)
    for email in ("ann@example.com", "nobody@example.com"):  # the same limit whether or not it is an agent's
        for n in range(5):
            assert _ask(desk, email, source_ip=f"203.0.113.{n}").status_code == 202
        refused = _ask(desk, email, source_ip="203.0.113.99")
        body = json.loads(refused.body)
        assert refused.status_code == 429 and body["error"] == "too_many_requests", refused.body
        assert "email address" in body["reason"] and int(refused.headers["Retry-After"]) > 0
    desk.pump()
    assert len(desk.signin_links()) == 5
    with time_machine.travel(datetime.now(timezone.utc) + timedelta(minutes=16)):
        assert _ask(desk, "ann@example.com").status_code == 202


def test_links_are_limited_per_client_address(desk):
    for n in range(30):
        assert _ask(desk, f"person{n}@example.com", source_ip="192.0.2.10").status_code == 202
    refused = _ask(desk, "person99@example.com", source_ip="192.0.2.10")
    assert refused.status_code == 429 and "network address" in json.loads(refused.body)["reason"]
    assert _ask(desk, "person99@example.com", source_ip="192.0.2.11").status_code == 202


# --- cost: credentials stay out of the directory index -------------------------------------------------


def test_the_directory_index_carries_no_credentials_and_the_template_agrees(desk):
    from chalicelib.storage import models

    agent_id, _ = _agent(desk)
    _session(desk)
    _link_for(desk)
    indexed = [a for a in models.AgentModel.by_directory.query("agents") if a.agent_id == agent_id][0]
    present = {name for name, value in indexed.attribute_values.items() if value not in (None, "")}
    assert present <= {"agent_id", "directory", *models.DIRECTORY_FIELDS}
    assert not present & {"token_hash", "sessions", "signin_link_hash", "signin_link_expires"}

    from chalicelib.local.provision import load_template  # CloudFormation's tags (!Sub "…: …" is no plain YAML)

    template = load_template(PROJECT / "infra" / "resources.yaml")
    index = [i for i in template["Resources"]["AgentsTable"]["Properties"]["GlobalSecondaryIndexes"]
             if i["IndexName"] == "directory"][0]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": models.DIRECTORY_FIELDS}


@pytest.mark.parametrize("environment", [{"SIGNIN_LINKS_PER_ADDRESS": "20"}], ids=["more links"])
def test_an_agent_with_the_most_sessions_and_a_pending_link_still_fits_one_write_unit(desk):
    """The agent item is written on every assignment: sessions must not push it past 1 KB (2 write units)."""
    from chalicelib import aws

    agent_id, _ = desk.add_agent("Annabelle Example-Agent", "annabelle.example-agent@support.example.com",
                                 skills=("billing", "delivery", "refunds", "returns"), languages=("en", "da", "no"))
    for _ in range(6):
        _session(desk, "annabelle.example-agent@support.example.com")
    _link_for(desk, "annabelle.example-agent@support.example.com")
    item = aws.client("dynamodb").get_item(TableName="relay-desk-agents", Key={"agent_id": {"S": agent_id}})["Item"]
    assert len(item["sessions"]["M"]) == 5 and "signin_link_hash" in item
    assert _item_bytes(item) <= 1024, _item_bytes(item)


def _item_bytes(item):
    """DynamoDB's item size: attribute names plus values (docs: "Item sizes and formats")."""
    def value_bytes(value):
        (kind, data), = value.items()
        if kind == "S":
            return len(data.encode())
        if kind == "N":
            return len(data.lstrip("-").replace(".", "").lstrip("0")) // 2 + 2
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(s.encode()) for s in data)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_bytes(v) + 1 for k, v in data.items())
        if kind == "L":
            return 3 + sum(value_bytes(v) + 1 for v in data)
        raise AssertionError(kind)
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


# --- behind the queue: SES trouble, unusable messages ------------------------------------------------


def test_ses_throttling_is_retried_and_the_link_that_arrives_is_the_one_that_works(desk, monkeypatch):
    from chalicelib.outbound import email as email_out

    agent_id, _ = _agent(desk)
    real_send, calls = email_out.send, []

    def throttled_once(message, to_address, **kwargs):  # what email.send raises when SES throttles
        calls.append(to_address)
        if len(calls) == 1:
            raise email_out.NotSent("SES answered Throttling: slow down")
        return real_send(message, to_address, **kwargs)

    monkeypatch.setattr(email_out, "send", throttled_once)
    token = _link_for(desk)
    assert len(calls) == 2 and len(desk.signin_links()) == 1
    assert _sign_in(desk, token)[0] == 201


def test_an_unusable_signin_message_is_parked_with_the_reason(desk):
    from chalicelib.storage import queues

    queues.enqueue_reply({"v": 1, "kind": "signin", "key": "signin:broken"}, ticket_id="signin:x", dedup_key="x")
    desk.pump()
    parked = [letter for letter in desk.dead_letters() if "signin:broken" in json.dumps(letter["body"])]
    assert len(parked) == 1 and "missing email" in parked[0]["reason"]
    assert desk.signin_links() == []
