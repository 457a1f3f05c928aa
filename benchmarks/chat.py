"""Chat webhooks on LocalDesk: handler time and AWS calls per request, chat messages/s through the pipeline.

``benchmarks/run.py`` prints section 8 from what this module measures:

* ``measure_webhooks``: every platform route, each request a distinct, validly signed message,
  timed around ``desk.http.post`` (Chalice's test client, in-process) with the AWS calls made
  inside it counted and timed by ``apimeter``. The routes and a baseline request (``GET /tickets``
  without a token: Chalice's round trip for a route that answers 401 at once) take turns, in an
  order rotated every round, so drift on a shared machine hits them alike.
* ``measure_pipeline``: N chat messages over many conversations on every platform, posted
  through the routes, then ``desk.pump()`` until idle: process_inbound opens or continues the
  conversation's ticket, send_outbound delivers the acknowledgement to the stubbed platform.

Requests are built as ``tests/chat.py`` builds them (its payload fixtures; slack_sdk's
SignatureVerifier, twilio's RequestValidator, Meta's HMAC, Telegram's secret header, a web-chat
session token from ``POST /webchat/sessions``), changing only ids, senders, times and text.
Requests are signed before the clock starts; the timings are the app's handling only.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlencode

from benchmarks.apimeter import ApiMeter, DeskProbe, Invocation, RecordRun, Scope
from tests.chat import from_address

__all__ = ["PLATFORMS", "BASELINE", "measure_webhooks", "measure_pipeline"]

PLATFORMS = ("slack", "whatsapp", "messenger", "telegram", "twilio", "webchat")  # one route each
BASELINE = "baseline"  # GET /tickets without a token: 401 before any lookup
EXPECTED_STATUS = {"slack": 200, "whatsapp": 200, "messenger": 200, "telegram": 200, "twilio": 200,
                   "webchat": 202, BASELINE: 401}
TICKET_CHANNEL = {"twilio": "sms"}  # Twilio SMS tickets are "sms"; every other route is its own channel
WEBHOOK_CONVERSATIONS = 50  # senders measure_webhooks cycles through (conversations do not matter there)
_MARK = re.compile(r"\[bench c(\d+) m(\d+)\]")


@dataclass(frozen=True)
class Request:
    platform: str
    path: str
    headers: dict[str, str]
    body: bytes
    conversation: int
    serial: int


@dataclass
class Sample:
    """One request through ``desk.http``: its answer, wall time and the AWS calls inside it."""

    route: str
    status: int
    wall: float
    scope: Scope
    body_bytes: int
    emf: int  # EMF documents the handler printed (ChatMessagesReceived)

    @property
    def own(self) -> float:
        return self.wall - self.scope.api_seconds


# --- requests -------------------------------------------------------------------------------


class Traffic:
    """Distinct, validly signed webhook requests: conversation ``c``'s message ``serial`` on a platform.

    A conversation is one sender on one platform (Slack DM channel, WhatsApp/SMS phone,
    Messenger PSID, Telegram chat, web-chat session); every message has its own platform id.
    """

    def __init__(self, desk: Any, meter: ApiMeter) -> None:
        from tests import chat

        self.desk, self.meter, self.chat = desk, meter, chat
        self.sessions: dict[int, str] = {}
        self.session_samples: list[Sample] = []

    def build(self, platform: str, conversation: int, serial: int) -> Request:
        text = (f"Order {40000 + serial} has not arrived and tracking shows nothing new. "
                f"[bench c{conversation} m{serial}]")
        return getattr(self, f"_{platform}")(conversation, serial, text, int(time.time()))

    def _slack(self, conversation: int, serial: int, text: str, now: int) -> Request:
        from slack_sdk.signature import SignatureVerifier

        envelope = self.chat.slack_message(event_id=f"Ev0B{serial:010d}", text=text, ts=f"{now}.{serial % 10**6:06d}")
        envelope["event_time"] = now
        event = envelope["event"]
        event["user"], event["channel"] = f"U0B{conversation:08d}", f"D0B{conversation:08d}"
        event["client_msg_id"] = f"5c6f2b3a-0000-4000-8000-{serial:012d}"
        event.pop("blocks", None)  # the fixture's rich text is the fixture's message, not this one
        body = json.dumps(envelope).encode()
        stamp = str(now)
        signature = SignatureVerifier(self.chat.SLACK_SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
        return Request("slack", "/webhooks/slack", {"Content-Type": "application/json",
                                                    "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature},
                       body, conversation, serial)

    def _meta(self, product: str, payload: dict[str, Any], conversation: int, serial: int) -> Request:
        body = json.dumps(payload).encode()
        secret = {"whatsapp": self.chat.WHATSAPP_APP_SECRET, "messenger": self.chat.MESSENGER_APP_SECRET}[product]
        return Request(product, f"/webhooks/{product}", {"Content-Type": "application/json",
                                                         "X-Hub-Signature-256": self.chat.meta_signature(body, secret)},
                       body, conversation, serial)

    def _whatsapp(self, conversation: int, serial: int, text: str, now: int) -> Request:
        payload = self.chat.whatsapp_text(message_id=f"wamid.BENCH{serial:012d}", text=text,
                                          phone=f"1650{conversation:07d}", at=now)
        return self._meta("whatsapp", payload, conversation, serial)

    def _messenger(self, conversation: int, serial: int, text: str, now: int) -> Request:
        payload = self.chat.messenger_text(mid=f"m_BENCH{serial:012d}", text=text, at=now)
        payload["entry"][0]["messaging"][0]["sender"]["id"] = str(6500000000000000 + conversation)
        return self._meta("messenger", payload, conversation, serial)

    def _telegram(self, conversation: int, serial: int, text: str, now: int) -> Request:
        update = self.chat.telegram_text(update_id=700000000 + serial, text=text, at=now)
        message = update["message"]
        message["message_id"] = serial + 1
        message["from"]["id"] = message["chat"]["id"] = 5100000000 + conversation
        message.pop("entities", None)  # the fixture's /start command is not in this text
        return Request("telegram", "/webhooks/telegram",
                       {"Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": self.chat.TELEGRAM_SECRET_TOKEN},
                       json.dumps(update).encode(), conversation, serial)

    def _twilio(self, conversation: int, serial: int, text: str, now: int) -> Request:
        from twilio.request_validator import RequestValidator

        sid = f"SM{serial:032x}"
        fields = self.chat.twilio_sms(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, From=f"+1415{conversation:07d}",
                                      Body=text)
        url = self.chat.PUBLIC_BASE_URL + "/webhooks/twilio"
        signature = RequestValidator(self.chat.TWILIO_AUTH_TOKEN).compute_signature(url, fields)
        return Request("twilio", "/webhooks/twilio", {"Content-Type": "application/x-www-form-urlencoded",
                                                      "X-Twilio-Signature": signature},
                       urlencode(fields).encode(), conversation, serial)

    def _webchat(self, conversation: int, serial: int, text: str, now: int) -> Request:
        body = {"session_token": self.session(conversation), "text": text, "message_id": f"msg-{serial:08d}"}
        return Request("webchat", "/webhooks/webchat", {"Content-Type": "application/json"},
                       json.dumps(body).encode(), conversation, serial)

    def session(self, conversation: int) -> str:
        """The conversation's web-chat session, opened through ``POST /webchat/sessions`` (timed too)."""
        if conversation not in self.sessions:
            body = json.dumps({"name": f"Visitor {conversation}"}).encode()
            # Each visitor from their own address (documentation prefix 2001:db8::/32, one /64 each),
            # as on a real site: the per-address session limit is not what this measures.
            visitor_ip = f"2001:db8:{len(self.sessions):x}::1"
            with from_address(visitor_ip):
                sample, response = self._timed("webchat session", lambda: self.desk.http.post(
                    "/webchat/sessions", headers={"Content-Type": "application/json"}, body=body), len(body))
            if response.status_code != 201:
                raise RuntimeError(f"POST /webchat/sessions answered {response.status_code}: {response.body[:200]!r}")
            self.session_samples.append(sample)
            self.sessions[conversation] = json.loads(response.body)["session_token"]
        return self.sessions[conversation]

    # --- sending ---

    def send(self, request: Request) -> Sample:
        return self._timed(request.platform, lambda: self.desk.http.post(request.path, headers=request.headers,
                                                                         body=request.body), len(request.body))[0]

    def baseline(self) -> Sample:
        return self._timed(BASELINE, lambda: self.desk.http.get("/tickets"), 0)[0]

    def _timed(self, route: str, call: Any, body_bytes: int) -> tuple[Sample, Any]:
        # The handlers print EMF to stdout, as Lambda would; LocalDesk.invoke captures it the same way.
        printed = io.StringIO()
        scope = self.meter.open()
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(printed):
                response = call()
        finally:
            wall = time.perf_counter() - started
            self.meter.close(scope)
        return Sample(route, response.status_code, wall, scope, body_bytes, printed.getvalue().count('"_aws"')), response


