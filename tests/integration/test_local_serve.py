"""``make local`` as a whole desk: mail over SMTP, schedules ticking, readable console, options, admin CLI.

Each test starts the real server (``LocalServer``: moto server, HTTP, SMTP, schedules) on free ports
inside the test body, with the event pump in a thread. Inside the body, not in a fixture: the server
points ``sys.stdout`` at its log file, and pytest resets ``sys.stdout`` between a fixture's set-up
and the test.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from chalicelib.local.desk import PROJECT_DIR
from chalicelib.local.schedules import cadence
from chalicelib.local.serve import LocalServer, ServeOptions, build_parser, main
from tests.mail import compose

SUPPORT = "support@example.com"
_TIME = re.compile(r"^\d\d:\d\d:\d\d  ")


class _Console(io.StringIO):
    def lines(self) -> list[str]:
        return self.getvalue().splitlines()

    def events(self) -> list[str]:
        """The time-stamped event lines, without their time."""
        return [line[10:] for line in self.lines() if _TIME.match(line)]


@contextlib.contextmanager
def _serving(tmp_path: Path, **options: object) -> Iterator[tuple[LocalServer, _Console]]:
    console = _Console()
    chosen = ServeOptions(**{"port": 0, "smtp_port": 0, "log_file": tmp_path / "desk.log", "seed": False,
                             **options})
    with LocalServer(chosen, console=console) as server:
        stop = threading.Event()
        pump = threading.Thread(target=server.run, args=(stop,), daemon=True)
        pump.start()
        try:
            yield server, console
        finally:
            stop.set()
            pump.join(timeout=60)
            assert not pump.is_alive(), "the pump did not stop"


def _wait_for(what: Callable[[], object], *, seconds: float = 30, about: str = "") -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {about}")


def _send(server: LocalServer, raw: bytes, *, sender: str = "ann@customer.example",
          to: tuple[str, ...] = (SUPPORT,)) -> dict:
    host, port = server.smtp_address
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        return smtp.sendmail(sender, list(to), _crlf(raw))


def _crlf(raw: bytes) -> bytes:
    """SMTP's line ending (RFC 5321 §2.3.8); smtplib converts str messages, not bytes."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _event(console: _Console, pattern: str, *, seconds: float = 30) -> str:
    return _wait_for(lambda: next((e for e in console.events() if re.search(pattern, e)), None), seconds=seconds,
                     about=f"a console line matching {pattern!r}; lines: {console.events()}")


def test_mail_over_smtp_takes_the_ses_path_and_is_acknowledged_threaded_and_reported(tmp_path):
    with _serving(tmp_path) as (server, console):
        desk = server.desk
        refused = _send(server, compose(subject="Printer on fire", body="The printer in room 4 is on fire."))
        assert refused == {}

        [ticket] = _wait_for(desk.tickets, about="a ticket from the SMTP mail")
        assert (ticket["number"], ticket["subject"], ticket["channel"]) == (1, "Printer on fire", "email")
        assert ticket["requester"] == "email:ann@customer.example"
        # Stored where SES's receipt rule stores mail, with the envelope sender SES prepends.
        s3 = desk._aws("s3")
        [stored] = s3.list_objects_v2(Bucket=desk.inbound_bucket, Prefix=desk.inbound_prefix)["Contents"]
        raw = s3.get_object(Bucket=desk.inbound_bucket, Key=stored["Key"])["Body"].read()
        assert raw.startswith(b"Return-Path: <ann@customer.example>\r\nReceived: from ")
        assert b"Subject: Printer on fire" in raw

        ack = _wait_for(lambda: [m for m in desk.sent_emails() if "ann@customer.example" in m["To"]],
                        about="the acknowledgement in moto's SES")[0]
        assert ack["Subject"] == "Re: Printer on fire [#1]"

        # The customer answers the acknowledgement: it threads into ticket #1 by In-Reply-To.
        reply = compose(subject=ack["Subject"], body="It is still burning.", in_reply_to=ack["Message-ID"])
        _send(server, reply)
        _wait_for(lambda: desk.tickets()[0]["message_count"] == 2, about="the reply threaded into #1")
        assert len(desk.tickets()) == 1

        _event(console, r"^message received → ticket #1 \(threaded")
        events = console.events()
        assert any(e.startswith("mail from <ann@customer.example> to support@example.com (") for e in events)
        assert "message received → ticket #1 (new ticket; acknowledgement sent)" in events, events
        assert any(e.startswith("reply sent [email] to ") and e.endswith("Re: Printer on fire [#1]")
                   for e in events), events

        # An HTTP request is one line: method, path without the query, status.
        status = _http_status(server.base_url + "/tickets?status=open", server.admin_token)
        assert status == 200
        _event(console, r"^GET /tickets 200$")
        log_path = server.log_path

    lines = console.lines()
    assert all(len(line) <= 110 for line in lines if _TIME.match(line)), [l for l in lines if len(l) > 110]
    assert not any(line.lstrip().startswith("{") for line in lines), "JSON on the console"
    assert not any('"GET /' in line or "HTTP/1.1" in line for line in lines), "an access log line on the console"
    assert console.events()[-1] == "stopped: the desk's data lived in memory (moto) and is gone"
    logged = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    processed = [doc for doc in logged if doc.get("message") == "message processed"]
    assert [doc["level"] for doc in processed] == ["INFO", "INFO"]
    metrics = {m["Name"] for doc in logged if "_aws" in doc for d in doc["_aws"]["CloudWatchMetrics"]
               for m in d["Metrics"]}
    assert {"EmailsReceived", "TicketsCreated", "RepliesThreaded"} <= metrics, metrics
    assert sys.stdout is not None and getattr(sys.stdout, "name", "") != str(log_path)  # streams given back


