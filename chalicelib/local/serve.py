"""``make local``: the whole desk on this machine — webhooks over HTTP, queues pumped, AWS in moto.

Starts a moto server in this process, provisions the deployment's resources,
serves the Chalice app on http://127.0.0.1:8000 (as ``chalice local`` does)
and runs LocalDesk's event pump continuously, so a curl to a webhook becomes a
ticket and an acknowledgement within a second. Platforms' send APIs are
stubbed; what they would have received is printed.
"""
from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from typing import Any

from chalicelib.local.desk import LocalDesk

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local.serve")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's request log drowns the output
    environment = {name: os.environ.get(name) or value for name, value in LOCAL_SECRETS.items()}
    environment["PUBLIC_BASE_URL"] = os.environ.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{args.port}"
    with LocalDesk(server=True, environment=environment) as desk:
        server = start_http(desk, args.port)
        _, token = desk.add_agent("Local Admin", "admin@example.com", role="admin")
        print(f"console:       http://127.0.0.1:{args.port}/console (sign in as admin@example.com)")
        print(f"moto server:   {os.environ['AWS_ENDPOINT_URL']}")
        print(f"agent API:     curl -s http://127.0.0.1:{args.port}/tickets -H 'Authorization: Bearer {token}'")
        print("secrets:       " + ", ".join(f"{k}={v}" for k, v in environment.items() if k.endswith(("SECRET", "TOKEN"))))
        _pump_forever(desk, args.seconds)
        server.shutdown()


def start_http(desk: LocalDesk, port: int, host: str = "127.0.0.1", *, quiet: bool = False) -> Any:
    """Serve the app LocalDesk loaded over HTTP (as ``chalice local`` does, one thread per request), in the
    background; routes and the event pump then share one process. Returns the server (``.shutdown()``).

    ``quiet`` drops the per-request log lines (the browser tests make hundreds)."""
    from chalice.cli.factory import CLIFactory
    from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

    class QuietHandler(ChaliceRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    factory = CLIFactory(str(desk.project_dir))
    config = factory.create_config_obj(chalice_stage_name=desk.stage)
    app = desk.client._app
    # What chalice.local.create_local_server does to the app, once per process (the app module is
    # loaded once; a second desk gets a server for the app as it already is).
    if not isinstance(app, CustomLocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    server = LocalDevServer(app, config, host, port, handler_cls=QuietHandler if quiet else ChaliceRequestHandler)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    return server


def _pump_forever(desk: LocalDesk, seconds: float) -> None:
    deadline = time.monotonic() + seconds if seconds else None
    shown_tickets, shown_chat, shown_links = 0, 0, 0
    try:
        while deadline is None or time.monotonic() < deadline:
            if desk.pump():
                tickets = desk.tickets()
                for ticket in tickets[shown_tickets:]:
                    print(f"ticket #{ticket['number']} [{ticket['channel']}] {ticket['subject']!r} "
                          f"from {ticket['requester']}")
                shown_tickets = len(tickets)
                chat = desk.sent_chat_messages()
                for sent in chat[shown_chat:]:
                    print(f"  → {sent['platform']} to {sent['recipient']}: {sent['text']}")
                shown_chat = len(chat)
                links = desk.signin_links()  # console sign-in: the mail is in moto's SES; click here instead
                for to, link in links[shown_links:]:
                    print(f"sign-in link for {to}: {link}")
                shown_links = len(links)
            time.sleep(0.3)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