# --- 1 + 2. the webhook handlers -----------------------------------------------------------------


@dataclass
class WebhookReport:
    repeats: int
    samples: dict[str, list[Sample]]  # route → the measured requests (warm)
    cold: dict[str, list[Sample]]  # route → its first requests after cold starts (clients and queue URLs dropped)
    cold_with_url: Sample | None  # the same, with INBOUND_QUEUE_URL set as the stack sets it
    session_samples: list[Sample]
    unexpected: Counter  # "route status" → count, for answers other than EXPECTED_STATUS
    seconds: float


def measure_webhooks(meter: ApiMeter, *, repeats: int, cold_repeats: int = 1, warmup: int = 5) -> WebhookReport:
    """``repeats`` requests per route, interleaved with the baseline; ``cold_repeats`` cold starts per route first.

    A cold start here drops the boto3 clients and the looked-up queue URLs, as a new container
    has neither; the app stays imported (section 1 measures that), and the first cold request
    of each route also imports its adapter module.
    """
    from tests import chat

    from chalicelib.local import LocalDesk

    started = time.perf_counter()
    samples: dict[str, list[Sample]] = {route: [] for route in (*PLATFORMS, BASELINE)}
    unexpected: Counter = Counter()
    serials = iter(range(1, 10**9))

    def check(sample: Sample) -> Sample:
        if sample.status != EXPECTED_STATUS[sample.route]:
            unexpected[f"{sample.route} {sample.status}"] += 1
        return sample

    with LocalDesk(environment=dict(chat.SECRETS)) as desk:
        os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"  # drain with PurgeQueue (restored on exit)
        traffic = Traffic(desk, meter)
        for conversation in range(WEBHOOK_CONVERSATIONS):  # web-chat visitors open their sessions first
            traffic.session(conversation)

        def one(route: str) -> Sample:
            if route == BASELINE:
                return check(traffic.baseline())
            serial = next(serials)
            return check(traffic.send(traffic.build(route, serial % WEBHOOK_CONVERSATIONS, serial)))

        cold: dict[str, list[Sample]] = {platform: [] for platform in PLATFORMS}
        for _ in range(cold_repeats):
            for platform in PLATFORMS:  # each as the first request a new container serves
                _cold_start()
                cold[platform].append(one(platform))
        cold_with_url = None
        queue_url = _queue_url("INBOUND_QUEUE")
        if queue_url:
            os.environ["INBOUND_QUEUE_URL"] = queue_url  # what infra/resources.yaml gives the function
            _cold_start()
            cold_with_url = one("slack")
            os.environ.pop("INBOUND_QUEUE_URL", None)
            _cold_start()
        routes = (*PLATFORMS, BASELINE)
        for _ in range(warmup):
            for route in routes:
                one(route)
        _drain(queue_url)

        for round_ in range(repeats):
            shift = round_ % len(routes)
            for route in routes[shift:] + routes[:shift]:
                samples[route].append(one(route))
            _drain(queue_url)  # one message per route queued at most (see _drain)
    return WebhookReport(repeats, samples, cold, cold_with_url, traffic.session_samples, unexpected,
                         time.perf_counter() - started)


