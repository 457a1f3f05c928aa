"""libFuzzer harness (atheris): parse_email + auto_reply_reason on mutated mail.

Standalone:  python tests/fuzz/fuzz_parse_email.py -max_total_time=300 -timeout=2
It seeds from tests/fixtures/mail (real-shaped mail) and writes any crashing or
slow input (libFuzzer's crash-*/timeout-* files) to tests/fixtures/mail/hostile/,
where tests/unit/test_parser_fuzz.py replays it as a regression test.
``-timeout=2`` is the per-input limit: an input taking longer is reported as a
timeout, like a crash. Only MalformedEmail may leave parse_email; anything else
is a crash.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mail"
HOSTILE = FIXTURES / "hostile"

import atheris  # noqa: E402

with atheris.instrument_imports():
    sys.path.insert(0, str(ROOT))
    from chalicelib.channels.email.autoreply import auto_reply_reason
    from chalicelib.channels.email.exceptions import MalformedEmail
    from chalicelib.channels.email.mime import parse_email


def one_input(data: bytes) -> None:
    try:
        mail = parse_email(data)
    except MalformedEmail as error:
        assert error.reason
        return
    assert "@" in mail.from_address
    auto_reply_reason(mail, ["support@relaydesk.example"])


def seed_corpus(directory: Path) -> None:
    """Copy the real-shaped fixtures into a working corpus directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(FIXTURES.rglob("*.eml")):
        (directory / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())


def main(argv: list[str]) -> None:
    args = list(argv)
    if not any(arg.startswith("-artifact_prefix=") for arg in args):
        HOSTILE.mkdir(parents=True, exist_ok=True)
        args.append(f"-artifact_prefix={HOSTILE}/")
    if not any(arg.startswith("-timeout=") for arg in args):
        args.append("-timeout=2")
    if not any(arg.startswith("-max_len=") for arg in args):
        args.append("-max_len=65536")
    corpora = [arg for arg in args[1:] if not arg.startswith("-")]
    if not corpora:
        corpus = Path("/tmp/relaydesk-mail-corpus")
        seed_corpus(corpus)
        args.append(str(corpus))
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
