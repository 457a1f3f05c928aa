"""Issue 16's bill: the AWS cost per 1 million tickets from measured figures (``make cost``).

    POWERTOOLS_LOG_LEVEL=INFO .venv/bin/python benchmarks/cost.py            # ~2 minutes
    POWERTOOLS_LOG_LEVEL=INFO .venv/bin/python benchmarks/cost.py --quick    # smoke version
    POWERTOOLS_LOG_LEVEL=INFO .venv/bin/python benchmarks/cost.py --stage dev

The stage priced is the deployed one, ``prod`` unless ``--stage`` says otherwise: its .chalice/config.json
settings as Chalice resolves them (``Stage``): X-Ray per function (on in dev only), memory per function, and
its environment, which the functions run with while measured (LocalDesk as that stage).

What is measured (LocalDesk, moto in-process, this machine), and where:

* Email tickets: ``benchmarks/budget.py``'s ``measure_budget`` (its ``CallHook`` / ``WriteMeter``): AWS calls
  per unit of work by service.operation, DynamoDB write units with the real item sizes and index definitions,
  and the tickets stream's two readers per ticket life as a desk at ``TICKETS_PER_MONTH`` runs them
  (``ticket_stream``: reactions and the inbox counters; ``kpi_stream``: the KPI aggregates): today's
  aggregates filled as such a desk has them by mid-day (``benchmarks/busy_day.py``), each reader in batches of
  the records its traffic brings within that reader's own batching window (``measure_busy_stream``; 30 s and
  5 minutes as deployed). The old figure (one batch of ~100 records to each reader on a fresh desk's
  aggregates) is printed beside it. Nothing of it is repeated here.
* Chat tickets: the same hook on a Telegram conversation (webhook -> process_inbound -> acknowledgement,
  a follow-up, an agent reply delivered, a solve, the stream readers' batches).
* Added here: DynamoDB read units from every GetItem / BatchGetItem / Query / TransactGetItems as the app made
  it (the items' real sizes read from moto's backend, 4 KB units, eventually / strongly consistent /
  transactional); each Lambda invocation's wall time (LocalDesk's ``_captured`` around every function and
  API request) and the bytes it printed (log lines and EMF documents: what CloudWatch Logs ingests); SQS
  message sizes; S3 object sizes; the corpus's raw mail size (``benchmarks/corpus.py``).

Prices: ``PRICES`` below, us-east-1, each with its source and date; ``assumption`` where the stored
documents did not give the number. The ticket mix is ``MIX`` (stated, not measured).
Durations are wall time on this machine with moto answering in-process: on Lambda the AWS calls are
network round trips instead, and the CPU is a share of a core set by the memory size.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from benchmarks import corpus as corpus_module  # noqa: E402
from benchmarks import busy_day  # noqa: E402
from benchmarks.budget import (  # noqa: E402
    STREAM_BATCH, BusyStream, CallHook, Desk, Unit, WriteMeter, aggregate_writes, measure_budget, measure_busy_stream,
)
from benchmarks.run import _prepare_environment, _prewarm, section, table  # noqa: E402
from infra import deploy  # noqa: E402

__all__ = ["MIX", "PRICES", "TARGET_PER_MILLION", "XRAY_LINE", "Quantities", "Stage", "billed_ms", "gb_seconds",
           "lines_of", "read_units", "sqs_requests", "xray_traces", "ses_inbound_chunks", "write_units", "main"]

TARGET_PER_MILLION = 20.0  # issue 16: platform cost <= $20 per 1M tickets
REGION = "us-east-1"
_KB = 1024
MILLION = 1_000_000


# --- prices ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str  # where it was read, and when; "assumption: ..." when no stored document gave it


PRICES: dict[str, Price] = {
    # DynamoDB on-demand, Standard table class (AWS halved on-demand prices on 2024-11-01).
    "ddb_wru": Price(0.625 / MILLION, "write request unit",
                     "aws.amazon.com/dynamodb/pricing/on-demand (units: 1 KB write, 4 KB read); US East rate "
                     "$0.625/M WRU from linkedin.com/pulse/amazon-dynamodb-pricing-explained (stored 2025)"),
    "ddb_rru": Price(0.125 / MILLION, "read request unit", "same pages: $0.125/M RRU, US East"),
    "ddb_storage": Price(0.25, "GB-month", "gist bluejack 'DynamoDB $0.25/Gb' (first 25 GB free, not applied)"),
    "lambda_request": Price(0.20 / MILLION, "request", "aws lambda pricing via git.mcrn.ar lambda-13-cost.md "
                                                      "(2026-05-11) and api-evangelist aws-lambda plans (2026-05)"),
    "lambda_gbs_x86": Price(0.0000166667, "GB-second", "same; 1 ms billing granularity"),
    "lambda_gbs_arm64": Price(0.0000133334, "GB-second", "same; cloudchipr.com 'ARM first 7.5 B GB-s'"),
    "sqs_fifo": Price(0.50 / MILLION, "request (64 KB chunk)", "factualminds.com SQS pricing, us-east-1, "
                                                               "2026-06-13; cloudburn.io 2026-03"),
    "s3_put": Price(0.005 / 1000, "PUT/COPY/POST/LIST", "cloudkaramchari.com S3 request pricing"),
    "s3_get": Price(0.0004 / 1000, "GET", "assumption: S3 Standard GET list price; no stored page gave it"),
    "s3_storage": Price(0.023, "GB-month", "gist EverettBerry S3 Standard first 50 TB (2022)"),
    "apigw_rest": Price(3.50 / MILLION, "REST API request", "docs.aws.amazon.com whitepaper 'API Gateway private "
                                                             "APIs', cost optimization: first 333 M $3.50/M"),
    "apigw_http": Price(1.00 / MILLION, "HTTP API request", "same whitepaper: first 300 M $1.00/M"),
    "logs_ingest": Price(0.50, "GB ingested", "c3x.dev CloudWatch Logs, us-east-1, June 2026 (Standard class)"),
    "logs_storage": Price(0.03, "GB-month", "same"),
    "custom_metric": Price(0.30, "metric-month", "hivebook.wiki CloudWatch: $0.30/metric/month first tier"),
    "alarm": Price(0.10, "alarm-month", "assumption: standard-resolution alarm list price"),
    "dashboard": Price(3.00, "dashboard-month", "factualminds.com CloudWatch pricing ('dashboards at $3 each')"),
    "xray_trace": Price(5.00 / MILLION, "trace recorded", "assumption: X-Ray list price, not in the stored docs"),
    # channel fees, listed apart from the platform
    "ses_out": Price(0.10 / 1000, "recipient", "AWS Price List AmazonSES us-east-1 2026-07-22 (a la carte), "
                                               "via api-evangelist/amazon-ses"),
    "ses_out_gb": Price(0.12, "GB of attachments", "same"),
    "ses_in": Price(0.10 / 1000, "mail received", "same"),
    "ses_in_chunk": Price(0.09 / 1000, "256 KB chunk received", "same"),
    "sms": Price(0.0083, "SMS segment (US, in or out)", "assumption: Twilio US list price; not in stored docs"),
    "whatsapp": Price(0.005, "message (Twilio fee)", "support.twilio.com WhatsApp pricing (July 2025 structure): "
                                                     "Twilio $0.005/message; Meta charges no fee for free-form "
                                                     "replies inside the 24 h service window"),
}
SAAS = {  # list price per agent per month, billed annually
    "Zendesk Suite Team": (55.0, "assumption: zendesk.com list price; no stored page gave the number"),
    "Freshdesk Growth": (15.0, "assumption: freshworks.com list price; no stored page gave the number"),
    "Zammad hosted Professional (EUR ~ USD)": (
        15.0, "assumption: zammad.com/en/pricing is stored but its amounts are not in the text; Starter "
              "allows 5 agents, so 10 agents need Professional"),
}
PRICES_DATE = "list prices as stored 2025-11 .. 2026-09 (sources per line); this run " + time.strftime("%Y-%m-%d")

#: The ticket mix this bill is for (stated, not measured).
MIX = {
    "email share": 0.60, "chat share": 0.40,
    "customer messages": 1.5,  # the first one opens the ticket; 0.5 follow-ups
    "agent replies": 1.2,
    "status changes": 1.0,  # one solve
}
LAMBDA_PLATFORM_LOG_BYTES = 350  # assumption: START + END + REPORT lines (with an X-Ray trace id) per invocation
SQS_IDLE_POLLERS = 5  # assumption: Lambda's SQS event source starts with 5 long-polling connections
# the volume X-Ray's sampling (its reservoir is per second) and the stream readers' batches are priced at
TICKETS_PER_MONTH = busy_day.TICKETS_PER_MONTH
TICKETS_PER_MONTH_SAAS = 5_000
SAAS_AGENTS = 10

_ACCOUNT = "123456789012"
_FUNCTION_OF_LABEL = {"api": "api_handler"}  # Chalice's API Lambda


# --- pure arithmetic (tests/unit/test_cost_model.py) ---------------------------------------------------------


def write_units(size_bytes: int, *, transactional: bool = False) -> int:
    """On-demand WRU for one item write: 1 KB units, at least 1, x2 inside TransactWriteItems."""
    return max(1, math.ceil(size_bytes / _KB)) * (2 if transactional else 1)


def read_units(sizes: Sequence[int], *, mode: str, per_item: bool) -> float:
    """On-demand RRU for one read request. ``mode``: eventual (0.5 per 4 KB), strong (1), transactional (2).

    GetItem / BatchGetItem / TransactGetItems round each item up to 4 KB (a missing item is still one unit);
    Query and Scan add the sizes of every item read and round the sum up to 4 KB, once per request.
    """
    factor = {"eventual": 0.5, "strong": 1.0, "transactional": 2.0}[mode]
    if per_item:
        return sum(max(1, math.ceil(size / (4 * _KB))) for size in sizes) * factor
    return max(1, math.ceil(sum(sizes) / (4 * _KB))) * factor


def billed_ms(wall_seconds: float) -> int:
    """Lambda bills duration rounded up to the next 1 ms (since 2020-12), at least 1 ms."""
    return max(1, math.ceil(round(wall_seconds * 1000, 6)))


def gb_seconds(memory_mb: int, milliseconds: int) -> float:
    """Memory (MB / 1024 = GB) x billed duration in seconds."""
    return memory_mb / 1024 * milliseconds / 1000


def xray_traces(invocations_per_month: dict[str, float], *, seconds: float = 30 * 86400) -> float:
    """Traces X-Ray's default sampling rule records in a month: per function, the first request each second
    (reservoir) and 5 % of the rest, with the invocations spread evenly over the month."""
    traced = 0.0
    for invocations in invocations_per_month.values():
        rate = invocations / seconds
        traced += seconds * (min(rate, 1.0) + 0.05 * max(rate - 1.0, 0.0))
    return traced


def sqs_requests(payload_bytes: int) -> int:
    """SQS bills each 64 KB chunk of a request's payload as one request."""
    return max(1, math.ceil(payload_bytes / (64 * _KB)))


