"""Admin command line: ``python -m chalicelib.admin create-agent --name Ann --email ann@example.com``.

Agents: ``create-agent`` (``--skills billing,logistics --languages da,en --capacity 8
--status offline``), ``list-agents``, ``set-agent --agent a-... --status online`` (or
``--capacity``, ``--skills``, ``--languages``), ``remove-agent --agent a-...``. Coming
online picks up waiting tickets; going offline or removal hands tickets over.

``python -m chalicelib.admin import-customers customers.json`` (or ``.csv``) creates or
updates customers from the shop's records; it exits 1 when a record was not imported.

``python -m chalicelib.admin index-customers`` once after upgrading to search (``GET /search``):
customers stored before it get their name keys and their purchases' order lookups.

``python -m chalicelib.admin recount-inbox`` once after upgrading to the console's counts
(``GET /tickets/counts``: counters the ticket stream keeps), or if they ever drift; run it
while the desk is quiet.

``python -m chalicelib.admin recompute-sla`` after deploying new SLA policies or business hours:
every active ticket's due times follow the new rules (tickets otherwise pick them up at
their next change).

``python -m chalicelib.admin import-articles [folder]`` creates or updates knowledge base
articles from Markdown files with a small front matter (default: the demo articles in
``chalicelib/kb/articles``) and rebuilds the search index; ``rebuild-kb-index`` rebuilds it alone.

``python -m chalicelib.admin kpi-report --from 2025-01-01 --to 2025-03-31 --group-by queue``
prints the KPI report as a table (the same numbers as ``GET /reports/kpis``);
``--chart fr.png`` also draws the daily first-response p50/p90 against the SLA target
(needs matplotlib from requirements-dev.txt: the CLI runs on an admin's machine).

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
DEMO_ARTICLES = Path(__file__).resolve().parent / "kb" / "articles"


def main(argv: list[str] | None = None) -> int:
    from chalicelib.domain.kpis import GROUP_BY

    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-agent", help="create an agent and print its API token once")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("agent", "admin"), default="agent")
    _routing_options(create)
    commands.add_parser("list-agents", help="the agent directory with status and load")
    change = commands.add_parser("set-agent", help="change an agent's status or routing profile")
    change.add_argument("--agent", required=True)
    _routing_options(change)
    remove = commands.add_parser("remove-agent", help="deactivate an agent, revoke the token, hand over tickets")
    remove.add_argument("--agent", required=True)
    customers = commands.add_parser(
        "import-customers", help="create or update customers from a JSON file (a list of records or "
                                 "{customers: [...]}) or a CSV file with columns email, phone, name, tier")
    customers.add_argument("file")
    report = commands.add_parser("kpi-report", help="KPIs from the daily aggregates, as a table (and a chart)")
    report.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first UTC day (default: 30 days back)")
    report.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last UTC day, inclusive (default: today)")
    report.add_argument("--group-by", choices=GROUP_BY, default="channel")
    report.add_argument("--chart", metavar="OUT.png", help="also write a PNG of daily first-response p50/p90")
    commands.add_parser("recompute-sla", help="recompute every active ticket's SLA due times after a change "
                                              "of SLA policies or business hours")
    commands.add_parser("rekey-tickets", help="rewrite every ticket's derived index keys (after an upgrade that "
                                              "changes them; reads the whole table once)")
    commands.add_parser("index-customers", help="give customers stored before search their name keys and "
                                                "order lookups (GET /search; reads the customers table once)")
    commands.add_parser("recount-inbox", help="set the console's inbox counters from the tickets (after an "
                                              "upgrade, or drift; reads the whole tickets table once)")
    articles = commands.add_parser(
        "import-articles", help="create or update knowledge base articles from a folder of Markdown files with "
                                "front matter (title, language, tags, status, related), then rebuild the search "
                                "index; unchanged files are left alone")
    articles.add_argument("folder", nargs="?", default=str(DEMO_ARTICLES),
                          help="default: the demo articles shipped in chalicelib/kb/articles")
    commands.add_parser("rebuild-kb-index", help="rebuild the knowledge base's search index from the stored "
                                                 "published articles")
    args = parser.parse_args(argv)

    if args.command == "recount-inbox":
        from chalicelib.storage import ticket_counts

        print(f"recount-inbox: {ticket_counts.recount()} active tickets counted")
        return 0

    if args.command == "index-customers":
        from chalicelib import clock
        from chalicelib.storage import customers as stored_customers

        rekeyed, orders = stored_customers.index_all(at=clock.iso(clock.now()))
        print(f"index-customers: {rekeyed} customers' name keys and {orders} order lookups written")
        return 0

    if args.command == "rekey-tickets":
        from chalicelib.storage import tickets

        print(f"rekey-tickets: {tickets.rekey_all()} tickets' index keys rewritten")
        return 0

    if args.command == "recompute-sla":
        from chalicelib.service import escalation

        print(f"recompute-sla: {escalation.recompute_all()} active tickets' clocks recomputed")
        return 0
    if args.command in ("create-agent", "list-agents", "set-agent", "remove-agent"):
        return _agents(args)
    if args.command == "import-customers":
        return _import_customers(Path(args.file))
    if args.command == "import-articles":
        return _import_articles(Path(args.folder))
    if args.command == "rebuild-kb-index":
        from chalicelib.service import kb

        built = kb.rebuild()
        print(f"rebuild-kb-index: {built.articles} published articles, {built.bytes} bytes, revision {built.revision}")
        return 0
    if args.command == "kpi-report":
        return _kpi_report(args)
    return 0


def _routing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skills", help="queues served, comma-separated (default: every queue)")
    parser.add_argument("--languages", help="ISO 639-1 codes, comma-separated")
    parser.add_argument("--capacity", type=int, help="most open tickets at once")
    parser.add_argument("--status", choices=("online", "away", "offline"))


def _agents(args: argparse.Namespace) -> int:
    from chalicelib.api.agents_api import view
    from chalicelib.service import agents
    from chalicelib.storage import agents as directory

    if args.command == "list-agents":
        for agent in directory.directory(fresh=True):
            shown = view(agent)
            print(f"{shown['id']}  {shown['status']:<7}  {shown['open_count']}/{shown['capacity']}  "
                  f"{','.join(shown['skills'])}  {shown['name']} <{shown['email']}>{'' if shown['active'] else '  (removed)'}")
        return 0
    split = (lambda text: frozenset(part.strip() for part in text.split(",") if part.strip()) if text else None)
    if args.command == "create-agent":
        agent, token = agents.create(agents.Profile(
            name=args.name, email=args.email, role=args.role, skills=split(args.skills),
            languages=split(args.languages), capacity=args.capacity, status=args.status))
        print(f"agent_id: {agent.agent_id}")
        print(f"token:    {token}")
        print("Store the token now: only its hash is kept.", file=sys.stderr)
        return 0
    agent = directory.get(args.agent)
    if agent is None or not agent.active:
        print(f"no agent {args.agent!r}", file=sys.stderr)
        return 1
    if args.command == "remove-agent":
        agents.remove(agent)
    else:
        agents.update(agent, agents.Profile(skills=split(args.skills), languages=split(args.languages),
                                            capacity=args.capacity, status=args.status))
    print(f"{args.command}: {args.agent} done")
    return 0


def _import_articles(folder: Path) -> int:
    """Exit 1 when a file was refused (the others are imported and indexed all the same)."""
    from chalicelib.service import kb

    try:
        report = kb.import_folder(folder)
    except FileNotFoundError as err:
        print(f"import-articles: {err}", file=sys.stderr)
        return 1
    print(f"import-articles: {len(report.created)} created, {len(report.updated)} updated, "
          f"{len(report.unchanged)} unchanged, {len(report.refused)} refused")
    for reason in report.refused:
        print(f"  refused {reason}", file=sys.stderr)
    if report.index is not None:
        print(f"  search index: {report.index.articles} published articles, {report.index.bytes} bytes")
    return 1 if report.refused else 0


def _import_customers(path: Path) -> int:
    """0 when every record was imported, 1 when one conflicted or was invalid, 2 when the file is unreadable."""
    from chalicelib.service.customer_import import import_customers

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


def _kpi_report(args: argparse.Namespace) -> int:
    """0 with the table printed (and the chart written); 2 for a range or date the report refuses."""
    from chalicelib import clock
    from chalicelib.api import reports_api

    now = clock.now()
    try:
        start = reports_api.parse_day(args.start, "--from") if args.start else None
        end = reports_api.parse_day(args.end, "--to") if args.end else None
        start, end, group_by = reports_api.resolve(start, end, args.group_by, now=now)
    except ValueError as err:
        print(f"kpi-report: {err}", file=sys.stderr)
        return 2
    report = reports_api.kpi_report(start, end, group_by, now=now)
    print(report.as_table(), end="")
    if args.chart:
        _first_response_chart(start, end, Path(args.chart))
        print(f"chart: {args.chart}")
    return 0


def _first_response_chart(start: Any, end: Any, out: Path) -> None:
    """Daily first-response p50/p90 of the whole desk (calendar minutes) against the normal-priority target.

    The days come from the ``all#all`` series, so every ticket counts once whatever the
    report is grouped by. The target is the first-response minutes of the policy a
    normal-priority email to the general queue gets; when that policy runs on business
    hours the line is labelled so, since calendar p90s include nights and weekends.
    """
    import math
    from datetime import timedelta

    import matplotlib

    matplotlib.use("Agg")  # no display on a server or in CI
    import matplotlib.pyplot as plt

    from chalicelib import configuration
    from chalicelib.domain import histogram, sla
    from chalicelib.storage import aggregates

    by_day = {a.day: a.histograms.get("first_response_minutes", {}) for a in aggregates.read(start, end, "all")}
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]

    def series(q: float) -> list[float]:
        values = [histogram.percentile(by_day.get(day, {}), q) for day in days]
        return [math.nan if value is None else value for value in values]  # NaN: a gap, not a zero

    policy = sla.policy_for("normal", "email", None, "general", configuration.sla_policies())
    figure, axes = plt.subplots(figsize=(10, 4.5))
    axes.plot(days, series(0.5), marker=".", label="first response p50")
    axes.plot(days, series(0.9), marker=".", label="first response p90")
    if policy.first_response is not None:
        clock_name = "business hours" if policy.business_hours else "calendar"
        axes.axhline(policy.first_response, color="tab:red", linestyle="--",
                     label=f"SLA target, normal priority ({policy.name}): {policy.first_response} min, {clock_name}")
    axes.set_title(f"Daily first response (calendar minutes), {start.isoformat()} to {end.isoformat()}")
    axes.set_ylabel("minutes")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=100)
    plt.close(figure)


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
