"""Automatic assignment under concurrency, and the agent API's list views, on LocalDesk.

``benchmarks/run.py`` prints section 9 from what this module measures:

* ``measure_assignment``: 50 online agents, N waiting tickets, W worker threads against
  ``LocalDesk(server=True)`` (a real HTTP moto server in this process). Each worker takes
  the next ticket from a shared line and calls ``assign.auto_assign`` on it, as the
  Lambda copies draining a queue would: one *decision* per ticket, timed around the call
  (tickets are loaded before the clock starts, as the pipeline has its ticket in hand). Lost
  races are counted where ``changes.apply`` reports them. The baseline is the same
  workers doing one conditional UpdateItem each per decision, each on its own item (a
  claim with nobody to race), against the same server, run before and after the
  decisions so drift on a shared machine shows.
* ``measure_views``: ``GET /tickets`` with each filter and ``GET /tickets/{id}`` through
  Chalice's test client (``desk.http``) on LocalDesk with in-process moto and ~200 tickets,
  interleaved round by round with a baseline request (an authenticated GET of a ticket
  that does not exist: authentication, one GetItem, a 404), each request's AWS calls
  counted by ``apimeter``.

The workers share this process's module state, notably the agent directory cache (5 s per
container in production); ``auto_assign`` forgets it after every assignment it makes, so
here most decisions read the directory afresh (a busy container's case, not a quiet one's).
Tickets are written by the pipeline itself (``pipeline.runner.run`` on web-chat messages)
while no agent is online, so they all wait with their derived keys; the agents then come
online without the coming-online drain, which would otherwise make every decision alone.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from benchmarks.apimeter import ApiMeter, Scope

__all__ = ["AGENTS", "BASELINE_VIEW", "VIEWS", "AssignmentReport", "ViewReport", "measure_assignment",
           "measure_views"]

AGENTS = 50
BASELINE_VIEW = "baseline: GET /tickets/{missing} (404)"
MISSING_TICKET = "t-00000000000000000000"  # well-formed, never issued
VIEWS = {  # label → path (``{id}``: a different real ticket each time)
    "GET /tickets?status=open": "/tickets?status=open",
    "GET /tickets?assignee=me": "/tickets?assignee=me",
    "GET /tickets?assignee=none": "/tickets?assignee=none",
    "GET /tickets?queue=logistics": "/tickets?queue=logistics",
    "GET /tickets?overdue=true": "/tickets?overdue=true",
    "GET /tickets/{id}": "/tickets/{id}",
}


# --- shared harness pieces --------------------------------------------------------------------


class _CallCounter:
    """Counts botocore calls from any thread (``ApiMeter`` keeps one stack, for one thread at a time)."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.recording = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator["_CallCounter"]:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        counter = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if counter.recording:
                with counter._lock:
                    counter.calls[f"{client.meta.service_model.service_name}.{operation_name}"] += 1
            return original(client, operation_name, api_params)

        botocore.client.BaseClient._make_api_call = _make_api_call
        try:
            yield self
        finally:
            botocore.client.BaseClient._make_api_call = original

    def take(self) -> Counter:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken


@contextlib.contextmanager
def _atomic_moto() -> Iterator[None]:
    """Serialise moto's DynamoDB requests, as DynamoDB isolates each one.

    The moto server answers each request on its own thread without locking its backends:
    two TransactWriteItems can both pass one condition, and a GetItem can see a transaction's
    writes that moto then rolls back (tests/integration/test_assignment_concurrency.py).
    DynamoDB does neither; with the lock the figures are about our code's races, not moto's.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # re-entrant: transact_write_items calls put_item/update_item
    names = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query", "scan")
    saved = {name: DynamoDBBackend.__dict__[name] for name in names if name in DynamoDBBackend.__dict__}

    def atomic(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return locked

    for name in names:
        setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))
    try:
        yield
    finally:
        for name in names:
            if name in saved:
                setattr(DynamoDBBackend, name, saved[name])
            else:
                delattr(DynamoDBBackend, name)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No per-request log line from the moto server (werkzeug logs every request at INFO)."""
    requests_log = logging.getLogger("werkzeug")
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        requests_log.setLevel(level)


@contextlib.contextmanager
def _no_coming_online_drain() -> Iterator[None]:
    from chalicelib.service import agents

    drain = agents._drain_for
    agents._drain_for = lambda agent: None
    try:
        yield
    finally:
        agents._drain_for = drain


