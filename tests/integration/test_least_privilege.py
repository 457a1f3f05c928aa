"""Least privilege: each function's role allows what that function's code uses, by ARN of its stage, and no more.

Three sources, checked against each other:

- ``NEEDS`` below: per function, the tables, indexes, queues, mail-bucket prefixes, SES and SSM it uses,
  derived by reading the code (the notes say where).
- The code itself, scanned: from each handler in ``app.py`` (the modules its body calls) through every
  chalicelib module it can reach (imports anywhere in a module, and the ``"chalicelib.…"`` names that
  ``importlib`` loads in ``channels/receive.py`` and ``service/bus.py``), collecting the AWS calls each
  reached module makes: the PynamoDB models it names (and their indexes), the ``storage.queues`` calls,
  the ``storage.blobs`` calls, ``outbound.email.send`` and ``chalicelib.secrets``. Reachable is an upper
  bound at module granularity: a module's calls count for every function that reaches the module.
- The packaged template (``chalice package --merge-template infra/resources.yaml``, shared with
  test_infra.py's fixture): every Allow statement of each function's role, inline and managed.

A grant the function does not use fails, and so does a use its role does not grant. Beyond the code,
a role carries what Lambda does on its behalf (derived from the template's wiring, not declared): its
own log group, the SQS or stream poller of its event source, its on-failure destination, and X-Ray.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from chalicelib.local.provision import load_template
from tests.app_calls import attribute_chain
from tests.integration.test_infra import package_dir, packaged, packaged_template_path, requires_chalice  # noqa: F401

PROJECT = Path(__file__).resolve().parents[2]
POLICY_FILE = PROJECT / ".chalice" / "policy.json"

# --- What each function uses, read from the code ------------------------------------------------------

ALL_TABLES = frozenset({"tickets", "messages", "customers", "lookups", "agents", "audit", "macros", "aggregates", "kb"})
TICKET_INDEXES = frozenset(f"tickets/{index}" for index in (
    "by_status", "by_customer", "by_assignee", "by_queue", "waiting", "sla_due", "timers", "overdue"))
ALL_INDEXES = TICKET_INDEXES | {"customers/by_name", "agents/directory", "kb/by_language"}


@dataclass(frozen=True)
class Needs:
    tables: frozenset[str] = frozenset()  # read and written (every write here goes with reads of the same items)
    indexes: frozenset[str] = frozenset()  # "<table>/<index>", queried
    send_to: frozenset[str] = frozenset()  # queues (logical ids) it sends to
    s3_get: frozenset[str] = frozenset()  # mail-bucket prefixes it reads (GetObject; HeadObject is GetObject)
    s3_put: frozenset[str] = frozenset()  # mail-bucket prefixes it writes (PutObject)
    ses: bool = False  # sends mail (outbound.email.send)
    ssm: bool = False  # reads the stage's secrets (chalicelib/secrets.py)
    read_only_tables: frozenset[str] = field(default_factory=frozenset)


NEEDS = {
    # channels/email/ses_inbound.py: the S3 action stored the mail; this only enqueues its pointer
    # (queues.enqueue) or parks a malformed event (queues.park → the inbound DLQ). No table, no bucket.
    "SesInbound": Needs(send_to=frozenset({"InboundQueue", "InboundDeadLetterQueue"}), ssm=True),
    # channels/email/ses_failures.py: ses_inbound again for each record of its failure queue (the same
    # enqueue or park), and parks a record that holds no SES event. Its poller reads the failure queue.
    "SesFailures": Needs(send_to=frozenset({"InboundQueue", "InboundDeadLetterQueue"}), ssm=True),
    # pipeline/worker.py → steps: reads the raw mail (intake: inbound/), stores attachments and large
    # bodies (storage/inbound.py, channels/media.py), acknowledges (steps: outbound.email.send), enqueues
    # replies (enqueue_reply), parks (park → the inbound DLQ); the bot claims uploads and answers from
    # the knowledge base (service/uploads.py, storage/kb_index.py: kb/index/).
    "ProcessInbound": Needs(
        tables=ALL_TABLES, indexes=ALL_INDEXES, send_to=frozenset({"InboundDeadLetterQueue", "OutboundQueue"}),
        s3_get=frozenset({"inbound/", "uploads/", "kb/index/"}),
        s3_put=frozenset({"attachments/", "bodies/", "uploads/", "kb/index/"}), ses=True, ssm=True),
    # outbound/worker.py: replies (with attachments/ read back), sign-in and portal mail; parks in the
    # outbound DLQ; no macros, knowledge base or KPI aggregates.
    "SendOutbound": Needs(
        tables=ALL_TABLES - {"macros", "kb", "aggregates"}, indexes=ALL_INDEXES - {"kb/by_language"},
        send_to=frozenset({"OutboundQueue", "OutboundDeadLetterQueue"}), s3_get=frozenset({"attachments/"}),
        ses=True, ssm=True),
    # outbound/delivery_events.py → service/deliveries.py: the delivery status on the message and ticket,
    # found through a lookup item. It imports outbound.email only to parse ids: it sends nothing.
    "SesEvents": Needs(tables=frozenset({"tickets", "messages", "lookups"}), ssm=True),
    # pipeline/stream.py → service/ticket_stream.py, reactions: the inbox counts and what a stored change
    # sets in motion (assignment, automation, notifications: the services the pipeline reaches, except the
    # knowledge base, the raw mail, chat media and SES: mail goes out through send_outbound).
    "TicketStream": Needs(
        tables=ALL_TABLES - {"kb"}, indexes=ALL_INDEXES - {"kb/by_language"}, send_to=frozenset({"OutboundQueue"}),
        s3_get=frozenset({"uploads/"}), s3_put=frozenset({"attachments/", "uploads/"}), ssm=True),
    # pipeline/measure_stream.py → service/kpi_stream.py → measures, measure, storage.aggregates: the KPI
    # aggregates (storage/aggregates.py reaches repository, which names tickets and agents). No queue, no
    # bucket, no mail: none of what the reactions call.
    "KpiStream": Needs(tables=frozenset({"tickets", "agents", "aggregates"}),
                       indexes=frozenset({"tickets/by_status", "agents/directory"}), ssm=True),
    # pipeline/schedule.py → service/sweeps.py: SLA clocks, timers, escalations, refills (as ticket_stream).
    "Sweep": Needs(
        tables=ALL_TABLES - {"kb"}, indexes=ALL_INDEXES - {"kb/by_language"}, send_to=frozenset({"OutboundQueue"}),
        s3_get=frozenset({"uploads/"}), s3_put=frozenset({"attachments/", "uploads/"}), ssm=True),
    # Every route and webhook: enqueues chat messages (receive.py, portal) and replies or links out, hands
    # out pre-signed upload/download URLs (service/uploads.py, service/attachments.py), rebuilds the
    # knowledge-base index on an edit. It never sends mail itself: send_outbound does.
    "APIHandler": Needs(
        tables=ALL_TABLES, indexes=ALL_INDEXES, send_to=frozenset({"InboundQueue", "OutboundQueue"}),
        s3_get=frozenset({"attachments/", "uploads/", "kb/index/"}),
        s3_put=frozenset({"attachments/", "uploads/", "kb/index/"}), ssm=True),
}

# storage/blobs.py calls, per calling module: which keys the call touches (read from where the key is made).
BLOB_USES: dict[str, dict[str, set[tuple[str, str]]]] = {
    "chalicelib.channels.email.intake": {"get": {("s3:GetObject", "inbound/")}},  # INBOUND_PREFIX + SES message id
    "chalicelib.channels.media": {"put": {("s3:PutObject", "attachments/")}},
    # intake's PendingBlob keys (attachments/<digest>/…) and _Body (bodies/<digest>.json)
    "chalicelib.storage.inbound": {"put": {("s3:PutObject", "attachments/"), ("s3:PutObject", "bodies/")}},
    "chalicelib.storage.kb_index": {"put": {("s3:PutObject", "kb/index/")}, "read": {("s3:GetObject", "kb/index/")}},
    # domain/attachment_policy.py: uploads/<scope>/<token>-<name>, claimed by a copy to attachments/<scope>/…
    "chalicelib.service.uploads": {"presign_upload": {("s3:PutObject", "uploads/")},
                                   "describe": {("s3:GetObject", "uploads/")},
                                   "copy": {("s3:GetObject", "uploads/"), ("s3:PutObject", "attachments/")}},
    "chalicelib.service.attachments": {"describe": {("s3:GetObject", "attachments/")},
                                       "presign_download": {("s3:GetObject", "attachments/")}},
    "chalicelib.outbound.worker": {"read": {("s3:GetObject", "attachments/")}},
    # Pre-signs a URL only to learn the bucket's origin for the CSP; the URL is never fetched.
    "chalicelib.api.static": {"browser_origin": set()},
}
QUEUE_CALLS = {"enqueue": "InboundQueue", "enqueue_messages": "InboundQueue", "enqueue_reply": "OutboundQueue"}
DLQ_SETTINGS = {"INBOUND_DLQ": "InboundDeadLetterQueue", "OUTBOUND_DLQ": "OutboundDeadLetterQueue"}
# The only modules that make AWS clients or calls; everything else goes through them (checked below).
AWS_EDGE = {"chalicelib.aws", "chalicelib.secrets", "chalicelib.storage.blobs", "chalicelib.storage.queues",
            "chalicelib.outbound.email", "chalicelib.storage.models", "chalicelib.storage.stream_replay"}
ADMIN_ONLY = {"chalicelib.storage.stream_replay"}  # AWS edges no function may reach (they would need grants)

# Per edge module, the functions whose calls the scan turns into grants (module_uses); a call of any
# other function there that reaches AWS fails test_the_scan_sees_every_module_that_calls_aws.
SCANNED_CALLS = {
    "chalicelib.storage.queues": {*QUEUE_CALLS, "park"},
    "chalicelib.storage.blobs": {operation for uses in BLOB_USES.values() for operation in uses},
    "chalicelib.outbound.email": {"send"},
}

# Where AWS allows no narrower resource than "*" (Service Authorization Reference: no resource types).
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions; Lambda's active tracing sends segments",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
}

# --- Scanning the code ------------------------------------------------------------------------------------


@cache
def _modules() -> dict[str, Path]:
    found = {"app": PROJECT / "app.py"}
    for path in (PROJECT / "chalicelib").rglob("*.py"):
        parts = path.relative_to(PROJECT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _walk(tree: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, without ``if TYPE_CHECKING:`` bodies (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack += [child for child in ast.iter_child_nodes(node)
                  if not (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                          and child.test.id == "TYPE_CHECKING")]


@cache
def _parsed(name: str) -> tuple[str, ast.Module]:
    text = _modules()[name].read_text(encoding="utf-8")
    return text, ast.parse(text)


@cache
def _imports(name: str) -> tuple[frozenset[str], dict[str, str]]:
    """The chalicelib modules ``name`` imports (anywhere in it) or names for importlib; its aliases of them."""
    modules = _modules()
    package = name if modules[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    aliases: dict[str, str] = {}
    for node in _walk(_parsed(name)[1]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.add(alias.name)
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base in modules:
                found.add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    found.add(f"{base}.{alias.name}")
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("chalicelib.") \
                and node.value in modules:
            found.add(node.value)  # importlib.import_module("chalicelib.…")
    return frozenset(found), aliases


def _reachable(starts: set[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            parts = name.split(".")
            stack += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b
            stack += _imports(name)[0]
    return seen


@cache
def entry_points() -> dict[str, frozenset[str]]:
    """Chalice function (logical id) → the chalicelib modules its handler bodies in app.py call."""
    _, tree = _parsed("app")
    aliases = _imports("app")[1]
    functions: dict[str, set[str]] = {}
    # Undecorated handlers the merge template names (``Handler: app.http_api``: the HTTP API's way in).
    handlers = {resource["Properties"]["Handler"].split(".", 1)[1]: logical_id
                for logical_id, resource in load_template()["Resources"].items()
                if str(resource.get("Properties", {}).get("Handler", "")).startswith("app.")}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not (node.decorator_list or node.name in handlers):
            continue
        decorator = node.decorator_list[0] if node.decorator_list else None
        assert decorator is None or len(node.decorator_list) == 1, node.name
        if decorator is None:
            logical_id = handlers[node.name]
        elif not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            raise AssertionError(node.name)
        elif decorator.func.attr == "route":
            logical_id = "APIHandler"  # Chalice: every route in one function
        else:
            [name] = [k.value.value for k in decorator.keywords if k.arg == "name"]  # type: ignore[attr-defined]
            logical_id = "".join(part.capitalize() for part in name.split("_"))  # chalice.utils.to_cfn_resource_name
        called = {module for statement in node.body for call in ast.walk(statement)
                  if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                  for module in [_called_module(call.func.value, aliases)] if module}
        assert called, f"app.{node.name} calls no chalicelib module: the scan would see nothing it does"
        functions.setdefault(logical_id, set()).update(called)
    return {logical_id: frozenset(called) for logical_id, called in functions.items()}


def _called_module(target: ast.expr, aliases: dict[str, str]) -> str | None:
    """The chalicelib module a call's ``module.function`` or ``package[.subpackage].module.function`` names (the
    packages load the modules app.py calls on first use, ``chalicelib.lazy``: ``api.agent_api.list_tickets``,
    ``channels.email.ses_inbound.handle``): the longest dotted prefix that is a module."""
    chain = attribute_chain(target)
    if chain is None or chain[0] not in aliases:
        return None
    dotted = [aliases[chain[0]], *chain[1]]
    return next((module for end in range(len(dotted), 0, -1)
                 for module in [".".join(dotted[:end])] if module in _modules()), None)


@cache
def _models() -> dict[str, tuple[str, dict[str, str]]]:
    """PynamoDB model class → (its table, without the offline prefix; {index attribute: index name})."""
    from pynamodb.indexes import Index
    from pynamodb.models import Model

    from chalicelib.storage import models

    found = {}
    for name, value in vars(models).items():
        if isinstance(value, type) and issubclass(value, Model) and getattr(getattr(value, "Meta", None), "table_name", None):
            indexes = {attr: index.Meta.index_name for attr, index in vars(value).items() if isinstance(index, Index)}
            found[name] = (value.Meta.table_name.removeprefix("relay-desk-"), indexes)
    return found


# A PynamoDB write: save/update/delete, a condition check, a transaction or batch, repository.Writes.
_WRITES = re.compile(r"\.(save|delete|update|batch_write|condition_check)\(|TransactWrite|\bWrites\b")


@cache
def module_uses(name: str) -> frozenset[tuple[str, ...]]:
    """What one module itself asks of AWS."""
    text, tree = _parsed(name)
    aliases = _imports(name)[1]
    found: set[tuple[str, ...]] = set()
    if name != "chalicelib.storage.models":
        writes = bool(_WRITES.search(text))
        for model, (table, indexes) in _models().items():
            if re.search(rf"\b{model}\b", text):
                found.add(("read", table))
                if writes:
                    found.add(("write", table))
            found |= {("index", f"{table}/{index}") for attr, index in indexes.items()
                      if re.search(rf"\b{model}\.{attr}\b", text)}
    for node in _walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            continue
        module, attr = aliases.get(node.func.value.id), node.func.attr
        if module == "chalicelib.storage.queues" and attr in QUEUE_CALLS:
            found.add(("send", QUEUE_CALLS[attr]))
        elif module == "chalicelib.storage.queues" and attr == "park":
            settings = [k.value.value for k in node.keywords if k.arg == "dlq_setting"]  # type: ignore[attr-defined]
            found.add(("send", DLQ_SETTINGS[settings[0] if settings else "INBOUND_DLQ"]))
        elif module == "chalicelib.storage.blobs":
            found.add(("blobs", attr))
        elif module == "chalicelib.outbound.email" and attr == "send":
            found.add(("ses",))
    if name == "chalicelib.secrets":
        found.add(("ssm",))
    return frozenset(found)


@cache
def _calls_aws(name: str) -> frozenset[str]:
    """The module's top-level functions that make an AWS call: aws.client/presigner, or one of these."""
    functions = {node.name: node for node in _parsed(name)[1].body if isinstance(node, ast.FunctionDef)}
    found: set[str] = set()
    while True:
        more = {function for function, node in functions.items() if function not in found and any(
            isinstance(call, ast.Call) and (
                (isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)
                 and call.func.value.id == "aws" and call.func.attr in ("client", "presigner"))
                or (isinstance(call.func, ast.Name) and call.func.id in found))
            for call in ast.walk(node))}
        if not more:
            return frozenset(found)
        found |= more


