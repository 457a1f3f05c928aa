"""The admin CLI as an operator meets it: one-line errors that say what to set, tables, honest output.

The failure cases run ``python -m chalicelib.admin`` as a subprocess against a moto server,
as an operator runs it against ``make local``: the exit code, stderr and the absence of a
traceback are what they see. The rest calls ``main()`` against the in-process desk.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import admin
from chalicelib.local import LocalDesk
from tests.mail import compose

PROJECT = Path(__file__).resolve().parents[2]
AWS_UNUSABLE = 3


@pytest.fixture
def served_desk():
    """A desk on a moto server in this process: a subprocess reaches it at AWS_ENDPOINT_URL."""
    with LocalDesk(server=True) as desk:
        yield desk


def run_cli(*args: str, unset: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", **env}  # no wait for EC2's metadata service
    for name in unset:
        environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "chalicelib.admin", *args], cwd=PROJECT, env=environment,
                          capture_output=True, text=True, timeout=120)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --- Region and endpoint: the same defaults as the functions ---------------------------------------


def test_without_any_region_set_the_cli_uses_the_desks_default_region(served_desk):
    served_desk.add_agent("Liv Larsen", "liv@example.com", skills=("billing",), capacity=2)

    result = run_cli("list-agents", unset=("AWS_REGION", "AWS_DEFAULT_REGION"))

    assert result.returncode == 0, result.stderr  # was PynamoDB's "You must specify a region" traceback
    assert "Liv Larsen <liv@example.com>" in result.stdout and result.stderr == ""


def test_endpoint_url_option_points_one_run_at_a_moto_server(served_desk):
    served_desk.add_agent("Liv Larsen", "liv@example.com")
    endpoint = os.environ["AWS_ENDPOINT_URL"]

    result = run_cli("--endpoint-url", endpoint, "--region", "us-east-1", "list-agents",
                     unset=("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"))

    assert result.returncode == 0, result.stderr
    assert "Liv Larsen" in result.stdout


# --- What could not be used, and what to set ---------------------------------------------------------


def test_missing_credentials_say_which_variables_to_set(served_desk, tmp_path):
    result = run_cli("list-agents", unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_PROFILE"),
                     AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"))

    assert_one_line_error(result, AWS_UNUSABLE, "list-agents: no AWS credentials found",
                          "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "moto server")


def test_an_unknown_profile_is_named(tmp_path):
    result = run_cli("list-agents", unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
                     AWS_PROFILE="relay-desk-nowhere", AWS_CONFIG_FILE=str(tmp_path / "none"),
                     AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))

    assert_one_line_error(result, AWS_UNUSABLE, "relay-desk-nowhere", "AWS_PROFILE")


def test_an_endpoint_nobody_answers_at_says_to_start_make_local_or_unset_it():
    endpoint = f"http://127.0.0.1:{closed_port()}"

    result = run_cli("set-agent", "--agent", "a-000000000000", "--status", "online", AWS_ENDPOINT_URL=endpoint)

    assert_one_line_error(result, AWS_UNUSABLE, f"set-agent: cannot reach {endpoint} (AWS_ENDPOINT_URL)",
                          "make local", "unset AWS_ENDPOINT_URL")


def test_an_endpoint_that_is_not_a_url_is_refused_with_an_example():
    result = run_cli("recount-inbox", AWS_ENDPOINT_URL="localhost:5000")

    assert_one_line_error(result, AWS_UNUSABLE, "AWS_ENDPOINT_URL 'localhost:5000' is not a URL",
                          "http://127.0.0.1:5000")


def test_a_missing_table_is_named_with_the_variable_that_names_it(served_desk):
    result = run_cli("list-agents", AGENTS_TABLE="relay-desk-agents-prod")

    assert_one_line_error(result, AWS_UNUSABLE, "table relay-desk-agents-prod does not exist",
                          os.environ["AWS_ENDPOINT_URL"], "set AGENTS_TABLE")


def test_an_unexpected_error_is_one_line_unless_the_traceback_is_asked_for(desk, capsys, monkeypatch):
    from chalicelib.storage import ticket_counts

    def broken() -> int:
        raise RuntimeError("counter item is corrupt\nsecond line")

    monkeypatch.setattr(ticket_counts, "recount", broken)

    assert admin.main(["recount-inbox"]) == 1
    assert capsys.readouterr().err == ("recount-inbox: unexpected error: RuntimeError: counter item is corrupt "
                                       "(--traceback shows where)\n")
    with pytest.raises(RuntimeError, match="corrupt"):
        admin.main(["--traceback", "recount-inbox"])


# --- Help: every option says what it does and its default --------------------------------------------


def test_every_option_of_every_command_has_help_with_its_default():
    parser = admin.build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parsers = {"": parser, **subcommands.choices}
    assert len(parsers) == 15  # the CLI and its 14 commands (reshard-agents the newest)
    for name, command in parsers.items():
        assert command.description, f"{name or 'the CLI'} has no description"
        for action in command._actions:
            if action.dest in ("help", "command"):
                continue
            where = f"{name or 'global'} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where} has no help"
            assert "(default: " in action.help or "(required" in action.help, f"{where} shows no default"


def test_a_command_help_shows_defaults_without_touching_aws():
    result = run_cli("create-agent", "--help", AWS_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}")

    assert result.returncode == 0 and result.stderr == ""
    assert "(default: 10)" in result.stdout and "(default: every queue)" in result.stdout
    assert "(default: online)" in result.stdout and "(default: agent)" in result.stdout


# --- Agents: tables and honest output ----------------------------------------------------------------


def _columns(rule: str) -> list[int]:
    """Where each column starts, from the dashes under the header."""
    return [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]


def test_list_agents_is_an_aligned_table_with_a_header(desk, capsys):
    ann = desk.add_agent("Ann", "ann@example.com", skills=("billing", "logistics"), capacity=8, languages=("da", "en"))[0]
    bo = desk.add_agent("Bo Christiansen-Holm", "bo@example.com", status="offline", role="admin")[0]
    gone = desk.add_agent("Cy", "cy@example.com")[0]
    assert admin.main(["remove-agent", "--agent", gone]) == 0
    capsys.readouterr()

    assert admin.main(["list-agents"]) == 0
    header, rule, *rows, summary = capsys.readouterr().out.splitlines()

    assert header.split() == ["id", "status", "load", "skills", "name", "languages", "role"]
    starts = _columns(rule)
    assert len(starts) == 7
    for line in (header, *rows):
        for start in starts[:2] + starts[3:]:  # left-aligned columns start under their dashes
            assert line[start] != " " and (start == 0 or line[start - 1] == " "), (line, start)
        load_end = rule.index(" ", starts[2])  # load is right-aligned: it ends where its dashes end
        assert line[load_end - 1] != " " and line[load_end] == " "
    by_id = {row.split()[0]: row for row in rows}
    assert list(by_id) == [ann, bo, gone]  # active agents by name, removed ones last
    assert by_id[ann].split()[1:4] == ["online", "0/8", "billing,logistics"] and "da,en" in by_id[ann]
    assert by_id[bo].split()[1:5] == ["offline", "0/10", "every", "queue"] and by_id[bo].endswith("admin")
    assert by_id[gone].split()[1] == "removed"
    assert summary == "2 agents, 1 online; 1 removed; load = open tickets / capacity"


def test_list_agents_with_no_agents_says_so(desk, capsys):
    assert admin.main(["list-agents"]) == 0
    assert capsys.readouterr().out == "list-agents: no agents yet (create one with create-agent)\n"


def test_create_agent_prints_the_token_once_and_what_was_created(desk, capsys):
    assert admin.main(["create-agent", "--name", "Liv", "--email", "Liv@Example.com", "--capacity", "3",
                       "--languages", "no,EN", "--status", "away"]) == 0
    out, err = capsys.readouterr()
    agent_id = out.split()[1]
    assert out.splitlines()[1].startswith(f"token:    rd_{agent_id}_")
    assert out.splitlines()[2] == ("created Liv <liv@example.com>: agent, away, capacity 3, skills every queue, "
                                   "languages en,no; 0 open tickets")
    assert err == "Store the token now: only its hash is kept.\n"

    assert admin.main(["create-agent", "--name", "Bo", "--email", "bo@example.com"]) == 0
    assert capsys.readouterr().out.splitlines()[2] == (  # what create-agent --help gives as the defaults
        "created Bo <bo@example.com>: agent, online, capacity 10, skills every queue, languages none recorded; "
        "0 open tickets")


@pytest.mark.parametrize("capacity", ["-1", "lots"])
def test_a_capacity_that_is_not_a_count_is_a_usage_error(desk, capsys, capacity):
    with pytest.raises(SystemExit) as exit_:
        admin.main(["create-agent", "--name", "Liv", "--email", "liv@example.com", "--capacity", capacity])
    assert exit_.value.code == 2 and "--capacity" in capsys.readouterr().err
    assert admin.main(["list-agents"]) == 0 and "no agents yet" in capsys.readouterr().out


def test_set_agent_with_nothing_to_set_is_an_error_not_done(desk, capsys):
    agent_id = desk.add_agent("Liv", "liv@example.com", status="offline")[0]

    assert admin.main(["set-agent", "--agent", agent_id]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "done" not in err
    assert err == ("set-agent: nothing to set: give --status, --capacity, --skills or --languages "
                   "(see set-agent --help)\n")


def test_set_agent_says_what_changed_and_when_nothing_did(desk, capsys):
    agent_id = desk.add_agent("Liv", "liv@example.com", status="offline", capacity=2, skills=("billing",))[0]

    assert admin.main(["set-agent", "--agent", agent_id, "--status", "online", "--capacity", "3",
                       "--skills", "*"]) == 0
    assert capsys.readouterr().out == (f"set-agent: {agent_id} (Liv): status offline → online, capacity 2 → 3, "
                                       "skills billing → every queue; open tickets 0 → 0\n")
    assert admin.main(["set-agent", "--agent", agent_id, "--status", "online"]) == 0
    assert capsys.readouterr().out == f"set-agent: {agent_id} (Liv) already has these settings; nothing changed\n"


def test_coming_online_reports_the_tickets_picked_up_and_prints_nothing_else(desk, capsys):
    agent_id = desk.add_agent("Liv", "liv@example.com", status="offline")[0]
    desk.receive_email(compose(subject="Waiting for someone"))
    assert desk.pump() == 1
    capsys.readouterr()

    assert admin.main(["set-agent", "--agent", agent_id, "--status", "online"]) == 0
    out, err = capsys.readouterr()
    # Assignment logs (INFO) and counts a metric (EMF JSON): neither belongs in the command's output.
    assert out == f"set-agent: {agent_id} (Liv): status offline → online; open tickets 0 → 1\n"
    assert err == ""
    assert desk.tickets()[0]["assignee_id"] == agent_id


def test_unknown_and_removed_agents_are_told_apart(desk, capsys):
    agent_id = desk.add_agent("Liv", "liv@example.com")[0]
    assert admin.main(["remove-agent", "--agent", agent_id]) == 0
    assert capsys.readouterr().out == (f"remove-agent: {agent_id} (Liv) removed, token and sessions revoked; "
                                       "open tickets 0 → 0\n")

    assert admin.main(["set-agent", "--agent", agent_id, "--status", "online"]) == 1
    assert capsys.readouterr().err == f"set-agent: agent {agent_id} was removed (list-agents shows every agent)\n"
    assert admin.main(["remove-agent", "--agent", "a-000000000000"]) == 1
    assert capsys.readouterr().err == ("remove-agent: agent a-000000000000 does not exist "
                                       "(list-agents shows every agent)\n")


# --- Reports and imports: what is missing is said before anything is read -----------------------------


def test_kpi_chart_without_matplotlib_says_how_to_install_it(desk, capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a machine with requirements.txt only

    assert admin.main(["kpi-report", "--chart", str(tmp_path / "fr.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "needs matplotlib" in err and "requirements-dev.txt" in err
    assert not (tmp_path / "fr.png").exists()


def test_kpi_chart_into_a_missing_folder_is_refused_before_the_report(desk, capsys, tmp_path):
    assert admin.main(["kpi-report", "--chart", str(tmp_path / "nowhere" / "fr.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "its folder does not exist" in err


def test_import_articles_from_a_missing_folder_is_a_usage_error(desk, capsys, tmp_path):
    assert admin.main(["import-articles", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("import-articles: ")
