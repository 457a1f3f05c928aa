"""The deployment template: what Chalice packages, cfn-lint accepts, moto deploys, provision() builds.

``chalice package --stage dev --merge-template infra/resources.yaml`` runs once
per session (about 1 s when Chalice's cache in .chalice/deployments matches the
code, ~8 s after a change). Chalice writes ``sam.yaml``, not ``sam.json``: a
YAML merge template switches its output to YAML.
"""
from __future__ import annotations

import fcntl
import fnmatch
import importlib.util
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

PROJECT = Path(__file__).resolve().parents[2]
POLICY_FILE = PROJECT / ".chalice" / "policy.json"
MERGE_TEMPLATE = "infra/resources.yaml"
# A queue lets a message be received once more than its worker tries it: the worker parks it with the reason
# on its last try, and when that invocation died, the spare receive does (not SQS's redrive, which keeps none).
_SPARE_RECEIVES = int(json.loads((PROJECT / ".chalice" / "config.json").read_text())
                      ["environment_variables"]["INBOUND_MAX_RECEIVES"]) + 1
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"

requires_chalice = pytest.mark.skipif(
    importlib.util.find_spec("chalice") is None,
    reason="chalice is not installed, so `chalice package` cannot build the deployment template",
)

# moto 5.2.5's CloudFormation has no model for these types: it warns
# "Tried to parse <type> but it's not supported" and skips the resource.
# test_packaged_template_deploys_into_moto creates them through their own APIs
# from the template's properties instead, so they are still checked.
MOTO_CFN_UNSUPPORTED_TYPES = {"AWS::CloudWatch::Alarm"}  # the alarms: checked in test_deploy_stages.py
MOTO_CFN_UNSUPPORTED = {
    "InboundReceiptRuleSet": "AWS::SES::ReceiptRuleSet",
    "InboundReceiptRule": "AWS::SES::ReceiptRule",
    "MailBucketPolicy": "AWS::S3::BucketPolicy",
    "SesInboundInvokeConfig": "AWS::Lambda::EventInvokeConfig",
    "SesEventsInvokeConfig": "AWS::Lambda::EventInvokeConfig",
    "SesEventsTopicPolicy": "AWS::SNS::TopicPolicy",
    "SendingConfigurationSet": "AWS::SES::ConfigurationSet",
    "SendingEventDestination": "AWS::SES::ConfigurationSetEventDestination",
    "SesEventsSesEventsSnsSubscription": "AWS::SNS::Subscription",  # SAM's, expanded by _expand_serverless
    # The HTTP API in front of api_handler (SAM's, expanded by _expand_serverless): test_http_api_sam_translation
    # checks what the SAM transform makes of it.
    "HttpAPI": "AWS::ApiGatewayV2::Api",
    "HttpAPIapiStage": "AWS::ApiGatewayV2::Stage",
    "APIHandlerHttpApiIntegration": "AWS::ApiGatewayV2::Integration",
    "APIHandlerHttpApiRoute": "AWS::ApiGatewayV2::Route",
}
#: Resources only a stack with KeepRestApi=yes has (the template's default is "no").
KEPT_REST_API = {"RestAPI", "APIHandlerInvokePermission"}


# --- Fixtures ---------------------------------------------------------------


def _console_script(name: str, module: str) -> list[str]:
    """The venv's console script (what `make` runs), or its entry point through this Python."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Under pytest-xdist every worker would package, and Chalice writes its
    # cache zip in .chalice/deployments without a lock: package once per session,
    # in the directory the workers share (the xdist docs' pattern), under a lock.
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    out = root / "chalice-package" / "build"
    with open(root / "chalice-package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "sam.yaml").exists():
            _chalice_package(out)
    return out


def _chalice_package(out: Path) -> None:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", REGION)  # chalice package refuses to run without a region
    result = subprocess.run(
        [*_console_script("chalice", "chalice.cli"), "package", "--stage", "dev",
         "--merge-template", MERGE_TEMPLATE, str(out)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        # Chalice's dependency cache is keyed on requirements.txt and the app's
        # files, so after any code change it rebuilds requirements.txt (~8 s).
        timeout=600,
    )
    assert result.returncode == 0, f"chalice package failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def packaged_template_path(package_dir: Path) -> Path:
    path = package_dir / "sam.yaml"
    assert path.exists(), f"chalice package wrote {sorted(p.name for p in package_dir.iterdir())}"
    return path


@pytest.fixture(scope="module")
def packaged(packaged_template_path: Path) -> dict[str, Any]:
    # Chalice serialises with yaml.safe_dump, so intrinsics are already in long form.
    return yaml.safe_load(packaged_template_path.read_text())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with fake credentials and no endpoint override leaking in."""
    from moto import mock_aws

    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def _boto(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=REGION)


