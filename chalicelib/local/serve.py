"""``make local``: the whole desk on this machine — HTTP, mail over SMTP, schedules, queues, AWS in moto.

Starts a moto server in this process and provisions the deployment's resources, then:

* serves the Chalice app over HTTP as the deployed HTTP API does (``chalicelib/local/gateway.py``): console,
  portal, widget, webhooks, API;
* listens for mail over SMTP (``chalicelib/local/smtp.py``): a message to any address at the support
  domain is stored in the mail bucket and handed to ``ses_inbound``, as SES's receipt rule does;
* runs every ``@app.schedule`` function on its cadence (``chalicelib/local/schedules.py``);
* pumps the queues and table streams into their functions continuously (``LocalDesk.pump``).

The terminal gets one short line per event; the functions' JSON logs, EMF metrics and warnings go
to a log file (``chalicelib/local/console.py``). Platforms' send APIs and SES are stubbed: what
they would have sent is shown. Everything lives in memory and is gone when the process stops.
``python -m chalicelib.local.serve --help`` lists the options.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TextIO

from chalicelib.local.console import Console, DeskEvents, LogFile
from chalicelib.local.desk import PROJECT_DIR, LocalDesk
from chalicelib.local.gateway import HttpApiGateway
from chalicelib.local.schedules import Scheduler
from chalicelib.local.smtp import MAX_MESSAGE_BYTES, Received, start_smtp

__all__ = ["LOCAL_SECRETS", "LocalServer", "ServeOptions", "build_parser", "main", "start_http"]

# Development secrets, used only when the variables are not already set; the README's curl signs with them.
LOCAL_SECRETS = {
    "SLACK_SIGNING_SECRET": "local-slack-signing-secret",
    "SLACK_BOT_TOKEN": "xoxb-local",
    "TWILIO_AUTH_TOKEN": "local-twilio-auth-token",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "META_VERIFY_TOKEN": "local-meta-verify-token",
    "WHATSAPP_APP_SECRET": "local-whatsapp-app-secret",
    "WHATSAPP_ACCESS_TOKEN": "local-whatsapp-token",
    "MESSENGER_APP_SECRET": "local-messenger-app-secret",
    "MESSENGER_PAGE_ACCESS_TOKEN": "local-messenger-token",
    "TELEGRAM_BOT_TOKEN": "123456:local-telegram-token",
    "TELEGRAM_SECRET_TOKEN": "local-telegram-secret",
    "WEBCHAT_SECRET": "local-webchat-secret",
}
ADMIN_EMAIL = "admin@example.com"
#: Settings the local desk gets when they are not set: SLA escalations go to the local admin's mailbox.
LOCAL_SETTINGS = {"TEAM_LEAD": f"email:{ADMIN_EMAIL}"}
DEMO_ARTICLES = PROJECT_DIR / "chalicelib" / "kb" / "articles"  # the admin CLI's import-articles default
DEMO_AGENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Mette Holm", "mette@example.com", {"skills": ("logistics", "account", "general"), "languages": ("da", "en")}),
    ("Ola Nordmann", "ola@example.com", {"skills": ("billing", "general"), "languages": ("no", "en"), "capacity": 2}),
)
#: Where the admin CLI finds the desk's resources besides the endpoint and region (chalicelib/config.py names).
CLI_SETTINGS = ("TICKETS_TABLE", "MESSAGES_TABLE", "CUSTOMERS_TABLE", "LOOKUPS_TABLE", "AGENTS_TABLE", "AUDIT_TABLE",
                "MACROS_TABLE", "AGGREGATES_TABLE", "KB_TABLE", "MAIL_BUCKET", "INBOUND_QUEUE", "OUTBOUND_QUEUE")
_WEBHOOKS = ("slack", "whatsapp", "messenger", "telegram", "twilio", "webchat")
_SIGNIN_LINK = re.compile(r"\S+/(?:console|portal)/?#signin=r[a-z]l_[0-9A-Za-z_-]+")


class PortTaken(OSError):
    """A port ``make local`` needs is in use."""


@dataclass(frozen=True)
class ServeOptions:
    """What ``--help`` lists; the defaults are ``make local``'s."""

    host: str = "127.0.0.1"
    port: int = 8000
    smtp_port: int = 2525
    log_file: Path = Path(".local/relay-desk.log")
    seed: bool = True
    seconds: float = 0
    smtp_max_bytes: int = MAX_MESSAGE_BYTES


