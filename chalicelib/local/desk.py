"""LocalDesk: provisions the deployment's own resources in moto and drives the real handlers.

Used by our tests, ``make demo`` and teams testing their rules offline::

    with LocalDesk() as desk:
        desk.receive_email(raw_bytes)
        desk.pump()
        desk.tickets()[0]["status"]  # "open"
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from chalicelib.local.faults import FunctionCrashed  # no AWS, no settings: safe before the environment
from chalicelib.local.gateway import HttpApiClient  # no AWS, no settings: safe before the environment

PROJECT_DIR = Path(__file__).resolve().parents[2]
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
_ACCOUNT = "123456789012"  # moto's default account
_QUEUE_FUNCTIONS = {"INBOUND_QUEUE": "process_inbound", "OUTBOUND_QUEUE": "send_outbound",
                    "SES_FAILURE_QUEUE": "ses_failures"}
#: table setting → the functions its stream feeds, in the order they are handed a change (each its own reader)
_STREAM_FUNCTIONS = {"TICKETS_TABLE": ("ticket_stream", "kpi_stream")}
_STREAM_BATCH = 1000  # as app.py's ticket_stream (kpi_stream's 10,000 gather over 5 minutes, not here)
_STREAM_ATTEMPTS = 11  # then skipped, as Lambda does after infra's MaximumRetryAttempts: 10 (TicketStream, KpiStream)


class LocalDesk:
    """The desk on an embedded local AWS.

    Without ``AWS_ENDPOINT_URL`` it runs moto in-process (``mock_aws``); with it,
    it provisions and drives whatever that endpoint is (moto server, another
    emulator). ``server=True`` starts a moto server in this process and points
    ``AWS_ENDPOINT_URL`` at it, for code that needs a real HTTP endpoint.
    """

    def __init__(self, *, stage: str = "dev", project_dir: str | Path = PROJECT_DIR,
                 settings_path: str | Path | None = None, server: bool = False,
                 environment: dict[str, str] | None = None, triage_rules: str | Path | None = None,
                 automation_rules: str | Path | None = None, routing_rules: str | Path | None = None,
                 macros: str | Path | None = None, sla_policies: str | Path | None = None,
                 stream_delivery: str = "immediate", api_gateway: str = "http") -> None:
        """Rule files default to the deployment's own (``chalicelib/*.yaml``); pass paths to test yours.

        ``api_gateway``: ``http`` sends ``desk.http``'s requests as the deployed HTTP API does
        (``chalicelib/local/gateway.py``); ``rest`` through Chalice's test client, as a REST API would.

        ``stream_delivery``: ``immediate`` hands the table streams' new records to their
        functions after every invocation (deployed, that takes about a second);
        ``manual`` leaves them until ``deliver_streams()`` (to measure batches).
        """
        if stream_delivery not in ("immediate", "manual"):
            raise ValueError(f"stream_delivery must be immediate or manual, not {stream_delivery!r}")
        if api_gateway not in ("http", "rest"):
            raise ValueError(f"api_gateway must be http or rest, not {api_gateway!r}")
        self.api_gateway = api_gateway
        self.stream_delivery = stream_delivery
        self._stream_positions: dict[tuple[str, str], int] = {}  # (table, function) → records handed over
        self._delivering_streams = False
        self.stage = stage
        self.project_dir = Path(project_dir)
        self._settings_path = settings_path
        rule_files = {"TRIAGE_RULES": triage_rules, "AUTOMATION_RULES": automation_rules,
                      "ROUTING_RULES": routing_rules, "MACROS_FILE": macros, "SLA_POLICIES": sla_policies}
        environment = {**{k: str(v) for k, v in rule_files.items() if v is not None}, **(environment or {})}
        self._want_server = server
        self._extra_env = dict(environment or {})
        self._saved_env: dict[str, str] | None = None
        self._mock: Any = None
        self._server: Any = None
        self._client: Any = None
        self.metrics: list[dict[str, Any]] = []  # EMF documents the functions emitted
        self.platform_responses: Any = None  # responses.RequestsMock standing in for the chat platforms
        self._chat_messages: list[dict[str, Any]] = []
        # The Chalice test client swaps os.environ per call and invoke() redirects stdout:
        # one invocation at a time keeps both sane when several threads pump.
        self._invoke_lock = threading.RLock()

    # --- lifecycle -------------------------------------------------------
    def __enter__(self) -> "LocalDesk":
        self._saved_env = dict(os.environ)
        os.environ.update(self._stage_environment())
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ.update(self._extra_env)
        if self._settings_path:
            os.environ["DESK_SETTINGS"] = str(self._settings_path)
        from chalicelib.local import moto_patch

        moto_patch.apply()
        if self._want_server:
            from moto.server import ThreadedMotoServer

            os.environ.update(_FAKE_CREDENTIALS)
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            from moto.core.base_backend import BackendDict

            BackendDict.reset()  # the in-process server shares moto's global state: start empty
            self._server.start()
            host, port = self._server.get_host_and_port()
            os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        elif not os.environ.get("AWS_ENDPOINT_URL"):
            from moto import mock_aws

            os.environ.update(_FAKE_CREDENTIALS)
            self._mock = mock_aws()
            self._mock.start()
        self._reset_process_state()
        self._start_platform_stubs()
        from chalicelib.local.provision import provision

        provision(self.project_dir / "infra" / "resources.yaml")
        self._aws("ses").verify_domain_identity(Domain=self._env("SUPPORT_ADDRESS").rpartition("@")[2])
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.platform_responses is not None:
            self.platform_responses.stop()
            self.platform_responses.reset()
        if self._mock is not None:
            self._mock.stop()
        if self._server is not None:
            from moto.core.base_backend import BackendDict

            self._server.stop()
            BackendDict.reset()
        self._reset_process_state()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)

    # --- where things are ------------------------------------------------
    @property
    def inbound_bucket(self) -> str:
        return self._env("MAIL_BUCKET")

    @property
    def inbound_prefix(self) -> str:
        return self._env("INBOUND_PREFIX")

    @property
    def client(self) -> Any:
        """``chalice.test.Client`` on the real app: ``desk.client.http.get('/tickets', ...)``."""
        if self._client is None:
            from chalice.cli.factory import CLIFactory
            from chalice.test import Client

            app = CLIFactory(str(self.project_dir)).load_chalice_app()
            self._client = Client(app, stage_name=self.stage, project_dir=str(self.project_dir))
        return self._client

    @property
    def http(self) -> Any:
        """The API as the deployment's gateway serves it (``api_gateway``); EMF the routes print lands in
        ``desk.metrics``."""
        return _CapturingHttp(self)

    # --- feeding it ------------------------------------------------------
    def receive_email(self, raw: bytes, *, spam: str = "PASS", virus: str = "PASS", spf: str = "PASS",
                      dkim: str = "PASS", dmarc: str = "PASS", recipients: list[str] | None = None) -> str:
        """Store ``raw`` as SES's S3 action would and invoke ``ses_inbound`` with the Lambda-action event."""
        message_id = uuid.uuid4().hex + "00000000"  # SES ids are opaque, URL-safe strings
        self._aws("s3").put_object(Bucket=self.inbound_bucket, Key=self.inbound_prefix + message_id, Body=raw)
        event = ses_event(raw, message_id, recipients=recipients or [self._env("SUPPORT_ADDRESS")],
                          verdicts={"spam": spam, "virus": virus, "spf": spf, "dkim": dkim, "dmarc": dmarc})
        self.invoke("ses_inbound", event)
        return message_id

    def invoke(self, function_name: str, event: Any) -> Any:
        """Invoke one of the app's functions as Lambda would, capturing the EMF it prints."""
        return self._captured(lambda: self._invoke(function_name, event))

    def _invoke(self, function_name: str, event: Any) -> Any:
        """Chalice's test client invoke, but the context has the function's configured timeout.

        (The test client's context always says 3 s, and the functions bound their
        HTTP retries by the time the context says is left.)
        """
        from chalice.local import LambdaContext

        client = self.client
        scoped = client._chalice_config.scope(client._chalice_config.chalice_stage, function_name)
        context = LambdaContext(function_name, memory_size=scoped.lambda_memory_size,
                                max_runtime_ms=int(scoped.lambda_timeout or 60) * 1000)
        handler = client._app.handler_map[function_name]
        with client.lambda_._patched_env_vars(scoped.environment_variables):
            return handler(event, context)

    def _captured(self, call: Any) -> Any:
        with self._invoke_lock:
            buffer = io.StringIO()
            try:
                with contextlib.redirect_stdout(buffer):
                    return call()
            finally:
                self._collect_metrics(buffer.getvalue())
                if self.stream_delivery == "immediate":
                    self.deliver_streams()

    def deliver_streams(self, *, batch_size: int | Mapping[str, int] = _STREAM_BATCH) -> int:
        """Hand the table streams' new records to their functions, as Lambda's event source mapping does.

        Batches of up to ``batch_size`` in stream order (or ``{function: size}``, each
        function's own, ``_STREAM_BATCH`` for one it does not name); a batch whose invocation
        raises is delivered again (``_STREAM_ATTEMPTS`` in all, then skipped with a
        warning, like Lambda's MaximumRetryAttempts). Reactions write tickets too, so
        it goes on until the streams are quiet. Every function of a stream reads it on its own
        (``ticket_stream``, then ``kpi_stream``). Returns how many new records were read
        (each once, however many functions it went to). Reads moto's shards in this process
        (moto answers the DynamoDB Streams API with 404); against an external endpoint nothing
        is delivered. Safe to call from any thread: it runs under the invocation lock (an HTTP route served by ``start_http``
        is no invocation, so a test hands its changes over with this).
        """
        with self._invoke_lock:
            return self._deliver_streams(batch_size)

    def _deliver_streams(self, batch_size: int | Mapping[str, int]) -> int:
        if self._delivering_streams:
            return 0
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[_ACCOUNT][os.environ["AWS_DEFAULT_REGION"]]
        delivered = 0
        self._delivering_streams = True
        try:
            for setting, functions in _STREAM_FUNCTIONS.items():
                table = backend.tables.get(self._env(setting))
                if table is None or table.stream_shard is None:
                    continue
                first = (table.name, functions[0])
                before = self._stream_positions.get(first, 0)
                for function_name in functions:  # ticket_stream's reactions write tickets: it goes first
                    size = batch_size if isinstance(batch_size, int) else batch_size.get(function_name,
                                                                                         _STREAM_BATCH)
                    while True:
                        start = self._stream_positions.get((table.name, function_name), 0)
                        batch = table.stream_shard.items[start:start + size]
                        if not batch:
                            break
                        self._stream_positions[(table.name, function_name)] = start + len(batch)
                        self._deliver_stream_batch(function_name, table, batch)
                delivered += self._stream_positions.get(first, 0) - before
        finally:
            self._delivering_streams = False
        return delivered

    def pending_stream_records(self) -> int:
        """Stream records not yet handed to all their functions (``stream_delivery="manual"``)."""
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[_ACCOUNT][os.environ["AWS_DEFAULT_REGION"]]
        pending = 0
        for setting, functions in _STREAM_FUNCTIONS.items():
            table = backend.tables.get(self._env(setting))
            if table is not None and table.stream_shard is not None:
                pending += len(table.stream_shard.items) - min(self._stream_positions.get((table.name, name), 0)
                                                               for name in functions)
        return pending

    def undelivered_stream_records(self, function_name: str = "ticket_stream") -> list[dict[str, Any]]:
        """The tickets table's stream records not yet handed to ``function_name`` (``ticket_stream`` or
        ``kpi_stream``), shaped as Lambda hands them (``stream_delivery="manual"``; nothing is marked delivered)."""
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[_ACCOUNT][os.environ["AWS_DEFAULT_REGION"]].tables[self._env("TICKETS_TABLE")]
        start = self._stream_positions.get((table.name, function_name), 0)
        return _lambda_stream_records(table, table.stream_shard.items[start:])

    def _deliver_stream_batch(self, function_name: str, table: Any, batch: list[Any]) -> None:
        records = _lambda_stream_records(table, batch)
        for attempt in range(1, _STREAM_ATTEMPTS + 1):
            try:
                self.invoke(function_name, {"Records": records})
                return
            except (Exception, FunctionCrashed) as err:  # Lambda retries the same batch
                if attempt == _STREAM_ATTEMPTS:
                    print(f"LocalDesk: {function_name} failed {attempt} times on a batch of {len(records)} "
                          f"stream records; skipped: {err!r}")

    def pump(self, *, max_batches: int = 100_000) -> int:
        """Deliver queued messages to the SQS handlers as Lambda's event source mapping does.

        Batches of up to 10; records reported in ``batchItemFailures`` (or a whole
        batch whose invocation raised) become visible again at once — the
        visibility timeout elapsing, without the wait — and SQS's redrive policy
        moves them to the DLQ after ``maxReceiveCount`` receives. Returns how many
        deliveries were made; stops when every queue is idle.
        """
        sqs = self._aws("sqs")
        delivered = 0
        for _ in range(max_batches):
            busy = False
            for queue_setting, function_name in _QUEUE_FUNCTIONS.items():
                url = sqs.get_queue_url(QueueName=self._env(queue_setting))["QueueUrl"]
                received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                               MessageAttributeNames=["All"], WaitTimeSeconds=0)
                records = received.get("Messages", [])
                if not records:
                    continue
                busy = True
                delivered += len(records)
                failed = self._deliver(function_name, url, records)
                for record in records:
                    if record["MessageId"] in failed:
                        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"],
                                                      VisibilityTimeout=0)
                    else:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=record["ReceiptHandle"])
            if not busy:
                return delivered
        return delivered

    def add_agent(self, name: str, email: str, *, role: str = "agent", skills: tuple[str, ...] = (),
                  capacity: int = 10, status: str = "online", languages: tuple[str, ...] = (),
                  working_hours: dict[str, Any] | None = None) -> tuple[str, str]:
        """Create an agent (no skills = every queue); returns ``(agent_id, bearer_token)`` for the API.

        Like ``POST /agents``: an agent created online picks up tickets waiting in its queues.
        """
        from chalicelib.service.agents import Profile, create

        agent, token = self._captured(lambda: create(Profile(
            name=name, email=email, role=role, skills=frozenset(skills) or None, capacity=capacity, status=status,
            languages=frozenset(languages) or None, working_hours=working_hours)))
        return agent.agent_id, token

    def advance(self, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move the desk's clock forward (SLA and timer tests without waiting); returns the new now."""
        from datetime import timedelta

        from chalicelib import clock

        clock.advance(timedelta(minutes=minutes, hours=hours, days=days))
        return clock.now()

    def run_schedules(self) -> list[Any]:
        """Run every ``@app.schedule`` function once, as EventBridge would; returns what each returned."""
        return [self.run_schedule(name) for name in self.schedules()]

    def schedules(self) -> dict[str, str]:
        """The app's ``@app.schedule`` functions: name → schedule expression (``rate(1 minute)``, ``cron(...)``)."""
        from chalice.app import ScheduledEventConfig

        return {source.name: (source.schedule_expression if isinstance(source.schedule_expression, str)
                              else source.schedule_expression.to_string())
                for source in self.client._app.event_sources if isinstance(source, ScheduledEventConfig)}

    def run_schedule(self, name: str) -> Any:
        """Run one ``@app.schedule`` function with the event EventBridge delivers, timed by the desk's clock."""
        from chalicelib import clock

        event = {"version": "0", "id": uuid.uuid4().hex, "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": _ACCOUNT, "time": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "region": os.environ["AWS_DEFAULT_REGION"], "resources": [], "detail": {}}
        return self.invoke(name, event)

    def take_metrics(self) -> list[dict[str, Any]]:
        """The EMF documents collected since the last call, and forget them (a long-running desk)."""
        with self._invoke_lock:
            taken, self.metrics = self.metrics, []
        return taken

    # --- reading it back -------------------------------------------------
    def tickets(self) -> list[dict[str, Any]]:
        """Every ticket, oldest first, each with messages and customer as ``GET /tickets/{id}`` shows."""
        from chalicelib.api import views
        from chalicelib.domain.vocabulary import STATUSES
        from chalicelib.storage import tickets as stored_tickets

        keys = [ticket_id for status in STATUSES for ticket_id in stored_tickets.ticket_ids_in_status(status)]
        found = stored_tickets.tickets_by_ids(keys)
        return [views.ticket_detail(t) for t in sorted(found, key=lambda t: int(t.number))]

    def sent_emails(self, *, since: int = 0) -> list[EmailMessage]:
        """What SES sent, parsed, as the customer receives it (moto keeps it; nothing leaves the machine).

        SES replaces every Message-ID with its own (``<id>@email.amazonses.com``, the id
        SendRawEmail returned); moto does not, so this does: a customer's reply threads
        by what SES really sends. ``since``: skip the first ones (already read), unparsed.
        """
        from chalicelib.outbound.email import provider_message_id

        if self._mock is not None or self._server is not None:
            sent = [(m.id, m.raw_data) for m in self._ses_backend().sent_messages if hasattr(m, "raw_data")]
        else:  # an external moto server: its model dump has every raw message SES accepted
            import urllib.request

            with urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/moto-api/data.json") as page:
                sent = [(m.get("id"), m["raw_data"]) for m in json.load(page).get("ses", {}).get("RawMessage", [])]
        mails = []
        for ses_id, raw in sent[since:]:
            mail = BytesParser(policy=policy.default).parsebytes(
                raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw)
            if ses_id:
                del mail["Message-ID"]
                mail["Message-ID"] = f"<{provider_message_id(ses_id)}>"
            mails.append(mail)
        return mails

    def signin_links(self) -> list[tuple[str, str]]:
        """The console sign-in links mailed so far, oldest first: ``(to address, link)`` each."""
        import re

        links = []
        for mail in self.sent_emails():
            body = mail.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            links += [(str(mail["To"]), found) for found in re.findall(r"\S+/console/?#signin=rdl_[0-9a-f_-]+", text)]
        return links

    def sent_chat_messages(self) -> list[dict[str, Any]]:
        """What each platform's send API received: ``{"platform", "recipient", "text", "request"}``.

        The platforms are stubbed at the HTTP layer (``responses``), so the
        real senders build and send real requests; nothing leaves the machine.
        Replace a stub to simulate failures: ``desk.platform_responses.replace(...)``.
        """
        return list(self._chat_messages)

    def dead_letters(self) -> list[dict[str, Any]]:
        """Messages parked in dead-letter queues: ``{"queue", "reason", "body"}`` each."""
        names = (self._env("INBOUND_DLQ"), self._env("OUTBOUND_DLQ"), self._env("SES_FAILURE_QUEUE"))
        if self._mock is None and self._server is None:
            return [letter for name in names for letter in self._peek(name)]
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[_ACCOUNT][os.environ["AWS_DEFAULT_REGION"]]
        return [{"queue": name, **_parked(message.body, message.approximate_receive_count)}
                for name in names for message in backend.queues[name]._messages]

    def _peek(self, name: str) -> list[dict[str, Any]]:
        """Read a queue over the API without consuming it (an external endpoint: up to 10 per message group)."""
        sqs = self._aws("sqs")
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        seen: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                        AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
            if not batch:
                break
            seen += batch
        for message in seen:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return [{"queue": name, **_parked(m["Body"], int(m["Attributes"]["ApproximateReceiveCount"]))} for m in seen]

    # --- internals -------------------------------------------------------
    def _deliver(self, function_name: str, url: str, records: list[dict[str, Any]]) -> set[str]:
        arn = self._aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        event = {"Records": [_lambda_record(r, arn, os.environ["AWS_DEFAULT_REGION"]) for r in records]}
        try:
            response = self.invoke(function_name, event) or {}
        except (Exception, FunctionCrashed):  # the whole invocation failed (or died): Lambda retries the batch
            return {r["MessageId"] for r in records}
        return {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}

    def _start_platform_stubs(self) -> None:
        import re

        import responses

        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        mock.add_passthru(re.compile(r"https?://(127\.0\.0\.1|localhost)[:/]"))
        stubs = [
            ("slack", r"https://slack\.com/api/chat\.postMessage", _slack_stub),
            ("whatsapp", r"https://graph\.facebook\.com/v[\d.]+/\d+/messages", _whatsapp_stub),
            ("messenger", r"https://graph\.facebook\.com/v[\d.]+/me/messages.*", _messenger_stub),
            ("telegram", r"https://api\.telegram\.org/bot[^/]+/sendMessage", _telegram_stub),
            ("twilio", r"https://api\.twilio\.com/2010-04-01/Accounts/[^/]+/Messages\.json", _twilio_stub),
        ]
        for platform, pattern, stub in stubs:
            mock.add_callback(responses.POST, re.compile(pattern), callback=self._recording(platform, stub))
        mock.start()
        self.platform_responses = mock

    def _recording(self, platform: str, stub: Any) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            recipient, text, reply = stub(request, len(self._chat_messages) + 1)
            self._chat_messages.append({"platform": platform, "recipient": recipient, "text": text,
                                        "request": {"url": request.url, "headers": dict(request.headers),
                                                    "body": request.body}})
            return reply
        return callback

    def _collect_metrics(self, printed: str) -> None:
        for line in printed.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                print(line)
                continue
            if isinstance(document, dict) and "_aws" in document:
                self.metrics.append(document)
            else:
                print(line)

    def _ses_backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[_ACCOUNT][os.environ["AWS_DEFAULT_REGION"]]

    def _aws(self, service: str) -> Any:
        from chalicelib import aws

        return aws.client(service)

    def _env(self, name: str) -> str:
        from chalicelib import config

        return config.setting(name)

    def _stage_environment(self) -> dict[str, str]:
        document = json.loads((self.project_dir / ".chalice" / "config.json").read_text())
        env = dict(document.get("environment_variables", {}))
        env.update(document.get("stages", {}).get(self.stage, {}).get("environment_variables", {}))
        return env

    def _reset_process_state(self) -> None:
        from chalicelib import aws, clock, secrets
        from chalicelib.storage import queues as queue
        from chalicelib.storage import agents, kb_index, models, repository

        aws.reset_clients()
        models.reset_connections()
        agents.forget()
        clock.reset()
        secrets.reset()
        queue.reset()
        repository.reset_number_block()
        kb_index.forget()  # the KB search index a function keeps open between invocations
        self.metrics = []
        self._chat_messages = []


class _CapturingHttp:
    """``client.http`` with each request run like an invocation: one at a time, EMF captured."""

    def __init__(self, desk: LocalDesk) -> None:
        self._desk = desk

    def __getattr__(self, method: str) -> Any:
        gateway = HttpApiClient(self._desk.client) if self._desk.api_gateway == "http" else self._desk.client.http
        request = getattr(gateway, method)
        return lambda *args, **kwargs: self._desk._captured(lambda: request(*args, **kwargs))


def ses_event(raw: bytes, message_id: str, *, recipients: list[str], verdicts: dict[str, str]) -> dict[str, Any]:
    """The event an SES receipt rule's Lambda action delivers, headers taken from ``raw``."""
    parsed = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    headers = [{"name": k, "value": str(v)} for k, v in parsed.items()]
    common: dict[str, Any] = {"returnPath": str(parsed.get("Return-Path", "")), "messageId": str(parsed.get("Message-ID", ""))}
    for header, key in (("From", "from"), ("To", "to"), ("Cc", "cc")):
        if parsed.get(header):
            common[key] = [str(parsed.get(header))]
    for header, key in (("Subject", "subject"), ("Date", "date")):
        if parsed.get(header):
            common[key] = str(parsed.get(header))
    return {"Records": [{
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {"timestamp": now, "source": common.get("returnPath") or "unknown@unknown",
                     "messageId": message_id, "destination": recipients, "headersTruncated": False,
                     "headers": headers, "commonHeaders": common},
            "receipt": {"timestamp": now, "processingTimeMillis": 120, "recipients": recipients,
                        **{f"{k}Verdict": {"status": v} for k, v in verdicts.items()},
                        "dmarcPolicy": "none",
                        "action": {"type": "Lambda", "invocationType": "Event",
                                   "functionArn": f"arn:aws:lambda:us-east-1:{_ACCOUNT}:function:relay-desk-dev-ses_inbound"}},
        },
    }]}


