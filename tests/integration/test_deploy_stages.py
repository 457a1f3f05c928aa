"""Stages side by side: `make deploy STAGE=…` (infra/deploy.py) and what it deploys.

Both stages are packaged with ``chalice package --stage <stage> --merge-template
infra/resources.yaml`` (about 10 s each after a code change), linted, and deployed
side by side into moto's CloudFormation through the deploy script's own steps
(ensure the artifacts bucket, upload, create the stack with every parameter
passed). moto has no SAM transform, so the functions are expanded as in
test_infra.py; it has no CloudWatch alarm model either, so the alarms are created
through their API from the template's resolved properties and checked there.
"""
from __future__ import annotations

import copy
import fcntl
import io
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import deploy
from tests.integration.test_infra import _console_script, _expand_serverless, requires_chalice

PROJECT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STAGES = ("dev", "prod")
# Stage files as an operator would fill them in (the committed ones carry example.com placeholders).
OPERATOR_PARAMETERS = {
    "dev": {"InboundRecipients": "support@dev.acme.test", "InboundRetentionDays": "14",
            "AlarmEmail": "dev-alerts@acme.test", "SlaBreachesPerHour": "5", "PublicBaseUrl": "",
            "ConsoleOrigins": "", "KeepRestApi": "no", "ApiRateLimit": "50", "ApiBurstLimit": "100"},
    "prod": {"InboundRecipients": "support@acme.test,help@acme.test", "InboundRetentionDays": "90",
             "AlarmEmail": "oncall@acme.test", "SlaBreachesPerHour": "0",
             "PublicBaseUrl": "https://help.acme.test/api", "ConsoleOrigins": "", "KeepRestApi": "no",
             "ApiRateLimit": "1000", "ApiBurstLimit": "2000"},
}
GOOD_SECRET = "6f1c0b8e9a3d47c2b5e8f0a1d2c3b4a5968778695a4b3c2d1e0f"


# --- Fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stage → the directory `chalice package --stage <stage>` wrote; once per session, under
    test_infra.py's lock (Chalice writes its cache in .chalice/deployments without one)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    built = {}
    with open(root / "chalice-package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stage in STAGES:
            out = root / "chalice-package-stages" / stage
            if not (out / "sam.yaml").exists():
                env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION)}
                result = subprocess.run(
                    [*_console_script("chalice", "chalice.cli"), "package", "--stage", stage,
                     "--merge-template", "infra/resources.yaml", str(out)],
                    cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600)
                assert result.returncode == 0, f"chalice package --stage {stage}:\n{result.stdout}\n{result.stderr}"
            built[stage] = out
    return built


@pytest.fixture(scope="module")
def templates(packages: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: yaml.safe_load((path / "sam.yaml").read_text()) for stage, path in packages.items()}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def _session() -> Any:
    import boto3

    return boto3.session.Session(region_name=REGION)


def _stage(name: str, **parameters: str) -> deploy.Stage:
    loaded = deploy.load_stage(name)
    return deploy.Stage(name=name, secrets_in=loaded.secrets_in,
                        parameters={**OPERATOR_PARAMETERS[name], **parameters}, environment=loaded.environment)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


# --- (a) Packaging both stages -----------------------------------------------------------


@requires_chalice
@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_reports_nothing_on_either_stage(packages: dict[str, Path], stage: str) -> None:
    result = subprocess.run([*_console_script("cfn-lint", "cfnlint.runner"), str(packages[stage] / "sam.yaml")],
                            cwd=PROJECT, capture_output=True, text=True, timeout=180)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@requires_chalice