def _pipeline_tickets(texts: list[str], *, first: int = 0) -> list[str]:
    """One ticket per text through the pipeline (a web-chat message each); ids in creation order.

    ``pipeline.runner.run`` is every step from identify-customer to assign and acknowledge,
    so tickets carry their derived keys and views; only the channel adapter and the SQS
    hop are left out (they cost a third of the time and decide nothing measured here).
    """
    from chalicelib import clock
    from chalicelib.domain.messages import Identity, InboundMessage
    from chalicelib.pipeline.runner import run

    ids = []
    with contextlib.redirect_stdout(io.StringIO()):  # the pipeline's EMF metrics
        for n, text in enumerate(texts, start=first):
            session = f"bench{n:05d}"  # one conversation per ticket
            outcome = run(InboundMessage(channel="webchat", external_id=f"{session}:m1", received_at=clock.now(),
                                         sender=Identity("webchat", session), sender_name=f"Visitor {n}",
                                         subject=text, text=text, reply_text=text,
                                         conversation_key=f"webchat:{session}",
                                         reply_route={"provider": "webchat", "session": session}))
            ids.append(outcome.ticket_id)
    return ids


def _together(workers: int, target: Callable[[int], None]) -> float:
    """Run ``target(index)`` on ``workers`` threads released at once; returns the wall time."""
    start, errors = threading.Barrier(workers + 1), []

    def run(index: int) -> None:
        try:
            start.wait(timeout=60)
            target(index)
        except BaseException as err:  # noqa: BLE001 - re-raised below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(workers)]
    for thread in threads:
        thread.start()
    start.wait(timeout=60)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return wall


# --- 1. assignment decisions ------------------------------------------------------------------


@dataclass
class Decision:
    seconds: float
    agent_lost: int  # claims refused because the agent moved on (another copy, capacity, status)
    ticket_lost: int  # claims refused because the ticket changed (another copy assigned it)
    assigned: bool  # False: the copy gave up (``_MAX_CLAIMS`` lost races) and the ticket waits
    error: str | None = None  # what escaped auto_assign, if anything


@dataclass
class BaselineRun:
    wall: float
    latencies: list[float]


@dataclass
class AssignmentReport:
    agents: int
    workers: int
    decisions: list[Decision]
    wall: float
    baselines: list[BaselineRun]  # before and after the decisions
    calls: Counter  # AWS calls during the decisions
    baseline_calls: Counter
    shares: Counter  # agent id → tickets assigned
    seats: int = 0  # the online agents' capacity in all
    over_capacity: list[str] = field(default_factory=list)  # agents whose open_count > capacity
    load_mismatch: list[str] = field(default_factory=list)  # agents whose open_count != tickets held
    doubly_assigned: list[str] = field(default_factory=list)  # tickets with more than one "assigned" entry
    setup_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def errors(self) -> Counter:
        return Counter(d.error for d in self.decisions if d.error)


def measure_assignment(*, tickets: int, workers: int = 16, agents: int = AGENTS,
                       baseline_ops: int | None = None) -> AssignmentReport:
    """``tickets`` decisions by ``workers`` threads over ``agents`` online agents (room for all)."""
    from moto.core.base_backend import BackendDict

    from chalicelib.local import LocalDesk

    started_all = time.perf_counter()
    baseline_ops = baseline_ops or tickets
    BackendDict.reset()  # the in-process server shares moto's global state: start empty
    counter = _CallCounter()
    try:
        with _quiet(), _no_coming_online_drain(), counter.installed(), \
                LocalDesk(server=True, environment={"TICKET_NUMBER_BLOCK": "100"}) as desk, _atomic_moto():
            ticket_ids = _pipeline_tickets([f"Hello, I have a question about your service ({n})."
                                            for n in range(tickets)])  # nobody online yet: they all wait
            capacity = math.ceil(tickets / agents) * 4  # nobody fills up: every decision is an assignment
            with contextlib.redirect_stdout(io.StringIO()):
                for n in range(agents):
                    desk.add_agent(f"Agent {n}", f"agent{n}@example.com", capacity=capacity)
            _prepare_baseline(workers)
            _warm()
            setup_seconds = time.perf_counter() - started_all

            baselines = [_baseline(workers, baseline_ops, counter)]
            baseline_calls = counter.take()
            decisions, wall, calls = _decide(ticket_ids, workers, counter)
            baselines.append(_baseline(workers, baseline_ops, counter))
            baseline_calls += counter.take()
            report = AssignmentReport(agents, workers, decisions, wall, baselines, calls, baseline_calls,
                                      Counter(), seats=agents * capacity, setup_seconds=setup_seconds)
            _check(report, ticket_ids)
    finally:
        BackendDict.reset()
    report.seconds = time.perf_counter() - started_all
    return report


def _warm() -> None:
    """Import what the first decision would (assignment rules, routing file) before any clock starts."""
    from chalicelib import configuration

    configuration.routing()


