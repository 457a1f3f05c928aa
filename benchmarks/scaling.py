"""Ten thousand tickets a second (issue 16): per-partition load of every key the desk writes, at peak, with skew.

    .venv/bin/python benchmarks/scaling.py                      # the code's design, then the design knobs applied
    .venv/bin/python benchmarks/scaling.py --rate 2000          # another peak
    .venv/bin/python benchmarks/scaling.py --number-block 100 --aggregate-shards 64 ...   # one set of knobs only

No AWS, no moto: a model. Its inputs are read from the code where the code decides them (key design,
shard counts, batch sizes, the aggregate item's attributes, the assignment order) — ``code_inputs`` names
each source — and the rest are traffic and latency assumptions given as options (``docs/scaling.md``).
The assignment races are simulated with the real ``domain.assignment.candidates`` ordering.

Limits (AWS documentation, cited in docs/scaling.md): a DynamoDB partition serves 1,000 WCU and 3,000 RCU
per second, GSI partitions likewise; SQS FIFO 300 API calls/s per message group, 3,000/s per queue without
high-throughput mode (batched) and 70,000/s with it (largest regions); the SQS event source mapping adds
300 concurrent executions per minute up to 1,250 by default, and a FIFO source never more than the active
message groups; the default account concurrency is 1,000.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

__all__ = ["LIMITS", "CodeInputs", "Design", "Row", "Traffic", "assignment_capacity", "code_inputs", "fifo_group",
           "main", "model", "partition_row", "race_round", "shard_rate", "units"]

# --- AWS limits (docs/scaling.md cites each) -------------------------------------------------------------
LIMITS = {
    "partition_wcu": 1000,  # per partition, table or GSI
    "partition_rcu": 3000,
    "fifo_group_tps": 300,  # SendMessage calls per second per message group (high throughput: per group)
    "fifo_queue_tps": 3000,  # per queue without high throughput, batched (300 calls x 10)
    "fifo_queue_tps_high": 70000,  # high-throughput FIFO, largest regions, non-batched
    "esm_step_per_minute": 300,  # SQS event source: more concurrent executions per minute
    "esm_max": 1250,  # SQS event source mapping's default ceiling
    "account_concurrency": 1000,  # default account quota
    "ondemand_instant_factor": 2,  # on-demand absorbs up to 2x the previous peak at once
}
KB = 1024


def units(size_bytes: int, *, per: int = KB, transactional: bool = False) -> int:
    """DynamoDB capacity units for one item of ``size_bytes``: ceil(size / 1 KB) writes (4 KB for reads), x2 in a
    transaction; never less than 1."""
    base = max(1, math.ceil(size_bytes / per))
    return base * 2 if transactional else base


def shard_rate(rate: float, shards: int) -> float:
    """The rate one of ``shards`` hash-spread suffixes of a key receives (uniform hash: the mean)."""
    return rate / max(1, shards)


def fifo_group(rate: float, per_message_s: float, batch: int) -> tuple[float, float]:
    """(SendMessage limit share, consumer throughput) of one FIFO message group receiving ``rate`` msgs/s.

    Lambda keeps one batch of a group in flight: the group drains at most ``batch`` messages per
    ``batch * per_message_s`` seconds, i.e. 1 / per_message_s messages a second, whatever the batch size."""
    return rate / LIMITS["fifo_group_tps"], 1.0 / per_message_s


@dataclass(frozen=True)
class Row:
    key: str
    kind: str  # WCU, RCU, calls/s, msgs/s, concurrency, decisions/s
    per_second: float
    limit: float
    note: str = ""

    @property
    def share(self) -> float:
        return self.per_second / self.limit if self.limit else math.inf

    @property
    def verdict(self) -> str:
        return "ok" if self.share <= 1.0 else "HOT"


def partition_row(key: str, per_second: float, *, read: bool = False, note: str = "") -> Row:
    return Row(key, "RCU" if read else "WCU", per_second,
               LIMITS["partition_rcu"] if read else LIMITS["partition_wcu"], note)


# --- what the code decides --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeInputs:
    ticket_indexes: dict[str, str]  # index name -> hash key attribute (storage/models.py)
    time_shards: int  # config TIME_SHARDS default (storage/ticket_keys.py)
    number_block: int  # TICKET_NUMBER_BLOCK default (config.py)
    counter_key: str  # storage/repository.py _COUNTER_KEY
    directory_value: str  # AgentModel.directory default: the directory GSI's one hash key value
    directory_entry_bytes: int  # one agent's directory index entry (DIRECTORY_FIELDS + keys)
    spread: int  # domain/assignment.py SPREAD
    max_claims: int  # service/assign.py _MAX_CLAIMS
    directory_cache_s: float  # storage/agents.py _CACHE_SECONDS
    aggregate_item_bytes: int  # a saturated day of all#all in one item (the shape before the split)
    aggregate_counters_bytes: int  # the day's counters item
    aggregate_histogram_bytes: int  # one histogram's item (every bucket set)
    inbox_item_bytes: int  # inbox#desk: every counter of domain/inbox_counts.py
    inbound_batch: int  # app.py process_inbound batch_size
    stream_batch: int  # app.py ticket_stream batch_size (reactions and the inbox counters)
    fifo_high_throughput: bool  # infra/resources.yaml FifoThroughputLimit: perMessageGroupId
    reserved_concurrency: bool  # any ReservedConcurrentExecutions in infra/resources.yaml
    queues: tuple[str, ...]  # chalicelib/routing.yaml
    sources: dict[str, str] = field(default_factory=dict)
    split_histograms: bool = False  # storage/aggregates.py: each histogram in its own item
    directory_shards: int = 1  # config DIRECTORY_SHARDS default (storage/agents.py)
    aggregate_shards: int = 1  # config AGGREGATE_SHARDS default (storage/aggregates.py)
    view_shards: int = 1  # config VIEW_SHARDS default (storage/ticket_keys.py)
    histograms: int = 4  # kpis.HISTOGRAMS: the items a batch touches per series when split
    kpi_stream_batch: int = 0  # app.py kpi_stream batch_size: the KPI aggregates' own reader (0: ticket_stream's)
    email_group: str = "sender"  # EMAIL_FIFO_GROUP's default (channels/email/ses_inbound.py); "thread" a knob


def _day_item(counters: tuple[str, ...], histograms: tuple[str, ...], *, count: int,
              own_item: bool = False) -> dict[str, Any]:
    """An aggregate item with every counter and bucket set: the day's one item as stored before the split
    (c_<counter>, h_<histogram>_<bucket>), or with ``own_item`` one histogram's item as storage/aggregates.py
    writes it now (day#<histogram>, b<bucket>)."""
    from chalicelib.domain import histogram
    from chalicelib.storage.models import AggregateModel

    day = AggregateModel.histogram_day("2026-12-07", histograms[0]) if own_item else "2026-12-07"
    item: dict[str, Any] = {"series": {"S": "all#all"}, "day": {"S": day}}
    item.update({f"c_{name}": {"N": str(count)} for name in counters})
    keys = [str(index) for index in range(histogram.ZERO, histogram.OVERFLOW + 1) if index != histogram.LEGACY_ZERO]
    for name in histograms:
        names = (AggregateModel.histogram_bucket(key).attr_name if own_item else f"h_{name}_{key}" for key in keys)
        item.update({attribute: {"N": str(count // len(keys) or 1)} for attribute in names})
    if histograms:
        item["histogram_scheme"] = {"N": str(histogram.SCHEME_VERSION)}
    return item


def code_inputs(day_count: int) -> CodeInputs:
    """Everything the model takes from the code as it stands (import only: no AWS call)."""
    import yaml

    from chalicelib import config
    from chalicelib.domain import assignment, inbox_counts, kpis, vocabulary
    from chalicelib.service import assign
    from chalicelib.storage import agents, aggregates, models, repository

    indexes = {index.Meta.index_name: index._hash_key_attribute().attr_name
               for index in models.TicketModel._indexes.values()}
    agent = models.AgentModel("a-0123456789ab", name="Ann Agent", email="ann.agent@example.com", role="agent",
                              token_hash="0" * 64, created_at="2026-12-07T08:00:00.000000Z", skills={"*"}, languages={"en", "da"},
                              capacity=10, status="online", open_count=7, last_assigned_at="2026-12-07T08:00:00.000000Z",
                              working_hours={"timezone": "Europe/Copenhagen", "days": [0, 1, 2, 3, 4],
                                             "start": "08:00", "end": "16:00"})
    serialised = agent.serialize()
    entry = {name: value for name, value in serialised.items()
             if name in (*models.DIRECTORY_FIELDS, "agent_id", "directory")}
    full = _day_item(kpis.COUNTERS, kpis.HISTOGRAMS, count=day_count)
    inbox = Counter()
    for status in vocabulary.ACTIVE_STATUSES:
        inbox[f"status_{status}"] = 1
    for priority in vocabulary.PRIORITIES:
        inbox[f"priority_{priority}"] = 1
    for channel in vocabulary.CHANNELS:
        inbox[f"channel_{channel}"] = 1
    routing = assignment.load_routing(assignment.DEFAULT_ROUTING_PATH)
    for queue in routing.queues:
        inbox[f"queue_{queue}"] = 1
    inbox["unassigned"] = inbox["overdue"] = 1
    inbox_item = {"series": {"S": f"inbox#{inbox_counts.DESK}"}, "day": {"S": "live"},
                  **{f"c_{name}": {"N": str(day_count)} for name in inbox}}
    app_text = (PROJECT / "app.py").read_text(encoding="utf-8")
    resources_text = (PROJECT / "infra" / "resources.yaml").read_text(encoding="utf-8")

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # CloudFormation tags: values unused
    resources = yaml.load(resources_text, Loader=_Loader)["Resources"]  # noqa: S506 - SafeLoader subclass
    inbound_queue = resources["InboundQueue"]["Properties"]
    return CodeInputs(
        ticket_indexes=indexes,
        time_shards=max(1, int(config._DEFAULTS["TIME_SHARDS"])),  # the default
        number_block=max(1, int(config._DEFAULTS["TICKET_NUMBER_BLOCK"])),  # the default, not this shell's env
        counter_key=repository._COUNTER_KEY,
        directory_value=models.AgentModel.directory.default,
        directory_entry_bytes=repository.item_size(entry),
        spread=assignment.SPREAD,
        max_claims=assign._MAX_CLAIMS,
        directory_cache_s=agents._CACHE_SECONDS,
        aggregate_item_bytes=repository.item_size(full),
        aggregate_counters_bytes=repository.item_size(_day_item(kpis.COUNTERS, (), count=day_count)),
        aggregate_histogram_bytes=repository.item_size(_day_item((), kpis.HISTOGRAMS[:1], count=day_count,
                                                                 own_item=True)),
        inbox_item_bytes=repository.item_size(inbox_item),
        inbound_batch=int(re.search(r'INBOUND_QUEUE"\), batch_size=(\d+)', app_text).group(1)),
        stream_batch=_stream_batch_size(app_text, "ticket_stream"),
        kpi_stream_batch=_stream_batch_size(app_text, "kpi_stream") or 0,
        fifo_high_throughput=inbound_queue.get("FifoThroughputLimit") == "perMessageGroupId",
        reserved_concurrency="ReservedConcurrentExecutions" in resources_text,
        queues=tuple(routing.queues),
        sources={"aggregates series": aggregates._ALL_SERIES},
        split_histograms=hasattr(models.AggregateModel, "histogram_day"),
        directory_shards=max(1, int(config._DEFAULTS["DIRECTORY_SHARDS"])),  # the default, not this shell's env
        aggregate_shards=max(1, int(config._DEFAULTS["AGGREGATE_SHARDS"])),
        view_shards=max(1, int(config._DEFAULTS["VIEW_SHARDS"])),
        histograms=len(kpis.HISTOGRAMS),
        email_group=config._DEFAULTS["EMAIL_FIFO_GROUP"],  # the default; EMAIL_FIFO_GROUP=thread is a knob
    )


def _stream_batch_size(app_text: str, function_name: str) -> int | None:
    """The ``batch_size`` of app.py's ``@app.on_dynamodb_record(..., name=function_name)``; None without one."""
    for args in re.findall(r"on_dynamodb_record\(((?:[^()]|\([^()]*\))*)\)", app_text):
        if re.search(rf"\bname=[\"']{function_name}[\"']", args):
            size = re.search(r"\bbatch_size=(\d+)", args)
            return int(size.group(1)) if size else None
    return None


#: Lambda hands a stream reader at most 6 MB a batch (the synchronous invocation payload limit), whatever its
#: BatchSize: a big BatchSize holds fewer records when the records are large.
INVOCATION_PAYLOAD_BYTES = 6 * 1024 * 1024


def _batch_records(batch_size: int, traffic: "Traffic") -> int:
    """Records in a full stream batch at the peak: ``batch_size``, at most what fits in one invocation's payload."""
    return max(1, min(batch_size, INVOCATION_PAYLOAD_BYTES // max(1, traffic.stream_record_bytes)))


# --- traffic and design -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Traffic:
    rate: float = 10_000.0  # new tickets per second at the peak
    outage_share: float = 0.4  # of the peak: the viral outage, one queue, one priority
    domain_share: float = 0.2  # one huge sender domain...
    domain_addresses: int = 50_000  # ...spread over this many addresses (customers, FIFO groups)
    noisy_sender_rate: float = 500.0  # one address of it (a monitoring system) mails this many a second...
    noisy_sender_threads: int = 100  # ...about this many distinct incidents (threads) at once
    waiting_share: float = 0.5  # tickets not claimed at creation (no agent free): they pass the waiting line
    breach_share: float = 0.1  # tickets that breach a target (the overdue index)
    ticket_writes_per_life: int = 5  # tickets-table writes a life makes: the stream records it feeds
    sla_index_writes_per_life: int = 6  # sla_due entries: put, two moves (first reply, warning), delete
    timer_index_writes_per_life: int = 4  # timers: put on solved, move to closed's timer, delete
    agents: int = 5_000  # online agents
    previous_peak: float = 1_000.0  # last week's peak tickets/s (on-demand's reference; Monday's starting point)
    ramp_seconds: float = 600.0  # the Monday-morning burst: previous_peak -> rate in this time
    compute_ms: float = 7.8  # the pipeline's own time per mail (README, benchmarks/budget.py)
    calls_per_ticket: int = 7  # AWS calls per new email ticket (README, benchmarks/budget.py)
    aws_call_ms: float = 12.0  # one DynamoDB/SQS/S3 call (assumption)
    ses_call_ms: float = 60.0  # one SES SendRawEmail (assumption; one of the calls above)
    ses_inbound_ms: float = 30.0  # ses_inbound per mail (one SQS call)
    stream_batch_ms: float = 150.0  # a stream reader per batch (one transaction, conflicts aside)
    stream_record_bytes: int = 5_000  # a change as Lambda hands it (assumption: the old and new image of the
    # ~1.9 KB ticket, StreamViewType NEW_AND_OLD_IMAGES, in DynamoDB JSON with its type tags)
    day_count: int = 10_000 * 86_400  # a day's count in each aggregate number at this rate
    ticket_item_bytes: int = 1_900  # the ticket item (README budget paragraph: 1.5-1.9 KB)
    wcu_per_life: int = 60  # DynamoDB write units per ticket life (README, benchmarks/budget.py)
    tables_written: int = 7  # tickets, messages, lookups, customers, agents, audit, aggregates

    @property
    def per_message_s(self) -> float:
        return (self.compute_ms + (self.calls_per_ticket - 1) * self.aws_call_ms + self.ses_call_ms) / 1000


@dataclass(frozen=True)
class Design:
    number_block: int
    time_shards: int
    view_shards: int = 1  # suffixes on by_status / by_queue / by_assignee / waiting hash keys
    directory_shards: int = 1
    aggregate_shards: int = 1  # all#all#k (and every KPI series; never inbox#desk) written to one of k
    stream_batch: int = 100  # ticket_stream's BatchSize (the inbox counters)
    kpi_stream_batch: int = 0  # kpi_stream's BatchSize (the KPI aggregates); 0: written by ticket_stream's batches
    split_histograms: bool = False  # one item per series, day and histogram (counters apart)
    email_group: str = "sender"  # FIFO group: "sender" (email:<from>) or "thread" (sender + thread root)
    spread: int = 0  # assignment.SPREAD (0: the code's)
    account_concurrency: int = LIMITS["account_concurrency"]  # quota (a support request raises it)
    esm_max: int = LIMITS["esm_max"]  # the SQS event source mapping's ceiling (likewise)
    warm_tickets_per_s: float = 0.0  # on-demand warm throughput set ahead of Monday, in tickets/s (0: none)
    table_quota_wcu: int = 40_000  # on-demand per-table write quota (default 40,000)

    @classmethod
    def of_code(cls, code: CodeInputs) -> "Design":
        return cls(number_block=code.number_block, time_shards=code.time_shards, stream_batch=code.stream_batch,
                   kpi_stream_batch=code.kpi_stream_batch,
                   split_histograms=code.split_histograms, directory_shards=code.directory_shards,
                   aggregate_shards=code.aggregate_shards, view_shards=code.view_shards,
                   email_group=code.email_group)


# --- assignment races, simulated with the real ordering -------------------------------------------------
def race_round(workers: int, *, agents: int = 50, decisions: int = 300, seed: str = "s",
               spread: int = 0) -> tuple[float, float]:
    """(claims per round, lost races per decision) for ``workers`` deciders racing in lockstep.

    Each round every worker reads the directory afresh, orders it with ``domain.assignment.candidates``
    (round robin, its retry count as ``auto_assign`` passes it) and claims the first; per agent one claim wins
    (the condition on ``last_assigned_at``), the rest lose and retry. A winner starts a new ticket."""
    from chalicelib.domain import assignment

    code_spread = assignment.SPREAD
    if spread:
        assignment.SPREAD = spread  # the knob: the code reads the module's SPREAD at each call
    try:
        return _race(assignment, workers, agents=agents, decisions=decisions, seed=seed)
    finally:
        assignment.SPREAD = code_spread


def _race(assignment: Any, workers: int, *, agents: int, decisions: int, seed: str) -> tuple[float, float]:
    from datetime import datetime, timedelta, timezone

    routing = assignment.load_routing(assignment.DEFAULT_ROUTING_PATH)
    queue = next(name for name in routing.queues if routing.for_queue(name).strategy == "round_robin")
    start = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    cursor = {f"a-{n:04d}": (start - timedelta(seconds=agents - n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
              for n in range(agents)}
    issued = 0

    def ticket() -> str:
        nonlocal issued
        issued += 1
        return "t-" + hashlib.sha256(f"{seed}{issued}".encode()).hexdigest()[:20]

    racing = [[ticket(), 0] for _ in range(workers)]
    done = lost = rounds = claims = 0
    moment = start
    while done < decisions:
        rounds += 1
        moment += timedelta(milliseconds=25)
        states = [assignment.AgentState(agent_id=a, capacity=10**6, last_assigned_at=at) for a, at in cursor.items()]
        picks: dict[str, list[int]] = {}
        for index, (ticket_id, retry) in enumerate(racing):
            order = assignment.candidates(assignment.TicketToAssign(ticket_id=ticket_id, queue=queue), states,
                                          routing, moment, retry=retry)
            picks.setdefault(order[0].agent_id, []).append(index)
        for agent_id, indexes in picks.items():
            winner, *losers = indexes
            cursor[agent_id] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            racing[winner] = [ticket(), 0]
            done += 1
            claims += 1
            for index in losers:
                racing[index][1] += 1
                lost += 1
    return claims / rounds, lost / done


def assignment_capacity(claims_per_round: float, round_s: float, shards: int) -> float:
    """Decisions a second the whole desk can make: each directory shard has its own head of the line."""
    return claims_per_round / round_s * shards


# --- the model --------------------------------------------------------------------------------------------
def model(code: CodeInputs, traffic: Traffic, design: Design) -> list[Row]:
    r = traffic.rate
    rows: list[Row] = []
    outage, w = traffic.outage_share, traffic.waiting_share
    others = (1 - outage) / max(1, len(code.queues))
    hottest_queue = max(outage, others)
    v = design.view_shards

    # Ticket indexes (storage/models.py, storage/ticket_keys.py): keys-only or small include entries, 1 WCU each.
    rows.append(partition_row("tickets GSI by_status: status=open", shard_rate(2 * r, v),
                              note="every new ticket puts, every first move out deletes"))
    rows.append(partition_row("tickets GSI by_queue: <outage queue>#open", shard_rate(2 * r * hottest_queue, v),
                              note="viral outage: one queue"))
    rows.append(partition_row("tickets GSI by_assignee: none#open", shard_rate(2 * r * w, v),
                              note="unclaimed tickets in, assigned out"))
    rows.append(partition_row("tickets GSI waiting: <outage queue>", shard_rate(2 * r * w * hottest_queue, v),
                              note="the waiting line of the outage queue"))
    rows.append(partition_row(f"tickets GSI sla_due: one of {design.time_shards} shards",
                              shard_rate(traffic.sla_index_writes_per_life * r, design.time_shards)))
    rows.append(partition_row(f"tickets GSI timers: one of {design.time_shards} shards",
                              shard_rate(traffic.timer_index_writes_per_life * r, design.time_shards)))
    rows.append(partition_row(f"tickets GSI overdue: one of {design.time_shards} shards",
                              shard_rate(2 * r * traffic.breach_share, design.time_shards)))

    # The ticket-number counter (storage/repository.py): one ADD per block, a tiny item.
    rows.append(partition_row(f"lookups {code.counter_key} (block {design.number_block})",
                              r / design.number_block))

    # Per-ticket keys (tickets, messages, audit; in:/tno:/mid:/ack: lookups): spread by ticket id. The busiest
    # second of one ticket: its creation transaction (ticket item x2) and the claim's follow-up, if any.
    rows.append(partition_row("tickets ticket_id=<one ticket>, busiest second",
                              2 * units(traffic.ticket_item_bytes, transactional=True),
                              note="every other per-ticket key likewise spread"))

    # One huge domain: per address (identity lookup, customer, by_customer), each behind its FIFO group.
    per_message = traffic.per_message_s
    per_address = traffic.domain_share * r / traffic.domain_addresses
    _, drain = fifo_group(traffic.noisy_sender_rate, per_message, code.inbound_batch)
    noisy_processed = min(traffic.noisy_sender_rate, drain)
    rows.append(partition_row("lookups id:email:<big-domain address> + customer", per_address * 2,
                              note=f"{traffic.domain_addresses:,} addresses"))
    if design.email_group == "sender":
        rows.append(partition_row("customers/by_customer: the noisy sender", noisy_processed * 2,
                                  note="capped by its FIFO group's drain"))
    else:  # its replies no longer write it in their transaction: ticket_stream writes it once per batch
        stream_batches = r * traffic.ticket_writes_per_life / _batch_records(design.stream_batch, traffic)
        rows.append(partition_row("customers/by_customer: the noisy sender",
                                  min(traffic.noisy_sender_rate, stream_batches),
                                  note="ticket_stream: 1 WCU a batch holding its replies (service/contacts.py)"))

    # Agents (storage/agents.py, models.AgentDirectory): one hash key value unless sharded.
    assigned = r  # every ticket is assigned once and released once
    directory_writes = 2 * assigned  # open_count and last_assigned_at are projected: every claim rewrites the entry
    entry = code.directory_entry_bytes
    shard_agents = traffic.agents / design.directory_shards
    query_rcu = 0.5 * math.ceil(shard_agents * entry / (4 * KB))  # eventually consistent Query of one shard
    concurrency = r * per_message  # process_inbound copies busy at once (batches of 10 take 10x as long)
    round_s = 2 * traffic.aws_call_ms / 1000  # fresh directory Query + the claim transaction
    need_per_shard = assigned / design.directory_shards
    racing = max(1, round(need_per_shard * round_s))
    simulated = min(racing, 48)
    claims, lost = race_round(simulated, agents=min(50, max(2, int(shard_agents))), spread=design.spread)
    if racing > simulated:  # beyond the simulated size the front is the same: claims saturate, losses grow
        lost = (racing - claims) / claims
    gave_up = (1 - min(1.0, claims / racing)) ** code.max_claims if racing > 1 else 0.0
    # Capacity: losers retry, so deciders pile up until the claims a round allows keep pace; at most what a
    # saturated line (48 racing, the front of the order all taken) yields per round.
    saturated, _ = race_round(48, agents=min(50, max(2, int(shard_agents))), spread=design.spread)
    claims = max(claims, saturated)
    capacity = assignment_capacity(claims, round_s, design.directory_shards)
    fresh_reads = assigned / design.directory_shards * min(lost, code.max_claims)
    cached_reads = concurrency / design.directory_shards / code.directory_cache_s
    label = code.directory_value if design.directory_shards == 1 else f"{code.directory_value}#k of {design.directory_shards}"
    rows.append(partition_row(f"agents GSI directory={label} (writes)", shard_rate(directory_writes,
                                                                                 design.directory_shards)))
    rows.append(partition_row(f"agents GSI directory={label} (Query reads)", (fresh_reads + cached_reads) * query_rcu,
                              read=True, note=f"{query_rcu:g} RCU per Query; {lost:.1f} lost races/decision, "
                                              f"{gave_up:.0%} give up after {code.max_claims}"))
    rows.append(Row("assignment decisions (round robin head)", "decisions/s", assigned, capacity,
                    f"{racing} racing per shard, at most {claims:.2f} claims/round of {round_s * 1000:.0f} ms"))

    # KPI aggregates and inbox counters (storage/aggregates.py, storage/ticket_counts.py): one transactional
    # update per series and day per stream batch; the inbox counters per ticket_stream batch, the KPIs per
    # kpi_stream batch (its own reader of the stream, app.py). At the peak each batch is full: BatchSize
    # records, or the 6 MB a Lambda invocation takes, whichever is fewer.
    records = r * traffic.ticket_writes_per_life
    batches = records / _batch_records(design.stream_batch, traffic)
    kpi_batch = _batch_records(design.kpi_stream_batch or design.stream_batch, traffic)
    kpi_batches = records / kpi_batch if design.kpi_stream_batch else batches
    # Split, a batch at the peak updates the counters item and every histogram's item of the series, all in
    # the one partition of its hash key.
    if design.split_histograms:
        item = code.aggregate_histogram_bytes
        batch_units = (units(code.aggregate_counters_bytes, transactional=True)
                       + code.histograms * units(item, transactional=True))
        shape = f"counters + {code.histograms} histogram items of {item / KB:.1f} KB"
    else:
        item = code.aggregate_item_bytes
        batch_units = units(item, transactional=True)
        shape = f"{item / KB:.0f} KB item"
    reader = f"kpi_stream batches of {kpi_batch:,}" if design.kpi_stream_batch else "ticket_stream batches"
    rows.append(partition_row(f"aggregates all#all/day ({shape})",
                              shard_rate(kpi_batches, design.aggregate_shards) * batch_units,
                              note=f"{kpi_batches:,.0f} {reader}/s; also channel#email, the outage queue's series"))
    rows.append(partition_row("aggregates inbox#desk/live",  # never suffixed: the console reads it by key
                              batches * units(code.inbox_item_bytes, transactional=True)))

    # SQS FIFO (infra/resources.yaml, storage/queues.py): one group per conversation (email: per thread).
    queue_limit = LIMITS["fifo_queue_tps_high"] if code.fifo_high_throughput else LIMITS["fifo_queue_tps"]
    rows.append(Row("SQS inbound.fifo: queue", "calls/s", r, queue_limit,
                    "high throughput (perMessageGroupId)" if code.fifo_high_throughput else "no high throughput"))
    threads = 1 if design.email_group == "sender" else traffic.noisy_sender_threads
    rows.append(Row("SQS inbound.fifo: the noisy sender's group (send)", "calls/s",
                    traffic.noisy_sender_rate / threads, LIMITS["fifo_group_tps"]))
    rows.append(Row("SQS inbound.fifo: the noisy sender's group (drain)", "msgs/s",
                    traffic.noisy_sender_rate / threads, drain, f"{per_message * 1000:.0f} ms per message"))

    # Lambda (app.py, .chalice/config.json, infra/resources.yaml): concurrency = rate x time.
    stream_conc = (batches + (kpi_batches if design.kpi_stream_batch else 0)) * traffic.stream_batch_ms / 1000
    ses_conc = r * traffic.ses_inbound_ms / 1000
    rows.append(Row("Lambda process_inbound concurrency", "concurrency", concurrency, design.esm_max,
                    "SQS event source ceiling"))
    rows.append(Row("Lambda account concurrency (inbound + ses_inbound + stream)", "concurrency",
                    concurrency + ses_conc + stream_conc, design.account_concurrency,
                    ("default quota" if design.account_concurrency == LIMITS["account_concurrency"] else "raised quota")
                    + ("" if code.reserved_concurrency else "; no reserved concurrency")))
    ramp_conc = traffic.previous_peak * per_message
    minutes = max(0.0, (concurrency - ramp_conc) / LIMITS["esm_step_per_minute"])
    rows.append(Row("Monday ramp: event source scale-up (minutes)", "minutes", minutes, traffic.ramp_seconds / 60,
                    f"+{LIMITS['esm_step_per_minute']}/min from {ramp_conc:.0f}"))
    instant = max(LIMITS["ondemand_instant_factor"] * traffic.previous_peak, design.warm_tickets_per_s)
    rows.append(Row("DynamoDB on-demand: peak absorbed at once", "tickets/s", r, instant,
                    f"2 x last peak {traffic.previous_peak:,.0f}/s" if not design.warm_tickets_per_s
                    else "warm throughput set ahead"))
    rows.append(Row("DynamoDB per-table write quota (desk WCU / tables)", "WCU", r * traffic.wcu_per_life
                    / traffic.tables_written, design.table_quota_wcu,
                    f"{traffic.wcu_per_life} WCU per life over {traffic.tables_written} tables (mean)"))
    return rows


def fixed(code: CodeInputs, traffic: Traffic) -> Design:
    """The design knobs that bring every DynamoDB key under its limit at ``traffic`` (smallest powers of two)."""
    def power(need: float) -> int:
        return 1 << max(0, math.ceil(math.log2(max(1.0, need))))

    r = traffic.rate
    views = power(2 * r / (0.8 * LIMITS["partition_wcu"]))
    time_shards = power(traffic.sla_index_writes_per_life * r / (0.8 * LIMITS["partition_wcu"]))
    block = power(r / (0.1 * LIMITS["partition_wcu"]))
    base = Design.of_code(code)
    design = replace(base, number_block=block, view_shards=views, time_shards=max(code.time_shards, time_shards),
                     split_histograms=True, stream_batch=1000, email_group="thread")
    directory = 1
    while True:
        trial = replace(design, directory_shards=directory)
        hot = [row for row in model(code, traffic, trial)
               if row.key.startswith(("agents GSI", "assignment")) and row.share > 0.8]
        if not hot or directory >= 4096:
            break
        directory *= 2
    design = replace(design, directory_shards=directory)
    rows = {row.key: row for row in model(code, traffic, design)}
    needed = rows["Lambda account concurrency (inbound + ses_inbound + stream)"].per_second
    thousands = 1000 * math.ceil(1.25 * needed / 1000)
    design = replace(design, account_concurrency=max(design.account_concurrency, thousands),
                     esm_max=max(design.esm_max, thousands), warm_tickets_per_s=1.25 * r,
                     table_quota_wcu=max(design.table_quota_wcu, 1000 * math.ceil(
                         1.25 * r * traffic.wcu_per_life / traffic.tables_written / 1000)))
    aggregate = 1
    while aggregate < 4096:
        rows = model(code, traffic, replace(design, aggregate_shards=aggregate))
        if all(row.share <= 0.8 for row in rows if row.key.startswith("aggregates")):
            break
        aggregate *= 2
    return replace(design, aggregate_shards=aggregate)


def print_table(title: str, rows: list[Row], *, markdown: bool = False) -> None:
    print(f"\n{title}")
    if markdown:  # docs/scaling.md's tables
        print("\n| key / partition | unit | per second at peak | limit | share | verdict | note |\n|---|---|---:|---:|---:|---|---|")
        for row in rows:
            print(f"| {row.key.replace('<', '&lt;')} | {row.kind} | {row.per_second:,.1f} | {row.limit:,.1f} | {row.share:.0%} | "
                  f"{row.verdict} | {row.note} |")
        return
    headers = ("key / partition", "unit", "per second at peak", "limit", "share", "verdict")
    cells = [(row.key, row.kind, f"{row.per_second:,.1f}", f"{row.limit:,.1f}", f"{row.share:.0%}", row.verdict)
             for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for cell, row in zip(cells, rows):
        print("  " + "  ".join(c.ljust(w) if i in (0, 1, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(cell, widths)))
              + (f"   {row.note}" if row.note else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Traffic()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=None)
    parser.add_argument("--number-block", type=int)
    parser.add_argument("--time-shards", type=int)
    parser.add_argument("--view-shards", type=int)
    parser.add_argument("--directory-shards", type=int)
    parser.add_argument("--aggregate-shards", type=int)
    parser.add_argument("--stream-batch", type=int)
    parser.add_argument("--kpi-stream-batch", type=int)
    parser.add_argument("--split-histograms", action="store_true", default=None)
    parser.add_argument("--email-group", choices=("sender", "thread"))
    parser.add_argument("--spread", type=int)
    parser.add_argument("--account-concurrency", type=int)
    parser.add_argument("--esm-max", type=int)
    parser.add_argument("--warm-tickets-per-s", type=float)
    parser.add_argument("--table-quota-wcu", type=int)
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    traffic = Traffic(**{name: getattr(args, name) for name in vars(Traffic()) if getattr(args, name) is not None})
    if args.rate is not None and args.day_count is None:
        traffic = replace(traffic, day_count=int(traffic.rate * 86_400))
    code = code_inputs(traffic.day_count)
    print(f"Relay Desk at {traffic.rate:,.0f} new tickets/s (outage {traffic.outage_share:.0%} in one queue, "
          f"one domain {traffic.domain_share:.0%} over {traffic.domain_addresses:,} addresses, one sender at "
          f"{traffic.noisy_sender_rate:,.0f}/s, Monday ramp from {traffic.previous_peak:,.0f}/s in "
          f"{traffic.ramp_seconds:.0f} s, {traffic.agents:,} agents)")
    print(f"from the code: ticket indexes {code.ticket_indexes}; TIME_SHARDS {code.time_shards}; TICKET_NUMBER_BLOCK "
          f"{code.number_block}; directory hash key '{code.directory_value}' ({code.directory_entry_bytes} B per entry); "
          f"SPREAD {code.spread}; _MAX_CLAIMS {code.max_claims}; directory cache {code.directory_cache_s:g} s; "
          f"aggregates: histograms in their own items {code.split_histograms} (counters {code.aggregate_counters_bytes} "
          f"B, one histogram {code.aggregate_histogram_bytes / KB:.1f} KB; the one day item before the split "
          f"{code.aggregate_item_bytes / KB:.1f} KB); inbox#desk {code.inbox_item_bytes} B; "
          f"batch sizes inbound {code.inbound_batch}, ticket_stream {code.stream_batch}, kpi_stream "
          f"{code.kpi_stream_batch or '(none: ticket_stream writes the KPIs)'}; FIFO high throughput "
          f"{code.fifo_high_throughput}; queues {len(code.queues)}")
    claims16, lost16 = race_round(16)
    print(f"assignment race check: 16 workers, 50 agents -> {lost16:.2f} lost races/decision simulated in lockstep "
          f"(README, measured on moto: 3.65), {claims16:.2f} claims per round")
    before = Design.of_code(code)
    print_table("BEFORE: the code's design", model(code, traffic, before), markdown=args.markdown)
    knobs = {name: getattr(args, name) for name in ("number_block", "time_shards", "view_shards", "directory_shards",
                                                    "aggregate_shards", "stream_batch", "kpi_stream_batch",
                                                    "split_histograms",
                                                    "email_group", "spread", "account_concurrency", "esm_max",
                                                    "warm_tickets_per_s", "table_quota_wcu")
             if getattr(args, name) is not None}
    after = replace(before, **knobs) if knobs else fixed(code, traffic)
    print_table(f"AFTER: {'the knobs given' if knobs else 'the design knobs applied'}: number block {after.number_block}, "
                f"time shards {after.time_shards}, view shards {after.view_shards}, directory shards "
                f"{after.directory_shards}, aggregate shards {after.aggregate_shards}, "
                f"stream batch {after.stream_batch}"
                + (f" (kpi_stream {after.kpi_stream_batch})" if after.kpi_stream_batch else "") + ", "
                f"split histograms {after.split_histograms}, email FIFO group per {after.email_group}, spread "
                f"{after.spread or code.spread}; quotas: account concurrency {after.account_concurrency:,}, event source "
                f"{after.esm_max:,}, warm throughput {after.warm_tickets_per_s:,.0f} tickets/s, table "
                f"{after.table_quota_wcu:,} WCU",
                model(code, traffic, after), markdown=args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