@pytest.mark.parametrize("stage", STAGES)
def test_no_physical_name_is_fixed_in_the_packaged_template(templates: dict[str, dict[str, Any]], stage: str) -> None:
    # Before: relay-desk-tickets, relay-desk-mail, … in the template, the functions' environment and
    # the IAM policy, so a second stage in the account collided with the first.
    template = templates[stage]
    offline_names = re.compile(r"(?<![\w{}-])relay-desk-(tickets|messages|customers|lookups|agents|audit|macros|kb|"
                               r"aggregates|mail|inbound|outbound|ses-|ticket-stream|alarms)")
    fixed = sorted({text for text in _strings(template["Resources"]) if offline_names.search(text)})
    assert fixed == []
    assert template["Parameters"]["NamePrefix"]["Default"] == "relay-desk"  # the offline harness's names
    named = {logical_id: resource["Properties"].get(key)
             for logical_id, resource in template["Resources"].items()
             for key in ("TableName", "QueueName", "BucketName", "TopicName", "RuleSetName", "AlarmName",
                         "DashboardName")
             if key in resource.get("Properties", {})}
    assert len(named) >= 9 + 7 + 1 + 2 + 1 + 29 + 1
    for logical_id, name in named.items():
        refers = isinstance(name, dict) and name.get("Ref") in template["Resources"]  # the rule's rule set
        assert refers or "NamePrefix" in json.dumps(name), logical_id


@requires_chalice
def test_prod_carries_no_secret_and_reads_its_own_ssm_path(templates: dict[str, dict[str, Any]]) -> None:
    for stage, template in templates.items():
        functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
        assert len(functions) == 9
        for logical_id, function in functions.items():
            variables = function["Properties"]["Environment"]["Variables"]
            secrets_here = set(variables) & set(deploy.SECRET_NAMES)
            assert secrets_here == (set() if stage == "prod" else {"REPLY_ADDRESS_SECRET"}), logical_id
            assert variables["SECRETS_SSM_PREFIX"] == {"Fn::Sub": "/relay-desk/${Stage}/"}
            assert variables["TICKETS_TABLE"] == {"Ref": "TicketsTable"}
            assert variables["MAIL_BUCKET"] == {"Ref": "MailBucket"}
            assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": "RelayDesk/${Stage}"}
            assert variables["PUBLIC_BASE_URL"] == {"Ref": "PublicBaseUrl"}
            assert function["Properties"]["Tags"]["aws-chalice"].endswith(f"stage={stage}:app=relay-desk")
    policies = {k: r for k, r in templates["prod"]["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    assert len(policies) == 9  # one per function (test_least_privilege.py)
    for logical_id, policy in policies.items():
        [ssm] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "StageSecrets"]
        assert ssm["Action"] == "ssm:GetParameter", logical_id
        assert ssm["Resource"]["Fn::Sub"].endswith(":parameter/relay-desk/${Stage}/*"), logical_id


# --- (b) Alarms and the dashboard, as packaged --------------------------------------------


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _dimension(alarm: dict[str, Any]) -> Any:
    [dimension] = alarm["Dimensions"]
    return dimension["Value"]


@requires_chalice
def test_every_dead_letter_queue_alarms_on_its_first_message(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["prod"]
    queues = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"
              and re.search(r"DeadLetter|Failure", k)]
    assert sorted(queues) == ["InboundDeadLetterQueue", "KpiStreamFailureQueue", "OutboundDeadLetterQueue",
                              "SesEventsFailureQueue", "SesInboundFailureQueue", "TicketStreamFailureQueue"]
    depth = {_dimension(a)["Fn::GetAtt"][0]: a for a in _alarms(template).values()
             if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"}
    # ses_failures empties ses_inbound's failure queue within seconds: its alarm is for a record that stays.
    assert sorted(depth) == sorted(set(queues) - {"SesInboundFailureQueue"})
    for queue, alarm in depth.items():
        assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "AWS/SQS", "Maximum", 0, "GreaterThanThreshold"), queue
        assert _dimension(alarm) == {"Fn::GetAtt": [queue, "QueueName"]}
        assert alarm["TreatMissingData"] == "notBreaching"  # an idle queue emits nothing: not an alarm
    stuck = _alarms(template)["SesInboundFailureDepthAlarm"]
    stats = {m["Id"]: m["MetricStat"] for m in stuck["Metrics"] if "MetricStat" in m}
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {
        "ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible"}  # waiting or between retries
    assert all(s["Metric"]["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [
        "SesInboundFailureQueue", "QueueName"]}}] and s["Stat"] == "Maximum" for s in stats.values())
    assert [m["Expression"] for m in stuck["Metrics"] if "Expression" in m] == ["visible + in_flight"]
    assert (stuck["Threshold"], stuck["EvaluationPeriods"] * stats["visible"]["Period"]) == (0, 900)  # 15 minutes