def ses_inbound_chunks(raw_bytes: int) -> int:
    """SES receiving bills each started 256 KB of an incoming mail as one chunk."""
    return max(1, math.ceil(raw_bytes / (256 * _KB)))


# --- measuring: read units, payloads, invocations ---------------------------------------------------------

_READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


@dataclass
class Read:
    op: str
    table: str
    units: float
    items: int
    note: str | None = None


class CostHook(CallHook):
    """``budget.CallHook`` that also sizes DynamoDB reads and records SQS / S3 / SES payload sizes."""

    def _provide(self, params: Any = None, model: Any = None, context: Any = None, **kwargs: Any) -> None:
        super()._provide(params=params, model=model, context=context, **kwargs)
        call = context.get("_budget_call") if context is not None else None
        if call is None or not call.app:
            return
        service, name = model.service_model.service_name, model.name
        if service == "dynamodb" and name in _READ_OPS:
            call.read_params = dict(params)
        elif service == "sqs" and name in ("SendMessage", "SendMessageBatch"):
            entries = params.get("Entries") or [params]
            call.payload = [len(str(e.get("MessageBody", "")).encode()) + len(json.dumps(
                e.get("MessageAttributes") or {}, default=str).encode()) for e in entries]
        elif service == "s3" and name == "PutObject":
            body = params.get("Body") or b""
            call.payload = [len(body) if isinstance(body, (bytes, str)) else 0]
        elif service in ("ses", "sesv2") and name in ("SendRawEmail", "SendEmail"):
            raw = (params.get("RawMessage") or {}).get("Data") or \
                  (((params.get("Content") or {}).get("Raw") or {}).get("Data")) or b""
            call.payload = [len(raw)]

    def _after(self, http_response: Any = None, parsed: Any = None, context: Any = None, **kwargs: Any) -> None:
        call = context.get("_budget_call") if context is not None else None
        if call is not None and getattr(call, "read_params", None) is not None and self.writes is not None \
                and getattr(http_response, "status_code", 200) < 300:
            try:
                call.reads = _reads_of(self.writes, call.op.split(".")[1], call.read_params, parsed or {})
            except Exception as err:  # noqa: BLE001 - an unforeseen shape must show, not stop the bill
                call.reads = [Read(call.op, "?", 0.0, 0, note=f"not measured: {err!r}"[:160])]
        super()._after(http_response=http_response, parsed=parsed, context=context, **kwargs)


def _mode(params: dict[str, Any], transactional: bool = False) -> str:
    if transactional:
        return "transactional"
    return "strong" if params.get("ConsistentRead") else "eventual"