def build_parser() -> argparse.ArgumentParser:
    defaults = ServeOptions()
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.local.serve",
        description="The whole desk on this machine (make local): the HTTP API, console and webhooks; mail over "
                    "SMTP through the same S3 + ses_inbound path as SES; the schedules every minute; the queues "
                    "pumped; AWS in an in-process moto server. Everything lives in memory: stop it (Ctrl-C) and "
                    "the data is gone.")
    parser.add_argument("--host", default=defaults.host, metavar="ADDRESS",
                        help="address HTTP and SMTP listen on; 0.0.0.0 lets other machines in, with no TLS and "
                             f"no SMTP authentication (default: {defaults.host})")
    parser.add_argument("--port", type=_port, default=defaults.port, metavar="N",
                        help=f"HTTP port: API, console, portal, widget, webhooks; 0 = any free port "
                             f"(default: {defaults.port})")
    parser.add_argument("--smtp-port", type=_port, default=defaults.smtp_port, metavar="N",
                        help="SMTP port: mail to any address at the support domain becomes tickets; 0 = any free "
                             f"port (default: {defaults.smtp_port})")
    parser.add_argument("--smtp-max-bytes", type=_positive, default=defaults.smtp_max_bytes, metavar="N",
                        help=f"largest message SMTP accepts, as SES (default: {defaults.smtp_max_bytes:,} = 40 MB)")
    parser.add_argument("--log-file", type=Path, default=defaults.log_file, metavar="PATH",
                        help="where the functions' JSON logs, EMF metrics and warnings go, written anew each run "
                             f"(default: {defaults.log_file})")
    parser.add_argument("--seed", action=argparse.BooleanOptionalAction, default=defaults.seed,
                        help="create two demo agents (Mette, Ola) and import the demo help articles from "
                             "chalicelib/kb/articles; --no-seed starts with only the admin (default: --seed)")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, metavar="S",
                        help="stop after this long; 0 = until Ctrl-C (default: 0)")
    return parser