def _decide(ticket_ids: list[str], workers: int, counter: _CallCounter) -> tuple[list[Decision], float, Counter]:
    from chalicelib.service import assign, changes
    from chalicelib.storage.models import TicketModel

    # Loaded before the clock starts: the pipeline has the ticket in hand when it assigns.
    loaded = {t.ticket_id: t for t in TicketModel.batch_get(ticket_ids, consistent_read=True)}
    line = iter([loaded[ticket_id] for ticket_id in ticket_ids])
    line_lock = threading.Lock()
    decisions: list[Decision] = []
    current = threading.local()
    apply = changes.apply

    def counted_apply(*args: Any, **kwargs: Any) -> Any:
        try:
            return apply(*args, **kwargs)
        except changes.AgentUnavailable:
            current.agent_lost += 1
            raise
        except changes.Conflict:
            current.ticket_lost += 1
            raise

    def worker(_: int) -> None:
        while True:
            with line_lock:
                ticket = next(line, None)
            if ticket is None:
                return
            current.agent_lost = current.ticket_lost = 0
            error = None
            started = time.perf_counter()
            try:
                assigned = assign.auto_assign(ticket) is not None
            except Exception as err:  # noqa: BLE001 - reported as a figure, not hidden
                assigned, error = False, type(err).__name__
            seconds = time.perf_counter() - started
            decisions.append(Decision(seconds, current.agent_lost, current.ticket_lost, assigned, error))

    changes.apply = counted_apply
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # EMF metrics
            counter.take()
            counter.recording = True
            wall = _together(workers, worker)
            counter.recording = False
    finally:
        changes.apply = apply
    return decisions, wall, counter.take()


def _baseline_key(worker: int) -> str:
    return f"bench:baseline:{worker:02d}"


def _prepare_baseline(workers: int) -> None:
    from chalicelib.storage.models import LookupModel

    for index in range(workers):
        LookupModel(_baseline_key(index), value=0).save()