@requires_chalice
def test_every_function_alarms_on_errors_throttles_and_runs_near_its_timeout(
        templates: dict[str, dict[str, Any]]) -> None:
    template = templates["prod"]
    timeouts = {k: r["Properties"]["Timeout"] for k, r in template["Resources"].items()
                if r["Type"] == "AWS::Serverless::Function"}
    assert timeouts["SesInbound"] == 10 and timeouts["ProcessInbound"] == 60  # .chalice/config.json
    lambda_alarms: dict[tuple[str, str], dict[str, Any]] = {}
    for alarm in _alarms(template).values():
        if alarm.get("Namespace") == "AWS/Lambda":
            lambda_alarms[(_dimension(alarm)["Ref"], alarm["MetricName"])] = alarm
    assert set(lambda_alarms) == {(f, m) for f in timeouts for m in ("Errors", "Throttles", "Duration")}
    for (function, metric), alarm in lambda_alarms.items():
        if metric == "Duration":  # milliseconds: 80 % of the function's own timeout
            assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", timeouts[function] * 1000 * 0.8), function
        else:
            assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0), (function, metric)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@requires_chalice
def test_sla_breaches_alarm_counts_the_metric_the_app_emits(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["prod"]
    alarm = _alarms(template)["SlaBreachesAlarm"]
    [query] = alarm["Metrics"]
    assert query["Expression"] == {"Fn::Sub": 'SELECT SUM(SlaBreached) FROM "RelayDesk/${Stage}"'}
    assert query["ReturnData"] is True and query["Period"] == 3600 and "Period" not in alarm
    assert alarm["Threshold"] == {"Ref": "SlaBreachesPerHour"}
    # The name the sweep passes to measure.sla_event, and the namespace every function emits into.
    assert re.search(r'["\']SlaBreached["\']', (PROJECT / "chalicelib" / "pipeline" / "schedule.py").read_text()
                     + "".join(p.read_text() for p in (PROJECT / "chalicelib" / "service").glob("*.py")))
    namespace = template["Resources"]["Sweep"]["Properties"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == {"Fn::Sub": "RelayDesk/${Stage}"}


@requires_chalice
def test_every_alarm_mails_the_on_call_topic(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["prod"]
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    alarms = _alarms(template)
    assert len(alarms) == 6 + 2 + 9 * 3 + 1
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id


@requires_chalice
def test_the_dashboard_shows_queues_functions_and_business_metrics(templates: dict[str, dict[str, Any]]) -> None:
    template = templates["prod"]
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    resolved = re.sub(r"\$\{([^}]+)\}", lambda m: m.group(1).replace(".", "_"), body)
    widgets = json.loads(resolved)["widgets"]
    text = json.dumps(widgets)
    for queue in ("InboundDeadLetterQueue", "OutboundDeadLetterQueue", "SesInboundFailureQueue",
                  "SesEventsFailureQueue", "TicketStreamFailureQueue", "KpiStreamFailureQueue"):
        assert f"{queue}_QueueName" in text
    assert text.count("ApproximateAgeOfOldestMessage") == 2
    for function in ("SesInbound", "SesFailures", "ProcessInbound", "SendOutbound", "Sweep", "APIHandler",
                     "TicketStream", "KpiStream", "SesEvents"):
        assert text.count(f'"{function}"') == 3  # errors, throttles, duration
    for metric in ("SlaBreached", "SlaWarning", "TicketsCreated", "TicketsSolved", "FirstResponseTime",
                   "RepliesUndeliverable", "EmailsReceived", "ChatMessagesReceived"):
        assert f"SUM({metric})" in text or f"AVG({metric})" in text, metric
    assert 'FROM \\"RelayDesk/Stage\\"' in text


# --- (c) Both stages in one account (moto) ----------------------------------------------------


class _Resolved:
    """Ref / GetAtt / Sub of a deployed stack, for the alarms moto's CloudFormation skips."""

    def __init__(self, refs: dict[str, str], attributes: dict[tuple[str, str], str]) -> None:
        self.refs, self.attributes = refs, attributes

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self.refs[value["Ref"]]
        if "Fn::GetAtt" in value:
            return self.attributes[tuple(value["Fn::GetAtt"])]
        if "Fn::Sub" in value:
            def name(match: re.Match[str]) -> str:
                key = match.group(1)
                return self.attributes[tuple(key.split(".", 1))] if "." in key and "::" not in key else self.refs[key]
            return re.sub(r"\$\{([^}]+)\}", name, value["Fn::Sub"])
        return {key: self(item) for key, item in value.items()}


def _deploy_into_moto(stage: deploy.Stage, template: dict[str, Any], requests: list[dict[str, Any]]) -> dict[str, Any]:
    session = _session()
    s3, cloudformation = session.client("s3"), session.client("cloudformation")
    for operation in ("CreateStack", "UpdateStack"):
        cloudformation.meta.events.register(f"provide-client-params.cloudformation.{operation}",
                                            lambda params, **_: requests.append(copy.deepcopy(params)))
    bucket = deploy.artifacts_bucket_name(ACCOUNT_ID, REGION)
    deploy.ensure_bucket(s3, bucket, REGION)
    stand_in = io.BytesIO()  # moto never runs the code: a stand-in bundle, as in test_infra.py
    with zipfile.ZipFile(stand_in, "w") as bundle:
        bundle.writestr("app.py", "")
    s3.put_object(Bucket=bucket, Key=f"{stage.stack_name}/code.zip", Body=stand_in.getvalue())
    expanded = _expand_serverless(template, bucket, f"{stage.stack_name}/code.zip")
    template_url = deploy.upload_template(s3, bucket, REGION, stage, expanded)
    parameters = deploy.stack_parameters(stage, account=ACCOUNT_ID, region=REGION, endpoint=None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Tried to parse .* not supported by moto")
        stack = deploy.deploy_stack(cloudformation, stage.stack_name, parameters, template_url=template_url)
        settled = deploy.stack_parameters(stage, account=ACCOUNT_ID, region=REGION,
                                          endpoint=deploy.outputs(stack)["EndpointURL"])
        if settled != parameters:  # what deploy() does once the API's URL exists
            stack = deploy.deploy_stack(cloudformation, stage.stack_name, settled, template_url=template_url)
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    return stack


def _physical_ids(stack_name: str) -> dict[str, str]:
    summaries = _session().client("cloudformation").list_stack_resources(StackName=stack_name)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries["StackResourceSummaries"]
            if r["LogicalResourceId"]}


def _create_alarms(template: dict[str, Any], stack: dict[str, Any], parameters: dict[str, str]) -> list[str]:
    session = _session()
    ids = _physical_ids(stack["StackName"])
    sqs, sns = session.client("sqs"), session.client("sns")
    attributes: dict[tuple[str, str], str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::SQS::Queue":
            arn = sqs.get_queue_attributes(QueueUrl=ids[logical_id], AttributeNames=["QueueArn"])["Attributes"]
            attributes[(logical_id, "QueueName")] = arn["QueueArn"].rsplit(":", 1)[1]
    refs = {**parameters, **ids, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws"}
    resolve = _Resolved(refs, attributes)
    cloudwatch = session.client("cloudwatch")
    names = []
    for logical_id, alarm in _alarms(template).items():
        properties = resolve(alarm)
        properties["Threshold"] = float(properties["Threshold"])  # a Number parameter arrives as a string
        cloudwatch.put_metric_alarm(**properties)
        names.append(properties["AlarmName"])
    assert sns.get_topic_attributes(TopicArn=ids["AlarmTopic"])["Attributes"]["TopicArn"] == ids["AlarmTopic"]
    return names


@requires_chalice
@pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")
def test_two_stages_deploy_side_by_side_without_a_collision(aws: None, templates: dict[str, dict[str, Any]]) -> None:
    requests: list[dict[str, Any]] = []
    stacks = {stage: _deploy_into_moto(_stage(stage), templates[stage], requests) for stage in STAGES}

    # Every parameter was passed on every create and update: none fell back to a template default.
    declared = set(templates["prod"]["Parameters"])
    # dev: created, then updated once its API's URL is known (PublicBaseUrl empty); prod names its own domain.
    assert [(r["StackName"], "TemplateURL" in r) for r in requests] == [
        ("relay-desk-dev", True), ("relay-desk-dev", True), ("relay-desk-prod", True)]
    for request in requests:
        assert {p["ParameterKey"] for p in request["Parameters"]} == declared
        assert all("ParameterValue" in p and "UsePreviousValue" not in p for p in request["Parameters"])

    ids = {stage: _physical_ids(f"relay-desk-{stage}") for stage in STAGES}
    assert set(ids["dev"]) == set(ids["prod"])  # the same resources …
    unnamed = {k for k, v in ids["prod"].items() if not v}
    assert unnamed and all(k.endswith("Permission") for k in unnamed), unnamed  # moto gives those no physical id
    shared = (set(ids["dev"].values()) & set(ids["prod"].values())) - {""}
    assert shared == set()  # … and not one physical name in common

    session = _session()
    dynamodb, s3, awslambda, iam = (session.client(s) for s in ("dynamodb", "s3", "lambda", "iam"))
    tables = set(dynamodb.list_tables()["TableNames"])
    for stage in STAGES:
        for table in ("tickets", "messages", "customers", "lookups", "agents", "audit", "macros", "kb", "aggregates"):
            assert f"relay-desk-{stage}-{table}" in tables
        assert s3.head_bucket(Bucket=f"relay-desk-{stage}-mail-{ACCOUNT_ID}-{REGION}")
        outputs = deploy.outputs(stacks[stage])
        assert outputs["MailBucketName"] == f"relay-desk-{stage}-mail-{ACCOUNT_ID}-{REGION}"
        # The functions of a stage find that stage's resources.
        environment = awslambda.get_function_configuration(FunctionName=ids[stage]["ProcessInbound"])[
            "Environment"]["Variables"]
        assert environment["TICKETS_TABLE"] == f"relay-desk-{stage}-tickets"
        assert environment["INBOUND_QUEUE"] == f"relay-desk-{stage}-inbound.fifo"
        assert environment["SECRETS_SSM_PREFIX"] == f"/relay-desk/{stage}/"
        assert environment["POWERTOOLS_METRICS_NAMESPACE"] == f"RelayDesk/{stage}"
        assert environment["PUBLIC_BASE_URL"] == (
            "https://help.acme.test/api" if stage == "prod" else outputs["EndpointURL"].rstrip("/"))
        # ... and may touch nothing of the other stage: each function's own policy, as IAM stored it.
        other = "prod" if stage == "dev" else "dev"
        for function in ("ProcessInbound", "SendOutbound", "ApiHandler"):
            policy_arn = ids[stage][f"{function}Access"]
            version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
            document = json.dumps(iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"][
                "Document"])
            assert f"relay-desk-{stage}-tickets" in document and f"relay-desk-{other}-" not in document, function
            assert f"parameter/relay-desk/{stage}/*" in document, function
            function_name = "api_handler" if function == "ApiHandler" else re.sub(r"(?<!^)([A-Z])", r"_\1", function).lower()
            assert f"log-group:/aws/lambda/relay-desk-{stage}-{function_name}:*" in document, function
            sends_mail = function != "ApiHandler"  # the API enqueues; send_outbound sends
            sender = _stage(stage).environment["SUPPORT_ADDRESS"]  # the deploy passes it as SupportAddress
            assert (f':identity/{sender.split("@")[1]}"' in document) is sends_mail, function
            assert (f':identity/{sender}"' in document) is sends_mail, function
        # (moto 5.2.5's CloudFormation does not attach a role's ManagedPolicyArns; test_infra.py
        # checks every role lists its own policy in the template.)

    # The bucket's CORS rule (ConsoleOrigins) lets each stage's own console upload: its API's origin.
    # (moto's CloudFormation does not apply a bucket's CorsConfiguration; the parameter is what it gets.)
    origins = {request["StackName"].rsplit("-", 1)[1]: {p["ParameterKey"]: p["ParameterValue"]
                                                        for p in request["Parameters"]}["ConsoleOrigins"]
               for request in requests}  # the last request of each stack
    assert origins["prod"] == "https://help.acme.test"
    assert origins["dev"].startswith("https://") and origins["dev"].endswith(".amazonaws.com")

    # Dashboards and alarm topics, one per stage; alarms with stage names, created from each template.
    cloudwatch, sns = session.client("cloudwatch"), session.client("sns")
    assert sorted(d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]) == [
        "relay-desk-dev", "relay-desk-prod"]
    alarm_names = {stage: _create_alarms(templates[stage], stacks[stage],
                                         deploy.stack_parameters(_stage(stage), account=ACCOUNT_ID, region=REGION,
                                                                 endpoint=deploy.outputs(stacks[stage])["EndpointURL"]))
                   for stage in STAGES}
    assert set(alarm_names["dev"]).isdisjoint(alarm_names["prod"])
    stored = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(MaxRecords=100)["MetricAlarms"]}
    assert len(stored) == 2 * 36
    errors = stored["relay-desk-prod-process_inbound-errors"]
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": ids["prod"]["ProcessInbound"]}]
    assert errors["AlarmActions"] == [ids["prod"]["AlarmTopic"]]
    assert stored["relay-desk-dev-inbound-dlq-not-empty"]["Dimensions"] == [
        {"Name": "QueueName", "Value": "relay-desk-dev-inbound-dlq.fifo"}]
    assert stored["relay-desk-prod-ses_inbound-duration"]["Threshold"] == 8000.0
    sla = stored["relay-desk-prod-sla-breaches"]
    assert sla["Metrics"][0]["Expression"] == 'SELECT SUM(SlaBreached) FROM "RelayDesk/prod"'
    subscriptions = {s["TopicArn"]: s["Endpoint"] for s in sns.list_subscriptions()["Subscriptions"]}
    assert subscriptions[ids["prod"]["AlarmTopic"]] == "oncall@acme.test"
    assert subscriptions[ids["dev"]["AlarmTopic"]] == "dev-alerts@acme.test"

    # Destroying dev leaves prod whole, and dev's data behind (DeletionPolicy: Retain). dev's rule set
    # was the active one (made so by hand, as the guide says): it is deactivated first.
    ses = session.client("ses")
    ses.create_receipt_rule_set(RuleSetName="relay-desk-dev-inbound")  # moto's CloudFormation skips it
    ses.set_active_receipt_rule_set(RuleSetName="relay-desk-dev-inbound")
    out = io.StringIO()
    assert deploy.destroy("dev", session, yes=True, out=out)
    assert deploy.existing_stack(session.client("cloudformation"), "relay-desk-dev") is None
    assert deploy.existing_stack(session.client("cloudformation"), "relay-desk-prod")["StackStatus"].endswith(
        "_COMPLETE")
    assert "relay-desk-dev-tickets" in out.getvalue()
    assert "deactivated the receipt rule set relay-desk-dev-inbound" in out.getvalue()
    assert "Metadata" not in ses.describe_active_receipt_rule_set()
    assert "relay-desk-prod-tickets" in dynamodb.list_tables()["TableNames"]


def test_upload_points_the_functions_at_the_uploaded_bundle(aws: None, tmp_path: Path) -> None:
    session = _session()
    s3 = session.client("s3")
    bucket = deploy.artifacts_bucket_name(ACCOUNT_ID, REGION)
    assert deploy.ensure_bucket(s3, bucket, REGION) is True
    assert deploy.ensure_bucket(s3, bucket, REGION) is False  # exists: left alone
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    (tmp_path / "deployment.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    template = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {
        "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}},
        "Queue": {"Type": "AWS::SQS::Queue"}}}
    (tmp_path / "sam.yaml").write_text(yaml.safe_dump(template))

    url = deploy.upload(s3, bucket, REGION, _stage("prod"), tmp_path)

    assert url.startswith(f"https://{bucket}.s3.amazonaws.com/relay-desk-prod/")
    uploaded = yaml.safe_load(s3.get_object(Bucket=bucket, Key=url.split(".com/", 1)[1])["Body"].read())
    code_uri = uploaded["Resources"]["Fn"]["Properties"]["CodeUri"]
    assert re.fullmatch(rf"s3://{bucket}/relay-desk-prod/[0-9a-f]{{64}}\.zip", code_uri)
    key = code_uri.split("/", 3)[3]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == (tmp_path / "deployment.zip").read_bytes()


# --- (d) The deploy refuses what must not be deployed --------------------------------------------


def test_deploy_refuses_the_committed_dev_placeholder_before_any_aws_call() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing answers there: a call would fail, not refuse
    result = subprocess.run([sys.executable, "infra/deploy.py", "check", "dev"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("deploy refused: stage dev: REPLY_ADDRESS_SECRET in .chalice/config.json is a placeholder")
    assert "/relay-desk/dev/REPLY_ADDRESS_SECRET" in line and result.stdout == ""


def test_the_committed_prod_stage_is_refused_until_its_addresses_are_real() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-m", "infra.deploy", "check", "prod"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("deploy refused: stage prod: SUPPORT_ADDRESS") and "example.com" in result.stderr


@pytest.fixture
def prod_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A filled-in prod stage in a scratch copy of the stage file and .chalice/config.json."""
    stages_dir = tmp_path / "stages"
    stages_dir.mkdir()
    stage_file = {"secrets": "ssm", "parameters": dict(OPERATOR_PARAMETERS["prod"])}
    config = json.loads((PROJECT / ".chalice" / "config.json").read_text())
    config["stages"]["prod"]["environment_variables"]["SUPPORT_ADDRESS"] = "support@acme.test"

    def write() -> None:
        (stages_dir / "prod.yaml").write_text(yaml.safe_dump(stage_file))
        (tmp_path / "config.json").write_text(json.dumps(config))

    monkeypatch.setattr(deploy, "STAGES_DIR", stages_dir)
    monkeypatch.setattr(deploy, "CHALICE_CONFIG", tmp_path / "config.json")
    write()
    return {"stage_file": stage_file, "config": config, "write": write}


def _put(name: str, value: str, kind: str = "SecureString") -> None:
    _session().client("ssm").put_parameter(Name=f"/relay-desk/prod/{name}", Value=value, Type=kind, Overwrite=True)


@pytest.mark.parametrize("arrange, message", [
    (lambda s: None,
     "stage prod: REPLY_ADDRESS_SECRET is missing from SSM (/relay-desk/prod/REPLY_ADDRESS_SECRET)"),
    (lambda s: _put("REPLY_ADDRESS_SECRET", "dev-only-reply-secret-change-me"),
     "stage prod: /relay-desk/prod/REPLY_ADDRESS_SECRET is a placeholder ('dev-only-reply-secret-change-me')"),
    (lambda s: _put("REPLY_ADDRESS_SECRET", " "), "/relay-desk/prod/REPLY_ADDRESS_SECRET is empty"),
    (lambda s: _put("REPLY_ADDRESS_SECRET", "short-but-random-9f3"),
     "/relay-desk/prod/REPLY_ADDRESS_SECRET is 20 characters, under 32"),
    (lambda s: _put("REPLY_ADDRESS_SECRET", GOOD_SECRET, kind="String"),
     "/relay-desk/prod/REPLY_ADDRESS_SECRET is a String: store secrets as SecureString"),
    (lambda s: (_put("REPLY_ADDRESS_SECRET", GOOD_SECRET), _put("SLACK_SIGNING_SECRET", "<your signing secret>")),
     "/relay-desk/prod/SLACK_SIGNING_SECRET is a placeholder"),
    (lambda s: (s["config"]["stages"]["prod"]["environment_variables"].update(REPLY_ADDRESS_SECRET=GOOD_SECRET),
                s["write"]()),
     "stage prod: REPLY_ADDRESS_SECRET is set in .chalice/config.json, but this stage keeps its secrets in SSM only"),
    (lambda s: (s["stage_file"]["parameters"].pop("AlarmEmail"), s["write"]()),
     "infra/stages/prod.yaml: set AlarmEmail under parameters"),
    (lambda s: (s["stage_file"]["parameters"].update(NamePrefix="mine"), s["write"]()),
     "infra/stages/prod.yaml: remove NamePrefix (the deploy derives it)"),
    (lambda s: (s["stage_file"]["parameters"].update(AlarmEmail="oncall@example.com"), s["write"]()),
     "infra/stages/prod.yaml: AlarmEmail is a placeholder ('oncall@example.com')"),
    (lambda s: (s["stage_file"]["parameters"].update(ApiRateLimit="fast"), s["write"]()),
     "infra/stages/prod.yaml: ApiRateLimit is 'fast', not a number"),
    (lambda s: (s["stage_file"]["parameters"].update(ApiBurstLimit="0"), s["write"]()),
     "infra/stages/prod.yaml: ApiBurstLimit is 0, under its least value 1"),
], ids=["missing", "placeholder", "empty", "short", "plain-string", "platform-placeholder", "in-config-json",
        "parameter-missing", "derived-parameter", "example-address", "not-a-number", "under-least"])
def test_deploy_refuses_in_one_line_with_exit_code_2(aws: None, prod_stage: dict[str, Any], arrange: Any,
                                                     message: str, capsys: pytest.CaptureFixture[str]) -> None:
    arrange(prod_stage)

    assert deploy.main(["deploy", "prod"]) == 2

    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("deploy refused: ") and message in line
    cloudformation = _session().client("cloudformation")
    assert cloudformation.list_stacks()["StackSummaries"] == []  # refused before anything was built or changed
    assert _session().client("s3").list_buckets()["Buckets"] == []


def test_a_prod_stage_with_its_secrets_in_ssm_passes(aws: None, prod_stage: dict[str, Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _put("REPLY_ADDRESS_SECRET", GOOD_SECRET)
    _put("TELEGRAM_SECRET_TOKEN", "tg-8c1e5d0f2b7a4e9c")

    assert deploy.main(["check", "prod"]) == 0

    assert capsys.readouterr().out.strip() == (
        f"stage prod: account {ACCOUNT_ID}, region {REGION}, secrets: REPLY_ADDRESS_SECRET, TELEGRAM_SECRET_TOKEN")


# --- (e) A deployed function reads REPLY_ADDRESS_SECRET from SSM -----------------------------------


def test_reply_address_secret_is_read_from_ssm_when_the_stage_keeps_it_there(
        aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import config, secrets

    monkeypatch.delenv("REPLY_ADDRESS_SECRET", raising=False)
    monkeypatch.setenv("SECRETS_SSM_PREFIX", "/relay-desk/prod/")
    secrets.reset()
    try:
        with pytest.raises(RuntimeError, match="REPLY_ADDRESS_SECRET is not set"):
            config.reply_address_secret()
        _put("REPLY_ADDRESS_SECRET", GOOD_SECRET)
        secrets.reset()
        assert config.reply_address_secret() == GOOD_SECRET.encode()
    finally:
        secrets.reset()


def test_env_points_the_admin_cli_at_the_stages_own_names(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib import config

    assert deploy.main(["env", "prod"]) == 0

    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("export AWS_REGION=us-east-1 ")
    variables = dict(item.split("=", 1) for item in line.split()[1:])
    table_settings = [name for name in config._DEFAULTS if name.endswith("_TABLE")]
    assert {variables[name] for name in table_settings} == {
        config._DEFAULTS[name].replace("relay-desk-", "relay-desk-prod-") for name in table_settings}
    assert variables["MAIL_BUCKET"] == f"relay-desk-prod-mail-{ACCOUNT_ID}-{REGION}"
    assert variables["SECRETS_SSM_PREFIX"] == "/relay-desk/prod/"
