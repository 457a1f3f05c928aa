"""Admin command line: ``python -m chalicelib.admin create-agent --name Ann --email ann@example.com``.

Runs against the AWS account and region of your environment (or
``AWS_ENDPOINT_URL``); table names come from the same variables as the
functions use (see .chalice/config.json).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-agent", help="create an agent and print its API token once")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("agent", "admin"), default="agent")
    args = parser.parse_args(argv)

    if args.command == "create-agent":
        from chalicelib.api.auth import issue_token

        agent_id, token = issue_token(args.name, args.email, args.role)
        print(f"agent_id: {agent_id}")
        print(f"token:    {token}")
        print("Store the token now: only its hash is kept.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