# --- (a) What chalice package produces --------------------------------------


@requires_chalice
@pytest.mark.parametrize("function_id, queue, queue_setting", [
    ("ProcessInbound", "InboundQueue", "INBOUND_QUEUE"), ("SendOutbound", "OutboundQueue", "OUTBOUND_QUEUE")])
def test_sqs_functions_report_batch_item_failures(packaged: dict[str, Any], function_id: str, queue: str,
                                                  queue_setting: str) -> None:
    # Without ReportBatchItemFailures Lambda deletes the whole batch on return and
    # the records the function reports as failed are lost.
    function = packaged["Resources"][function_id]
    assert function["Type"] == "AWS::Serverless::Function"  # the override merged, not replaced
    event = function["Properties"]["Events"][f"{function_id}SqsEventSource"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["BatchSize"] == 10
    # The stage's queue, referenced (Chalice's own Fn::Sub names the offline queue, invisible to
    # CloudFormation's ordering); the queue URL by !Ref also saves a GetQueueUrl per cold start.
    assert event["Properties"]["Queue"] == {"Fn::Sub": f"${{{queue}.Arn}}"}
    assert function["Properties"]["Environment"]["Variables"][f"{queue_setting}_URL"] == {"Ref": queue}
    assert function["Properties"]["Environment"]["Variables"][queue_setting] == {"Fn::GetAtt": [queue, "QueueName"]}


@requires_chalice
def test_ses_rule_stores_raw_mail_then_invokes_ses_inbound(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    assert resources["SesInbound"]["Properties"]["Handler"] == "app.ses_inbound"
    rule = resources["InboundReceiptRule"]["Properties"]["Rule"]
    assert rule["ScanEnabled"] is True
    assert rule["Recipients"] == {"Ref": "InboundRecipients"}
    s3_action, lambda_action = rule["Actions"]  # order matters: store first, then invoke
    assert s3_action == {"S3Action": {"BucketName": {"Ref": "MailBucket"}, "ObjectKeyPrefix": "inbound/"}}
    assert lambda_action == {
        "LambdaAction": {"FunctionArn": {"Fn::GetAtt": ["SesInbound", "Arn"]}, "InvocationType": "Event"}
    }
    permission = resources["SesInboundInvokePermission"]["Properties"]
    assert permission["Principal"] == "ses.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": ["SesInbound", "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert packaged["Parameters"]["InboundRecipients"]["Default"] == "support@example.com"


def _allowed_actions(role: dict[str, Any], managed: dict[str, Any]) -> list[str]:
    """What a role allows: Chalice's inline policy (.chalice/policy.json) and the stage's managed policy."""
    actions: list[str] = []
    documents = [policy["PolicyDocument"] for policy in role["Properties"]["Policies"]]
    documents += [managed[arn["Ref"]]["Properties"]["PolicyDocument"]
                  for arn in role["Properties"].get("ManagedPolicyArns", [])]
    for document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                listed = statement["Action"]
                actions += [listed] if isinstance(listed, str) else listed
    return actions


@requires_chalice
def test_every_function_role_uses_policy_json_and_cannot_scan(packaged: dict[str, Any]) -> None:
    roles = {name: r for name, r in packaged["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"SesInboundRole", "SesFailuresRole", "ProcessInboundRole", "SendOutboundRole", "SweepRole",
                          "ApiHandlerRole", "TicketStreamRole", "KpiStreamRole", "SesEventsRole"}
    managed = {name: r for name, r in packaged["Resources"].items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    # One policy per function, by ARN of the stage (each grant checked in test_least_privilege.py).
    assert set(managed) == {name.removesuffix("Role") + "Access" for name in roles}
    policy_file = json.loads(POLICY_FILE.read_text())
    for name, role in roles.items():
        assert [p["PolicyDocument"] for p in role["Properties"]["Policies"]] == [policy_file], name
        assert role["Properties"]["ManagedPolicyArns"] == [{"Ref": name.removesuffix("Role") + "Access"}], name
        actions = _allowed_actions(role, managed)
        # fnmatch: an action pattern such as dynamodb:* or * would also grant Scan.
        assert not [a for a in actions if fnmatch.fnmatchcase("dynamodb:Scan", a)], name
        if "dynamodb:PutItem" in actions:
            assert "dynamodb:ConditionCheckItem" in actions  # TransactWriteItems checks per item action
    # Lambda's SQS poller runs as the function's role (Chalice gives SAM a role, so SAM adds none) ...
    for name in ("ProcessInboundRole", "SendOutboundRole"):
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= set(
            _allowed_actions(roles[name], managed)), name
    # ... and its DynamoDB Streams poller, for ticket_stream and kpi_stream.
    for name in ("TicketStreamRole", "KpiStreamRole"):
        assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"} <= set(
            _allowed_actions(roles[name], managed)), name


# --- (b) cfn-lint on the packaged output -------------------------------------


@requires_chalice
def test_cfn_lint_reports_nothing_on_the_packaged_template(packaged_template_path: Path) -> None:
    result = subprocess.run(
        [*_console_script("cfn-lint", "cfnlint.runner"), str(packaged_template_path)],
        cwd=PROJECT,  # picks up a .cfnlintrc there, as `make lint-infra` would
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def _sam_transform(packaged: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **parameters: str) -> dict[str, Any]:
    """The packaged template as CloudFormation's AWS::Serverless transform makes it (AWS's own translator)."""
    import copy

    from samtranslator.translator.transform import transform

    class NoManagedPolicies:  # the translator looks up AWS-managed policy names; the template uses none
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # the translator fills AWS::Region from it
    template = copy.deepcopy(packaged)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":  # make deploy uploads the bundle first
            resource["Properties"]["CodeUri"] = "s3://relay-desk-artifacts/deployment.zip"
    return transform(template, parameters, NoManagedPolicies())


@requires_chalice
def test_http_api_sam_translation_sends_every_path_to_api_handler_in_payload_format_1(
        packaged: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """What API Gateway gets: one HTTP API, stage "api", route ANY /{proxy+} to api_handler's app.http_api with
    the REST proxy event's shape (payload 1.0), and nothing else allowed to invoke it; the REST API only on
    request (KeepRestApi=yes)."""
    import app as app_module
    from chalicelib.api import http_api

    resources = _sam_transform(packaged, monkeypatch)["Resources"]
    apis = {k: r for k, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api"}
    assert list(apis) == ["HttpAPI"]
    paths = apis["HttpAPI"]["Properties"]["Body"]["paths"]
    operations = [k for k in paths.get("/{proxy+}", {}) if k not in ("parameters", "responses")]
    assert list(paths) == ["/{proxy+}"] and operations == ["x-amazon-apigateway-any-method"]
    integration = paths["/{proxy+}"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["payloadFormatVersion"] == http_api.PAYLOAD_FORMAT
    assert "${APIHandler.Arn}" in integration["uri"]["Fn::Sub"]
    assert "cors" not in json.dumps(apis["HttpAPI"]).lower()  # preflights reach the app, which answers them
    stages = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert [(s["ApiId"], s["StageName"]) for s in stages] == [({"Ref": "HttpAPI"}, "api")]
    # The one route's throttle, from the stage's parameters: a flood gets 429 before any Lambda runs.
    assert stages[0]["DefaultRouteSettings"] == {"ThrottlingRateLimit": {"Ref": "ApiRateLimit"},
                                                 "ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"}}
    assert {name: (packaged["Parameters"][name]["Type"], packaged["Parameters"][name]["MinValue"])
            for name in ("ApiRateLimit", "ApiBurstLimit")} == dict.fromkeys(("ApiRateLimit", "ApiBurstLimit"),
                                                                          ("Number", 1))
    handler = resources["APIHandler"]["Properties"]["Handler"]
    module, function = handler.split(".")
    assert (module, callable(getattr(app_module, function, None))) == ("app", True)
    invokers = {k: r for k, r in resources.items()
                if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["FunctionName"] == {"Ref": "APIHandler"}}
    assert {k: r.get("Condition") for k, r in invokers.items()} == {
        "APIHandlerHttpApiPermission": None, "APIHandlerInvokePermission": "KeepsRestApi"}
    assert invokers["APIHandlerHttpApiPermission"]["Properties"]["SourceArn"]["Fn::Sub"][1]["__ApiId__"] == {
        "Ref": "HttpAPI"}
    rest = {k: r.get("Condition") for k, r in resources.items() if r["Type"].startswith("AWS::ApiGateway::")}
    assert rest and set(rest.values()) == {"KeepsRestApi"}  # the REST API, its deployment and stage


@requires_chalice
def test_endpoint_url_names_the_http_api_and_the_rest_apis_only_while_it_is_kept(packaged: dict[str, Any]) -> None:
    outputs = packaged["Outputs"]
    assert outputs["EndpointURL"]["Value"]["Fn::Sub"].startswith("https://${HttpAPI}.execute-api.")
    assert outputs["EndpointURL"]["Value"]["Fn::Sub"].endswith("/api/")
    assert {k: outputs[k].get("Condition") for k in ("RestAPIId", "RestApiURL")} == dict.fromkeys(
        ("RestAPIId", "RestApiURL"), "KeepsRestApi")
    assert packaged["Conditions"]["KeepsRestApi"] == {"Fn::Equals": [{"Ref": "KeepRestApi"}, "yes"]}
    assert packaged["Parameters"]["KeepRestApi"]["Default"] == "no"


# --- (c) The packaged template in moto's CloudFormation ----------------------


def _expand_serverless(template: dict[str, Any], code_bucket: str, code_key: str) -> dict[str, Any]:
    """Chalice's SAM resources as the plain CloudFormation the SAM transform would make.

    moto has no SAM transform (and cfn-lint 1.58 validates SAM without the
    translator), and `chalice package` has no plain-CloudFormation output:
    --pkg-format offers only cloudformation (SAM) and terraform. So this expands
    the two types Chalice emits, for the properties Chalice sets: a function
    becomes AWS::Lambda::Function plus one AWS::Lambda::EventSourceMapping per
    SQS event (logical id <function><event>, as SAM names it), and the API
    becomes a bare AWS::ApiGateway::RestApi (moto does not import the swagger
    body through CloudFormation, so routes are not deployed here).
    """
    expanded = {key: value for key, value in template.items() if key != "Transform"}
    resources: dict[str, Any] = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Api":
            title = resource["Properties"]["DefinitionBody"]["info"]["title"]
            resources[logical_id] = {**resource, "Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": title}}
            continue
        if kind == "AWS::Serverless::HttpApi":  # SAM: the API and its stage (moto's CloudFormation has neither)
            resources[logical_id] = {"Type": "AWS::ApiGatewayV2::Api", "Properties": {
                "Name": logical_id, "ProtocolType": "HTTP"}}
            resources[f"{logical_id}{resource['Properties']['StageName']}Stage"] = {
                "Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                    "ApiId": {"Ref": logical_id}, "StageName": resource["Properties"]["StageName"],
                    "AutoDeploy": True}}
            continue
        if kind != "AWS::Serverless::Function":
            resources[logical_id] = resource
            continue
        properties = dict(resource["Properties"])
        events = properties.pop("Events", {})
        properties.pop("CodeUri")
        properties["Code"] = {"S3Bucket": code_bucket, "S3Key": code_key}
        properties["Tags"] = [{"Key": k, "Value": v} for k, v in properties.get("Tags", {}).items()]
        if "Tracing" in properties:
            properties["TracingConfig"] = {"Mode": properties.pop("Tracing")}
        function = {"Type": "AWS::Lambda::Function", "Properties": properties}
        if "DependsOn" in resource:
            function["DependsOn"] = resource["DependsOn"]
        resources[logical_id] = function
        for event_id, event in events.items():
            if event["Type"] == "Schedule":  # SAM: an EventBridge rule targeting the function
                resources[f"{logical_id}{event_id}"] = {"Type": "AWS::Events::Rule", "Properties": {
                    "ScheduleExpression": event["Properties"]["Schedule"], "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": [logical_id, "Arn"]}, "Id": logical_id}]}}
                continue
            if event["Type"] == "SNS":  # SAM: the topic's subscription and SNS's permission to invoke
                topic = event["Properties"]["Topic"]
                resources[f"{logical_id}{event_id}"] = {"Type": "AWS::SNS::Subscription", "Properties": {
                    "Protocol": "lambda", "Endpoint": {"Fn::GetAtt": [logical_id, "Arn"]}, "TopicArn": topic}}
                resources[f"{logical_id}{event_id}Permission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
                    "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": logical_id},
                    "Principal": "sns.amazonaws.com", "SourceArn": topic}}
                continue
            if event["Type"] == "HttpApi":  # SAM: the route's integration and API Gateway's permission to invoke
                api = event["Properties"]["ApiId"]
                resources[f"{logical_id}{event_id}Integration"] = {"Type": "AWS::ApiGatewayV2::Integration",
                                                                   "Properties": {
                    "ApiId": api, "IntegrationType": "AWS_PROXY", "IntegrationUri": {"Fn::GetAtt": [logical_id, "Arn"]},
                    "PayloadFormatVersion": event["Properties"]["PayloadFormatVersion"]}}
                resources[f"{logical_id}{event_id}Route"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
                    "ApiId": api, "RouteKey": f"{event['Properties']['Method']} {event['Properties']['Path']}",
                    "Target": {"Fn::Sub": f"integrations/${{{logical_id}{event_id}Integration}}"}}}
                resources[f"{logical_id}{event_id}Permission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
                    "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": logical_id},
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {"Fn::Sub": ["arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                                              "${ApiId}/*", {"ApiId": api}]}}}
                continue
            assert event["Type"] in ("SQS", "DynamoDB"), \
                f"{logical_id}.{event_id}: only SQS, DynamoDB and Schedule events are expanded here"
            source = dict(event["Properties"])
            arn = source.pop("Queue") if event["Type"] == "SQS" else source.pop("Stream")
            mapping = {"EventSourceArn": arn, "FunctionName": {"Ref": logical_id}, **source}
            resources[f"{logical_id}{event_id}"] = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": mapping}
    expanded["Resources"] = resources
    return expanded


def _resolver(refs: dict[str, Any], arns: dict[str, str]) -> Any:
    """Resolve Ref, GetAtt …Arn and Sub with deployed values (for what moto could not deploy)."""

    def name(variable: str) -> str:
        return arns[variable.split(".")[0]] if variable.endswith(".Arn") else str(refs[variable])

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return refs[value["Ref"]]
        if "Fn::GetAtt" in value:
            return arns[value["Fn::GetAtt"][0]]
        if "Fn::Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: name(m.group(1)), value["Fn::Sub"])
        return {key: resolve(item) for key, item in value.items()}

    return resolve


@requires_chalice
@pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning")
def test_packaged_template_deploys_into_moto(aws: None, packaged: dict[str, Any], package_dir: Path) -> None:
    with zipfile.ZipFile(package_dir / "deployment.zip") as bundle:
        names = set(bundle.namelist())
    assert {"app.py", "chalicelib/__init__.py", "chalicelib/desk_settings.json"} <= names
    s3, cloudformation, awslambda = _boto("s3"), _boto("cloudformation"), _boto("lambda")
    # moto never runs the code, and copying the 22 MB bundle through moto's S3
    # and Lambda costs seconds: the functions are created from a stand-in zip.
    stand_in = io.BytesIO()
    with zipfile.ZipFile(stand_in, "w") as bundle:
        bundle.writestr("app.py", "")
    s3.create_bucket(Bucket="relay-desk-artifacts")
    s3.put_object(Bucket="relay-desk-artifacts", Key="deployment.zip", Body=stand_in.getvalue())
    template = _expand_serverless(packaged, "relay-desk-artifacts", "deployment.zip")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName="relay-desk", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
        )
    skipped = {str(w.message).split()[3] for w in caught if "not supported by moto" in str(w.message)}
    assert skipped == set(MOTO_CFN_UNSUPPORTED.values()) | MOTO_CFN_UNSUPPORTED_TYPES
    not_deployed = set(MOTO_CFN_UNSUPPORTED) | KEPT_REST_API | {
        logical_id for logical_id, resource in template["Resources"].items()
        if resource["Type"] in MOTO_CFN_UNSUPPORTED_TYPES}
    stack = cloudformation.describe_stacks(StackName="relay-desk")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    deployed = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="relay-desk")["StackResourceSummaries"]
        if r["LogicalResourceId"]  # moto lists each skipped resource as a blank row
    }
    assert set(deployed) == set(template["Resources"]) - not_deployed

    # Tables, with their keys and indexes.
    dynamodb = _boto("dynamodb")
    tickets = dynamodb.describe_table(TableName="relay-desk-tickets")["Table"]
    assert tickets["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {index["IndexName"]: [k["AttributeName"] for k in index["KeySchema"]]
            for index in tickets["GlobalSecondaryIndexes"]} == {
        "by_status": ["view_status", "view_order"],
        "by_customer": ["customer_id", "created_at"],
        "by_assignee": ["view_assignee", "view_order"],
        "by_queue": ["view_queue", "view_order"],
        "waiting": ["waiting_queue", "created_at"],
        "sla_due": ["sla_shard", "sla_check_at"],
        "timers": ["timer_shard", "timer_at"],
        "overdue": ["overdue_shard", "overdue_at"],
    }
    messages = dynamodb.describe_table(TableName="relay-desk-messages")["Table"]
    assert [k["AttributeName"] for k in messages["KeySchema"]] == ["ticket_id", "sk"]
    for table in ("relay-desk-customers", "relay-desk-lookups", "relay-desk-agents", "relay-desk-audit",
                  "relay-desk-macros", "relay-desk-aggregates"):
        assert table in deployed.values()

    # Queues: high-throughput FIFO, redriving to the FIFO dead-letter queue.
    sqs = _boto("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=deployed["InboundQueue"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=deployed["InboundDeadLetterQueue"], AttributeNames=["All"])["Attributes"]
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": _SPARE_RECEIVES}
    assert (queue["FifoQueue"], queue["ContentBasedDeduplication"]) == ("true", "false")
    assert queue["VisibilityTimeout"] == "360"  # 6 x process_inbound's 60 s timeout
    assert (queue["DeduplicationScope"], queue["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert (dlq["FifoQueue"], dlq["MessageRetentionPeriod"]) == ("true", "1209600")

    # The functions, and process_inbound's event source on the queue.
    ses_inbound = awslambda.get_function(FunctionName=deployed["SesInbound"])["Configuration"]
    process_inbound = awslambda.get_function(FunctionName=deployed["ProcessInbound"])["Configuration"]
    assert (ses_inbound["Handler"], ses_inbound["Timeout"]) == ("app.ses_inbound", 10)
    assert (process_inbound["Handler"], process_inbound["Timeout"]) == ("app.process_inbound", 60)
    [mapping] = awslambda.list_event_source_mappings(FunctionName=deployed["ProcessInbound"])["EventSourceMappings"]
    assert mapping["EventSourceArn"] == queue["QueueArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10
    permission = json.loads(awslambda.get_policy(FunctionName=deployed["SesInbound"])["Policy"])["Statement"]
    assert [(p["Principal"], p["Condition"]["StringEquals"]["AWS:SourceAccount"]) for p in permission] == [
        ({"Service": "ses.amazonaws.com"}, ACCOUNT_ID)
    ]

    # What moto's CloudFormation skipped, created through the services' own APIs
    # from the template's properties. moto's SES checks that the S3 action's
    # bucket and the Lambda action's function exist.
    resources = template["Resources"]
    refs = {
        "AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID,
        **{name: parameter["Default"] for name, parameter in template["Parameters"].items()},
        "InboundRecipients": template["Parameters"]["InboundRecipients"]["Default"].split(","),
        **deployed,
    }
    arns = {"MailBucket": f"arn:aws:s3:::{deployed['MailBucket']}", "SesInbound": ses_inbound["FunctionArn"]}
    resolve = _resolver(refs, arns)
    ses = _boto("ses")
    rule_set = resolve(resources["InboundReceiptRuleSet"]["Properties"]["RuleSetName"])
    assert rule_set == "relay-desk-inbound"  # the parameters' defaults: the offline names
    ses.create_receipt_rule_set(RuleSetName=rule_set)
    refs["InboundReceiptRuleSet"] = rule_set
    bucket_policy = resolve(resources["MailBucketPolicy"]["Properties"])
    s3.put_bucket_policy(Bucket=bucket_policy["Bucket"], Policy=json.dumps(bucket_policy["PolicyDocument"]))
    rule = resolve(resources["InboundReceiptRule"]["Properties"])
    ses.create_receipt_rule(RuleSetName=rule["RuleSetName"], Rule=rule["Rule"])
    [stored] = ses.describe_receipt_rule_set(RuleSetName=rule_set)["Rules"]
    assert stored["Recipients"] == ["support@example.com"]
    assert [list(action) for action in stored["Actions"]] == [["S3Action"], ["LambdaAction"]]
    assert stored["Actions"][1]["LambdaAction"]["FunctionArn"] == ses_inbound["FunctionArn"]
    ses_statement = json.loads(s3.get_bucket_policy(Bucket="relay-desk-mail")["Policy"])["Statement"][0]
    assert ses_statement["Resource"] == "arn:aws:s3:::relay-desk-mail/inbound/*"
    rule_arn = f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:receipt-rule-set/{rule_set}:receipt-rule/{rule['Rule']['Name']}"
    assert ses_statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID, "aws:SourceArn": rule_arn}
    }
    # A failed ses_inbound event lands in a queue (Lambda destinations take standard queues only).
    invoke_config = resolve({k: v for k, v in resources["SesInboundInvokeConfig"]["Properties"].items()
                             if k != "DestinationConfig"})
    failures = resources["SesInboundInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert failures == {"Fn::GetAtt": ["SesInboundFailureQueue", "Arn"]}
    assert invoke_config["MaximumRetryAttempts"] == 2
    failure_queue = _boto("sqs").get_queue_url(QueueName="relay-desk-ses-inbound-failures")["QueueUrl"]
    assert _boto("sqs").get_queue_attributes(QueueUrl=failure_queue, AttributeNames=["All"])["Attributes"].get(
        "FifoQueue", "false") == "false"


# --- (d) provision(): the offline harness from the same template ------------


def _template_resources(kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, their names (!Sub "${NamePrefix}-…") with the parameters' defaults."""
    from chalicelib.local.provision import load_template

    template = load_template()
    defaults = {name: str(parameter["Default"]) for name, parameter in template["Parameters"].items()}
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != kind:
            continue
        properties = dict(resource["Properties"])
        for key in ("TableName", "QueueName", "BucketName"):
            if isinstance(properties.get(key), dict):
                properties[key] = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], properties[key]["Fn::Sub"])
        found[logical_id] = properties
    return found


def test_provision_creates_what_the_template_declares_and_is_repeatable(aws: None) -> None:
    from chalicelib.local.provision import provision

    created = provision()

    tables = _template_resources("AWS::DynamoDB::Table")
    queues = _template_resources("AWS::SQS::Queue")
    buckets = _template_resources("AWS::S3::Bucket")
    assert set(created) == set(tables) | set(queues) | set(buckets)

    dynamodb = _boto("dynamodb")
    for logical_id, declared in tables.items():
        assert created[logical_id] == declared["TableName"]
        actual = dynamodb.describe_table(TableName=declared["TableName"])["Table"]
        assert actual["KeySchema"] == declared["KeySchema"]
        assert sorted(actual["AttributeDefinitions"], key=str) == sorted(declared["AttributeDefinitions"], key=str)
        assert actual["BillingModeSummary"]["BillingMode"] == declared["BillingMode"]
        assert [
            (index["IndexName"], index["KeySchema"], index["Projection"])
            for index in actual.get("GlobalSecondaryIndexes", [])
        ] == [
            (index["IndexName"], index["KeySchema"], index["Projection"])
            for index in declared.get("GlobalSecondaryIndexes", [])
        ]
        backups = dynamodb.describe_continuous_backups(TableName=declared["TableName"])
        assert backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ] == "ENABLED"

    sqs = _boto("sqs")
    arns = {}
    for logical_id, declared in queues.items():
        url = sqs.get_queue_url(QueueName=declared["QueueName"])["QueueUrl"]
        assert created[logical_id] == url
        actual = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        arns[logical_id] = actual["QueueArn"]
        for name, value in declared.items():
            if name == "QueueName":
                continue
            if name == "RedrivePolicy":
                target = value["deadLetterTargetArn"]["Fn::GetAtt"][0]
                assert json.loads(actual[name]) == {"deadLetterTargetArn": arns[target], "maxReceiveCount": _SPARE_RECEIVES}
            else:
                assert actual[name] == (str(value).lower() if isinstance(value, bool) else str(value)), name

    s3 = _boto("s3")
    [(bucket_id, bucket)] = buckets.items()
    assert created[bucket_id] == bucket["BucketName"] == "relay-desk-mail"
    [expiry, _abort, uploads] = s3.get_bucket_lifecycle_configuration(Bucket="relay-desk-mail")["Rules"]
    assert (expiry["Filter"], expiry["Expiration"]) == ({"Prefix": "inbound/"}, {"Days": 90})
    assert (uploads["Filter"], uploads["Expiration"]) == ({"Prefix": "uploads/"}, {"Days": 1})  # unclaimed uploads
    [cors] = s3.get_bucket_cors(Bucket="relay-desk-mail")["CORSRules"]
    assert cors["AllowedOrigins"] == ["http://127.0.0.1:8000", "http://localhost:8000"]  # make local's console
    assert sorted(cors["AllowedMethods"]) == ["GET", "HEAD", "PUT"] and cors["AllowedHeaders"] == ["Content-Type"]
    block = s3.get_public_access_block(Bucket="relay-desk-mail")["PublicAccessBlockConfiguration"]
    assert all(block.values())

    s3.put_object(Bucket="relay-desk-mail", Key="inbound/kept", Body=b"raw mail")
    assert provision() == created  # second call: everything exists, nothing replaced
    assert s3.get_object(Bucket="relay-desk-mail", Key="inbound/kept")["Body"].read() == b"raw mail"


def test_provision_refuses_a_property_it_cannot_reproduce(aws: None, tmp_path: Path) -> None:
    from chalicelib.local.provision import UnsupportedTemplate, load_template, provision

    template = load_template()
    template["Resources"]["InboundQueue"]["Properties"]["MaximumMessageSizeInKb"] = 256  # unknown to the harness
    drifted = tmp_path / "resources.yaml"
    drifted.write_text(yaml.safe_dump(template))

    with pytest.raises(UnsupportedTemplate, match="InboundQueue.*MaximumMessageSizeInKb"):
        provision(drifted)
