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

``python -m chalicelib.admin reshard-agents`` right after changing ``DIRECTORY_SHARDS``:
every agent gets the directory key of the new shard count (until then the agents whose
key is the old count's get no new tickets).

``python -m chalicelib.admin recompute-sla`` after deploying new SLA policies or business hours:
every active ticket's due times follow the new rules (tickets otherwise pick them up at
their next change).

``python -m chalicelib.admin import-articles [folder]`` creates or updates knowledge base
articles from Markdown files with a small front matter (default: the demo articles in
``chalicelib/kb/articles``) and rebuilds the search index; ``rebuild-kb-index`` rebuilds it alone.

``python -m chalicelib.admin kpi-report --from 2025-01-01 --to 2025-03-31 --group-by queue``
prints the KPI report as a table (the same numbers as ``GET /reports/kpis``; by agent,
with names, assigned tickets and the solves each agent made);
``--chart fr.png`` also draws the daily first response against the SLA target on the
range asked for: the whole desk's p50 and p90, or with ``--group-by`` each group's p90
(needs matplotlib from requirements-dev.txt: the CLI runs on an admin's machine;
``chalicelib/api/kpi_chart.py``).

``python -m chalicelib.admin redrive`` after fixing what made messages fail: every dead-lettered
message goes back where it came from (``--queue
inbound|outbound|ses-failures|ses-events|ticket-stream|kpi-stream|all``, ``--dry-run``, ``--max N``) and
leaves its dead-letter queue only once the put succeeded; the pipeline stores a message once, so a message
redriven twice, or one that was stored before it was parked, changes nothing.