def parse_options(argv: list[str] | None = None) -> ServeOptions:
    args = build_parser().parse_args(argv)
    return ServeOptions(host=args.host, port=args.port, smtp_port=args.smtp_port, log_file=args.log_file,
                        seed=args.seed, seconds=args.seconds, smtp_max_bytes=args.smtp_max_bytes)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0-65535): {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


class LocalServer:
    """The running desk: ``with LocalServer(options) as server: server.run()`` (``run`` pumps until stopped).

    ``console`` is where the readable lines go (default: the terminal this started on). Attributes
    once entered: ``desk``, ``base_url``, ``smtp_address``, ``admin_token``, ``log_path``.
    """

    def __init__(self, options: ServeOptions = ServeOptions(), *, console: TextIO | None = None) -> None:
        self.options = options
        self.console = Console(console if console is not None else sys.stdout)
        self.log = LogFile(options.log_file)
        self.log_path = self.log.path
        self.desk: LocalDesk
        self.base_url = ""
        self.smtp_address: tuple[str, int] = ("", 0)
        self.admin_token = ""
        self._stack = contextlib.ExitStack()
        self._mails_seen = 0
        self._chat_seen = 0

    # --- start and stop ---------------------------------------------------
    def __enter__(self) -> "LocalServer":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop taking input, finish the run in progress, stop moto; the data goes with it."""
        self._stack.close()

    def _start(self) -> None:
        options = self.options
        _refuse_taken_port(options.host, options.port, "--port")
        _refuse_taken_port(options.host, options.smtp_port, "--smtp-port")
        port = options.port or _free_port(options.host)
        shown_host = "127.0.0.1" if options.host in ("", "0.0.0.0", "::") else options.host
        self.base_url = f"http://{shown_host}:{port}"

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's access log: every AWS call
        self.log.open()
        self._stack.callback(self._closed)
        self._stack.callback(self.log.close)
        environment = {name: os.environ.get(name) or value
                       for name, value in {**LOCAL_SECRETS, **LOCAL_SETTINGS}.items()}
        environment["PUBLIC_BASE_URL"] = os.environ.get("PUBLIC_BASE_URL") or self.base_url
        self.desk = self._stack.enter_context(LocalDesk(server=True, environment=environment))

        from chalicelib.observability import logger  # after the desk set the stage's environment

        events = DeskEvents(self.console)
        logger.addHandler(events)
        self._stack.callback(logger.removeHandler, events)

        http = start_http(self.desk, port, options.host, on_request=self._http_request)
        self._stack.callback(_stop_http, http)
        _, self.admin_token = self.desk.add_agent("Local Admin", ADMIN_EMAIL, role="admin")
        seeded = _seed(self.desk) if options.seed else None

        from chalicelib import config

        smtp = start_smtp(self._receive_email, domain=config.support_domain(), host=options.host,
                          port=options.smtp_port, max_message_bytes=options.smtp_max_bytes,
                          on_received=self._email_received)
        self._stack.callback(smtp.stop)
        self.smtp_address = (shown_host, smtp.port)

        from chalicelib import clock

        schedules = self.desk.schedules()
        self.scheduler = Scheduler(schedules, self.desk.run_schedule, now=clock.now,
                                   on_ran=self._schedule_ran, on_failed=self._schedule_failed)
        self.scheduler.start()
        self._stack.callback(self.scheduler.stop)
        self._banner(schedules, seeded, quiet_logs=logger.log_level > logging.INFO)

    def _closed(self) -> None:
        self.console.say("stopped: the desk's data lived in memory (moto) and is gone")

    # --- the event pump ---------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, seconds: float = 0) -> None:
        """Pump queues and streams into their functions and report what went out, until ``stop`` is set,
        ``seconds`` have passed (0: no limit) or Ctrl-C. Call it from the main thread where possible:
        only there does a message's parsing-time budget (SIGALRM, ``chalicelib/invocation.py``) apply."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + seconds if seconds else None
        try:  # "ready" inside: a Ctrl-C right after it is a clean stop, not an interrupted start-up
            self.console.say("ready: Ctrl-C stops the desk")
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                try:
                    delivered = self.desk.pump()
                    self.report_outbound()
                except Exception as err:
                    traceback.print_exc()
                    self.console.say(f"event pump failed: {err!r} (traceback in the log file); retrying")
                    delivered = 0
                    stop.wait(1)
                if not delivered:
                    stop.wait(0.3)
        except KeyboardInterrupt:
            pass
        self.console.say("stopping")

    def report_outbound(self) -> None:
        """Console lines for mail and chat messages sent since the last call; EMF documents into the log file."""
        mails = self.desk.sent_emails(since=self._mails_seen)
        self._mails_seen += len(mails)
        for mail in mails:
            kind = "reply sent" if mail["In-Reply-To"] else "mail sent"
            self.console.say(f"{kind} [email] to {mail['To']}: {mail['Subject']}")
            body = mail.get_body(preferencelist=("plain",))
            for link in _SIGNIN_LINK.findall(body.get_content() if body is not None else ""):
                self.console.write(f"          sign-in link: {link}")
        chat = self.desk.sent_chat_messages()
        for sent in chat[self._chat_seen:]:
            self.console.say(f"reply sent [{sent['platform']}] to {sent['recipient']}: {sent['text']}")
        self._chat_seen = len(chat)
        for document in self.desk.take_metrics():
            self.log.write(json.dumps(document, separators=(",", ":")))

    # --- what the inputs report ------------------------------------------
    def _http_request(self, method: str, path: str, status: int) -> None:
        self.console.say(f"{method} {path} {status}")

    def _receive_email(self, raw: bytes, recipients: list[str]) -> str:
        return self.desk.receive_email(raw, recipients=recipients)

    def _email_received(self, received: Received) -> None:
        self.console.say(f"mail from <{received.mail_from}> to {', '.join(received.recipients)} "
                         f"({_size(received.size)}) stored, handed to ses_inbound")

    def _schedule_ran(self, name: str, result: Any) -> None:
        if isinstance(result, dict) and all(isinstance(v, (int, float)) for v in result.values()):
            done = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in result.items() if value)
            self.console.say(f"schedule {name} ran: {done or 'nothing due'}")
        else:
            self.console.say(f"schedule {name} ran")

    def _schedule_failed(self, name: str, error: BaseException) -> None:
        self.console.say(f"schedule {name} failed: {error!r} (traceback in the log file); it runs again when due")

    # --- the banner ------------------------------------------------------
    def admin_exports(self) -> list[str]:
        """``export`` lines that point the admin CLI (``python -m chalicelib.admin``) at this desk."""
        from chalicelib import config

        region = config.region()
        where = {"AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"], "AWS_REGION": region,
                 "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        names = {name: config.setting(name) for name in CLI_SETTINGS}
        return ["export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in group.items()) for group in (where, names)]

    def _banner(self, schedules: dict[str, str], seeded: str | None, *, quiet_logs: bool) -> None:
        url, (smtp_host, smtp_port) = self.base_url, self.smtp_address
        from chalicelib import config

        domain = config.support_domain()
        secrets = [f"{k}={os.environ.get(k)}" for k in LOCAL_SECRETS if k.endswith(("SECRET", "TOKEN"))]
        say = self.console.write
        say("Relay Desk on this machine. Everything lives in memory: when it stops, the data is gone.")
        say()
        say(f"  console      {url}/console   (sign in as {ADMIN_EMAIL}: the link is printed here)")
        say(f"  portal       {url}/portal")
        say(f"  widget       <script src=\"{url}/widget.js\" data-desk=\"{url}\" async></script>")
        say(f"  webhooks     {url}/webhooks/{{{','.join(_WEBHOOKS)}}}")
        say(f"  agent API    curl -s {url}/tickets -H 'Authorization: Bearer {self.admin_token}'")
        say(f"  mail (SMTP)  {smtp_host}:{smtp_port}, to any address @{domain}; e.g.")
        say(f"               swaks --server {smtp_host}:{smtp_port} --to {config.support_address()} "
            "--from ann@customer.example --header 'Subject: Order 1234 never arrived'")
        say("  schedules    " + ", ".join(f"{name} {expression}" for name, expression in schedules.items()))
        say(f"  agents       {ADMIN_EMAIL} (admin)" + (f"; {seeded}" if seeded else "; --no-seed: nothing else"))
        say(f"  AWS (moto)   {os.environ['AWS_ENDPOINT_URL']}")
        say(f"  log file     {self.log_path}   (JSON logs, EMF metrics, warnings)")
        for index in range(0, len(secrets), 2):  # two a line: the webhooks' curl signs with these
            say(("  secrets      " if index == 0 else "               ") + "  ".join(secrets[index:index + 2]))
        if quiet_logs:
            say(f"  note         POWERTOOLS_LOG_LEVEL={os.environ.get('POWERTOOLS_LOG_LEVEL')}: the "
                "'message received' lines come from INFO logs and are not shown")
        say()
        say("The admin CLI against this desk, from another terminal in this folder:")
        for line in self.admin_exports():
            say(f"  {line}")
        say("  .venv/bin/python -m chalicelib.admin list-agents")
        say()


def start_http(desk: LocalDesk, port: int, host: str = "127.0.0.1", *, quiet: bool = False,
               on_request: Callable[[str, str, int], None] | None = None) -> Any:
    """Serve the app LocalDesk loaded over HTTP (as ``chalice local`` does, one thread per request), in the
    background; routes and the event pump then share one process. Returns the server (``.shutdown()``).

    ``quiet`` drops the per-request log lines (the browser tests make hundreds); ``on_request(method, path,
    status)`` replaces them (the path without its query, which may carry tokens)."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

    class HttpApiHandler(ChaliceRequestHandler):
        """Each request as the deployed HTTP API hands it to api_handler (``chalicelib/local/gateway.py``),
        unless the desk was made with ``api_gateway="rest"``: then as ``chalice local`` does."""

        def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
            if desk.api_gateway == "rest":
                super().__init__(request, client_address, server, app_object, config)
                return
            self.local_gateway = HttpApiGateway(config)  # Chalice's __init__ handles the request at once: not it
            BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    class QuietHandler(HttpApiHandler):
        def log_message(self, *args: Any) -> None:
            pass

    class ReportingHandler(HttpApiHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:  # errors still go to log_message
            on_request(self.command, self.path.split("?", 1)[0], int(code) if str(code).isdigit() else code)

    factory = CLIFactory(str(desk.project_dir))
    config = factory.create_config_obj(chalice_stage_name=desk.stage)
    app = desk.client._app
    # What chalice.local.create_local_server does to the app, once per process (the app module is
    # loaded once; a second desk gets a server for the app as it already is).
    if not isinstance(app, CustomLocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    handler = QuietHandler if quiet else ReportingHandler if on_request else HttpApiHandler
    server = LocalDevServer(app, config, host, port, handler_cls=handler)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    return server


def _stop_http(server: Any) -> None:
    server.shutdown()
    server.server.server_close()  # the port is free again at once


def _seed(desk: LocalDesk) -> str:
    """Demo agents and the demo help articles; returns what was added, for the banner."""
    from chalicelib.service import kb

    for name, email, profile in DEMO_AGENTS:
        desk.add_agent(name, email, **profile)
    report = kb.import_folder(DEMO_ARTICLES, by="make local")
    agents = ", ".join(f"{name} ({email})" for name, email, _ in DEMO_AGENTS)
    return f"{agents}; {len(report.created)} help articles"


def _refuse_taken_port(host: str, port: int, option: str) -> None:
    """Fail in one line before the slow start when a port is taken (often an earlier make local)."""
    if not port:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers bind
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortTaken(f"port {port} on {host} is in use (an earlier make local?): stop that process "
                                f"(ss -ltnp 'sport = :{port}') or choose another with {option} N") from None
            raise


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    stop = threading.Event()
    on_main_thread = threading.current_thread() is threading.main_thread()  # where signal handlers may be set
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if on_main_thread else None  # as Ctrl-C
    try:
        with LocalServer(options) as server:
            server.run(stop, seconds=options.seconds)
    except PortTaken as err:
        print(f"make local: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # during start-up
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