def _reads_of(meter: WriteMeter, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> list[Read]:
    from chalicelib.storage.repository import item_size

    def stored(table_name: str, key: dict[str, Any]) -> int:
        item = meter.stored_item(table_name, key)
        return 0 if item is None else item_size(item)

    if op == "GetItem":
        return [Read(op, params["TableName"], read_units([stored(params["TableName"], params["Key"])],
                                                        mode=_mode(params), per_item=True), 1)]
    if op == "BatchGetItem":
        reads = []
        for table_name, request in (params.get("RequestItems") or {}).items():
            sizes = [stored(table_name, key) for key in request.get("Keys") or []]
            reads.append(Read(op, table_name, read_units(sizes, mode=_mode(request), per_item=True), len(sizes)))
        return reads
    if op == "TransactGetItems":
        reads = []
        for entry in params.get("TransactItems") or []:
            get = entry["Get"]
            reads.append(Read(op, get["TableName"], read_units([stored(get["TableName"], get["Key"])],
                                                               mode="transactional", per_item=True), 1))
        return reads
    # Query / Scan: billed on what was read (the index entries, or the table items), before any filter
    table_name = params["TableName"]
    info = meter.table(table_name)
    index = next((i for i in info.indexes if i.name == params.get("IndexName")), None)
    sizes = []
    for item in parsed.get("Items") or []:
        key = {name: item[name] for name in info.keys if name in item}
        full = meter.stored_item(table_name, key) if len(key) == len(info.keys) else None
        entry = full if full is not None else item
        if index is not None and full is not None and index.projection != "ALL":
            names = set(index.keys) | set(info.keys) | (set(index.include) if index.projection == "INCLUDE" else set())
            entry = {n: v for n, v in full.items() if n in names}
        sizes.append(item_size(entry))
    note = None
    scanned, count = parsed.get("ScannedCount", 0), parsed.get("Count", 0)
    if scanned > count:  # items the filter dropped were read too: size them like the returned ones
        mean = sum(sizes) / len(sizes) if sizes else 0
        sizes += [int(mean)] * (scanned - count)
        note = f"{scanned - count} filtered items sized as the mean of the returned ones"
    return [Read(op, table_name + (f"/{index.name}" if index else ""), read_units(sizes, mode=_mode(params),
                                                                                   per_item=False),
                 len(sizes), note)]


@dataclass
class Invocation:
    function: str
    started: float
    wall: float = 0.0
    log_bytes: int = 0
    log_lines: int = 0
    emf_bytes: int = 0
    emf_lines: int = 0
    levels: Counter = field(default_factory=Counter)  # log lines by level
    metrics: set[str] = field(default_factory=set)  # metric name + dimension names and values


class InvocationMeter:
    """Wraps LocalDesk's ``_captured`` (every function invocation and API request runs in it) to time each
    one and count what it printed, split into log lines and EMF documents."""

    def __init__(self, hook: CallHook) -> None:
        self.hook = hook
        self.invocations: list[Invocation] = []
        self._stack: list[Invocation] = []

    @contextmanager
    def installed(self) -> Iterator["InvocationMeter"]:
        from chalicelib.local.desk import LocalDesk

        captured, collect = LocalDesk._captured, LocalDesk._collect_metrics
        meter = self

        def timed_captured(desk: Any, call: Callable[[], Any]) -> Any:
            label = meter.hook.label or "?"
            record = Invocation(_FUNCTION_OF_LABEL.get(label, label), time.perf_counter())

            def timed() -> Any:
                started = time.perf_counter()
                try:
                    return call()
                finally:
                    record.wall = time.perf_counter() - started

            meter._stack.append(record)
            try:
                return captured(desk, timed)
            finally:
                meter._stack.pop()
                meter.invocations.append(record)

        def counting_collect(desk: Any, printed: str) -> None:
            record = meter._stack[-1] if meter._stack else None
            emf = []
            for line in printed.splitlines():
                size = len(line.encode()) + 1
                document = None
                if line.startswith("{"):
                    try:
                        document = json.loads(line)
                    except ValueError:
                        document = None
                is_emf = isinstance(document, dict) and "_aws" in document
                if is_emf:
                    emf.append(line)
                if record is None:
                    continue
                if is_emf:
                    record.emf_bytes += size
                    record.emf_lines += 1
                    for directive in document["_aws"].get("CloudWatchMetrics") or []:
                        for metric in directive.get("Metrics") or []:
                            dims = sorted(d for ds in directive.get("Dimensions") or [] for d in ds)
                            record.metrics.add(metric.get("Name", "?") + "|" + ",".join(
                                f"{d}={document.get(d)}" for d in dims))
                else:
                    record.log_bytes += size
                    record.log_lines += 1
                    record.levels[(document or {}).get("level", "plain") if isinstance(document, dict)
                                  else "plain"] += 1
            collect(desk, "\n".join(emf))  # desk.metrics as before; the log lines are counted, not echoed

        LocalDesk._captured, LocalDesk._collect_metrics = timed_captured, counting_collect
        try:
            yield self
        finally:
            LocalDesk._captured, LocalDesk._collect_metrics = captured, collect

    def within(self, started: float, ended: float) -> list[Invocation]:
        return [i for i in self.invocations if started <= i.started <= ended]


# --- quantities per unit of work ---------------------------------------------------------------------------


@dataclass
class Quantities:
    """Everything the bill needs for one unit of work (or an average, or a ticket)."""

    wru: float = 0.0
    wru_transaction_doubling: float = 0.0  # the second half of every transactional item write
    wru_ticket_over_1kb: float = 0.0  # transactional ticket-item writes: units above the 2 of a < 1 KB item
    rru: float = 0.0
    lambda_requests: Counter = field(default_factory=Counter)  # function -> invocations
    lambda_ms: Counter = field(default_factory=Counter)  # function -> billed ms
    sqs_requests: float = 0.0
    s3_put: float = 0.0
    s3_get: float = 0.0
    s3_bytes: float = 0.0  # stored by the app (the raw mail SES stores is priced from the corpus)
    api_requests: float = 0.0
    log_bytes: float = 0.0
    emf_bytes: float = 0.0
    log_lines_by_level: Counter = field(default_factory=Counter)
    ses_out: float = 0.0
    ses_out_bytes: float = 0.0
    ses_in: float = 0.0  # mails received by SES (SES's own S3 PUT of each is in s3_put)
    platform_out: float = 0.0  # chat messages sent to a platform (send_outbound deliveries, not SES)
    metrics: set[str] = field(default_factory=set)
    read_notes: list[str] = field(default_factory=list)

    def add(self, other: "Quantities", weight: float = 1.0) -> "Quantities":
        for name in ("wru", "wru_transaction_doubling", "wru_ticket_over_1kb", "rru", "sqs_requests", "s3_put", "s3_get", "s3_bytes", "api_requests", "log_bytes",
                     "emf_bytes", "ses_out", "ses_out_bytes", "ses_in", "platform_out"):
            setattr(self, name, getattr(self, name) + weight * getattr(other, name))
        for name in ("lambda_requests", "lambda_ms", "log_lines_by_level"):
            mine = getattr(self, name)
            for key, value in getattr(other, name).items():
                mine[key] += weight * value
        self.metrics |= other.metrics
        self.read_notes += other.read_notes
        return self

    @property
    def invocations(self) -> float:
        return sum(self.lambda_requests.values())


def quantities_of(unit: Unit, invocations: Sequence[Invocation]) -> Quantities:
    from chalicelib import config

    q = Quantities()
    tickets_table = config.setting("TICKETS_TABLE")
    for call in unit.calls:
        service, op = call.op.split(".", 1)
        for write in call.writes:
            if write.base_units:
                q.wru += write.base_units + write.index_units
                if op == "TransactWriteItems":
                    q.wru_transaction_doubling += write.base_units / 2
                    if write.table == tickets_table:
                        q.wru_ticket_over_1kb += max(0, write.base_units - 2)
        for read in getattr(call, "reads", None) or []:
            q.rru += read.units
            if read.note:
                q.read_notes.append(f"{read.op} {read.table}: {read.note}")
        payload = getattr(call, "payload", None) or []
        if service == "sqs" and op.startswith("SendMessage"):
            # the send, and the event source mapping's receive and delete of each message (batch of 1 at
            # low traffic: the worst case; busier queues share a receive and a DeleteMessageBatch)
            q.sqs_requests += sum(sqs_requests(p) for p in payload) + 2 * len(payload)
        elif service == "sqs":
            q.sqs_requests += 1
        elif service == "s3" and op in ("PutObject", "CopyObject", "ListObjectsV2", "ListObjects"):
            q.s3_put += 1
            q.s3_bytes += sum(payload)
        elif service == "s3" and op in ("GetObject", "HeadObject"):
            q.s3_get += 1
        elif service in ("ses", "sesv2") and op in ("SendRawEmail", "SendEmail"):
            q.ses_out += 1
            q.ses_out_bytes += sum(payload)
    # SES's receipt rule stores the raw mail (LocalDesk makes that PUT: a harness call in the window)
    q.ses_in += unit.excluded.get("s3.PutObject", 0)
    q.s3_put += unit.excluded.get("s3.PutObject", 0)
    for inv in invocations:
        q.lambda_requests[inv.function] += 1
        q.lambda_ms[inv.function] += billed_ms(inv.wall)
        q.log_bytes += inv.log_bytes + LAMBDA_PLATFORM_LOG_BYTES
        q.emf_bytes += inv.emf_bytes
        q.log_lines_by_level.update(inv.levels)
        q.metrics |= inv.metrics
        if inv.function == "api_handler":
            q.api_requests += 1
    return q


def mean_of(units: Sequence[Unit], meter: InvocationMeter) -> Quantities:
    total = Quantities()
    for unit in units:
        total.add(quantities_of(unit, meter.within(unit.started, unit.ended)), 1 / len(units))
    return total


# --- the chat ticket (budget.py measures email only) -------------------------------------------------------


def measure_chat(hook: CostHook, meter: InvocationMeter, *, lives: int, warm: int = 2,
                 stage: str = "dev") -> dict[str, Any]:
    """Telegram conversations on a fresh desk running as ``stage``: new message (+ acknowledgement), a follow-up,
    an agent reply delivered, a solve; then one batch of their changes to each stream reader (the old figure),
    and more conversations in each reader's busy-day batches (``budget.measure_busy_stream``). Returns units by
    step."""
    from benchmarks.chat import Traffic
    from tests.api import call

    from tests import chat as chat_fixtures

    units: dict[str, list[Unit]] = defaultdict(list)
    desk = Desk(hook, stage=stage, environment=dict(chat_fixtures.SECRETS))  # webhook secrets
    with desk:
        hook.writes = WriteMeter(hook)
        traffic = Traffic(desk.local, meter=None)  # build() only: signed Telegram updates
        serial = 0

        def run(name: str, action: Callable[[], Any]) -> Unit:
            started = time.perf_counter()
            with hook.window() as calls:
                action()
            return Unit(name, [c for c in calls if c.app], Counter(c.op for c in calls if not c.app),
                        started=started, ended=time.perf_counter())

        def post(conversation: int) -> None:
            nonlocal serial
            serial += 1
            request = traffic.build("telegram", conversation, serial)
            with hook.labelled("api"):
                response = desk.local.http.post(request.path, headers=request.headers, body=request.body)
            if response.status_code != 200:
                raise RuntimeError(f"telegram webhook answered {response.status_code}")
            desk.local.pump()

        def ticket_of(conversation: int) -> dict[str, Any]:
            from boto3.dynamodb.types import TypeDeserializer

            from chalicelib import config
            from moto.dynamodb.models import dynamodb_backends

            backend = dynamodb_backends[_ACCOUNT][os.environ["AWS_DEFAULT_REGION"]]
            chat_id = str(5100000000 + conversation)
            found = [item for item in backend.get_table(config.setting("TICKETS_TABLE")).all_items()
                     if chat_id in json.dumps(item.to_json()["Attributes"].get("requester", ""))]
            if not found:
                raise RuntimeError(f"no ticket for telegram chat {chat_id}")
            return {k: TypeDeserializer().deserialize(v) for k, v in found[-1].to_json()["Attributes"].items()}

        for n in range(warm + lives):
            if n == warm:
                desk.local.deliver_streams()
            opened = run("chat new", lambda: post(n))
            ticket = ticket_of(n)
            token = desk.tokens.get(ticket.get("assignee_id") or "") or next(iter(desk.tokens.values()))
            path = f"/tickets/{ticket['ticket_id']}"
            follow = run("chat follow-up", lambda: post(n))
            answers: list[int] = []

            def reply() -> None:
                with hook.labelled("api"):
                    answers.append(call(desk.local, "post", f"{path}/replies", token, {"text": "It ships today."})[0])
                desk.local.pump()

            def solve() -> None:
                with hook.labelled("api"):
                    answers.append(call(desk.local, "patch", path, token, {"status": "solved"})[0])
                desk.local.pump()

            replied, solved = run("chat agent reply", reply), run("chat status change", solve)
            if n >= warm:
                for unit in (opened, follow, replied, solved):
                    units[unit.name].append(unit)
                if answers != [201, 200] and answers != [200, 200]:
                    units["outcomes"].append(Unit(f"HTTP {answers}", [], Counter()))

        def extra_life(conversation: int) -> None:
            """A conversation like the measured ones (new -> reply -> solved), unmeasured."""
            post(conversation)
            extra = ticket_of(conversation)
            token = desk.tokens.get(extra.get("assignee_id") or "") or next(iter(desk.tokens.values()))
            with hook.labelled("api"):
                call(desk.local, "post", f"/tickets/{extra['ticket_id']}/replies", token, {"text": "It ships today."})
            desk.local.pump()
            with hook.labelled("api"):
                call(desk.local, "patch", f"/tickets/{extra['ticket_id']}", token, {"status": "solved"})

        # the old figure: one batch of ~100 records to each reader on a fresh desk's aggregates (as budget.py does)
        batch_lives = lives
        while desk.local.pending_stream_records() < STREAM_BATCH - 12:
            extra_life(warm + batch_lives)
            batch_lives += 1
        records: list[int] = []
        stream = run("chat stream", lambda: records.append(desk.local.deliver_streams(batch_size=STREAM_BATCH)))
        first_busy = warm + batch_lives
        busy = measure_busy_stream(desk, run, lambda n: extra_life(first_busy + n), lives=2 * lives)
        sweeps = [run("sweep", lambda: desk.local.run_schedule("sweep")) for _ in range(3)]
        hook.writes = None
    return {"units": dict(units), "stream": stream, "stream_records": records[0], "lives": batch_lives,
            "busy": busy, "sweeps": sweeps}


# --- the bill ----------------------------------------------------------------------------------------------


class Stage:
    """The .chalice/config.json stage being priced, each setting resolved as Chalice resolves it when it deploys
    (``chalice.config.Config``): the function's own in the stage, the stage's, the function's at the top level,
    then the top level's. A bill for one stage must not price another's settings (X-Ray is on in dev only)."""

    def __init__(self, name: str, document: dict[str, Any] | None = None) -> None:
        self.document = document if document is not None else json.loads(
            (PROJECT / ".chalice" / "config.json").read_text())
        stages = sorted(self.document.get("stages") or {})
        if name not in stages:
            raise ValueError(f"no stage {name!r} in .chalice/config.json (stages: {', '.join(stages)})")
        self.name = name

    def _scoped(self, function: str) -> Any:
        from chalice.config import Config

        return Config(chalice_stage=self.name, function_name=function, config_from_disk=self.document)

    def xray(self, function: str) -> bool:
        return bool(self._scoped(function).xray_enabled)

    def memory_mb(self, function: str) -> int:
        from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE

        return int(self._scoped(function).lambda_memory_size or DEFAULT_LAMBDA_MEMORY_SIZE)

    def environment(self, function: str = "api_handler") -> dict[str, str]:
        """The environment variables the stage gives ``function`` (the top level's, then the stage's, ...)."""
        return dict(self._scoped(function).environment_variables)


XRAY_LINE = "X-Ray traces (default sampling)"


def lines_of(q: Quantities, stage: Stage, *, raw_mail_bytes: float, arch: str) -> dict[str, float]:
    """Platform cost per ticket, USD, by service (storage: one month of what the ticket leaves behind), with
    ``stage``'s memory sizes and X-Ray only for the functions the stage traces."""
    gbs = sum(gb_seconds(stage.memory_mb(f), ms) for f, ms in q.lambda_ms.items())
    logs_gb = (q.log_bytes + q.emf_bytes) / 1024 ** 3
    s3_gb = (q.s3_bytes + q.ses_in * raw_mail_bytes) / 1024 ** 3
    return {
        "DynamoDB writes": q.wru * PRICES["ddb_wru"].usd,
        "DynamoDB reads": q.rru * PRICES["ddb_rru"].usd,
        "Lambda requests": q.invocations * PRICES["lambda_request"].usd,
        f"Lambda duration ({arch})": gbs * PRICES[f"lambda_gbs_{arch}"].usd,
        "SQS FIFO requests": q.sqs_requests * PRICES["sqs_fifo"].usd,
        "S3 requests": q.s3_put * PRICES["s3_put"].usd + q.s3_get * PRICES["s3_get"].usd,
        "S3 storage (1st month)": s3_gb * PRICES["s3_storage"].usd,
        # The HTTP API serves every route (infra/resources.yaml); the REST API only while a migrating stack keeps
        # its old URLs (KeepRestApi=yes), for what still calls them.
        "API Gateway (HTTP API)": q.api_requests * PRICES["apigw_http"].usd,
        "CloudWatch Logs ingestion": logs_gb * PRICES["logs_ingest"].usd,
        XRAY_LINE: xray_traces(_traced(q, stage)) / TICKETS_PER_MONTH * PRICES["xray_trace"].usd,
    }


def _traced(q: Quantities, stage: Stage) -> dict[str, float]:
    """Invocations a month of each function the stage traces, at ``TICKETS_PER_MONTH``."""
    return {f: n * TICKETS_PER_MONTH for f, n in q.lambda_requests.items() if stage.xray(f)}


def _fmt(usd: float) -> str:
    return f"{usd:,.2f}" if abs(usd) >= 0.995 else f"{usd:.3f}"


def _storage_per_ticket(lives: Sequence[Sequence[Unit]]) -> tuple[float, int]:
    """Bytes a ticket life leaves in DynamoDB: each item's size after its last write, +100 B per item and per
    index entry (DynamoDB's per-item overhead); index entries taken as their index's keys (KEYS_ONLY)."""
    per_life = []
    entries = []
    for life in lives:
        final: dict[tuple[str, str], int] = {}
        indexed: dict[tuple[str, str, str], bool] = {}
        for unit in life:
            for _, write in unit.writes:
                if write.action == "ConditionCheck" or write.note and not write.base_units:
                    continue
                final[(write.table, write.key)] = write.size_after or 0
                for w in write.index:
                    indexed[(write.table, write.key, w.index)] = w.what != "delete"
        items = [size for size in final.values() if size]
        n_entries = sum(indexed.values())
        per_life.append(sum(items) + 100 * len(items) + 200 * n_entries)
        entries.append(len(items))
    return sum(per_life) / len(per_life), round(sum(entries) / len(entries))


#: Settings a stage's environment may set that change the bill (what they change, in chalicelib/config.py).
BILLED_SETTINGS = {"TICKET_NUMBER_BLOCK": "ticket-number counter writes", "TIME_SHARDS": "the sweep's Queries",
                   "DIRECTORY_SHARDS": "reads per assignment", "AGGREGATE_SHARDS": "the KPI items a batch updates"}


def _setting(name: str, environment: dict[str, str]) -> str:
    from chalicelib import config

    return environment[name] if name in environment else f"{config.setting(name)} (default)"


def _log_level(stage: Stage) -> str:
    """What CloudWatch Logs ingests: the stage's POWERTOOLS_LOG_LEVEL, else this shell's, else INFO. Set before
    the app's Logger exists (it reads the level once, not per invocation)."""
    level = stage.environment().get("POWERTOOLS_LOG_LEVEL") or os.environ.get("POWERTOOLS_LOG_LEVEL") or "INFO"
    os.environ["POWERTOOLS_LOG_LEVEL"] = level
    return level


def _stream_per_life(unit: Unit, lives: int, meter: InvocationMeter) -> Quantities:
    return Quantities().add(quantities_of(unit, meter.within(unit.started, unit.ended)), 1 / max(1, lives))


def _tickets(steps: dict[str, Quantities], chat_steps: dict[str, Quantities], email_stream: Quantities,
             chat_stream: Quantities) -> tuple[Quantities, Quantities, Quantities]:
    """(email, chat, mixed) ticket from the measured steps in ``MIX``, each with its stream share per life."""
    follow_ups, replies, changes = MIX["customer messages"] - 1, MIX["agent replies"], MIX["status changes"]
    email = Quantities()
    # A follow-up's record also costs ticket_stream its reaction (the customer's last inquiry): its reads and
    # writes, from an email follow-up's records read alone (the same code serves chat); the invocation's
    # Lambda time is the busy batch's, priced below.
    follow_reaction = steps["threaded reply: ticket_stream"]
    reaction = Quantities(wru=follow_reaction.wru, rru=follow_reaction.rru)
    email.add(steps["new ticket"]).add(steps["threaded reply"], follow_ups).add(reaction, follow_ups)
    email.add(steps["agent reply"], replies).add(steps["reply delivered"], replies)
    email.add(steps["status change"], changes).add(steps["status change: outbound pumped after"], changes)
    email.add(email_stream)
    chat_ticket = Quantities()
    chat_ticket.add(chat_steps["chat new"]).add(chat_steps["chat follow-up"], follow_ups).add(reaction, follow_ups)
    chat_ticket.add(chat_steps["chat agent reply"], replies).add(chat_steps["chat status change"], changes)
    chat_ticket.add(chat_stream)
    return email, chat_ticket, Quantities().add(email, MIX["email share"]).add(chat_ticket, MIX["chat share"])


def bill(quick: bool, stage_name: str = "prod") -> int:
    stage = Stage(stage_name)
    level = _log_level(stage)
    _prepare_environment()
    section(None, f"The bill per 1 million tickets (issue 16), stage {stage.name}, {REGION}, {PRICES_DATE}")
    environment = stage.environment()
    print(f"  load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; Lambda durations are wall time on this "
          f"machine with moto in-process, not on Lambda; POWERTOOLS_LOG_LEVEL={level} ("
          + ("the stage's" if "POWERTOOLS_LOG_LEVEL" in environment else "the stage sets none: Powertools' default "
             "INFO unless this shell sets one") + ")")
    print(f"  stage priced: {stage.name} (--stage): its .chalice/config.json settings as Chalice resolves them; the "
          f"functions ran with its environment, e.g. " + ", ".join(
              f"{name}={_setting(name, environment)}" for name in BILLED_SETTINGS) + " (they change "
          + ", ".join(BILLED_SETTINGS.values()) + ")")
    _prewarm()
    started = time.perf_counter()
    hook = CostHook().install()
    meter = InvocationMeter(hook)
    try:
        with meter.installed():
            budget = measure_budget(hook, warm=2 if quick else 3, repeats=2 if quick else 3, stage=stage.name)
            chat = measure_chat(hook, meter, lives=2 if quick else 4, stage=stage.name)
    finally:
        hook.uninstall()
    measured_seconds = time.perf_counter() - started

    # write units: budget.py's billing, cross-checked against write_units() on the same sizes
    mismatched = [(w.size_before, w.size_after, w.base_units) for units in budget.units.values() for u in units
                  for c, w in u.writes if w.base_units and w.base_units != write_units(
                      max(w.size_before or 0, w.size_after or 0), transactional=c.op.endswith("TransactWriteItems"))]

    # --- per unit, then per ticket; the stream's readers per life as a busy desk runs them (the old figure beside)
    steps = {name: mean_of(units, meter) for name, units in budget.units.items()}
    chat_steps = {name: mean_of(units, meter) for name, units in chat["units"].items() if name != "outcomes"}
    sweep = mean_of(chat["sweeps"], meter)
    busy = {"email": budget.busy, "chat": chat["busy"]}
    streams = {"email": _stream_per_life(budget.busy.unit, budget.busy.lives, meter),
               "chat": _stream_per_life(chat["busy"].unit, chat["busy"].lives, meter)}
    old_streams = {"email": _stream_per_life(budget.stream, budget.stream_lives, meter),
                   "chat": _stream_per_life(chat["stream"], chat["lives"], meter)}
    email, chat_ticket, ticket = _tickets(steps, chat_steps, streams["email"], streams["chat"])
    *_, old_ticket = _tickets(steps, chat_steps, old_streams["email"], old_streams["chat"])

    corpus = corpus_module.generate(120 if quick else 300, 20261123)
    raw_sizes = [len(raw) for _, raw in corpus]
    raw_mean = sum(raw_sizes) / len(raw_sizes)

    rows = []
    for name, q in [*steps.items(), (f"stream readers / life (busy day: {budget.busy.short()})",
                                     streams["email"]), *chat_steps.items(),
                    (f"chat stream readers / life (busy day: {chat['busy'].short()})", streams["chat"]),
                    ("sweep (1 run)", sweep)]:
        rows.append([name, f"{q.wru:.1f}", f"{q.rru:.1f}", f"{q.invocations:.2f}",
                     " ".join(f"{f.replace('_handler', '').replace('process_', 'p_').replace('send_', 's_')}"
                              f":{q.lambda_ms[f] / q.lambda_requests[f]:.0f}" for f in sorted(q.lambda_requests)),
                     f"{q.sqs_requests:.1f}", f"{q.s3_put:.1f}/{q.s3_get:.1f}", f"{q.api_requests:.1f}",
                     f"{(q.log_bytes + q.emf_bytes) / 1024:.1f}", f"{q.ses_out:.1f}"])
    table("Measured per unit of work (means; WRU from budget.py; ms = billed ms per invocation on this machine)",
          ["unit", "WRU", "RRU", "invocations", "function:ms", "SQS req", "S3 put/get", "API req", "log KB",
           "SES out"], rows,
          note=("SQS req = sends (64 KB chunks) + the event source mapping's receive and delete per message. log KB\n"
                f"= what the invocations printed (log lines + EMF) + {LAMBDA_PLATFORM_LOG_BYTES} B of Lambda's START/END/"
                "REPORT lines each (assumption). Chat = Telegram (no channel fee); its webhook is one API request."))

    for label, q in (("email ticket", email), ("chat ticket", chat_ticket), ("mixed ticket", ticket)):
        print(f"  {label}: {q.wru:.1f} WRU, {q.rru:.1f} RRU, {q.invocations:.2f} invocations "
              f"({', '.join(f'{f} {n:.2f}' for f, n in sorted(q.lambda_requests.items()))}), "
              f"{q.sqs_requests:.1f} SQS requests, {q.api_requests:.2f} API requests, "
              f"{(q.log_bytes + q.emf_bytes) / 1024:.1f} KB of logs ({q.emf_bytes / 1024:.1f} KB EMF)")

    _print_streams(busy, streams, old_streams, {"email": (budget.stream, budget.stream_lives, budget.stream_records),
                                                 "chat": (chat["stream"], chat["lives"], chat["stream_records"])},
                   stage, meter)

    storage_bytes, items_per_life = _storage_per_ticket(budget.lives)
    by_arch = {arch: lines_of(ticket, stage, raw_mail_bytes=raw_mean, arch=arch) for arch in ("x86", "arm64")}
    ddb_storage = storage_bytes / 1024 ** 3 * PRICES["ddb_storage"].usd
    rows = []
    for (name, x86), arm in zip(by_arch["x86"].items(), by_arch["arm64"].values()):
        rows.append([name, _fmt(x86 * MILLION), _fmt(arm * MILLION)])
    rows.append(["DynamoDB storage (1st month)", _fmt(ddb_storage * MILLION), _fmt(ddb_storage * MILLION)])
    totals = {arch: (sum(lines.values()) + ddb_storage) * MILLION for arch, lines in by_arch.items()}
    rows.append(["TOTAL platform", _fmt(totals["x86"]), _fmt(totals["arm64"])])
    rows.append(["target", f"<= {TARGET_PER_MILLION:g}", f"<= {TARGET_PER_MILLION:g}"])
    traced = _traced(ticket, stage)
    per_ticket = xray_traces(traced) / TICKETS_PER_MONTH
    xray_note = (f"X-Ray (on in stage {stage.name} for {', '.join(sorted(traced))}): the default rule (1/s per "
                 f"function + 5 %)\nat {TICKETS_PER_MONTH:,} tickets a month records {per_ticket:.2f} traces per ticket "
                 f"of {ticket.invocations:.2f} invocations (fewer per ticket at higher volume)"
                 if traced else f"X-Ray: off in stage {stage.name} (\"xray\" not true for any\nfunction), not priced")
    table(f"Platform cost per 1 million tickets, USD, stage {stage.name} ({REGION}; mix: {MIX['email share']:.0%} "
          f"email, {MIX['chat share']:.0%} chat; {MIX['customer messages']} customer messages, {MIX['agent replies']} "
          f"agent replies, {MIX['status changes']:g} status change per ticket)",
          ["service", "x86_64 (deployed)", "arm64"], rows,
          note=(f"storage lines: what 1M tickets leave behind, for the month they arrive (each further month the same\n"
                f"again): DynamoDB {storage_bytes / 1024:.1f} KB per email ticket life ({items_per_life} items + index "
                f"entries, +100 B each), S3 the raw mail at the corpus's\nmean {raw_mean / 1024:.1f} KB "
                f"({len(raw_sizes)} mails of benchmarks/corpus.py) per mail received. {xray_note}. "
                f"Free tiers not applied.\nDynamoDB Streams reads by Lambda are free. The stream's readers "
                f"(ticket_stream, kpi_stream) as a busy desk runs them (see the table above)."))
    verdict = "MET" if totals["x86"] <= TARGET_PER_MILLION else "NOT MET"
    old_total = (sum(lines_of(old_ticket, stage, raw_mail_bytes=raw_mean, arch="x86").values()) + ddb_storage) * MILLION
    print(f"\n  platform cost per 1M tickets, stage {stage.name}: ${totals['x86']:.2f} as deployed (x86_64), "
          f"${totals['arm64']:.2f} on arm64; target <= ${TARGET_PER_MILLION:g}: {verdict}")
    print(f"  (with the old stream figure, one 100-record batch to each reader on a fresh desk's aggregates: "
          f"${old_total:.2f} x86_64)")
    rest_api = ticket.api_requests * PRICES["apigw_rest"].usd * MILLION
    print(f"  API Gateway: the HTTP API's {ticket.api_requests:.2f} requests a ticket; on the REST API Chalice generates "
          f"(until 2026-12-05) they cost ${rest_api:.2f}, ${rest_api - by_arch['x86']['API Gateway (HTTP API)'] * MILLION:.2f} "
          f"more")
    _print_flood_ceiling(ticket, stage)
    ranked = sorted(by_arch["x86"].items(), key=lambda kv: kv[1], reverse=True)
    print("  biggest items: " + ", ".join(f"{k} ${v * MILLION:.2f}" for k, v in ranked[:4]))
    print("  memory as the stage deploys them: " + ", ".join(
        f"{f} {stage.memory_mb(f)} MB" for f in sorted(set(ticket.lambda_requests) | set(sweep.lambda_requests))))

    # --- what would bring it down: computed from the same measurement
    _print_levers(ticket, by_arch, totals, stage)

    # --- fixed monthly costs (not per ticket)
    fixed = _fixed_monthly(sweep, stage)
    print("\n  fixed per month whatever the volume: " + "; ".join(f"{k} ${v:.2f}" for k, v in fixed.items())
          + f" = ${sum(fixed.values()):.2f}")

    # --- channel fees, apart
    _print_channel_fees(email, chat_ticket, raw_mean)

    # --- SaaS comparison
    _print_saas(ticket, email, chat_ticket, totals["x86"], sum(fixed.values()), raw_mean)

    notes = sorted(set(ticket.read_notes))
    if notes:
        print("\n  read-unit notes: " + "; ".join(notes[:6]))
    if mismatched:
        print(f"\n  WARNING: {len(mismatched)} writes where budget.py's WCU differs from write_units(): {mismatched[:3]}")
    else:
        print(f"\n  cross-check: every measured write's WCU equals write_units() on its sizes "
              f"({sum(len(u.writes) for us in budget.units.values() for u in us)} item writes)")
    levels = ticket.log_lines_by_level
    print("  log lines per mixed ticket by level: " + ", ".join(f"{k} {v:.1f}" for k, v in levels.most_common()))
    print(f"  EMF metrics seen (name|dimensions): {len(ticket.metrics | sweep.metrics)}")
    print(f"\n  (measured in {measured_seconds:.0f} s: {len(meter.invocations)} invocations timed)")
    return 0


def flood_ceiling_per_hour(rate_per_second: float, *, memory_mb: int, billed_ms_per_request: float) -> float:
    """USD an hour of requests let through at the HTTP API's throttle costs (API Gateway, Lambda requests and
    duration). Above ``ApiRateLimit`` API Gateway answers 429 itself and no Lambda runs; whether it bills those
    refusals is not in the stored price pages (at most its $1.00 per million), so they are not priced."""
    requests = rate_per_second * 3600
    per_request = (PRICES["apigw_http"].usd + PRICES["lambda_request"].usd
                   + memory_mb / 1024 * billed_ms_per_request / 1000 * PRICES["lambda_gbs_x86"].usd)
    return requests * per_request


def _print_flood_ceiling(ticket: Quantities, stage: Stage) -> None:
    parameters = deploy.load_stage(stage.name).parameters
    rate, burst = float(parameters["ApiRateLimit"]), parameters["ApiBurstLimit"]
    requests = ticket.lambda_requests.get("api_handler", 0)
    mean_ms = ticket.lambda_ms.get("api_handler", 0) / requests if requests else 0.0
    hour = flood_ceiling_per_hour(rate, memory_mb=stage.memory_mb("api_handler"), billed_ms_per_request=mean_ms)
    print(f"  flood ceiling: the HTTP API throttles at ApiRateLimit {rate:g}/s (burst {burst}, "
          f"infra/stages/{stage.name}.yaml); an hour at that rate costs at most ${hour:.2f} (API Gateway, Lambda "
          f"requests, {mean_ms:.0f} ms at {stage.memory_mb('api_handler')} MB each: the mix's mean api_handler "
          f"run); above it API Gateway answers 429 and no Lambda runs (those refusals, if API Gateway bills them, "
          f"${PRICES['apigw_http'].usd * MILLION:.2f} per million)")


def _reader_per_life(busy: BusyStream, function: str, meter: InvocationMeter) -> Quantities:
    """One stream reader's share of a busy day's run per ticket life: its calls' writes and reads, its invocations."""
    part = busy.part(function)
    invocations = [i for i in meter.within(part.started, part.ended) if i.function == function]
    return Quantities().add(quantities_of(part, invocations), 1 / max(1, busy.lives))


def _print_streams(busy: dict[str, BusyStream], streams: dict[str, Quantities], old_streams: dict[str, Quantities],
                   old: dict[str, tuple[Unit, int, int]], stage: Stage, meter: InvocationMeter) -> None:
    """The stream's readers per ticket life, the old figure beside a busy day's (each reader, and both), and what
    each costs per 1M tickets."""
    def usd(q: Quantities) -> str:
        return _fmt(sum(lines_of(q, stage, raw_mail_bytes=0, arch="x86").values()) * MILLION)

    rows = []
    for channel, measured in busy.items():
        unit, lives, records = old[channel]
        kb, aggregate_wru = aggregate_writes(unit, lives)
        q = old_streams[channel]
        rows.append([f"{channel}, old: one batch to each reader, fresh aggregates", "-", records, lives,
                     f"{q.wru:.1f}", f"{aggregate_wru:.1f}", f"{kb:.2f}", f"{q.invocations:.3f}", usd(q)])
        for reader in measured.readers.values():
            kb, aggregate_wru = aggregate_writes(measured.part(reader.function), measured.lives)
            q = _reader_per_life(measured, reader.function, meter)
            rows.append([f"{channel}, busy day: {reader.function}", f"{reader.window:g}", reader.batch,
                         f"{reader.lives_per_batch:.2f}", f"{q.wru:.1f}", f"{aggregate_wru:.1f}", f"{kb:.2f}",
                         f"{q.invocations:.3f}", usd(q)])
        kb, aggregate_wru = aggregate_writes(measured.unit, measured.lives)
        q = streams[channel]
        rows.append([f"{channel}, busy day: both readers (priced)", "-", "-", "-", f"{q.wru:.1f}",
                     f"{aggregate_wru:.1f}", f"{kb:.2f}", f"{q.invocations:.3f}", usd(q)])
    per_second = TICKETS_PER_MONTH / busy_day.SECONDS_PER_MONTH
    email = busy["email"]
    table(f"The stream's readers per ticket life, stage {stage.name}: the old figure and a busy day's (priced)",
          ["", "window s", "records/batch", "lives/batch", "WRU/life", "aggregates WRU/life", "largest aggregate KB",
           "invocations/life", "USD per 1M lives (x86)"], rows,
          note=(f"old: one batch of up to {STREAM_BATCH} records to each reader on a fresh desk, whose aggregate items "
                f"are tiny. busy day: today's aggregates first filled as a desk at\n{TICKETS_PER_MONTH:,} tickets a "
                f"month has them by mid-day ({email.events:,} events through aggregates.record_all: "
                f"benchmarks/busy_day.py), then each reader's batches of\nwhat arrives in its own batching window ("
                + ", ".join(f"{r.function} {r.window:g} s" for r in email.readers.values())
                + f"): {per_second:.3f} lives/s x "
                + " / ".join(f"{b.records / b.lives:.1f}" for b in busy.values())
                + " records a life (email / chat, measured) x the window, at most its BatchSize. Each run made the "
                  "lives of one\nbatch of the largest ("
                + " / ".join(f"{b.lives} lives on {b.agents} agents" for b in busy.values())
                + "). USD: the stream's own WRU, Lambda and logs per life at that volume; an update is billed on "
                  "the\nlarger of the item before and after."))


def _print_levers(ticket: Quantities, by_arch: dict[str, dict[str, float]], totals: dict[str, float],
                  stage: Stage) -> None:
    """Design changes, each priced from this run's measurement of the mixed ticket in ``stage``; a change the
    stage already has is said so, not offered as a saving."""
    x86, wru = by_arch["x86"], PRICES["ddb_wru"].usd
    levers = [
        ("X-Ray tracing off", x86[XRAY_LINE] * MILLION,
         f"config: \"xray\": false in the {stage.name} stage (Lambda's own sampling rate cannot be lowered; "
         "keep it on in a staging stage)"),
        ("no TransactWriteItems", ticket.wru_transaction_doubling * wru * MILLION,
         "code: ordered single conditional writes, the ticket's put last as the commit point, the others "
         "idempotent (a redesign of storage; the x2 goes)"),
        ("ticket item < 1 KB", ticket.wru_ticket_over_1kb * wru * MILLION,
         "data: shorter stored attribute names (a migration)"),
        ("INFO logs off in production", x86["CloudWatch Logs ingestion"] * MILLION * _info_share(ticket),
         f"config: POWERTOOLS_LOG_LEVEL=WARNING in the {stage.name} stage (EMF lines stay)"),
        ("arm64 Lambdas", totals["x86"] - totals["arm64"],
         "infra: Architectures [arm64] per function in the merged template (locked wheels for arm64 first)"),
    ]
    if not _traced(ticket, stage):
        levers = levers[1:]  # nothing to save: priced without X-Ray
        print(f"\n  X-Ray tracing off: already so in stage {stage.name} (the bill prices no traces)")
    ranked = sorted(levers, key=lambda lever: -lever[1])
    table("Design changes that lower the bill (savings per 1M tickets, USD, from this run; not additive where noted)",
          ["change", "saves", "how"], [[name, _fmt(saving), how] for name, saving, how in ranked],
          note="'no TransactWriteItems' and 'ticket item < 1 KB' overlap: without transactions the ticket item's\n"
               "over-1-KB units are halved too. SQS is priced at batches of 1 (a quiet desk); a busy desk's batches of\n"
               f"10 would save ~{_sqs_batching_saving(ticket) * MILLION:.2f}.")
    config_only = [lever for lever in ranked if lever[2].startswith(("config", "infra"))]
    after_config = totals["x86"] - sum(saving for _, saving, _ in config_only)
    after_all = after_config - ticket.wru_transaction_doubling * wru * MILLION
    floor = after_all - (ticket.wru - ticket.wru_transaction_doubling) * wru * MILLION
    print(f"  config and infra changes only ({', '.join(name for name, _, _ in config_only)}): ${after_config:.2f}; "
          f"and no transactions: ${after_all:.2f} per 1M tickets")
    print(f"  everything but DynamoDB writes then costs ${floor:.2f}; the target leaves "
          f"{max(0.0, TARGET_PER_MILLION - floor) / wru / MILLION:.1f} WRU per ticket "
          f"(measured {ticket.wru:.1f}, {ticket.wru - ticket.wru_transaction_doubling:.1f} without transactions)")


def _sqs_batching_saving(q: Quantities) -> float:
    """The receive + delete per message priced in quantities_of, at 10 messages per receive and delete instead."""
    per_message = 2  # receive + delete at a batch of one
    messages = q.sqs_requests / 3  # each sent message: send + receive + delete (payloads are < 64 KB here)
    return messages * per_message * 0.9 * PRICES["sqs_fifo"].usd


def _info_share(q: Quantities) -> float:
    """Share of the log bytes (log lines + EMF + platform lines) that INFO and DEBUG lines are, by line count."""
    lines = sum(q.log_lines_by_level.values())
    if not lines or not (q.log_bytes + q.emf_bytes):
        return 0.0
    low = sum(v for k, v in q.log_lines_by_level.items() if k in ("INFO", "DEBUG"))
    invocations = q.invocations
    printed = q.log_bytes - invocations * LAMBDA_PLATFORM_LOG_BYTES
    return max(0.0, printed * low / lines) / (q.log_bytes + q.emf_bytes)


def _fixed_monthly(sweep: Quantities, stage: Stage) -> dict[str, float]:
    infra = (PROJECT / "infra" / "resources.yaml").read_text()
    runs = 60 * 24 * 30  # rate(1 minute)
    sweep_gbs = sum(gb_seconds(stage.memory_mb(f), ms) for f, ms in sweep.lambda_ms.items())
    app = (PROJECT / "app.py").read_text()
    queues = len(re.findall(r"@app\.on_sqs_message", app))
    return {
        "sweep every minute (measured run x 43,200)": runs * (sweep.invocations * PRICES["lambda_request"].usd
                                                               + sweep_gbs * PRICES["lambda_gbs_x86"].usd
                                                               + sweep.rru * PRICES["ddb_rru"].usd
                                                               + sweep.wru * PRICES["ddb_wru"].usd
                                                               + (sweep.invocations * PRICES["xray_trace"].usd
                                                                  if stage.xray("sweep") else 0.0)),
        f"idle SQS polling ({queues} queues x {SQS_IDLE_POLLERS} pollers, 20 s long polls)":
            queues * SQS_IDLE_POLLERS * 3 * 60 * 24 * 30 * PRICES["sqs_fifo"].usd,
        f"alarms ({infra.count('Type: AWS::CloudWatch::Alarm')})":
            infra.count("Type: AWS::CloudWatch::Alarm") * PRICES["alarm"].usd,
        "dashboard": infra.count("Type: AWS::CloudWatch::Dashboard") * PRICES["dashboard"].usd,
    }


def _print_channel_fees(email: Quantities, chat: Quantities, raw_mean: float) -> None:
    chunks = ses_inbound_chunks(int(raw_mean))
    ses_email = (email.ses_in * (PRICES["ses_in"].usd + chunks * PRICES["ses_in_chunk"].usd)
                 + email.ses_out * PRICES["ses_out"].usd + email.ses_out_bytes / 1024 ** 3 * PRICES["ses_out_gb"].usd)
    inbound_msgs = MIX["customer messages"]
    outbound_msgs = chat.lambda_requests.get("send_outbound", 0) and (
        1 + MIX["agent replies"])  # acknowledgement + replies, as the measured chat life sent them
    rows = [
        ["email (SES)", f"{email.ses_in:.2f} in ({chunks} chunk each at {raw_mean / 1024:.0f} KB), "
                        f"{email.ses_out:.2f} out", _fmt(ses_email * MILLION)],
        ["SMS (Twilio, US)", f"{inbound_msgs:.1f} in, {outbound_msgs:.1f} out, 1 segment each",
         _fmt((inbound_msgs + outbound_msgs) * PRICES["sms"].usd * MILLION)],
        ["WhatsApp (Twilio)", f"{inbound_msgs:.1f} in, {outbound_msgs:.1f} out (service window: no Meta fee)",
         _fmt((inbound_msgs + outbound_msgs) * PRICES["whatsapp"].usd * MILLION)],
        ["Telegram, Slack, Messenger, web chat", "-", "0"],
    ]
    table("Channel fees per 1 million tickets of that channel, USD (not in the platform total)",
          ["channel", "messages per ticket (measured for email)", "per 1M tickets"], rows,
          note=f"SES out: ${PRICES['ses_out'].usd * 1000:.2f}/1,000 + ${PRICES['ses_out_gb'].usd}/GB; in: "
               f"${PRICES['ses_in'].usd * 1000:.2f}/1,000 + ${PRICES['ses_in_chunk'].usd * 1000:.2f}/1,000 chunks of 256 KB.")


def _print_saas(ticket: Quantities, email: Quantities, chat: Quantities, per_million: float, fixed: float,
                raw_mean: float) -> None:
    n = TICKETS_PER_MONTH_SAAS
    platform = per_million / MILLION * n + fixed
    chunks = ses_inbound_chunks(int(raw_mean))
    ses = MIX["email share"] * (email.ses_in * (PRICES["ses_in"].usd + chunks * PRICES["ses_in_chunk"].usd)
                                + email.ses_out * PRICES["ses_out"].usd)
    channel = n * ses
    rows = [["Relay Desk on AWS (platform + fixed + SES; chat on free platforms)", _fmt(platform + channel),
             f"{(platform + channel) / n:.4f}", "this run"]]
    for name, (per_agent, source) in SAAS.items():
        monthly = per_agent * SAAS_AGENTS
        rows.append([name, _fmt(monthly), f"{monthly / n:.3f}", source])
    table(f"{SAAS_AGENTS} agents, {n:,} tickets a month: USD per month",
          ["", "per month", "per ticket", "price source"], rows,
          note="SaaS seats include hosting, support and features Relay Desk's operator must run themselves; the AWS\n"
               "figure excludes people, support plans and data transfer out.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke version (fewer repeats)")
    parser.add_argument("--stage", default="prod", help="the .chalice/config.json stage to price (default: prod, "
                                                        "the deployed one)")
    args = parser.parse_args(argv)
    return bill(args.quick, args.stage)


if __name__ == "__main__":
    sys.exit(main())
