"""Directory shards (``DIRECTORY_SHARDS``, storage/agents.py): the agent directory's index key spread over N
values, so claims, releases and the races for round robin's head spread N ways (docs/scaling.md).

Through the handlers and the HTTP API: agents created by the service, tickets by mail, loads read back.
"""
import pytest

from chalicelib import admin
from tests.api import call
from tests.mail import compose


@pytest.fixture
def environment():
    return {"DIRECTORY_SHARDS": "4"}


def _mail(desk, n):
    desk.receive_email(compose(sender=f"Customer {n} <c{n}@shop.example>", subject=f"q{n}"))


def _directory_keys(desk):
    items = desk._aws("dynamodb").scan(TableName="relay-desk-agents")["Items"]
    return {item["agent_id"]["S"]: item["directory"]["S"] for item in items}


def test_agents_are_spread_over_the_shards_and_the_directory_lists_them_all(desk, admin_token):
    team = [desk.add_agent(f"Agent {n}", f"agent{n}@example.com")[0] for n in range(12)]
    keys = _directory_keys(desk)
    assert set(keys.values()) <= {f"agents#{k}" for k in range(4)}
    assert len(set(keys[agent] for agent in team)) > 1  # 12 agents over 4 shards: not all in one
    status, body = call(desk, "get", "/agents", admin_token)
    assert status == 200 and {agent["id"] for agent in body["agents"]} == {*team, *(set(keys) - set(team))}


def test_every_ticket_finds_an_agent_in_another_shard_when_its_own_is_full_and_nobody_exceeds_capacity(
        desk, admin_token):
    """Twelve agents of capacity 2 and twenty-four tickets: every seat is taken only if tickets whose own
    shard is full (or empty) are offered to the next shards: twelve waiting before anyone is online
    (assigned as each agent comes online: ``assign.auto_assign``), twelve new ones claimed in their own
    write (``assign.plan_claim``)."""
    for n in range(12):
        _mail(desk, n)
    desk.pump()
    assert {t["assignee_id"] for t in desk.tickets()} == {None}
    team = [desk.add_agent(f"Agent {n}", f"agent{n}@example.com", capacity=2)[0] for n in range(12)]
    desk.pump()
    assert None not in {t["assignee_id"] for t in desk.tickets()}
    for n in range(12, 24):
        _mail(desk, n)
    desk.pump()
    owners = [ticket["assignee_id"] for ticket in desk.tickets()]
    assert len(owners) == 24 and None not in owners
    assert sorted(owners.count(agent) for agent in team) == [2] * 12
    loads = {agent["id"]: agent["open_count"] for agent in call(desk, "get", "/agents", admin_token)[1]["agents"]}
    assert all(loads[agent] == 2 for agent in team)
    _mail(desk, 24)  # every seat taken: the 25th waits
    desk.pump()
    assert [t["assignee_id"] for t in desk.tickets() if t["subject"] == "q24"] == [None]


def test_round_robin_inside_a_shard_gives_each_agent_a_turn(desk, admin_token, monkeypatch):
    """With one agent per ticket shard the rotation is the shards'; with all agents in one shard
    (DIRECTORY_SHARDS=1 after a reshard) it is the strict rotation of an unsharded desk."""
    team = [desk.add_agent(name, f"{name.lower()}@example.com", capacity=5)[0] for name in ("Ann", "Bob", "Cat")]
    monkeypatch.setenv("DIRECTORY_SHARDS", "1")
    assert admin.main(["reshard-agents"]) == 0
    assert set(_directory_keys(desk).values()) == {"agents"}
    for n in range(12):
        _mail(desk, n)
        desk.pump()
    by_subject = {t["subject"]: t for t in desk.tickets()}  # read once
    owners = [by_subject[f"q{n}"]["assignee_id"] for n in range(12)]
    assert sorted(owners.count(agent) for agent in team) == [4, 4, 4]
    assert owners[3:] == owners[:9]


def test_after_changing_the_shard_count_reshard_agents_brings_every_agent_back(desk, admin_token, monkeypatch,
                                                                               capsys):
    team = [desk.add_agent(f"Agent {n}", f"agent{n}@example.com")[0] for n in range(6)]
    monkeypatch.setenv("DIRECTORY_SHARDS", "1")  # changed without the rewrite: nobody is under "agents"
    _mail(desk, 0)
    desk.pump()
    assert [t["assignee_id"] for t in desk.tickets()] == [None]

    assert admin.main(["reshard-agents"]) == 0
    assert "reshard-agents: 7 agents moved to their shard" in capsys.readouterr().out  # the admin too
    assert set(_directory_keys(desk).values()) == {"agents"}
    assert admin.main(["reshard-agents"]) == 0 and "0 agents moved" in capsys.readouterr().out  # idempotent
    _mail(desk, 1)
    desk.pump()
    assert next(t for t in desk.tickets() if t["subject"] == "q1")["assignee_id"] in team
