"""Proof under faults (issue 16): a mixed stream of inbound events through the real handlers on moto, with AWS
faults injected at the botocore layer and functions crashing, then the promises checked one by one.

    POWERTOOLS_LOG_LEVEL=ERROR .venv/bin/python benchmarks/proof.py [--events 10000] [--faults 0.10]
                                                                    [--crashes 0.01] [--seed 1]

Events: new mails, replies threaded to our acknowledgements, auto-replies, spam, the same SES mail
delivered twice, Telegram / web-chat / SMS messages (some posted twice, some out of order), agents'
replies and solves through the API, and schedule runs as the clock moves. Faults: ``--faults`` of the
app's AWS calls fail (half below botocore's retries, half above: throttling, 500/503,
TransactionConflict, read timeouts after an applied write); ``--crashes`` of the invocations die after
a random step. The platforms and SES's hand-over retry as they do in AWS (webhooks on 5xx; ses_inbound
twice, then its on-failure queue).

Invariants (``check``): every inbound event is in exactly one place (stored once, or parked with a
reason; never both, never neither: a stored message whose later steps kept failing is parked as that
work, ``stored_in`` its ticket, and counted apart; an event delivered twice, one delivery parked and the other
stored, is counted apart too: that record is stale and a redrive stores nothing twice); no duplicate ticket,
message, acknowledgement or delivered reply;
no agent over capacity and every agent's load equal to its open tickets; ticket numbers unique; the
KPI aggregates' count of created tickets equal to the tickets stored.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import chat  # noqa: E402  (the platforms' signing, as the real platforms sign)
from tests.mail import compose  # noqa: E402

MIX = (("new_mail", 28), ("reply_mail", 12), ("auto_reply", 4), ("spam", 3), ("duplicate_mail", 4),
       ("telegram", 12), ("webchat", 10), ("sms", 8), ("duplicate_chat", 3), ("late_chat", 3),
       ("agent_reply", 8), ("agent_solve", 5))
_MARK = re.compile(r"\[ev-\d{6}\]")
_PLATFORM_TRIES = 5  # a platform retries a 5xx webhook answer (Slack 3, Meta and Twilio more)
_SES_TRIES = 3  # Lambda's async invoke: the call and MaximumRetryAttempts: 2, then the on-failure queue


@dataclass
class Event:
    id: str
    kind: str
    marker: str
    ref: str = ""  # the SES message id or the platform's message id: what a parked body names
    refused: bool = False  # the edge answered 5xx every time (the platform still holds it)


@dataclass
class Report:
    events: int = 0
    by_kind: Counter = field(default_factory=Counter)
    faults: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    parked: Counter = field(default_factory=Counter)  # reason (shortened) -> count
    stored_and_parked: list[str] = field(default_factory=list)
    follow_ups_parked: list[str] = field(default_factory=list)  # stored; the work after it parked, saying so
    parked_then_stored: list[str] = field(default_factory=list)  # one delivery parked, a later one stored it
    refused_at_edge: int = 0
    max_load: str = ""
    over_capacity: list[str] = field(default_factory=list)
    numbers_unique: bool = True
    kpi_created: tuple[int, int] = (0, 0)
    stage_p99_ms: dict[str, float] = field(default_factory=dict)  # function -> p99 of its invocations (wall)
    hottest: str = ""  # the scaling model's hottest key at 10,000 tickets/s, today's design and with its fixes
    seconds: float = 0.0
    backoff_skipped_s: float | None = None  # botocore's retry pauses, added up instead of slept (None: slept)
    peak_rss_mb: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _every_ticket() -> list[dict[str, Any]]:
    """Every ticket with all its messages, as the API shows them, from two Scans (the harness may scan).

    ``LocalDesk.tickets()`` builds ``GET /tickets/{id}`` for each ticket, and each of its Queries makes
    moto walk the whole table: at 10,000 events the check alone ran for over ten minutes and was stopped.
    """
    from chalicelib.api import views
    from chalicelib.storage.models import MessageModel, TicketModel

    messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in MessageModel.scan():
        messages[message.ticket_id].append(views.message_view(message))
    return [{**views.ticket_summary(ticket), "messages": messages[ticket.ticket_id]}
            for ticket in sorted(TicketModel.scan(), key=lambda ticket: int(ticket.number))]


class Scenario:
    def __init__(self, desk: Any, injector: Any, *, seed: int) -> None:
        self.desk, self.injector = desk, injector
        self.random = random.Random(seed)
        self.events: list[Event] = []
        self.sessions: list[str] = []
        self.tokens: list[str] = []
        self.update_id = 100_000
        self.sms = 0

    # --- feeding ------------------------------------------------------------------------------------
    def run(self, count: int, *, batch: int = 20) -> None:
        kinds = [kind for kind, weight in MIX for _ in range(weight)]
        for start in range(0, count, batch):
            self._refresh()
            pending = [self.random.choice(kinds) for _ in range(min(batch, count - start))]
            for kind in pending:
                getattr(self, f"_{kind}")()
            self.desk.pump()
            if (start // batch) % 10 == 9:  # the clock moves; SLA sweeps, timers and surveys run
                with self.injector.paused():
                    self.desk.advance(minutes=15)
                self._invoke_schedules()
                self.desk.pump()
        for _ in range(3):  # drain: outbound replies, reactions, anything SQS still holds
            self.desk.pump()

    def _refresh(self) -> None:
        """What the next batch's replies and agent actions pick from, read once a batch with faults paused.

        Only what is new is read (the mails sent since the last batch, one page of open tickets), so the
        harness's own work does not grow with the tables: parsing every mail sent so far and every ticket
        each batch made a run quadratic (600 events took 4x the CPU of 300; 10,000 would have taken hours).
        """
        with self.injector.paused():
            if not hasattr(self, "_mails_read"):
                self._mails_read, self.acks, self.open_tickets = 0, [], []
            new = self.desk.sent_emails(since=self._mails_read)
            self._mails_read += len(new)
            self.acks = (self.acks + [m for m in new if m["Auto-Submitted"] == "auto-replied"])[-50:]
            if self.random.random() < 0.5 or not self.open_tickets:
                response = self.desk.http.get("/tickets?status=open&limit=50",
                                              headers={"Authorization": f"Bearer {self.admin_token}"})
                self.open_tickets = [t for t in json.loads(response.body)["tickets"] if t["assignee_id"]]

    def _new(self, kind: str) -> Event:
        event = Event(f"ev-{len(self.events):06d}", kind, f"[ev-{len(self.events):06d}]")
        self.events.append(event)
        return event

    def _receive(self, event: Event, raw: bytes, **verdicts: str) -> None:
        """SES's S3 + Lambda action: the mail stored once, then ses_inbound invoked asynchronously with one
        event (Lambda retries that same event twice, then hands it to the on-failure queue).

        The mail's SES id is the event's ``ref`` before the first try: a record parked for it names the
        id, and every try repeats it (the queue's deduplication id), as SES's one event does. A new id per
        try, as this harness had, enqueued a second copy after a try that failed once its send was applied,
        and left a mail whose tries all failed unnamed (the 10,000-event run's "lost" reply)."""
        import uuid

        from chalicelib.local.desk import on_failure_record, ses_event
        from chalicelib.local.faults import FunctionCrashed

        if not event.ref:  # a duplicate_mail repeats its original's id
            event.ref = uuid.uuid4().hex + "00000000"
            with self.injector.paused():  # SES's own S3 write
                self.desk._aws("s3").put_object(Bucket=self.desk.inbound_bucket,
                                                Key=self.desk.inbound_prefix + event.ref, Body=raw)
        ses = ses_event(raw, event.ref, recipients=[self.desk._env("SUPPORT_ADDRESS")],
                        verdicts={"spam": verdicts.get("spam", "PASS"), "virus": "PASS", "spf": "PASS",
                                  "dkim": "PASS", "dmarc": "PASS"})
        for attempt in range(_SES_TRIES):
            try:
                self.desk.invoke("ses_inbound", ses)
                return
            except (Exception, FunctionCrashed) as error:  # noqa: BLE001 - Lambda's async retry
                last = error
        with self.injector.paused():
            self.desk._aws("sqs").send_message(
                QueueUrl=self.desk._aws("sqs").get_queue_url(QueueName=self.desk._env("SES_FAILURE_QUEUE"))["QueueUrl"],
                MessageBody=json.dumps(on_failure_record(ses, last, tries=_SES_TRIES)))

    def _post(self, event: Event, send: Any) -> None:
        """A platform's webhook: retried on 5xx, as the platforms do."""
        for _ in range(_PLATFORM_TRIES):
            response = send()
            if response.status_code < 500:
                assert response.status_code < 300, (event, response.status_code, response.body)
                return
        event.refused = True

    def _new_mail(self) -> None:
        event = self._new("new_mail")
        sender = f"Customer {len(self.events)} <c{len(self.events)}@customer{len(self.events) % 7}.example>"
        subject = self.random.choice(["Order never arrived", "Invoice is wrong", "Cannot log in", "Refund please",
                                      "Damaged parcel", "Change my address"])
        self._receive(event, compose(sender=sender, subject=f"{subject} {event.marker}",
                                     body=f"Hello, {subject.lower()}. {event.marker}\n\nThanks"))

    def _reply_mail(self) -> None:
        acks = self.acks
        if not acks:
            return self._new_mail()
        ack = self.random.choice(acks)
        event = self._new("reply_mail")
        self._receive(event, compose(sender=str(ack["To"]), subject=f"Re: {ack['Subject']}",
                                     body=f"Here is more information. {event.marker}",
                                     in_reply_to=str(ack["Message-ID"]), references=[str(ack["Message-ID"])]))

    def _auto_reply(self) -> None:
        event = self._new("auto_reply")
        self._receive(event, compose(sender=f"Away {len(self.events)} <away{len(self.events)}@customer.example>",
                                     subject=f"Out of office {event.marker}", body=f"I am away. {event.marker}",
                                     headers={"Auto-Submitted": "auto-replied"}))

    def _spam(self) -> None:
        event = self._new("spam")
        self._receive(event, compose(sender="Prince <prince@lottery.example>", subject=f"You won {event.marker}",
                                     body=f"Send your bank details {event.marker}"), spam="FAIL")

    def _duplicate_mail(self) -> None:
        mails = [e for e in self.events if e.kind == "new_mail" and e.ref]
        if not mails:
            return self._new_mail()
        original = self.random.choice(mails)
        with self.injector.paused():
            raw = self.desk._aws("s3").get_object(Bucket=self.desk.inbound_bucket,
                                                   Key=self.desk.inbound_prefix + original.ref)["Body"].read()
        copy = Event(original.id, "duplicate_mail", original.marker, original.ref)
        self._receive(copy, raw)  # SES delivers the same message (same id) again
        self.events.append(Event(f"dup-{len(self.events):06d}", "duplicate_mail", original.marker, original.ref))

    def _telegram(self, *, date: int | None = None, kind: str = "telegram") -> None:
        event = self._new(kind)
        self.update_id += 1
        event.ref = f"{self.update_id}"
        update = chat.telegram_text(update_id=self.update_id, text=f"Hi, where is my order? {event.marker}",
                                    at=date)
        update["message"]["from"]["id"] = update["message"]["chat"]["id"] = 5_000_000 + self.random.randrange(40)
        self._post(event, lambda: chat.post_telegram(self.desk, update))

    def _late_chat(self) -> None:
        self._telegram(date=int(time.time()) - 3600, kind="late_chat")  # sent an hour ago, delivered now

    def _webchat(self) -> None:
        event = self._new("webchat")
        if len(self.tokens) < 15 or self.random.random() < 0.2:
            visitor = len(self.tokens)
            # Visitors come from their own addresses: one address is limited to 20 sessions an hour.
            with self.injector.paused(), chat.from_address(f"198.51.{100 + visitor // 250}.{visitor % 250 + 1}"):
                self.tokens.append(chat.start_webchat(self.desk, name=f"Visitor {visitor}"))
        token = self.random.choice(self.tokens)
        event.ref = f"m{len(self.events):07d}"
        self._post(event, lambda: chat.post_webchat(self.desk, token, f"I need help with my account {event.marker}",
                                                    message_id=f"msg-{event.ref}"))

    def _sms(self) -> None:
        event = self._new("sms")
        self.sms += 1
        event.ref = "SM" + f"{self.sms:032x}"
        fields = chat.twilio_sms(Body=f"Please call me back about my invoice {event.marker}", MessageSid=event.ref,
                                 From=f"+4720{self.random.randrange(100):06d}")
        self._post(event, lambda: chat.post_twilio(self.desk, fields))

    def _duplicate_chat(self) -> None:
        chats = [e for e in self.events if e.kind == "telegram" and e.ref]
        if not chats:
            return self._telegram()
        original = self.random.choice(chats)
        update = chat.telegram_text(update_id=int(original.ref), text=f"Hi, where is my order? {original.marker}")
        self.events.append(Event(f"dup-{len(self.events):06d}", "duplicate_chat", original.marker, original.ref))
        self._post(self.events[-1], lambda: chat.post_telegram(self.desk, update))

    def _agent_reply(self, *, solve: bool = False) -> None:
        if not self.open_tickets:
            return
        ticket = self.random.choice(self.open_tickets)
        event = self._new("agent_solve" if solve else "agent_reply")
        token = self.agent_tokens[ticket["assignee_id"]]
        body = {"text": f"Thanks, we are on it. {event.marker}"}
        for _ in range(_PLATFORM_TRIES):  # the console retries a 5xx with the same Idempotency-Key
            response = self.desk.http.post(f"/tickets/{ticket['id']}/replies", body=json.dumps(body).encode(),
                                           headers={"Authorization": f"Bearer {token}",
                                                    "Content-Type": "application/json",
                                                    "Idempotency-Key": event.id})
            if response.status_code < 500:
                break
        else:
            event.refused = True
            return
        if solve and response.status_code < 300:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            for _ in range(_PLATFORM_TRIES):  # the agent reloads and tries again after a conflict or a 5xx
                with self.injector.paused():
                    current = json.loads(self.desk.http.get(f"/tickets/{ticket['id']}", headers=headers).body)
                changed = self.desk.http.patch(f"/tickets/{ticket['id']}", headers=headers, body=json.dumps(
                    {"status": "solved", "version": current["version"]}).encode())
                if changed.status_code < 500 and changed.status_code != 409:
                    break

    def _agent_solve(self) -> None:
        self._agent_reply(solve=True)

    def _invoke_schedules(self) -> None:
        from chalicelib.local.faults import FunctionCrashed

        try:
            self.desk.run_schedules()
        except (Exception, FunctionCrashed):  # noqa: BLE001 - EventBridge runs it again next minute
            with self.injector.paused():
                self.desk.run_schedules()

    # --- checking -----------------------------------------------------------------------------------
    def check(self, report: Report) -> None:
        desk = self.desk
        with self.injector.paused():
            tickets = _every_ticket()
            messages = [m for t in tickets for m in t["messages"]]
            letters = desk.dead_letters()
            mails = desk.sent_emails()
            chats = desk.sent_chat_messages()
            agents = json.loads(desk.http.get("/agents", headers={
                "Authorization": f"Bearer {self.admin_token}"}).body)["agents"]
            from chalicelib.api.reports_api import kpi_report

            kpis = kpi_report(None, None, "channel").as_dict()
        stored = Counter()
        for message in messages:
            if message["direction"] == "inbound":
                for marker in set(_MARK.findall(message["text"] or "")):  # subjects of replies quote the first
                    stored[marker] += 1
        # A record with ``stored_in`` parks the work after a stored message (the message is in that ticket).
        # An inbound event's records: the inbound dead-letter queue and ses_inbound's failure queue (a parked
        # reply's text may quote the customer's message: that is the reply's fate, counted with the replies).
        inbound_letters = [letter for letter in letters if letter["queue"] != desk._env("OUTBOUND_DLQ")]
        unstored = [letter for letter in inbound_letters if not letter.get("stored_in")]
        parked_text = [json.dumps(letter, default=str) for letter in unstored]
        follow_up_text = [json.dumps(letter, default=str) for letter in inbound_letters if letter.get("stored_in")]
        delivered_again = Counter(e.marker for e in self.events if e.id.startswith("dup"))
        for letter in letters:
            report.parked[(letter["reason"] or "")[:90]] += 1
        inbound = [e for e in self.events if e.kind not in ("agent_reply", "agent_solve") and not e.id.startswith("dup")]
        for event in inbound:
            if event.refused:
                report.refused_at_edge += 1
                continue
            parked = any(_names(event, text) for text in parked_text)
            count = stored[event.marker]
            if any(_names(event, text) for text in follow_up_text):
                if count:
                    report.follow_ups_parked.append(f"{event.id} ({event.kind})")
                else:  # said to be stored, but no ticket holds it
                    report.lost.append(f"{event.id} ({event.kind}): parked as stored, found in no ticket")
            if count > 1:
                report.duplicated.append(f"{event.id} ({event.kind}) stored {count} times")
            if count and parked:
                naming = [letter for letter, text in zip(unstored, parked_text) if _names(event, text)]
                found = f"{event.id} ({event.kind} {event.ref}, parked: " \
                        f"{'; '.join(letter['reason'][:120] for letter in naming)})"
                # Delivered more than once, one delivery parked and another stored it: SES's second delivery or a
                # platform's resend. The record is stale, and a redrive stores nothing twice. A failure-queue record
                # of a mail an earlier try handed over is handed over again by ses_failures (and goes): one still
                # there fails, as does one delivery both stored and parked without saying so.
                (report.parked_then_stored if delivered_again[event.marker] else report.stored_and_parked).append(found)
            if not count and not parked:
                report.lost.append(f"{event.id} ({event.kind} {event.ref})")
        # one ticket per new conversation: a new mail's marker opens at most one ticket
        opened = Counter(m for t in tickets for m in set(_MARK.findall(t["subject"] or "")))
        report.duplicated += [f"ticket for {m} opened {n} times" for m, n in opened.items() if n > 1]
        acks = Counter(n for m in mails if m["Auto-Submitted"] == "auto-replied"
                       for n in re.findall(r"\[#(\d+)\]", str(m["Subject"]))[:1])
        report.duplicated += [f"ticket #{n}: {c} acknowledgements" for n, c in acks.items() if c > 1]
        chat_acks = Counter(n for c in chats for n in re.findall(r"\(ticket #(\d+)\)", c["text"] or "")
                            if "We got your message" in (c["text"] or ""))
        report.duplicated += [f"ticket #{n}: {c} chat acknowledgements" for n, c in chat_acks.items() if c > 1]
        delivered = Counter(marker for m in mails for marker in _MARK.findall(_plain(m)))
        delivered.update(marker for c in chats for marker in _MARK.findall(c["text"] or ""))
        for event in self.events:
            if event.kind in ("agent_reply", "agent_solve") and not event.refused:
                if delivered[event.marker] > 1:
                    report.duplicated.append(f"reply {event.id} delivered {delivered[event.marker]} times")
                replies = sum(1 for m in messages if m["direction"] == "outbound" and event.marker in (m["text"] or ""))
                if replies > 1:
                    report.duplicated.append(f"reply {event.id} stored {replies} times")
        holding = Counter(t["assignee_id"] for t in tickets if t["assignee_id"] and t["status"] in
                          ("open", "pending", "on_hold"))
        loads = []
        for agent in agents:
            loads.append(f"{agent['name']} {agent['open_count']}/{agent['capacity']}")
            if holding[agent["id"]] > agent["capacity"]:
                report.over_capacity.append(f"{agent['name']}: {holding[agent['id']]} > {agent['capacity']}")
            if holding[agent["id"]] != agent["open_count"]:
                report.failures.append(f"{agent['name']}: load {agent['open_count']} but {holding[agent['id']]} "
                                       "open tickets assigned")
        report.max_load = ", ".join(loads)
        numbers = [t["number"] for t in tickets]
        report.numbers_unique = len(numbers) == len(set(numbers))
        report.kpi_created = (int(kpis["totals"].get("volume") or 0), len(tickets))
        for name, problems in (("lost", report.lost), ("duplicated", report.duplicated),
                               ("stored and parked", report.stored_and_parked),
                               ("over capacity", report.over_capacity)):
            if problems:
                report.failures.append(f"{name}: {len(problems)}: {'; '.join(problems[:8])}")
        if not report.numbers_unique:
            report.failures.append("ticket numbers are not unique")
        if report.kpi_created[0] != report.kpi_created[1]:
            report.failures.append(f"KPI created {report.kpi_created[0]} != tickets {report.kpi_created[1]}")


_MAIL_KINDS = frozenset({"new_mail", "reply_mail", "auto_reply", "spam", "duplicate_mail"})


def _names(event: Event, parked: str) -> bool:
    """Does a parked record's text name this event? A mail by its SES id (a reply's subject quotes the
    marker of the mail it answers, so a marker there names the wrong event); a chat message by its marker, in
    its text (a platform's numeric id could turn up inside any other record)."""
    return bool(event.ref) and event.ref in parked if event.kind in _MAIL_KINDS else event.marker in parked


def _timed(invoke: Any, seconds: dict[str, list[float]]) -> Any:
    """``desk.invoke`` recording each invocation's wall time by function (the p99 per stage)."""
    def timing(function_name: str, event: Any) -> Any:
        started = time.perf_counter()
        try:
            return invoke(function_name, event)
        finally:
            seconds[function_name].append(time.perf_counter() - started)
    return timing


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def hottest_partition() -> str:
    """The scaling model's hottest row at 10,000 tickets/s (docs/scaling.md): today's key design, then with its fixes."""
    from benchmarks import scaling

    traffic = scaling.Traffic()
    code = scaling.code_inputs(traffic.day_count)
    before = scaling.Design.of_code(code)
    shares = []
    for design in (before, scaling.fixed(code, traffic)):
        row = max(scaling.model(code, traffic, design), key=lambda r: r.share)
        shares.append(f"{row.key} {row.share:.0%}")
    return f"{shares[0]} (today); {shares[1]} (with docs/scaling.md's changes)"


def _plain(mail: Any) -> str:
    body = mail.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


class _SkippedBackoff:
    """Stands in for ``time`` in ``botocore.endpoint``, whose only use of it is the pause before a retry:
    the pauses are added up instead of slept. The harness runs one invocation at a time, so nobody else
    acts during a pause and skipping it changes no outcome, only the wall time (botocore slept 50 s of a
    400-event run's 85 s)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


def prove(*, events: int, faults: float, crashes: float, seed: int, agents: int = 3, capacity: int = 5,
          real_backoff: bool = False) -> Report:
    """Run the scenario on a fresh desk and check it."""
    from contextlib import ExitStack
    from unittest import mock

    import botocore.endpoint

    report = Report(events=events)
    started = time.perf_counter()
    with ExitStack() as stack:
        if not real_backoff:
            skipped = _SkippedBackoff()
            stack.enter_context(mock.patch.object(botocore.endpoint, "time", skipped))
        _prove(report, events=events, faults=faults, crashes=crashes, seed=seed, agents=agents, capacity=capacity)
        if not real_backoff:
            report.backoff_skipped_s = skipped.seconds
    report.seconds = time.perf_counter() - started
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def _prove(report: Report, *, events: int, faults: float, crashes: float, seed: int, agents: int,
           capacity: int) -> None:
    from chalicelib.local.desk import LocalDesk
    from chalicelib.local.faults import FaultInjector

    with LocalDesk(environment=dict(chat.SECRETS)) as desk:
        scenario = Scenario(desk, FaultInjector(seed=seed), seed=seed)
        scenario.admin_token = desk.add_agent("Ada Admin", "ada@example.com", role="admin", status="away")[1]
        scenario.agent_tokens = {}
        for n in range(agents):
            agent_id, token = desk.add_agent(f"Agent {n}", f"agent{n}@example.com", capacity=capacity)
            scenario.agent_tokens[agent_id] = token
        injector = scenario.injector.install()
        timings: dict[str, list[float]] = defaultdict(list)
        desk.invoke = _timed(injector.wrap(desk.invoke), timings)
        injector.rate, injector.crash_rate = faults, crashes
        try:
            scenario.run(events)
        finally:
            injector.rate = injector.crash_rate = 0.0
        for _ in range(3):
            desk.pump()
        report.faults = injector.summary()
        report.stage_p99_ms = {name: _p99(values) * 1000 for name, values in sorted(timings.items())}
        report.by_kind = Counter(e.kind for e in scenario.events)
        scenario.check(report)
        injector.uninstall()


def print_report(report: Report, *, scenario: str) -> None:
    rows = [
        ("scenario", scenario), ("events", f"{report.events} ({', '.join(f'{k} {v}' for k, v in report.by_kind.most_common())})"),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(report.faults.items())) or "none"),
        ("lost", len(report.lost)), ("duplicated", len(report.duplicated)),
        ("parked (with reasons)", sum(report.parked.values())),
        ("stored and parked", len(report.stored_and_parked)),
        ("stored, the work after it parked", len(report.follow_ups_parked)),
        ("parked, then stored by another delivery", len(report.parked_then_stored)),
        ("refused at the edge (platform retries later)", report.refused_at_edge),
        ("agent load / capacity", report.max_load), ("ticket numbers unique", report.numbers_unique),
        ("KPI created / tickets", f"{report.kpi_created[0]} / {report.kpi_created[1]}"),
        ("p99 per invocation (wall, moto, retries incl.)", ", ".join(f"{name} {ms:.0f} ms" for name, ms in report.stage_p99_ms.items())),
        ("hottest partition at 10,000/s", report.hottest or "-"),
        ("cost per 1M tickets", "make cost (benchmarks/cost.py): measured separately, about 30 s"),
        ("wall time", f"{report.seconds:.1f} s" + ("" if report.backoff_skipped_s is None else
                                                    f" (botocore's retry pauses skipped: {report.backoff_skipped_s:.0f} s)")),
        ("peak RSS", f"{report.peak_rss_mb:.0f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    for reason, count in report.parked.most_common(8):
        print(f"    parked {count}x: {reason}")
    for found in report.parked_then_stored[:5]:
        print(f"    parked, then stored by another delivery: {found}")
    for failure in report.failures:
        print(f"  FAILED: {failure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="inbound events and agent actions (default 2000)")
    parser.add_argument("--faults", type=float, default=0.10, help="share of the app's AWS calls that fail (0.10)")
    parser.add_argument("--crashes", type=float, default=0.02, help="share of invocations that die mid-way (0.02)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--real-backoff", action="store_true",
                        help="sleep botocore's pauses between retries (default: add them up; only wall time differs)")
    args = parser.parse_args()
    report = prove(events=args.events, faults=args.faults, crashes=args.crashes, seed=args.seed,
                   real_backoff=args.real_backoff)
    report.hottest = hottest_partition()
    print_report(report, scenario=f"faults {args.faults:.0%}, crashes {args.crashes:.1%}, seed {args.seed}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