def on_failure_record(event: Any, error: BaseException, *, function_name: str = "ses_inbound",
                      tries: int = 3) -> dict[str, Any]:
    """What Lambda's on-failure destination receives when every try of an asynchronous invocation failed
    (``tries``: the call and ``MaximumRetryAttempts``, 2 for ses_inbound in infra/resources.yaml)."""
    return {"version": "1.0", "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetriesExhausted",
                               "approximateInvokeCount": tries,
                               "functionArn": f"arn:aws:lambda:us-east-1:{_ACCOUNT}:function:relay-desk-dev-{function_name}"},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": str(error)[:200], "errorType": type(error).__name__}}


def _lambda_stream_records(table: Any, items: list[Any]) -> list[dict[str, Any]]:
    """moto's stream items of ``table`` as the records Lambda's event source mapping delivers."""
    from chalicelib.storage.stream_replay import as_delivered  # after the desk's environment, like the app

    arn = f"{table.table_arn}/stream/{table.latest_stream_label}"
    return [as_delivered(item.to_json(), arn) for item in items]


def _json_body(request: Any) -> dict[str, Any]:
    body = request.body or b"{}"
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def _slack_stub(request: Any, n: int) -> tuple[str, str, Any]:
    body = _json_body(request)
    return body["channel"], body["text"], (200, {}, json.dumps({"ok": True, "channel": body["channel"], "ts": f"1700000000.{n:06d}"}))