def _cold_start() -> None:
    """What a new Lambda container lacks: boto3 clients and looked-up queue URLs (the app is imported)."""
    from chalicelib import aws
    from chalicelib.storage import models
    from chalicelib.storage import queues as queue

    aws.reset_clients()
    models.reset_connections()
    queue.reset()


def _queue_url(setting: str) -> str | None:
    """The queue's URL, looked up by the harness (outside every meter scope, never counted)."""
    from chalicelib import aws, config

    try:
        return aws.client("sqs").get_queue_url(QueueName=config.setting(setting))["QueueUrl"]
    except Exception:  # noqa: BLE001 - the figure is optional
        return None


def _drain(queue_url: str | None) -> None:
    """Empty the inbound queue after each round: nothing consumes it here, and moto's SendMessageBatch
    walks every queued message several times per entry (``Queue.attributes``, the FIFO deduplication
    check), so a growing queue would make each send slower (measure_pipeline reports by how much)."""
    from chalicelib import aws

    if queue_url:
        aws.client("sqs").purge_queue(QueueUrl=queue_url)


# --- 3. through the pipeline ------------------------------------------------------------------


@dataclass
class PipelineReport:
    messages: int
    conversations: int
    plan: list[tuple[str, int, int]]  # (platform, conversation, serial), in posting order
    first_serial: dict[int, int]  # conversation → the serial of its first message
    webhooks: list[Sample]
    wall: float  # posting + pumping until idle
    post_wall: float  # inside desk.http.post, summed
    pump_wall: float  # inside desk.pump(), summed
    invocations: list[Invocation]
    records: list[RecordRun]
    record_marks: list[tuple[int, int] | None]  # (conversation, serial) of each record in ``records``
    tickets: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    deliveries: int = 0  # SQS messages pump() handed to the functions
    unexpected: Counter = field(default_factory=Counter)
    warmup_tickets: int = 0
    pump_every: int | None = None
    seconds: float = 0.0

    def platform_of(self, conversation: int) -> str:
        return PLATFORMS[conversation % len(PLATFORMS)]


