"""Reply text on replies we did not write: the published test mails of peer reply parsers.

tests/fixtures/mail/peer/ holds the replies of Mailgun's talon (real .eml files),
GitHub's email_reply_parser and mail-parser-reply (plain-text bodies), copied as
their projects publish them (sources and licences in the README and manifest
there). The manifest says, for each, what the customer wrote under our contract
(sign-offs and signatures kept, app footers and history dropped) and where that
differs from the peer's own expectation. This measures the share we keep
correctly; the floors are the measured shares rounded down, so a change that
loses a reply fails here.
"""
from __future__ import annotations

import json
import quopri
import re
from pathlib import Path

import pytest

from chalicelib.channels.email.mime import parse_email
from chalicelib.channels.email.quotes import reply_text

PEER = Path(__file__).resolve().parents[1] / "fixtures" / "mail" / "peer"
MANIFEST = json.loads((PEER / "manifest.json").read_text(encoding="utf-8"))["mails"]
PROJECTS = ("talon", "email_reply_parser", "mail_parser_reply")
#: Measured share kept correctly, rounded down: talon 13/13, email_reply_parser 31/31, mail_parser_reply 28/30
#: (72/74, 97.3%). Before the recognisers learnt these mails: 11/13, 26/31, 21/30 (58/74, 78.4%).
FLOORS = {"talon": 1.0, "email_reply_parser": 1.0, "mail_parser_reply": 0.93}
OVERALL_FLOOR = 0.97

_BLANK_RUNS = re.compile(r"\n{3,}")


def _normalised(lines: list[str]) -> str:
    """Whitespace at line ends and runs of blank lines normalised; nothing else."""
    text = "\n".join(line.rstrip() for line in lines)
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _written(reply: str) -> str:
    """The customer's own lines of a reply text: the quoted context (">" lines) left out."""
    return _normalised([line for line in reply.splitlines() if not line.lstrip().startswith(">")])


def _has_quoted_context(reply: str) -> bool:
    return any(line.lstrip().startswith(">") for line in reply.splitlines())


def kept_correctly(entry: dict, reply: str) -> bool:
    return _written(reply) == _normalised(entry["wrote"].splitlines()) and _has_quoted_context(reply) == entry["quoted_context"]


def _reply(entry: dict) -> str:
    raw = (PEER / entry["project"] / entry["file"]).read_bytes()
    if entry["file"].endswith(".eml"):
        return parse_email(raw).reply_text
    if entry.get("transfer_encoding") == "quoted-printable":
        raw = quopri.decodestring(raw)  # the peer stored the body still encoded; a mail reader decodes it first
    return reply_text(raw.decode("utf-8"))


def _wrong(entries: list[dict]) -> list[str]:
    return [entry["file"] for entry in entries if not kept_correctly(entry, _reply(entry))]


def test_the_corpus_holds_every_peer_project_and_says_where_each_mail_came_from():
    assert {entry["project"] for entry in MANIFEST} == set(PROJECTS)
    assert len(MANIFEST) >= 70
    for entry in MANIFEST:
        assert (PEER / entry["project"] / entry["file"]).is_file(), entry["file"]
        assert entry["licence"] in {"Apache-2.0", "MIT"} and entry["source"], entry["file"]
        assert entry["wrote"].strip(), entry["file"]


@pytest.mark.parametrize("project", PROJECTS)
def test_the_share_of_peer_replies_kept_correctly_is_above_the_floor(project, capsys):
    entries = [entry for entry in MANIFEST if entry["project"] == project]
    wrong = _wrong(entries)
    share = 1 - len(wrong) / len(entries)
    with capsys.disabled():
        print(f"\npeer corpus {project}: {len(entries) - len(wrong)}/{len(entries)} kept correctly ({share:.1%}); wrong: {wrong}")
    assert share >= FLOORS[project], wrong


def test_the_overall_share_of_peer_replies_kept_correctly_is_above_the_floor(capsys):
    wrong = _wrong(MANIFEST)
    share = 1 - len(wrong) / len(MANIFEST)
    with capsys.disabled():
        print(f"\npeer corpus overall: {len(MANIFEST) - len(wrong)}/{len(MANIFEST)} kept correctly ({share:.1%})")
    assert share >= OVERALL_FLOOR, wrong
