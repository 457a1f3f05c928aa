"""Admin command line: ``python -m chalicelib.admin create-agent --name Ann --email ann@example.com``.

``python -m chalicelib.admin import-customers customers.json`` (or ``.csv``) creates or
updates customers from the shop's records; it exits 1 when a record was not imported.

Runs against the AWS account and region of your environment (or
``AWS_ENDPOINT_URL``); table names come from the same variables as the
functions use (see .chalice/config.json).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_CSV_COLUMNS = ("email", "phone", "name", "tier")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-agent", help="create an agent and print its API token once")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("agent", "admin"), default="agent")
    customers = commands.add_parser(
        "import-customers", help="create or update customers from a JSON file (a list of records or "
                                 "{customers: [...]}) or a CSV file with columns email, phone, name, tier")
    customers.add_argument("file")
    args = parser.parse_args(argv)

    if args.command == "create-agent":
        from chalicelib.api.auth import issue_token

        agent_id, token = issue_token(args.name, args.email, args.role)
        print(f"agent_id: {agent_id}")
        print(f"token:    {token}")
        print("Store the token now: only its hash is kept.", file=sys.stderr)
    elif args.command == "import-customers":
        return _import_customers(Path(args.file))
    return 0


def _import_customers(path: Path) -> int:
    """0 when every record was imported, 1 when one conflicted or was invalid, 2 when the file is unreadable."""
    from chalicelib.service.customers import import_customers

    try:
        records = _read_records(path)
    except (OSError, ValueError) as err:
        print(f"cannot import {path}: {err}", file=sys.stderr)
        return 2
    result = import_customers(records)
    for name in ("created", "updated", "unchanged", "conflicts", "invalid"):
        print(f"{name}: {getattr(result, name)}")
    for outcome in result.records:
        if outcome.status in ("conflict", "invalid"):
            print(f"record {outcome.index + 1}: {outcome.status}: {outcome.reason}", file=sys.stderr)
    return 0 if result.ok else 1


def _read_records(path: Path) -> list[Any]:
    """JSON by its first character (``[`` or ``{``), else CSV; ValueError says what is wrong."""
    text = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark before CSV headers
    if text.lstrip()[:1] in ("[", "{"):
        import json

        document = json.loads(text)
        if isinstance(document, dict) and set(document) == {"customers"}:
            document = document["customers"]
        if not isinstance(document, list):
            raise ValueError("JSON must be a list of customer records or {\"customers\": [...]}")
        return document
    return _csv_records(text)


def _csv_records(text: str) -> list[dict[str, Any]]:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    columns = [(name or "").strip().lower() for name in reader.fieldnames or []]
    unknown = sorted(set(columns) - set(_CSV_COLUMNS))
    if unknown or not {"email", "phone"} & set(columns):
        raise ValueError(f"CSV columns must be among {', '.join(_CSV_COLUMNS)} with email or phone; "
                         f"got {', '.join(columns) or 'none'}")
    records = []
    for row in reader:
        cells = {column: (value or "").strip() for column, value in zip(columns, row.values())
                 if isinstance(value, str)}
        record: dict[str, Any] = {
            "identities": [f"{kind}:{cells[kind]}" for kind in ("email", "phone") if cells.get(kind)]}
        for column in ("name", "tier"):
            if cells.get(column):
                record[column] = cells[column]
        records.append(record)
    return records


if __name__ == "__main__":
    sys.exit(main())