def _baseline(workers: int, ops: int, counter: _CallCounter) -> BaselineRun:
    """The floor: one conditional UpdateItem per decision, each worker on its own item (no races)."""
    from chalicelib.storage.models import LookupModel

    per_worker = [ops // workers + (1 if index < ops % workers else 0) for index in range(workers)]
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        item = LookupModel(_baseline_key(index))
        mine = []
        for _ in range(per_worker[index]):
            started = time.perf_counter()
            item.update(actions=[LookupModel.value.add(1)], condition=LookupModel.value < 10**9)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    counter.recording = True
    wall = _together(workers, worker)
    counter.recording = False
    return BaselineRun(wall, latencies)


def _check(report: AssignmentReport, ticket_ids: list[str]) -> None:
    """What must hold after the race: read back by the harness (Scan allowed here, never in the app)."""
    from chalicelib.storage import agents as directory
    from chalicelib.storage.models import AuditModel, TicketModel

    tickets = list(TicketModel.batch_get(ticket_ids, consistent_read=True))
    held = Counter(t.assignee_id for t in tickets if t.assignee_id)
    report.shares = held
    directory.forget()
    for agent in directory.directory(fresh=True):
        if int(agent.open_count or 0) > int(agent.capacity or 0):
            report.over_capacity.append(agent.agent_id)
        if int(agent.open_count or 0) != held.get(agent.agent_id, 0):
            report.load_mismatch.append(agent.agent_id)
    assigned = Counter(entry.ticket_id for entry in AuditModel.scan(AuditModel.action == "assigned"))
    report.doubly_assigned = sorted(ticket_id for ticket_id, n in assigned.items() if n > 1)


# --- 2. the agent API's list views ------------------------------------------------------------------


@dataclass
class ViewSample:
    view: str
    status: int
    wall: float
    scope: Scope
    returned: int  # tickets in the answer (1 for a ticket's detail, 0 for the 404)

    @property
    def own(self) -> float:
        return self.wall - self.scope.api_seconds


@dataclass
class ViewReport:
    tickets: int
    repeats: int
    samples: dict[str, list[ViewSample]]
    unexpected: Counter  # "view status" → count, for answers other than 200 (404 for the baseline)
    setup_seconds: float
    seconds: float

    @property
    def scans(self) -> int:
        return sum(n for samples in self.samples.values() for s in samples for op, n in s.scope.calls.items()
                   if op.endswith(".Scan"))


# Subjects that triage files into different queues (chalicelib/triage_rules.yaml), in turn.
_SUBJECTS = ("My order never arrived", "Please refund my last order", "A question about your opening hours",
             "I need a copy of my invoice", "Where is my parcel? Tracking shows nothing")


def measure_views(meter: ApiMeter, *, tickets: int = 200, repeats: int = 100, warmup: int = 3,
                  views: dict[str, str] | None = None, copies_to: int = 0) -> ViewReport:
    """``repeats`` rounds of every view and the baseline, in an order rotated every round.

    ``views`` (label → path) defaults to ``VIEWS``; in a path, ``{id}`` becomes a different real ticket
    each time and ``{number}`` a different real ticket number. ``copies_to``: after ``tickets`` came
    through the pipeline, copies of their stored items (new id, number and order) fill the table to
    this many — the pipeline at ~10 ms a ticket in moto would need minutes for 10,000.
    """
    views = views or VIEWS
    from chalicelib.local import LocalDesk

    started_all = time.perf_counter()
    samples: dict[str, list[ViewSample]] = {label: [] for label in (*views, BASELINE_VIEW)}
    unexpected: Counter = Counter()
    with LocalDesk() as desk:
        # Agents first, so the pipeline assigns as tickets arrive until they are full; the rest waits.
        with contextlib.redirect_stdout(io.StringIO()):
            token = desk.add_agent("Ann", "ann@example.com", capacity=tickets // 5)[1]
            desk.add_agent("Bob", "bob@example.com", capacity=tickets // 5)
            desk.add_agent("Cy", "cy@example.com", capacity=tickets // 5)
        texts = [f"{_SUBJECTS[n % len(_SUBJECTS)]} (order {10000 + n})" for n in range(tickets)]
        older = tickets // 2
        _pipeline_tickets(texts[:older])
        # Three days on, the older half is past its first-response due time; the SLA sweep (the
        # schedule, every minute in production) marks the breaches, which ?overdue=true lists.
        # The chat acknowledgements and breach notices queued meanwhile stay queued: they
        # change nothing these views read.
        desk.advance(days=3)
        with contextlib.redirect_stdout(io.StringIO()):
            desk.run_schedules()
        _pipeline_tickets(texts[older:], first=older)
        ticket_ids = [t.ticket_id for t in _open_tickets()]
        if copies_to > tickets:
            _copy_tickets(desk, copies_to - tickets, first_number=tickets + 1)
            tickets = copies_to
        setup_seconds = time.perf_counter() - started_all
        headers = {"Authorization": f"Bearer {token}"}
        serials = iter(range(10**9))

        def one(label: str) -> ViewSample:
            if label == BASELINE_VIEW:
                path = f"/tickets/{MISSING_TICKET}"
            else:
                serial = next(serials)
                path = (views[label].replace("{id}", ticket_ids[serial % len(ticket_ids)])
                        .replace("{number}", str(1 + serial * 7919 % tickets)))
            sample = _timed(meter, desk, label, path, headers)
            if sample.status != (404 if label == BASELINE_VIEW else 200):
                unexpected[f"{label} {sample.status}"] += 1
            return sample

        labels = (*views, BASELINE_VIEW)
        for _ in range(warmup):
            for label in labels:
                one(label)
        for round_ in range(repeats):
            shift = round_ % len(labels)
            for label in labels[shift:] + labels[:shift]:
                samples[label].append(one(label))
    return ViewReport(max(tickets, len(ticket_ids)), repeats, samples, unexpected, setup_seconds,
                      time.perf_counter() - started_all)


def _copy_tickets(desk: Any, count: int, *, first_number: int) -> None:
    """``count`` copies of the stored tickets, each with its ``tno:`` lookup, in BatchWriteItem calls.

    Messages are not copied: ``{id}`` in a view path names only the tickets the pipeline made.
    """
    client = desk._aws("dynamodb")
    tickets_table, lookups_table = desk._env("TICKETS_TABLE"), desk._env("LOOKUPS_TABLE")
    originals = client.scan(TableName=tickets_table)["Items"]  # the benchmark's set-up, not a request path
    puts: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        item = dict(originals[n % len(originals)])
        number = first_number + n
        ticket_id = f"t-{number:020x}"
        item.update(ticket_id={"S": ticket_id}, number={"N": str(number)},
                    view_order={"S": f"{item['view_order']['S'][:-7]}{n % 1000000:06d}Z"})
        puts.append((tickets_table, item))
        puts.append((lookups_table, {"lookup_key": {"S": f"tno:{number}"}, "ticket_id": {"S": ticket_id}}))
    for start in range(0, len(puts), 25):
        batch: dict[str, list[Any]] = {}
        for table_name, item in puts[start:start + 25]:
            batch.setdefault(table_name, []).append({"PutRequest": {"Item": item}})
        client.batch_write_item(RequestItems=batch)


def _open_tickets() -> list[Any]:
    from chalicelib.storage.models import TicketModel

    return list(TicketModel.by_status.query("open"))


def _timed(meter: ApiMeter, desk: Any, label: str, path: str, headers: dict[str, str]) -> ViewSample:
    import json

    scope = meter.open()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            response = desk.http.get(path, headers=headers)
    finally:
        wall = time.perf_counter() - started
        meter.close(scope)
    returned = 0
    if response.status_code == 200:
        body = json.loads(response.body)
        returned = len(body.get("tickets", [])) if "tickets" in body else 1
    return ViewSample(label, response.status_code, wall, scope, returned)