def scanned_needs(logical_id: str) -> Needs:
    uses: set[tuple[str, ...]] = set()
    blob_modules = {}
    for module in _reachable(set(entry_points()[logical_id])):
        found = module_uses(module)
        uses |= found
        blob_modules[module] = {use[1] for use in found if use[0] == "blobs"}
    s3 = {grant for module, operations in blob_modules.items() for operation in operations
          for grant in BLOB_USES[module][operation]}
    tables = {use[1] for use in uses if use[0] == "write"}
    return Needs(tables=frozenset(tables), indexes=frozenset(u[1] for u in uses if u[0] == "index"),
                 send_to=frozenset(u[1] for u in uses if u[0] == "send"),
                 s3_get=frozenset(prefix for action, prefix in s3 if action == "s3:GetObject"),
                 s3_put=frozenset(prefix for action, prefix in s3 if action == "s3:PutObject"),
                 ses=("ses",) in uses, ssm=("ssm",) in uses,
                 read_only_tables=frozenset({use[1] for use in uses if use[0] == "read"} - tables))


# --- Reading the packaged template ----------------------------------------------------------------------


def render(value: Any) -> str:
    """A resource as one comparable string: GetAtt and Ref as ${…}, Sub with its variables filled in."""
    if isinstance(value, str):
        return value
    [(function, argument)] = value.items()
    if function == "Ref":
        return f"${{{argument}}}"
    if function == "Fn::GetAtt":
        return f"${{{argument[0]}.{argument[1]}}}"
    if function == "Fn::Sub" and isinstance(argument, str):
        return argument
    if function == "Fn::Sub":
        text, variables = argument
        return re.sub(r"\$\{([^}]+)\}", lambda m: render(variables[m.group(1)]) if m.group(1) in variables
                      else m.group(0), text)
    if function == "Fn::Select" and argument[0] == 1 and list(argument[1]) == ["Fn::Split"] \
            and argument[1]["Fn::Split"][0] == "@":
        return f"<domain of {render(argument[1]['Fn::Split'][1])}>"
    raise AssertionError(f"an intrinsic this test cannot read: {value!r}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(template: dict[str, Any], logical_id: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the function's role allows: its inline policies and its managed ones."""
    resources = template["Resources"]
    role_id = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    documents += [resources[arn["Ref"]]["Properties"]["PolicyDocument"] for arn in role.get("ManagedPolicyArns", [])]
    pairs = set()
    for document in documents:
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
            assert "Condition" not in statement, "a condition this test does not evaluate"
            pairs |= {(action, render(resource)) for action in _listed(statement["Action"])
                      for resource in _listed(statement["Resource"])}
    return pairs


ARN = "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:"
TABLE_ACTIONS_READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
# TransactWriteItems is authorised per item by its action, ConditionCheckItem included.
TABLE_ACTIONS_WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                       "dynamodb:ConditionCheckItem")