def _http_status(url: str, token: str) -> int:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_the_sweep_runs_on_its_cadence_and_escalates_a_breached_sla(tmp_path):
    with _serving(tmp_path) as (server, console):
        desk = server.desk
        assert desk.schedules() == {"sweep": "rate(1 minute)"}
        assert not [e for e in console.events() if e.startswith("schedule ")]  # the first tick is a minute away

        _send(server, compose(subject="Invoice twice", body="I was charged twice."))
        _wait_for(desk.tickets, about="the ticket")
        desk.advance(days=7)  # any first-response target is long past, business hours or not

        _event(console, r"^schedule sweep ran: .*sla breaches 1")
        [ticket] = desk.tickets()
        assert "sla_breached" in [entry["action"] for entry in ticket["audit"]]
        # TEAM_LEAD is the local admin's mailbox: the escalation is mailed there, and the console says so.
        _event(console, r"^mail sent \[email\] to admin@example\.com: .*")
        lead = [m for m in desk.sent_emails() if m["To"] == "admin@example.com"]
        assert any("SLA breached on #1" in m.get_body(("plain",)).get_content() for m in lead)

        # The next tick is a minute later on the desk's clock: nothing more is due.
        runs = len([e for e in console.events() if e.startswith("schedule sweep ran")])
        desk.advance(minutes=1)
        _event(console, r"^schedule sweep ran: nothing due$")
        assert len([e for e in console.events() if e.startswith("schedule sweep ran")]) == runs + 1


def test_broken_smtp_input_is_refused_with_smtp_errors_and_the_server_goes_on(tmp_path):
    with _serving(tmp_path, smtp_max_bytes=64 * 1024) as (server, console):
        desk = server.desk
        host, port = server.smtp_address

        with pytest.raises(smtplib.SMTPRecipientsRefused) as outside:
            _send(server, compose(), to=("someone@elsewhere.example",))
        assert outside.value.recipients["someone@elsewhere.example"][0] == 550

        too_big = compose(body=("x" * 70 + "\n") * 1000)  # 71 kB in short lines
        with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as oversized:
            _send(server, too_big)
        assert oversized.value.smtp_code == 552
        with smtplib.SMTP(host, port, timeout=30) as smtp:  # no SIZE announced: refused after the data
            smtp.ehlo()
            smtp.mail("ann@customer.example")
            smtp.rcpt(SUPPORT)
            code, _ = smtp.data(_crlf(too_big))
            assert code == 552

        for junk, why in ((b"", "empty message"), (b"just some words, no headers\r\n", "no header section")):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                _send(server, junk)
            assert refused.value.smtp_code == 554 and why in refused.value.smtp_error.decode()

        replies = _raw_session(host, port, [b"EHLO test", b"FROBNICATE now", b"MAIL FROM:<not an address",
                                            b"RCPT TO:<support@example.com>", b"MAIL FROM:<a@b.example> " + b"x" * 2000,
                                            b"\xff\xfe\x00binary", b"QUIT"])
        assert replies[0].startswith("220 ")
        codes = [reply[:3] for reply in replies[1:]]
        assert codes[0] == "250"  # EHLO
        assert all(code.startswith("5") for code in codes[1:-1]), replies
        assert codes[-1] == "221"

        # Still serving: a good message after all that becomes the only ticket.
        _send(server, compose(subject="After the noise"))
        [ticket] = _wait_for(desk.tickets, about="the good mail's ticket")
        assert ticket["subject"] == "After the noise"
        assert desk.dead_letters() == []
        assert not [e for e in console.events() if "failed" in e]


def _raw_session(host: str, port: int, commands: list[bytes]) -> list[str]:
    """Send each command and read one reply (its last line) per command; the greeting first."""
    with socket.create_connection((host, port), timeout=30) as sock:
        stream = sock.makefile("rb")
        replies = [_reply(stream)]
        for command in commands:
            sock.sendall(command + b"\r\n")
            replies.append(_reply(stream))
        return replies