Runs against the AWS account and region of your environment (or ``AWS_ENDPOINT_URL``,
e.g. ``make local``'s moto server), with the region every other part of the desk uses:
``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else us-east-1 (``--region`` and
``--endpoint-url`` override them for one run). Table names come from the same variables
as the functions use (see .chalice/config.json). A missing credential, an endpoint that
does not answer or a missing table is one line on stderr saying what to set, never a
traceback (``--traceback`` shows it).

Exit codes: 0 done; 1 not all done (no such agent, a record or file refused, a dead-lettered
message kept or not put back, an unexpected error); 2 a usage error (an option missing or invalid, a file unreadable);
3 AWS could not be used (credentials, region, endpoint, a table or bucket missing, access denied).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEMO_ARTICLES", "build_parser", "main"]

_CSV_COLUMNS = ("email", "phone", "name", "tier")
DEMO_ARTICLES = Path(__file__).resolve().parent / "kb" / "articles"
_PROG = "python -m chalicelib.admin"

#: Exit codes (the module docstring says what each means).
_DONE, _NOT_ALL_DONE, _USAGE, _AWS_UNUSABLE = 0, 1, 2, 3

#: Every setting that names a table, to say which variable to set when a table is missing.
_TABLE_SETTINGS = ("TICKETS_TABLE", "MESSAGES_TABLE", "CUSTOMERS_TABLE", "LOOKUPS_TABLE", "AGENTS_TABLE",
                   "AUDIT_TABLE", "MACROS_TABLE", "AGGREGATES_TABLE", "KB_TABLE")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _apply_connection_options(args)
    say = functools.partial(print, file=sys.stdout)  # the command's own output: stdout as it is now
    try:
        with _library_output_to_stderr():
            return _run(args, say)
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's edge: every failure becomes one line and an exit code
        if args.traceback:
            raise
        problem = _aws_problem(err)
        if problem is not None:
            print(f"{args.command}: {problem}", file=sys.stderr)
            return _AWS_UNUSABLE
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        print(f"{args.command}: unexpected error: {type(err).__name__}: {first_line} "
              f"(--traceback shows where)", file=sys.stderr)
        return _NOT_ALL_DONE


@contextlib.contextmanager
def _library_output_to_stderr() -> Iterator[None]:
    """While a command runs, what the desk's code prints goes to stderr and its logs only from WARNING up.

    The Powertools Logger and EMF metrics write JSON to stdout, which in Lambda is the log stream;
    here stdout is the command's result, for a reader or a pipe. EMF documents are dropped: only
    Lambda's log stream turns them into CloudWatch metrics. POWERTOOLS_LOG_LEVEL, when set, wins.
    """
    from chalicelib.observability import logger

    level = logger.log_level
    if not os.environ.get("POWERTOOLS_LOG_LEVEL"):
        logger.setLevel("WARNING")
    diverted = _WithoutMetrics(sys.stderr)
    try:
        with contextlib.redirect_stdout(diverted):
            yield
    finally:
        diverted.write("\n" if diverted.pending else "")
        logger.setLevel(level)


class _WithoutMetrics(io.TextIOBase):
    """A text stream that passes lines on to ``target``, except EMF metric documents."""

    def __init__(self, target: Any) -> None:
        super().__init__()
        self._target = target
        self._line = ""

    @property
    def pending(self) -> bool:
        """Part of a line is waiting for its end."""
        return bool(self._line)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._line += text
        *complete, self._line = self._line.split("\n")
        for line in complete:
            if not line.startswith('{"_aws":'):
                self._target.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


def build_parser() -> argparse.ArgumentParser:
    """The command line: every option has a help text that says its default."""
    from chalicelib import config
    from chalicelib.domain.kpis import GROUP_BY
    from chalicelib.service.agents import ROLES

    parser = argparse.ArgumentParser(
        prog=_PROG, description="Relay Desk's admin commands: agents, customers, the knowledge base, KPI reports "
                                "and upgrade steps. 'COMMAND --help' tells more.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 done, 1 not all done, 2 usage error, 3 AWS could not be used "
               "(the message says what to set)")
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    endpoint_default = f"{endpoint} from AWS_ENDPOINT_URL" if endpoint else "AWS itself; AWS_ENDPOINT_URL when set"
    parser.add_argument("--region", metavar="NAME",
                        help=f"AWS region (default: {config.region()}: AWS_REGION, else AWS_DEFAULT_REGION, "
                             "else us-east-1, as the functions and their tables use)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="AWS endpoint for every call, e.g. make local's moto server "
                             f"(default: {endpoint_default})")
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, show Python's traceback instead of one line (default: off)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, *, help: str) -> argparse.ArgumentParser:  # noqa: A002 - argparse's word
        return subparsers.add_parser(name, help=help, description=help)  # also the command's own --help

    create = command("create-agent", help="create an agent and print its API token once")
    create.add_argument("--name", required=True, help="the name customers and colleagues see (required)")
    create.add_argument("--email", required=True, help="the address sign-in links go to (required)")
    create.add_argument("--role", choices=ROLES, default="agent",
                        help="an admin also manages agents, customers and macros and reads reports (default: agent)")
    _routing_options(create, creating=True)
    command("list-agents", help="the agent directory as a table: status, load, skills, languages, role")
    change = command("set-agent", help="change an agent's status or routing profile (at least one option)")
    change.add_argument("--agent", required=True, metavar="ID", help="the agent's id, a-... (required; see list-agents)")
    _routing_options(change, creating=False)
    remove = command("remove-agent", help="deactivate an agent, revoke the token, hand over tickets")
    remove.add_argument("--agent", required=True, metavar="ID", help="the agent's id, a-... (required; see list-agents)")
    customers = command(
        "import-customers", help="create or update customers from a JSON file (a list of records or "
                                 "{customers: [...]}) or a CSV file with columns email, phone, name, tier")
    customers.add_argument("file", help="the JSON or CSV file (required)")
    report = command("kpi-report", help="KPIs from the daily aggregates, as a table (and a chart)")
    report.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first UTC day (default: 30 days back)")
    report.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last UTC day, inclusive (default: today)")
    report.add_argument("--group-by", choices=GROUP_BY,
                        help="one row per value of this field, and with --chart one line per value "
                             "(default: channel for the table; the chart then shows the whole desk)")
    report.add_argument("--chart", metavar="OUT.png",
                        help="also write a PNG of the daily first response on the range asked for, against the "
                             "SLA target (the whole desk's p50 and p90, or each group's p90 with --group-by); "
                             "needs matplotlib from requirements-dev.txt (default: no chart)")
    command("recompute-sla", help="recompute every active ticket's SLA due times after a change "
                                  "of SLA policies or business hours")
    command("rekey-tickets", help="rewrite every ticket's derived index keys (after an upgrade that "
                                  "changes them; reads the whole table once)")
    command("index-customers", help="give customers stored before search their name keys and "
                                    "order lookups (GET /search; reads the customers table once)")
    command("recount-inbox", help="set the console's inbox counters from the tickets (after an "
                                  "upgrade, or drift; reads the whole tickets table once)")
    command("reshard-agents", help="give every agent the directory key of the current DIRECTORY_SHARDS "
                                   "(right after changing it; reads the agents table once)")
    articles = command(
        "import-articles", help="create or update knowledge base articles from a folder of Markdown files with "
                                "front matter (title, language, tags, status, related), then rebuild the search "
                                "index; unchanged files are left alone")
    articles.add_argument("folder", nargs="?", default=str(DEMO_ARTICLES),
                          help="the folder of *.md files (default: the demo articles shipped in chalicelib/kb/articles)")
    command("rebuild-kb-index", help="rebuild the knowledge base's search index from the stored "
                                     "published articles")
    redrive = command(
        "redrive", help="after a fix, put dead-lettered messages back where they came from: the inbound and "
                        "outbound dead-letter queues onto their FIFO queues (same message group), SES events "
                        "ses_inbound or ses_events failed on through that function again, ticket-stream and "
                        "kpi-stream batches read back from the stream through ticket_stream or kpi_stream; each "
                        "leaves its dead-letter queue only once that succeeded")
    redrive.add_argument("--queue", choices=(*_REDRIVE_NAMES, "all"), default="all",
                         help="which dead-letter queue (default: all: inbound, outbound, ses-failures, ses-events, "
                              "ticket-stream, kpi-stream)")
    redrive.add_argument("--dry-run", action="store_true",
                         help="say what would be redriven; send and delete nothing (default: off; SQS still "
                              "counts the look as a receive)")
    redrive.add_argument("--max", type=_positive, metavar="N",
                         help="redrive at most N messages in all (default: every message)")
    return parser


def _routing_options(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    from chalicelib.service.agents import AGENT_STATUSES

    def default(on_create: str) -> str:
        return f"(default: {on_create})" if creating else "(default: unchanged)"

    parser.add_argument("--skills", metavar="QUEUES",
                        help=f"queues served, comma-separated; * = every queue {default('every queue')}")
    parser.add_argument("--languages", metavar="CODES",
                        help="languages spoken, ISO 639-1 codes, comma-separated, e.g. da,en: skill-based queues "
                             f"prefer a speaker of the customer's language {default('none recorded')}")
    parser.add_argument("--capacity", type=_capacity, metavar="N",
                        help=f"most open tickets at once {default('10')}")
    parser.add_argument("--status", choices=AGENT_STATUSES,
                        help=f"online takes tickets, away and offline do not {default('online')}")


def _capacity(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive(text: str) -> int:
    value = _capacity(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be 1 or more, not 0")
    return value


def _apply_connection_options(args: argparse.Namespace) -> None:
    """--region / --endpoint-url: set where every client of this process reads them, before any exists."""
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    if args.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    if args.region or args.endpoint_url:
        from chalicelib import aws
        from chalicelib.storage import models

        aws.reset_clients()
        models.reset_connections()


def _run(args: argparse.Namespace, say: Callable[..., None]) -> int:
    if args.command == "reshard-agents":
        from chalicelib.storage import agents

        say(f"reshard-agents: {agents.reshard()} agents moved to their shard")
        return _DONE

    if args.command == "recount-inbox":
        from chalicelib.storage import ticket_counts

        say(f"recount-inbox: {ticket_counts.recount()} active tickets counted")
        return _DONE

    if args.command == "index-customers":
        from chalicelib import clock
        from chalicelib.storage import customers as stored_customers

        rekeyed, orders = stored_customers.index_all(at=clock.iso(clock.now()))
        say(f"index-customers: {rekeyed} customers' name keys and {orders} order lookups written")
        return _DONE

    if args.command == "rekey-tickets":
        from chalicelib.storage import tickets

        say(f"rekey-tickets: {tickets.rekey_all()} tickets' index keys rewritten")
        return _DONE

    if args.command == "recompute-sla":
        from chalicelib.service import escalation

        say(f"recompute-sla: {escalation.recompute_all()} active tickets' clocks recomputed")
        return _DONE
    if args.command == "list-agents":
        return _list_agents(say)
    if args.command == "create-agent":
        return _create_agent(args, say)
    if args.command in ("set-agent", "remove-agent"):
        return _change_agent(args, say)
    if args.command == "import-customers":
        return _import_customers(Path(args.file), say)
    if args.command == "import-articles":
        return _import_articles(Path(args.folder), say)
    if args.command == "rebuild-kb-index":
        from chalicelib.service import kb

        built = kb.rebuild()
        say(f"rebuild-kb-index: {built.articles} published articles, {built.bytes} bytes, revision {built.revision}")
        return _DONE
    if args.command == "kpi-report":
        return _kpi_report(args, say)
    if args.command == "redrive":
        return _redrive(args, say)
    raise AssertionError(f"no handler for {args.command}")  # argparse only accepts the commands above


# --- Redrive: dead-lettered messages back where they came from --------------------------------------

_REDRIVE_NAMES = ("inbound", "outbound", "ses-failures", "ses-events", "ticket-stream",
                  "kpi-stream")  # --queue's, in run order
#: A message being redriven is hidden from other readers this long: a run that dies leaves it for the next.
_REDRIVE_HOLD_SECONDS = 300
_STREAM_BATCH_KEYS = ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")
_STREAM_READERS = {"ticket-stream": "ticket_stream", "kpi-stream": "kpi_stream"}  # --queue → the stream's function


def _redrive_queues() -> dict[str, tuple[str, str]]:
    """--queue's names → (the dead-letter queue's name, the queue its messages go back to; none: a function)."""
    from chalicelib import config

    return {"inbound": (config.setting("INBOUND_DLQ"), config.setting("INBOUND_QUEUE")),
            "outbound": (config.setting("OUTBOUND_DLQ"), config.setting("OUTBOUND_QUEUE")),
            "ses-failures": (config.setting("SES_FAILURE_QUEUE"), ""),
            "ses-events": (config.setting("SES_EVENTS_FAILURE_QUEUE"), ""),
            "ticket-stream": (config.setting("TICKET_STREAM_FAILURE_QUEUE"), ""),
            "kpi-stream": (config.setting("KPI_STREAM_FAILURE_QUEUE"), "")}


@dataclass(frozen=True)
class _Redrive:
    """One parked message's way back: ``text`` onto queue ``target``, or ``event`` through the app's
    ``function`` run here (``_through``); ``kept`` says why it stays where it is. ``why``: why it was parked."""

    why: str
    target: str = ""
    text: str = ""
    event: Any = None
    function: str = ""
    kept: str = ""


def _redrive_plan(name: str, body: str, target: str) -> _Redrive:
    """What a message of dead-letter queue ``name`` is and whether it goes onto ``target`` or through a function.

    Bodies are ``storage.queues.park``'s ``{"reason", "source", "parked_at", "receives", "body"}``, a
    message SQS's redrive policy moved as it was, or Lambda's on-failure record: for ses-failures and
    ses-events its ``requestPayload`` is the event, for ticket-stream and kpi-stream its ``DDBStreamBatchInfo``
    names the batch's records. An SES mail event goes through ``ses_inbound`` again: it enqueues what that function
    would have (its deduplication id is the SES message id, as the first time). An SES sending event goes
    through ``ses_events`` again, which records a delivery status idempotently. A stream batch is read
    back from the stream (24 hours) and goes through the function that gave up on it (``ticket_stream`` or
    ``kpi_stream``) again: the transactions of its aggregates write that were applied before left markers
    and are skipped (``aggregates.record_all``), and its reactions act on the tickets as they are now.
    """
    import json

    from chalicelib.invocation import read_on_failure_record

    try:
        document = json.loads(body)
    except ValueError:
        document = None
    parked = isinstance(document, dict) and {"reason", "source", "body"} <= set(document)
    if name in _STREAM_READERS:
        return _stream_batch_plan(document, _STREAM_READERS[name])
    if name == "ses-events":
        failed = read_on_failure_record(body, "ses_events")
        if failed.event is None:
            return _Redrive(why="unknown", kept=failed.why)
        return _Redrive(why=failed.why, event=failed.event, function="ses_events")
    if name == "ses-failures":
        failed = read_on_failure_record(body, "ses_inbound")
        if failed.event is None:
            return _Redrive(why="unknown", kept=failed.why)
        why, event = failed.why, failed.event
    elif parked and document["source"] == "ses_inbound":  # an SES event ses_inbound itself parked
        why, event = str(document["reason"]), document["body"]
    elif parked and document["source"] == "ses_failures":  # a failure-queue record that held no SES event
        return _Redrive(why=str(document["reason"]), kept="a failure-queue record with no SES event in it: nothing "
                                                          "to hand over (read it, then delete it)")
    else:
        inner = document["body"] if parked else body
        return _Redrive(why=str(document["reason"]) if parked else "moved by SQS after its last allowed receive",
                        target=target,
                        text=inner if isinstance(inner, str) else json.dumps(inner, separators=(",", ":")))
    if not _is_ses_event(event):
        return _Redrive(why=why, kept="not an SES event with a messageId in every record")
    return _Redrive(why=why, event=event, function="ses_inbound")


def _stream_batch_plan(document: Any, function: str) -> _Redrive:
    """Lambda's on-failure record of a stream batch → the batch's position (stream, shard, first and last)."""
    info = document.get("DDBStreamBatchInfo") if isinstance(document, dict) else None
    if not isinstance(info, dict) or not all(isinstance(info.get(key), str) and info[key]
                                             for key in _STREAM_BATCH_KEYS):
        return _Redrive(why="unknown", kept="not a Lambda on-failure record of a stream batch (no DDBStreamBatchInfo "
                                           "with streamArn, shardId and its first and last sequence numbers)")
    if not (info["startSequenceNumber"].isdigit() and info["endSequenceNumber"].isdigit()):
        return _Redrive(why="unknown", kept="a stream batch whose sequence numbers are not numbers")
    context = document.get("requestContext")
    condition = context.get("condition") if isinstance(context, dict) else None
    batch = {"stream_arn": info["streamArn"], "shard_id": info["shardId"], "first": info["startSequenceNumber"],
             "last": info["endSequenceNumber"]}
    return _Redrive(why=f"{function} failed: {condition or 'unknown'}", event=batch, function=function)


def _described(plan: _Redrive) -> str:
    """Where a plan's message goes, for the run's lines."""
    if plan.function == "ses_inbound":
        return f"ses_inbound, {len(plan.event['Records'])} mail(s) onto {_redrive_queues()['inbound'][1]}"
    if plan.function == "ses_events":
        return "ses_events (its delivery status recorded)"
    if plan.function in _STREAM_READERS.values():
        return (f"{plan.function} (the records {plan.event['first']}..{plan.event['last']} of "
                f"{plan.event['shard_id']}, read back from the stream)")
    return plan.target


def _through(plan: _Redrive) -> None:
    """Run the plan's event through the app's function, in this process."""
    if plan.function == "ses_inbound":
        from chalicelib.channels.email import ses_inbound

        ses_inbound.handle(plan.event)
    elif plan.function == "ses_events":
        from chalicelib.outbound import delivery_events

        outcomes = delivery_events.handle(plan.event)["outcomes"]
        if not outcomes or all(outcome.startswith("skipped") for outcome in outcomes):
            raise ValueError(f"nothing in it could be recorded: {'; '.join(outcomes) or 'no SES event'}")
    else:
        _replay_stream_batch(plan.event, plan.function)


def _replay_stream_batch(batch: dict[str, str], function: str) -> None:
    """Read a stream batch back and run it through ``function``; only the whole batch, or nothing."""
    from botocore.exceptions import ClientError

    from chalicelib.pipeline import measure_stream, stream
    from chalicelib.storage.stream_replay import recorded_batch

    gone = ""
    try:
        records = recorded_batch(**batch)
    except ClientError as err:
        gone = err.response.get("Error", {}).get("Code", "")
        if gone not in ("TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException"):
            raise
    if gone:  # raised out here, without the ClientError as its context: not read as "deploy the stack"
        raise LookupError(f"the stream no longer holds this batch ({gone}: it keeps records 24 hours); "
                          "its counts cannot be replayed")
    read_to = records[-1]["dynamodb"]["SequenceNumber"] if records else None
    if read_to != batch["last"]:  # a part would count part of the batch, and the record would be gone
        raise LookupError(f"read {len(records)} records of the batch, up to {read_to or 'none'}, not to its last, "
                          f"{batch['last']}: nothing replayed")
    if function == "kpi_stream":
        measure_stream.measure_batch({"Records": records}, None)
    else:
        stream.process_batch({"Records": records}, None)


def _is_ses_event(event: Any) -> bool:
    def message_id(record: Any) -> Any:
        ses = record.get("ses") if isinstance(record, dict) else None
        mail = ses.get("mail") if isinstance(ses, dict) else None
        return mail.get("messageId") if isinstance(mail, dict) else None

    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and bool(records) and all(isinstance(message_id(r), str) for r in records)


def _redrive(args: argparse.Namespace, say: Callable[..., None]) -> int:
    """0 when every message seen was redriven (or none was parked), 1 when one was kept or its put failed."""
    from chalicelib.storage import queues

    left = args.max
    not_done = 0
    for name in (_REDRIVE_NAMES if args.queue == "all" else (args.queue,)):
        queue_name, target = _redrive_queues()[name]
        held: list[str] = []  # receipt handles to make visible again at the end: kept, failed, or a dry run
        counts = {"redriven": 0, "kept": 0, "failed": 0}
        # At most what was parked when the run began: a message that fails again while the run goes on is
        # parked as a new message, and is for the next run, after the next fix (else the run never ends).
        budget = queues.parked_count(queue_name)
        try:
            while budget > 0 and (left is None or left > 0):
                wanted = min(budget, 10 if left is None else left)
                batch = queues.hold_parked(queue_name, count=wanted,
                                           seconds=30 if args.dry_run else _REDRIVE_HOLD_SECONDS)
                if not batch:
                    break
                for message in batch:
                    left = None if left is None else left - 1
                    budget -= 1
                    outcome = _redrive_one(name, queue_name, target, message, args.dry_run, say)
                    counts[outcome] += 1
                    if outcome != "redriven" or args.dry_run:
                        held.append(message["ReceiptHandle"])
        finally:
            for receipt_handle in held:
                queues.release_parked(queue_name, receipt_handle)
        not_done += counts["kept"] + counts["failed"]
        done = "would be redriven" if args.dry_run else "redriven"
        say(f"redrive: {name}: {counts['redriven']} {done}, {counts['kept']} kept, {counts['failed']} failed; "
            f"{queues.parked_count(queue_name)} in {queue_name}")
    if args.dry_run:
        say("redrive: dry run: nothing was sent or deleted")
    return _NOT_ALL_DONE if not_done else _DONE


def _redrive_one(name: str, queue_name: str, target: str, message: dict[str, Any], dry_run: bool,
                 say: Callable[..., None]) -> str:
    """Put one message back (then delete it from its dead-letter queue); returns redriven, kept or failed."""
    from chalicelib.storage import queues

    plan = _redrive_plan(name, message.get("Body", ""), target)
    shown = f"{name}: {message['MessageId']}"
    why = plan.why if len(plan.why) <= 160 else plan.why[:159] + "…"
    if plan.kept:
        print(f"redrive: {shown} kept: {plan.kept} (parked: {why})", file=sys.stderr)
        return "kept"
    if plan.function:
        where = _described(plan)
    else:
        group = message.get("Attributes", {}).get("MessageGroupId") or "redriven"
        where = f"{plan.target} (group {group[:12]})"
    if dry_run:
        say(f"redrive: {shown} would go to {where} (parked: {why})")
        return "redriven"
    try:
        if plan.function:
            _through(plan)
        else:
            queues.put_back(plan.target, plan.text, group=group, parked_message_id=message["MessageId"])
    except Exception as err:  # noqa: BLE001 - this message stays parked with its reason; the others are still tried
        problem = _aws_problem(err)
        first_line = (str(err).strip().splitlines() or [""])[0][:200]
        said = problem or f"{type(err).__name__}: {first_line}"
        print(f"redrive: {shown} failed, left in {queue_name}: {said}", file=sys.stderr)
        return "failed"
    try:
        queues.drop_parked(queue_name, message["ReceiptHandle"])  # only now: the message is back where it came from
    except Exception as err:  # noqa: BLE001 - put back but still parked: the next run puts it again, deduplicated
        print(f"redrive: {shown} put back on {where} but still in {queue_name} ({type(err).__name__}: "
              f"{str(err)[:200]}): run redrive again; it is taken once", file=sys.stderr)
        return "failed"
    say(f"redrive: {shown} → {where} (parked: {why})")
    return "redriven"


# --- Where AWS could not be used: one line that says what to set ---------------------------------


def _aws_problem(err: BaseException) -> str | None:
    """What to set or start when ``err`` (or what caused it) says AWS could not be used; None otherwise.

    PynamoDB wraps botocore's errors in its own (``.cause``), so the whole chain is read.
    """
    from botocore import exceptions as aws_errors

    from chalicelib import config

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    where = f"at {endpoint} (AWS_ENDPOINT_URL)" if endpoint else f"in AWS region {config.region()}"
    for cause in _causes(err):
        if isinstance(cause, aws_errors.NoRegionError):
            return "no AWS region: set AWS_REGION (or pass --region)"
        if isinstance(cause, aws_errors.ProfileNotFound):
            return f"{cause}: set AWS_PROFILE to a profile in ~/.aws/config, or unset it"
        if isinstance(cause, (aws_errors.NoCredentialsError, aws_errors.PartialCredentialsError)):
            return ("no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    + (" (any values, e.g. testing, for a moto server)" if endpoint else ""))
        if isinstance(cause, (aws_errors.TokenRetrievalError, aws_errors.SSOError)):
            return f"AWS SSO credentials are not usable ({cause}): run aws sso login, or set AWS_PROFILE"
        if isinstance(cause, (aws_errors.EndpointConnectionError, aws_errors.ConnectionClosedError,
                              aws_errors.ReadTimeoutError)):
            if endpoint:
                return (f"cannot reach {endpoint} (AWS_ENDPOINT_URL): start make local (or your moto server), "
                        "set AWS_ENDPOINT_URL to the address it prints, or unset AWS_ENDPOINT_URL to use AWS")
            return f"cannot reach AWS in region {config.region()}: check the network, or set AWS_REGION"
        if isinstance(cause, ValueError) and str(cause).startswith("Invalid endpoint"):
            return f"AWS_ENDPOINT_URL {endpoint!r} is not a URL: set it like http://127.0.0.1:5000"
        if isinstance(cause, aws_errors.ClientError):
            return _refusal(cause, where)
    return None


def _causes(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [err]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return seen


def _refusal(err: Any, where: str) -> str:
    """An AWS API's refusal, said as what to set."""
    import re

    from chalicelib import config

    error = err.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    operation = getattr(err, "operation_name", "the call")
    if code == "ResourceNotFoundException":
        found = re.search(r"on table \(([^)]*)\)", str(err))
        table = found.group(1) if found and found.group(1) != "None" else None
        setting = next((name for name in _TABLE_SETTINGS if table and config.setting(name) == table), None)
        name = f"table {table}" if table else "a table"
        hint = f"set {setting} to the table's name" if setting else "set the *_TABLE variables to the tables' names"
        return (f"{name} does not exist {where}: deploy the stack there (make local creates every table), "
                f"or {hint}")
    if code == "NoSuchBucket":
        return f"bucket {config.setting('MAIL_BUCKET')} does not exist {where}: deploy the stack, or set MAIL_BUCKET"
    if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
        return f"a queue does not exist {where} ({message}): deploy the stack, or set INBOUND_QUEUE / OUTBOUND_QUEUE"
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                "SignatureDoesNotMatch", "InvalidAccessKeyId"):
        return f"AWS refused the credentials ({code}): check AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return "the AWS credentials have expired: renew them (aws sso login, or new AWS_SESSION_TOKEN)"
    if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
        return f"AWS denied {operation} {where}: the credentials need that permission ({message})"
    return f"AWS refused {operation} {where}: {code}: {message}"


# --- Agents ---------------------------------------------------------------------------------------


def _split(text: str | None) -> frozenset[str] | None:
    """Comma-separated values; None when the option was not given (or names nothing)."""
    if text is None:
        return None
    values = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    return values or None


def _shown_skills(skills: Sequence[str]) -> str:
    return "every queue" if not skills or "*" in skills else ",".join(skills)


def _list_agents(say: Callable[..., None]) -> int:
    from chalicelib.api.agents_api import view
    from chalicelib.storage import agents as directory

    agents = sorted((view(agent) for agent in directory.directory(fresh=True)),
                    key=lambda shown: (not shown["active"], shown["name"].lower(), shown["id"]))
    if not agents:
        say("list-agents: no agents yet (create one with create-agent)")
        return _DONE
    rows = [[shown["id"], shown["status"] if shown["active"] else "removed",
             f"{shown['open_count']}/{shown['capacity']}", _shown_skills(shown["skills"]),
             f"{shown['name']} <{shown['email']}>", ",".join(shown["languages"]) or "none", shown["role"]]
            for shown in agents]
    say(_table(["id", "status", "load", "skills", "name", "languages", "role"], rows, right=frozenset({2})), end="")
    active = [shown for shown in agents if shown["active"]]
    online = sum(1 for shown in active if shown["status"] == "online")
    removed = len(agents) - len(active)
    say(f"{len(active)} agents, {online} online" + (f"; {removed} removed" if removed else "")
          + "; load = open tickets / capacity")
    return _DONE


def _table(header: list[str], rows: list[list[str]], *, right: frozenset[int] = frozenset()) -> str:
    """Columns as wide as their widest cell, two spaces apart; numbers (``right``) right-aligned, as in kpi-report."""
    widths = [max(len(line[column]) for line in (header, *rows)) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cell.rjust(width) if column in right else cell.ljust(width)
                  for column, (cell, width) in enumerate(zip(cells, widths))]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in rows)]) + "\n"


def _create_agent(args: argparse.Namespace, say: Callable[..., None]) -> int:
    from chalicelib.api.agents_api import view
    from chalicelib.service import agents

    agent, token = agents.create(agents.Profile(
        name=args.name, email=args.email, role=args.role, skills=_split(args.skills),
        languages=_split(args.languages), capacity=args.capacity, status=args.status))
    shown = view(agent)
    say(f"agent_id: {shown['id']}")
    say(f"token:    {token}")
    say(f"created {shown['name']} <{shown['email']}>: {shown['role']}, {shown['status']}, "
          f"capacity {shown['capacity']}, skills {_shown_skills(shown['skills'])}, "
          f"languages {','.join(shown['languages']) or 'none recorded'}; {shown['open_count']} open tickets")
    print("Store the token now: only its hash is kept.", file=sys.stderr)
    return _DONE


def _change_agent(args: argparse.Namespace, say: Callable[..., None]) -> int:
    from chalicelib.api.agents_api import view
    from chalicelib.service import agents
    from chalicelib.storage import agents as directory

    given = {"status": args.status, "capacity": args.capacity, "skills": _split(args.skills),
             "languages": _split(args.languages)} if args.command == "set-agent" else {}
    if args.command == "set-agent" and all(value is None for value in given.values()):
        print("set-agent: nothing to set: give --status, --capacity, --skills or --languages "
              "(see set-agent --help)", file=sys.stderr)
        return _USAGE
    agent = directory.get(args.agent)
    if agent is None or not agent.active:
        state = "was removed" if agent is not None else "does not exist"
        print(f"{args.command}: agent {args.agent} {state} (list-agents shows every agent)", file=sys.stderr)
        return _NOT_ALL_DONE
    before = view(agent)
    if args.command == "remove-agent":
        after = view(agents.remove(agent))
        say(f"remove-agent: {before['id']} ({before['name']}) removed, token and sessions revoked; "
              f"open tickets {before['open_count']} → {after['open_count']}")
        return _DONE
    skills = given["skills"]
    if skills is not None and "*" in skills:
        skills = frozenset({"*"})
    after = view(agents.update(agent, agents.Profile(skills=skills, languages=given["languages"],
                                                     capacity=given["capacity"], status=given["status"])))
    changes = [f"{name} {_shown(name, before[name])} → {_shown(name, after[name])}"
               for name in ("status", "capacity", "skills", "languages") if before[name] != after[name]]
    if not changes:
        say(f"set-agent: {before['id']} ({before['name']}) already has these settings; nothing changed")
        return _DONE
    say(f"set-agent: {before['id']} ({before['name']}): {', '.join(changes)}; "
          f"open tickets {before['open_count']} → {after['open_count']}")
    return _DONE


def _shown(name: str, value: Any) -> str:
    if name == "skills":
        return _shown_skills(value)
    if name == "languages":
        return ",".join(value) or "none"
    return str(value)


def _import_articles(folder: Path, say: Callable[..., None]) -> int:
    """Exit 1 when a file was refused (the others are imported and indexed all the same), 2 without the folder."""
    from chalicelib.service import kb

    try:
        report = kb.import_folder(folder)
    except FileNotFoundError as err:
        print(f"import-articles: {err}", file=sys.stderr)
        return _USAGE
    say(f"import-articles: {len(report.created)} created, {len(report.updated)} updated, "
          f"{len(report.unchanged)} unchanged, {len(report.refused)} refused")
    for reason in report.refused:
        print(f"  refused {reason}", file=sys.stderr)
    if report.index is not None:
        say(f"  search index: {report.index.articles} published articles, {report.index.bytes} bytes")
    return _NOT_ALL_DONE if report.refused else _DONE


def _import_customers(path: Path, say: Callable[..., None]) -> int:
    """0 when every record was imported, 1 when one conflicted or was invalid, 2 when the file is unreadable."""
    from chalicelib.service.customer_import import import_customers

    try:
        records = _read_records(path)
    except (OSError, ValueError) as err:
        print(f"import-customers: cannot import {path}: {err}", file=sys.stderr)
        return _USAGE
    result = import_customers(records)
    for name in ("created", "updated", "unchanged", "conflicts", "invalid"):
        say(f"{name}: {getattr(result, name)}")
    for outcome in result.records:
        if outcome.status in ("conflict", "invalid"):
            print(f"record {outcome.index + 1}: {outcome.status}: {outcome.reason}", file=sys.stderr)
    return _DONE if result.ok else _NOT_ALL_DONE


def _kpi_report(args: argparse.Namespace, say: Callable[..., None]) -> int:
    """0 with the table printed (and the chart written); 2 for a range, date or chart the report refuses."""
    from chalicelib import clock
    from chalicelib.api import reports_api

    if args.chart:
        from importlib.util import find_spec

        if find_spec("matplotlib") is None:  # checked before the report is read: the chart is what was asked for
            print("kpi-report: --chart needs matplotlib, which only requirements-dev.txt installs: "
                  ".venv/bin/pip install -r requirements-dev.txt (or leave out --chart)", file=sys.stderr)
            return _USAGE
        if not Path(args.chart).resolve().parent.is_dir():
            print(f"kpi-report: cannot write {args.chart}: its folder does not exist", file=sys.stderr)
            return _USAGE
    now = clock.now()
    try:
        start = reports_api.parse_day(args.start, "--from") if args.start else None
        end = reports_api.parse_day(args.end, "--to") if args.end else None
        start, end, group_by = reports_api.resolve(start, end, args.group_by or reports_api.DEFAULT_GROUP_BY,
                                                   now=now)
    except ValueError as err:
        print(f"kpi-report: {err}", file=sys.stderr)
        return _USAGE
    report = reports_api.kpi_report(start, end, group_by, now=now)
    say(report.as_table(), end="")
    if args.chart:
        from chalicelib.api import kpi_chart

        shown = kpi_chart.chart(start, end, args.group_by)  # None: the whole desk, whatever the table's rows
        kpi_chart.write(shown, Path(args.chart))
        say(f"chart: {args.chart} ({kpi_chart.describe(shown)})")
    return _DONE


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