def _table_ids(template: dict[str, Any]) -> dict[str, str]:
    """table ("tickets") → logical id, from the tables' "${NamePrefix}-<table>" names."""
    return {resource["Properties"]["TableName"]["Fn::Sub"].removeprefix("${NamePrefix}-"): logical_id
            for logical_id, resource in template["Resources"].items() if resource["Type"] == "AWS::DynamoDB::Table"}


def code_grants(template: dict[str, Any], needs: Needs) -> set[tuple[str, str]]:
    tables = _table_ids(template)
    pairs = {(action, f"${{{tables[t]}.Arn}}") for t in needs.tables for action in TABLE_ACTIONS_READ + TABLE_ACTIONS_WRITE}
    pairs |= {(action, f"${{{tables[t]}.Arn}}") for t in needs.read_only_tables for action in TABLE_ACTIONS_READ}
    for index in needs.indexes:
        table, name = index.split("/")
        pairs.add(("dynamodb:Query", f"${{{tables[table]}.Arn}}/index/{name}"))
    pairs |= {("sqs:SendMessage", f"${{{queue}.Arn}}") for queue in needs.send_to}
    pairs |= {("s3:GetObject", f"${{MailBucket.Arn}}/{prefix}*") for prefix in needs.s3_get}
    pairs |= {("s3:PutObject", f"${{MailBucket.Arn}}/{prefix}*") for prefix in needs.s3_put}
    if needs.ses:  # the From address's own identity or its domain's, and the stage's configuration set
        ses = ARN.format(service="ses")
        pairs |= {("ses:SendRawEmail", f"{ses}identity/${{SupportAddress}}"),
                  ("ses:SendRawEmail", f"{ses}identity/<domain of ${{SupportAddress}}>"),
                  ("ses:SendRawEmail", f"{ses}configuration-set/${{SendingConfigurationSet}}")}
    if needs.ssm:
        pairs.add(("ssm:GetParameter", ARN.format(service="ssm") + "parameter/relay-desk/${Stage}/*"))
    return pairs