def _whatsapp_stub(request: Any, n: int) -> tuple[str, str, Any]:
    body = _json_body(request)
    text = body["text"]["body"] if body.get("type") == "text" else f"template:{body['template']['name']}"
    reply = {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
             "messages": [{"id": f"wamid.local{n}"}]}
    return body["to"], text, (200, {}, json.dumps(reply))


def _messenger_stub(request: Any, n: int) -> tuple[str, str, Any]:
    body = _json_body(request)
    recipient = body["recipient"]["id"]
    return recipient, body["message"]["text"], (200, {}, json.dumps({"recipient_id": recipient, "message_id": f"m_local{n}"}))


def _telegram_stub(request: Any, n: int) -> tuple[str, str, Any]:
    body = _json_body(request)
    reply = {"ok": True, "result": {"message_id": n, "chat": {"id": body["chat_id"]}, "text": body["text"]}}
    return str(body["chat_id"]), body["text"], (200, {}, json.dumps(reply))


def _twilio_stub(request: Any, n: int) -> tuple[str, str, Any]:
    from urllib.parse import parse_qs

    raw = request.body.decode() if isinstance(request.body, bytes) else request.body
    form = {k: v[0] for k, v in parse_qs(raw or "").items()}
    text = form.get("Body") or f"template:{form.get('ContentSid', '')}"
    reply = {"sid": f"SM{n:032d}", "to": form["To"], "from": form["From"], "body": text, "status": "queued"}
    return form["To"], text, (201, {}, json.dumps(reply))


def _lambda_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def _parked(body: str, receives: int) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and "reason" in document and "body" in document:
        return {"reason": document["reason"], "source": document.get("source"), "body": document["body"],
                "receives": document.get("receives"), "stored_in": document.get("stored_in")}
    return {"reason": f"redriven by SQS after {receives} receives", "source": "sqs-redrive", "body": body}