def schedule(messages: int, conversations: int) -> list[tuple[str, int, int]]:
    """Message i goes to conversation i % conversations; conversation c is on PLATFORMS[c % 6].

    So every conversation's first message comes before any conversation's second, and the
    conversations' messages interleave as many customers' would.
    """
    return [(PLATFORMS[(i % conversations) % len(PLATFORMS)], i % conversations, i + 1) for i in range(messages)]


def measure_pipeline(meter: ApiMeter, *, messages: int, conversations: int | None = None,
                     pump_every: int | None = None) -> PipelineReport:
    """Post ``messages`` chat messages through the routes, then pump both queues until idle.

    ``pump_every``: also pump after every that many messages (None: post them all first).
    """
    from tests import chat

    from chalicelib.local import LocalDesk

    started_all = time.perf_counter()
    conversations = conversations or max(len(PLATFORMS), messages // 3)
    plan = schedule(messages, conversations)
    first_serial: dict[int, int] = {}
    for _, conversation, serial in plan:
        first_serial.setdefault(conversation, serial)
    with LocalDesk(environment=dict(chat.SECRETS)) as desk, DeskProbe(desk, meter) as probe, \
            _RecordMarks(probe) as marks:
        traffic = Traffic(desk, meter)
        # Warm-up: one message per platform on conversations outside the plan, pumped, then forgotten:
        # imports, clients and queue URLs are a warm container's (cold start is section 1 and part 2).
        for index, platform in enumerate(PLATFORMS):
            traffic.send(traffic.build(platform, 10**6 + index, 10**8 + index))
        desk.pump()
        warm_ticket_ids = {t["id"] for t in desk.tickets()}
        warm_sent = len(desk.sent_chat_messages())
        warm_dead = len(desk.dead_letters())
        probe_mark, marks_mark = probe.mark(), len(marks.marks)

        for _, conversation, _ in plan:  # visitors open the widget before they type
            if PLATFORMS[conversation % len(PLATFORMS)] == "webchat":
                traffic.session(conversation)
        requests = [traffic.build(platform, conversation, serial) for platform, conversation, serial in plan]
        unexpected: Counter = Counter()
        webhooks = []
        post_wall = pump_wall = 0.0
        deliveries = 0
        started = time.perf_counter()
        for index, request in enumerate(requests, 1):
            sample = traffic.send(request)
            post_wall += sample.wall
            if sample.status != EXPECTED_STATUS[request.platform]:
                unexpected[f"{request.platform} {sample.status}"] += 1
            webhooks.append(sample)
            if index == len(requests) or (pump_every and index % pump_every == 0):
                pumping = time.perf_counter()
                deliveries += desk.pump()
                pump_wall += time.perf_counter() - pumping
        finished = time.perf_counter()

        invocations, records = probe.since(probe_mark)
        report = PipelineReport(messages, conversations, plan, first_serial, webhooks, finished - started,
                                post_wall, pump_wall, list(invocations), list(records),
                                list(marks.marks[marks_mark:]), deliveries=deliveries, unexpected=unexpected,
                                warmup_tickets=len(warm_ticket_ids), pump_every=pump_every)
        report.tickets = [t for t in desk.tickets() if t["id"] not in warm_ticket_ids]
        report.sent = desk.sent_chat_messages()[warm_sent:]
        report.dead = desk.dead_letters()[warm_dead:]
    report.seconds = time.perf_counter() - started_all
    return report


class _RecordMarks:
    """Which plan message each pipeline record carried: read from the ``[bench c.. m..]`` mark in its text.

    Wraps DeskProbe's ``worker._handle`` wrapper, so ``marks[i]`` belongs to ``probe.records[i]``.
    """

    def __init__(self, probe: DeskProbe) -> None:
        self.marks: list[tuple[int, int] | None] = []
        self._worker: Any = None
        if not probe.per_record:
            return
        from chalicelib.pipeline import worker

        self._worker, self._inner = worker, worker._handle
        worker._handle = self._handle

    def __enter__(self) -> "_RecordMarks":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._worker is not None:
            self._worker._handle = self._inner
            self._worker = None

    def _handle(self, record: Any) -> Any:
        try:
            return self._inner(record)
        finally:
            self.marks.append(_mark(getattr(record, "body", None)))


def _mark(body: Any) -> tuple[int, int] | None:
    try:
        text = json.loads(body)["message"]["text"]
    except (TypeError, ValueError, KeyError):
        return None
    found = _MARK.search(text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def calls(scopes: Iterable[Scope]) -> Counter:
    total: Counter = Counter()
    for scope in scopes:
        total.update(scope.calls)
    return total