def _reply(stream) -> str:
    while True:
        line = stream.readline().decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 4 or line[3] != "-":
            return line


def test_the_printed_export_lines_point_the_admin_cli_at_the_running_seeded_desk(tmp_path):
    with _serving(tmp_path, seed=True) as (server, console):
        exports = [line.strip() for line in console.lines() if line.strip().startswith("export ")]
        assert exports == server.admin_exports() and len(exports) == 2
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}  # nothing of this process's AWS set-up
        for line in exports:
            env.update(dict(item.split("=", 1) for item in line[len("export "):].split()))
        done = subprocess.run([sys.executable, "-m", "chalicelib.admin", "list-agents"], cwd=PROJECT_DIR, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        for agent in ("Local Admin", "admin@example.com", "Mette Holm", "Ola Nordmann"):
            assert agent in done.stdout, done.stdout
        articles = server.desk.http.get("/kb/articles?language=en")
        assert articles.status_code == 200 and json.loads(articles.body)["articles"], "no demo articles"
        banner = "\n".join(console.lines())
        for shown in (f"{server.base_url}/console", f"{server.base_url}/portal", f"{server.base_url}/widget.js",
                      f"{server.base_url}/webhooks/", f"{server.smtp_address[0]}:{server.smtp_address[1]}",
                      str(server.log_path), "the data is gone", "sweep rate(1 minute)"):
            assert shown in banner, shown


def test_ctrl_c_stops_the_desk_cleanly_and_frees_its_ports(tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local.serve", "--no-seed", "--port", "0", "--smtp-port", "0",
         "--log-file", str(tmp_path / "desk.log")], cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's Ctrl-C
    try:
        lines = []
        for line in server.stdout:
            lines.append(line.rstrip("\n"))
            if line.rstrip().endswith("ready: Ctrl-C stops the desk"):
                break
        smtp = re.search(r"mail \(SMTP\)  ([\d.]+):(\d+)", "\n".join(lines))
        http = re.search(r"console      http://([\d.]+):(\d+)/console", "\n".join(lines))
        assert smtp and http, lines
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0 and err == "", err
    assert out.splitlines()[-1].endswith("stopped: the desk's data lived in memory (moto) and is gone"), out
    for host, port in (smtp.groups(), http.groups()):
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=5).close()


def test_help_lists_every_option_with_its_default():
    done = subprocess.run([sys.executable, "-m", "chalicelib.local.serve", "--help"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "300"})  # argparse would wrap .local/relay-desk.log at its -
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for option, default in (("--port", "8000"), ("--smtp-port", "2525"), ("--host", "127.0.0.1"),
                            ("--log-file", ".local/relay-desk.log"), ("--seed, --no-seed", "--seed"),
                            ("--seconds", "0"), ("--smtp-max-bytes", "41,943,040")):
        assert option in text and f"(default: {default}" in text, option
    assert build_parser().parse_args(["--no-seed", "--port", "0"]).seed is False


def test_a_port_in_use_stops_start_up_with_one_line(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", "0", "--smtp-port", str(port), "--log-file", str(tmp_path / "x.log")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"make local: port {port} on 127.0.0.1 is in use") and "--smtp-port" in err
    assert "\n" not in err and not (tmp_path / "x.log").exists()


@pytest.mark.parametrize("expression, after, expected", [
    ("rate(1 minute)", datetime(2026, 12, 5, 7, 13, 20), datetime(2026, 12, 5, 7, 14, 20)),
    ("rate(2 hours)", datetime(2026, 12, 5, 7, 13), datetime(2026, 12, 5, 9, 13)),
    ("cron(0 8 ? * MON-FRI *)", datetime(2026, 12, 5, 7, 13), datetime(2026, 12, 7, 8, 0)),  # Saturday → Monday
    ("cron(*/15 * * * ? *)", datetime(2026, 12, 5, 7, 15), datetime(2026, 12, 5, 7, 30)),
    ("cron(30 9 ? * 1 *)", datetime(2026, 12, 5, 7, 13), datetime(2026, 12, 6, 9, 30)),  # 1 = Sunday
    ("cron(0 0 1 JAN ? *)", datetime(2026, 12, 5), datetime(2027, 1, 1)),
])
def test_schedule_expressions_run_when_eventbridge_would(expression, after, expected):
    after, expected = after.replace(tzinfo=timezone.utc), expected.replace(tzinfo=timezone.utc)
    assert cadence(expression).next_after(after) == expected


@pytest.mark.parametrize("expression", ["cron(0 8 L * ? *)", "cron(0 8 * * * *)", "rate(0 minutes)",
                                        "every minute", "cron(0 8 31 2 ? *)", "cron(61 * * * ? *)"])
def test_a_schedule_expression_it_cannot_run_is_refused(expression):
    with pytest.raises(ValueError):
        cadence(expression)