def platform_grants(template: dict[str, Any], logical_id: str) -> set[tuple[str, str]]:
    """What Lambda does as the function's role, from the template's wiring of that function."""
    resources = template["Resources"]
    function = resources[logical_id]["Properties"]
    log_group = ARN.format(service="logs") + "log-group:/aws/lambda/" + render(function["FunctionName"])
    pairs = {(action, resource) for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
             for resource in (log_group, f"{log_group}:*")}
    pairs |= {(action, "*") for action in STAR_ONLY_ACTIONS}  # active tracing (config.json "xray": true)
    for event in function.get("Events", {}).values():
        properties = event["Properties"]
        if event["Type"] == "SQS":  # Lambda's poller (the AWSLambdaSQSQueueExecutionRole actions)
            pairs |= {(action, render(properties["Queue"]))
                      for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}
        elif event["Type"] == "DynamoDB":  # Lambda's stream poller (AWSLambdaDynamoDBExecutionRole's actions)
            pairs |= {(action, render(properties["Stream"])) for action in (
                "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")}
        if "DestinationConfig" in properties:  # a failed batch's record goes out as the function's role
            pairs.add(("sqs:SendMessage", render(properties["DestinationConfig"]["OnFailure"]["Destination"])))
    for resource in resources.values():  # an asynchronous invocation's on-failure destination, likewise
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig" \
                and resource["Properties"]["FunctionName"] == {"Ref": logical_id}:
            pairs.add(("sqs:SendMessage", render(resource["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])))
    return pairs


# --- The tests --------------------------------------------------------------------------------------------


def test_needs_cover_every_function_app_py_declares() -> None:
    assert set(entry_points()) == set(NEEDS)


@pytest.mark.parametrize("logical_id", sorted(NEEDS))
def test_the_needs_table_is_what_the_code_reaches(logical_id: str) -> None:
    # A new call in code a function reaches (a table, index, queue, prefix, mail) fails here until NEEDS,
    # infra/resources.yaml and this agree; so does a need the code no longer has.
    assert scanned_needs(logical_id) == NEEDS[logical_id]


def test_the_scan_sees_every_module_that_calls_aws() -> None:
    # Every module but the offline harness and the admin CLI (no function runs those), and in any case
    # every module a function reaches.
    modules = {name for name in _modules() if not name.startswith(("chalicelib.local", "chalicelib.admin"))}
    reached = _reachable({module for starts in entry_points().values() for module in starts})
    assert not reached & ADMIN_ONLY, "a function reaches an admin-only AWS edge: grant what it calls, then move it"
    modules |= reached
    for name in sorted(modules):
        text, _ = _parsed(name)
        imported = _imports(name)[0]
        # boto3 and Powertools' parameters only at the edge (botocore's exceptions may be caught anywhere).
        if re.search(r"^\s*(import boto3|from boto3)", text, re.M) or "utilities import parameters" in text:
            assert name in AWS_EDGE, f"{name} talks to AWS past the edge modules the scan reads"
        # Items only in storage/, which names the models it works on (the scan reads the names).
        if re.search(r"^\s*(import pynamodb|from pynamodb)", text, re.M):
            assert name.startswith("chalicelib.storage."), f"{name} works on DynamoDB items outside storage/"
        if "chalicelib.aws" in imported:
            assert name in AWS_EDGE, f"{name} makes its own AWS client"
        blob_calls = {use[1] for use in module_uses(name) if use[0] == "blobs"}
        assert blob_calls == set(BLOB_USES.get(name, {})), f"{name}: declare its storage.blobs calls in BLOB_USES"
        # Every call of an edge function that reaches AWS is one the scan reads (module.function(...) only).
        aliases = _imports(name)[1]
        for node in _walk(_parsed(name)[1]):
            if isinstance(node, ast.ImportFrom) and node.module in SCANNED_CALLS:
                assert not {a.name for a in node.names} & _calls_aws(node.module), \
                    f"{name}: import the module, not its AWS functions (the scan reads module.function calls)"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and aliases.get(node.func.value.id) in SCANNED_CALLS:
                module, attr = aliases[node.func.value.id], node.func.attr
                assert attr not in _calls_aws(module) or attr in SCANNED_CALLS[module], \
                    f"{name} calls {module}.{attr}, which reaches AWS in a way this test does not read"


@requires_chalice
def test_each_function_has_its_own_role_and_policy(packaged: dict[str, Any]) -> None:  # noqa: F811
    resources = packaged["Resources"]
    functions = {k for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == set(NEEDS)
    roles = {resources[f]["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions}
    assert len(roles) == len(functions)  # no role shared
    attached = [arn["Ref"] for role in roles for arn in resources[role]["Properties"]["ManagedPolicyArns"]]
    assert len(attached) == len(set(attached)) == len(functions)  # one policy each, attached to one role
    inline = json.loads(POLICY_FILE.read_text())
    assert {action for statement in inline["Statement"] for action in _listed(statement["Action"])} \
        == set(STAR_ONLY_ACTIONS)  # .chalice/policy.json: only what is the same for every function
    for function in functions:
        # Its name is fixed, so its policy can name its own log group.
        name = resources[function]["Properties"]["FunctionName"]["Fn::Sub"]
        assert re.fullmatch(r"\$\{NamePrefix\}-[a-z_]+", name), function


@requires_chalice
@pytest.mark.parametrize("logical_id", sorted(NEEDS))
def test_every_grant_is_one_the_function_uses(packaged: dict[str, Any], logical_id: str) -> None:  # noqa: F811
    expected = code_grants(packaged, NEEDS[logical_id]) | platform_grants(packaged, logical_id)
    actual = granted(packaged, logical_id)
    assert sorted(actual - expected) == [], "granted, but the function does not use it"
    assert sorted(expected - actual) == [], "used, but not granted: the function would fail in AWS"


@requires_chalice
def test_no_wildcard_resource_except_where_aws_requires_one(packaged: dict[str, Any]) -> None:  # noqa: F811
    # "*" only inside a name this stage owns: objects under a mail-bucket prefix, the stage's SSM path,
    # the streams of the function's own log group. Account, region and partition always resolved.
    owned_prefix = re.compile(r"(\$\{MailBucket\.Arn\}/[a-z/]+/|.*:parameter/relay-desk/\$\{Stage\}/"
                              r"|.*:log-group:/aws/lambda/\$\{NamePrefix\}-[a-z_]+:)\*")
    for logical_id in NEEDS:
        for action, resource in granted(packaged, logical_id):
            if resource == "*":
                assert action in STAR_ONLY_ACTIONS, (logical_id, action)
            elif "*" in resource:
                assert owned_prefix.fullmatch(resource), (logical_id, action, resource)
            if resource.startswith("arn:"):
                assert resource.startswith("arn:${AWS::Partition}:") and ":${AWS::Region}:${AWS::AccountId}:" \
                    in resource, (logical_id, resource)
            assert action != "*" and not action.endswith(":*"), (logical_id, action)


@requires_chalice
def test_the_issue_16_examples_are_closed(packaged: dict[str, Any]) -> None:  # noqa: F811
    api = granted(packaged, "APIHandler")
    assert not [pair for pair in api if pair[0].startswith("ses:")]  # the public API function sends no mail
    assert not [pair for pair in granted(packaged, "SesInbound") if pair[0].startswith("dynamodb:")]
    assert not [pair for pair in granted(packaged, "SesEvents")
                if pair[0] == "dynamodb:PutItem" and "Aggregates" in pair[1]]
    for logical_id in NEEDS:
        resources = {resource for _, resource in granted(packaged, logical_id)}
        assert not [r for r in resources if "identity/*" in r or "/aws/lambda/*" in r or "logs:*:*" in r]
        assert not [r for r in resources if ":parameter/" in r and "${Stage}" not in r]
