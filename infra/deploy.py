"""Deploy one stage of Relay Desk to AWS, or take it down: ``make deploy STAGE=prod``, ``make destroy STAGE=prod``.

    python infra/deploy.py check   <stage>   # the refusals below, nothing changed
    python infra/deploy.py deploy  <stage>   # check, package, upload, create or update the stack
    python infra/deploy.py destroy <stage> [--yes]
    python infra/deploy.py env     <stage>   # the export line for the admin CLI on that stage

What ``deploy`` does, in order (docs/deploying.md is the guide around it):

1. Reads ``infra/stages/<stage>.yaml`` (the operator's parameters) and the stage in
   ``.chalice/config.json``, and refuses, in one line and with exit code 2, a stage
   whose secrets are placeholders, empty, kept in config.json when the stage keeps
   them in SSM only, or missing (``REPLY_ADDRESS_SECRET``), or whose parameters are
   example.com placeholders or not all set.
2. ``chalice package --stage <stage> --merge-template infra/resources.yaml build/<stage>/``, through
   ``tools/locked_chalice.py`` (as ``make package``) so the bundle gets exactly ``requirements.lock``.
3. Creates the artifacts bucket ``relay-desk-artifacts-<account>-<region>`` if it is
   missing, and uploads the code and the template (``aws cloudformation package``'s
   job: SAM's CodeUri becomes the S3 object; the template goes by URL because
   Chalice's is over CreateStack's 51,200-byte TemplateBody limit).
4. Creates or updates the stack ``relay-desk-<stage>`` with every template parameter
   passed explicitly, and waits. Until the operator sets ``PublicBaseUrl`` (a custom
   domain), the stack's own API URL is used, which is known once the stack exists:
   the first deploy updates the parameter once more when it is.

boto3, not the AWS CLI, so the same code runs against moto in the tests
(tests/integration/test_deploy_stages.py). Exit codes: 0 done, 1 AWS said no
(the failed resources' reasons are printed), 2 refused before any change.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:  # run as `python infra/deploy.py`: the template loader lives in chalicelib
    sys.path.insert(0, str(PROJECT))

from chalicelib.local.provision import load_template  # noqa: E402 (after the path above)

MERGE_TEMPLATE = PROJECT / "infra" / "resources.yaml"
STAGES_DIR = PROJECT / "infra" / "stages"
CHALICE_CONFIG = PROJECT / ".chalice" / "config.json"

APP = "relay-desk"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]  # Chalice's roles; the SAM transform

# Every secret the code reads through chalicelib/secrets.py (README, "Configuration").
SECRET_NAMES = (
    "REPLY_ADDRESS_SECRET", "SURVEY_SECRET", "WEBCHAT_SECRET", "WEBCHAT_IDENTITY_SECRET",
    "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "META_VERIFY_TOKEN", "WHATSAPP_APP_SECRET",
    "MESSENGER_APP_SECRET", "WHATSAPP_ACCESS_TOKEN", "MESSENGER_PAGE_ACCESS_TOKEN",
    "TELEGRAM_SECRET_TOKEN", "TELEGRAM_BOT_TOKEN", "TWILIO_AUTH_TOKEN",
)
# Without it no acknowledgement can carry a signed reply address (chalicelib/config.py).
REQUIRED_SECRETS = ("REPLY_ADDRESS_SECRET",)
# The desk's own HMAC keys: nobody else chose them, so they can be long and random.
OWN_KEYS = {"REPLY_ADDRESS_SECRET", "SURVEY_SECRET", "WEBCHAT_SECRET", "WEBCHAT_IDENTITY_SECRET"}
OWN_KEY_MIN_LENGTH = 32
_PLACEHOLDER_MARKS = ("change-me", "changeme", "change_me", "replace-me", "placeholder", "dev-only",
                      "example", "your-", "xxxx", "<")

# Parameters the deploy derives from the stage, account and region; the rest come from the stage file.
DERIVED_PARAMETERS = ("Stage", "NamePrefix", "BucketSuffix", "SupportAddress")
# Parameters holding addresses that must not be example.com's in a deployed stage.
ADDRESS_PARAMETERS = ("InboundRecipients", "AlarmEmail", "ConsoleOrigins", "PublicBaseUrl")
_FIRST_DEPLOY_ORIGIN = "https://console.invalid"  # S3 CORS needs some origin before the API exists


class Refused(Exception):
    """A precondition the operator must fix; the message is the one line they read."""


@dataclass(frozen=True)
class Stage:
    name: str
    secrets_in: str  # "ssm" or "config-or-ssm"
    parameters: dict[str, str]
    environment: dict[str, str] = field(default_factory=dict)  # .chalice/config.json: top level, then the stage's

    @property
    def stack_name(self) -> str:
        return f"{APP}-{self.name}"

    @property
    def ssm_prefix(self) -> str:
        return f"/{APP}/{self.name}/"  # the template's SECRETS_SSM_PREFIX and IAM resource


# --- Reading the stage ------------------------------------------------------------


def load_stage(name: str, *, stages_dir: Path | None = None, chalice_config: Path | None = None) -> Stage:
    stages_dir = stages_dir or STAGES_DIR
    chalice_config = chalice_config or CHALICE_CONFIG
    stage_file = stages_dir / f"{name}.yaml"
    if not stage_file.is_file():
        known = ", ".join(sorted(p.stem for p in stages_dir.glob("*.yaml"))) or "none"
        raise Refused(f"no stage {name!r}: create {_shown(stage_file)} (stages: {known})")
    document = yaml.safe_load(stage_file.read_text(encoding="utf-8")) or {}
    secrets_in = document.get("secrets")
    if secrets_in not in ("ssm", "config-or-ssm"):
        raise Refused(f"{_shown(stage_file)}: secrets must be 'ssm' or 'config-or-ssm', not {secrets_in!r}")
    parameters = {key: "" if value is None else str(value)
                  for key, value in (document.get("parameters") or {}).items()}
    config = json.loads(chalice_config.read_text(encoding="utf-8"))
    if name not in config.get("stages", {}):
        raise Refused(f"stage {name!r} is not in {_shown(chalice_config)}: add it under \"stages\"")
    environment = dict(config.get("environment_variables", {}))
    environment.update(config["stages"][name].get("environment_variables", {}))
    return Stage(name=name, secrets_in=secrets_in, parameters=parameters, environment=environment)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT))
    except ValueError:
        return str(path)


def template_parameters(template_path: Path = MERGE_TEMPLATE) -> dict[str, dict[str, Any]]:
    """The template's parameters: name → its definition (Type, Default, MinValue, ...)."""
    return dict(load_template(template_path).get("Parameters", {}))


# --- Refusals -----------------------------------------------------------------------


def placeholder_reason(name: str, value: str | None) -> str | None:
    """Why a secret's value must not be deployed, or None."""
    if value is None or not value.strip():
        return "empty"
    lowered = value.lower()
    for mark in _PLACEHOLDER_MARKS:
        if mark in lowered:
            return f"a placeholder ({value!r})" if len(value) <= 40 else f"a placeholder (contains {mark!r})"
    if name in OWN_KEYS and len(value) < OWN_KEY_MIN_LENGTH:
        return f"{len(value)} characters, under {OWN_KEY_MIN_LENGTH}"
    return None


def _generate_hint(stage: Stage, name: str) -> str:
    value = '"$(openssl rand -hex 32)"' if name in OWN_KEYS else "<value>"
    return f"aws ssm put-parameter --type SecureString --name {stage.ssm_prefix}{name} --value {value}"


def check_config_secrets(stage: Stage) -> None:
    """Refuse what .chalice/config.json holds for the stage: no AWS call."""
    for name in SECRET_NAMES:
        if name not in stage.environment:
            continue
        if stage.secrets_in == "ssm":
            raise Refused(f"stage {stage.name}: {name} is set in .chalice/config.json, but this stage keeps its "
                          f"secrets in SSM only: remove it there and store it with {_generate_hint(stage, name)}")
        reason = placeholder_reason(name, stage.environment[name])
        if reason:
            raise Refused(f"stage {stage.name}: {name} in .chalice/config.json is {reason}: replace it, or remove "
                          f"it and store your own with {_generate_hint(stage, name)}")


def check_addresses(stage: Stage) -> None:
    support = stage.environment.get("SUPPORT_ADDRESS", "")
    if placeholder_reason("SUPPORT_ADDRESS", support):
        raise Refused(f"stage {stage.name}: SUPPORT_ADDRESS in .chalice/config.json is "
                      f"{placeholder_reason('SUPPORT_ADDRESS', support)}: set the address customers write to")
    for name in ADDRESS_PARAMETERS:
        value = stage.parameters.get(name, "")
        if value and placeholder_reason(name, value):
            raise Refused(f"infra/stages/{stage.name}.yaml: {name} is {placeholder_reason(name, value)}: "
                          "set your own (docs/deploying.md)")


def check_parameters(stage: Stage, template: Mapping[str, Mapping[str, Any]]) -> None:
    expected = set(template) - set(DERIVED_PARAMETERS)
    missing = sorted(expected - set(stage.parameters))
    if missing:
        raise Refused(f"infra/stages/{stage.name}.yaml: set {', '.join(missing)} under parameters "
                      "(every parameter is passed explicitly; none falls back to the template's default)")
    unknown = sorted(set(stage.parameters) - expected)
    if unknown:
        derived = [n for n in unknown if n in DERIVED_PARAMETERS]
        why = "the deploy derives it" if derived else "the template has no such parameter"
        raise Refused(f"infra/stages/{stage.name}.yaml: remove {', '.join(unknown)} ({why})")
    for name in ("AlarmEmail", "InboundRecipients"):
        if not stage.parameters[name].strip():
            raise Refused(f"infra/stages/{stage.name}.yaml: {name} is empty")
    for name in sorted(expected):
        _check_number(stage, name, template[name])


def _check_number(stage: Stage, name: str, definition: Mapping[str, Any]) -> None:
    """A Number parameter's value, refused here in the stage file's words rather than by CloudFormation mid-deploy."""
    if definition.get("Type") != "Number":
        return
    value = stage.parameters[name].strip()
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Refused(f"infra/stages/{stage.name}.yaml: {name} is {value!r}, not a number")
    least = definition.get("MinValue")
    if least is not None and number < float(least):
        raise Refused(f"infra/stages/{stage.name}.yaml: {name} is {value}, under its least value {least}")


def stored_secrets(ssm: Any, stage: Stage) -> dict[str, tuple[str, str]]:
    """name → (type, value) of every parameter directly under the stage's SSM prefix."""
    found: dict[str, tuple[str, str]] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path=stage.ssm_prefix.rstrip("/"), Recursive=False, WithDecryption=True):
        for parameter in page["Parameters"]:
            found[parameter["Name"].rsplit("/", 1)[1]] = (parameter["Type"], parameter["Value"])
    return found


def check_stored_secrets(stage: Stage, stored: Mapping[str, tuple[str, str]]) -> list[str]:
    """Refuse a weak or plain-text secret in SSM and a missing required one; returns the secrets in use."""
    for name in SECRET_NAMES:
        if name not in stored:
            continue
        kind, value = stored[name]
        if kind != "SecureString":
            raise Refused(f"stage {stage.name}: {stage.ssm_prefix}{name} is a {kind}: store secrets as SecureString "
                          f"(aws ssm put-parameter --overwrite --type SecureString --name {stage.ssm_prefix}{name} ...)")
        reason = placeholder_reason(name, value)
        if reason:
            raise Refused(f"stage {stage.name}: {stage.ssm_prefix}{name} is {reason}: "
                          f"{_generate_hint(stage, name)} --overwrite")
    for name in REQUIRED_SECRETS:
        if name not in stored and name not in stage.environment:
            raise Refused(f"stage {stage.name}: {name} is missing from SSM ({stage.ssm_prefix}{name}): "
                          f"{_generate_hint(stage, name)}")
    return sorted((set(stored) | set(stage.environment)) & set(SECRET_NAMES))


# --- Parameters ------------------------------------------------------------------------


def stack_parameters(stage: Stage, *, account: str, region: str, endpoint: str | None) -> dict[str, str]:
    """Every template parameter, explicitly: the stage file's, and the four derived ones.

    ``endpoint`` is the stack's EndpointURL output when it exists: it fills an empty
    PublicBaseUrl (stage path included, as Twilio signs it) and ConsoleOrigins.
    """
    parameters = dict(stage.parameters)
    # SupportAddress: the stage's SUPPORT_ADDRESS, the one identity its sending functions may send as.
    parameters.update({"Stage": stage.name, "NamePrefix": f"{APP}-{stage.name}",
                       "BucketSuffix": f"-{account}-{region}",
                       "SupportAddress": stage.environment.get("SUPPORT_ADDRESS", "").strip().lower()})
    if not parameters["PublicBaseUrl"] and endpoint:
        parameters["PublicBaseUrl"] = endpoint.rstrip("/")
    if not parameters["ConsoleOrigins"]:
        base = urlsplit(parameters["PublicBaseUrl"])
        parameters["ConsoleOrigins"] = f"{base.scheme}://{base.netloc}" if base.netloc else _FIRST_DEPLOY_ORIGIN
    return parameters


def as_cloudformation(parameters: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in sorted(parameters.items())]


# --- AWS steps ---------------------------------------------------------------------------


def artifacts_bucket_name(account: str, region: str) -> str:
    return f"{APP}-artifacts-{account}-{region}"


def ensure_bucket(s3: Any, name: str, region: str) -> bool:
    """Create the artifacts bucket if it is missing (private, encrypted); True when created."""
    try:
        s3.head_bucket(Bucket=name)
        return False
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    request: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # S3: us-east-1 is the one region without a location constraint
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**request)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    # Old code bundles are only needed to roll back; keep them a while, not forever.
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "expire-old-bundles", "Status": "Enabled", "Filter": {"Prefix": ""},
         "Expiration": {"Days": 90}}]})
    return True


def upload(s3: Any, bucket: str, region: str, stage: Stage, build_dir: Path,
           template: dict[str, Any] | None = None) -> str:
    """Upload the code bundle and the template that points at it; returns the template's URL.

    The key is the bundle's SHA-256, so an unchanged bundle is not re-uploaded and
    CloudFormation sees no code change.
    """
    if template is None:
        template = yaml.safe_load((build_dir / "sam.yaml").read_text(encoding="utf-8"))
    bundle = build_dir / "deployment.zip"
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    code_key = f"{stage.stack_name}/{digest}.zip"
    try:
        s3.head_object(Bucket=bucket, Key=code_key)
    except s3.exceptions.ClientError:
        s3.upload_file(str(bundle), bucket, code_key)
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{code_key}"
    return upload_template(s3, bucket, region, stage, template)


def upload_template(s3: Any, bucket: str, region: str, stage: Stage, template: dict[str, Any]) -> str:
    """Store the template under its own hash; CloudFormation reads it by URL."""
    body = yaml.safe_dump(template, allow_unicode=True).encode()
    template_key = f"{stage.stack_name}/{hashlib.sha256(body).hexdigest()}.yaml"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    return f"https://{bucket}.{host}/{template_key}"


def existing_stack(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack


def outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def deploy_stack(cloudformation: Any, stack_name: str, parameters: Mapping[str, str], *,
                 template_url: str | None = None, template_body: str | None = None) -> dict[str, Any]:
    """Create or update the stack and wait; returns the stack as described afterwards."""
    source = {"TemplateURL": template_url} if template_url else {"TemplateBody": template_body}
    request = {"StackName": stack_name, "Parameters": as_cloudformation(parameters),
               "Capabilities": CAPABILITIES, "Tags": [{"Key": "app", "Value": APP}], **source}
    if existing_stack(cloudformation, stack_name) is None:
        cloudformation.create_stack(**request, OnFailure="ROLLBACK")
        waiter = "stack_create_complete"
    else:
        try:
            cloudformation.update_stack(**request)
        except cloudformation.exceptions.ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
            return existing_stack(cloudformation, stack_name) or {}
        waiter = "stack_update_complete"
    _wait(cloudformation, waiter, stack_name)
    return existing_stack(cloudformation, stack_name) or {}


def _wait(cloudformation: Any, waiter: str, stack_name: str) -> None:
    from botocore.exceptions import WaiterError

    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except WaiterError as error:
        raise StackFailed(stack_name, _failure_reasons(cloudformation, stack_name)) from error


class StackFailed(Exception):
    def __init__(self, stack_name: str, reasons: list[str]) -> None:
        super().__init__(f"stack {stack_name} failed: " + ("; ".join(reasons) or "see its events"))


def _failure_reasons(cloudformation: Any, stack_name: str) -> list[str]:
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events
            if e["ResourceStatus"].endswith("_FAILED")][:5]


# --- Commands ---------------------------------------------------------------------------


def _session(region: str | None) -> Any:
    import boto3

    return boto3.session.Session(region_name=region or os.environ.get("AWS_REGION")
                                 or os.environ.get("AWS_DEFAULT_REGION"))


def check(stage_name: str, session: Any, *, out: Any = None) -> tuple[Stage, str, str]:
    """Every refusal, cheapest first; returns the stage, account and region."""
    out = out or sys.stdout
    stage = load_stage(stage_name)
    check_parameters(stage, template_parameters())
    check_config_secrets(stage)
    check_addresses(stage)
    region = session.region_name
    if not region:
        raise Refused("no region: set AWS_REGION (one where SES receives mail, e.g. us-east-1, us-west-2, eu-west-1)")
    account = session.client("sts").get_caller_identity()["Account"]
    in_use = check_stored_secrets(stage, stored_secrets(session.client("ssm"), stage))
    print(f"stage {stage.name}: account {account}, region {region}, secrets: {', '.join(in_use)}", file=out)
    return stage, account, region


LOCKED_CHALICE = PROJECT / "tools" / "locked_chalice.py"


def package(stage: Stage, build_dir: Path, region: str) -> None:
    """chalice package for the stage, merged with infra/resources.yaml (Chalice writes sam.yaml).

    Through tools/locked_chalice.py, as `make package` does: the bundle gets exactly requirements.lock.
    """
    import shutil

    shutil.rmtree(build_dir, ignore_errors=True)
    chalice = Path(sys.executable).with_name("chalice")
    if LOCKED_CHALICE.exists():
        command = [sys.executable, str(LOCKED_CHALICE)]
    else:
        command = [str(chalice)] if chalice.exists() else [sys.executable, "-m", "chalice.cli"]
    env = {**os.environ, "AWS_DEFAULT_REGION": region}  # chalice package refuses to run without one
    subprocess.run([*command, "package", "--stage", stage.name, "--merge-template",
                    str(MERGE_TEMPLATE.relative_to(PROJECT)), str(build_dir)], cwd=PROJECT, env=env, check=True)


def deploy(stage_name: str, session: Any, *, build_dir: Path | None = None, out: Any = None) -> dict[str, str]:
    out = out or sys.stdout
    stage, account, region = check(stage_name, session, out=out)
    build_dir = build_dir or PROJECT / "build" / stage.name
    package(stage, build_dir, region)
    s3, cloudformation = session.client("s3"), session.client("cloudformation")
    bucket = artifacts_bucket_name(account, region)
    if ensure_bucket(s3, bucket, region):
        print(f"created the artifacts bucket {bucket}", file=out)
    template_url = upload(s3, bucket, region, stage, build_dir)
    stack = existing_stack(cloudformation, stage.stack_name)
    endpoint = outputs(stack).get("EndpointURL") if stack else None
    parameters = stack_parameters(stage, account=account, region=region, endpoint=endpoint)
    print(f"deploying {stage.stack_name}: " + ", ".join(f"{k}={v}" for k, v in sorted(parameters.items())), file=out)
    stack = deploy_stack(cloudformation, stage.stack_name, parameters, template_url=template_url)
    # The first deploy: now the API's URL exists, point PUBLIC_BASE_URL (and the bucket's CORS) at it.
    settled = stack_parameters(stage, account=account, region=region, endpoint=outputs(stack).get("EndpointURL"))
    if settled != parameters:
        print(f"setting PublicBaseUrl={settled['PublicBaseUrl']}, ConsoleOrigins={settled['ConsoleOrigins']}",
              file=out)
        stack = deploy_stack(cloudformation, stage.stack_name, settled, template_url=template_url)
    result = outputs(stack)
    print(f"{stage.stack_name} is up: {result.get('EndpointURL', '')}", file=out)
    print(f"next: aws ses set-active-receipt-rule-set --rule-set-name {result.get('InboundReceiptRuleSetName')}"
          " (once per region), and confirm the alarm subscription mailed to "
          f"{stage.parameters['AlarmEmail']}", file=out)
    return result


def destroy(stage_name: str, session: Any, *, yes: bool = False, out: Any = None,
            answer: Any = input) -> bool:
    out = out or sys.stdout
    stage = load_stage(stage_name)
    cloudformation = session.client("cloudformation")
    stack = existing_stack(cloudformation, stage.stack_name)
    if stack is None:
        print(f"no stack {stage.stack_name} in {session.region_name}: nothing to destroy", file=out)
        return False
    if not yes and answer(f"Delete the stack {stage.stack_name}? Type its name to confirm: ") != stage.stack_name:
        raise Refused("not confirmed: nothing deleted")
    kept = [r for r in cloudformation.list_stack_resources(StackName=stage.stack_name)["StackResourceSummaries"]
            if r["LogicalResourceId"] in _retained_ids()]
    # SES will not delete the active rule set: deactivate it when it is this stage's (one per region).
    ses = session.client("ses")
    active = ses.describe_active_receipt_rule_set().get("Metadata", {}).get("Name")
    if active == f"{APP}-{stage.name}-inbound":
        ses.set_active_receipt_rule_set()  # no name: no active rule set, so no mail is received here
        print(f"deactivated the receipt rule set {active}: this region receives no mail now", file=out)
    cloudformation.delete_stack(StackName=stage.stack_name)
    _wait(cloudformation, "stack_delete_complete", stage.stack_name)
    print(f"deleted {stage.stack_name}. Kept (DeletionPolicy: Retain, your data): "
          + ", ".join(sorted(r["PhysicalResourceId"] for r in kept)), file=out)
    return True


def _retained_ids() -> set[str]:
    return {logical_id for logical_id, resource in load_template(MERGE_TEMPLATE)["Resources"].items()
            if resource.get("DeletionPolicy") == "Retain"}


_TABLES = ("tickets", "messages", "customers", "lookups", "agents", "audit", "macros", "aggregates", "kb")


def admin_environment(stage: Stage, *, account: str, region: str) -> dict[str, str]:
    """What the admin CLI (python -m chalicelib.admin) needs to work on a deployed stage: its names."""
    prefix = f"{APP}-{stage.name}"
    names = {f"{table.upper()}_TABLE": f"{prefix}-{table}" for table in _TABLES}
    return {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **names,
            "MAIL_BUCKET": f"{prefix}-mail-{account}-{region}",
            "INBOUND_QUEUE": f"{prefix}-inbound.fifo", "INBOUND_DLQ": f"{prefix}-inbound-dlq.fifo",
            "OUTBOUND_QUEUE": f"{prefix}-outbound.fifo", "OUTBOUND_DLQ": f"{prefix}-outbound-dlq.fifo",
            "SES_CONFIGURATION_SET": prefix, "SECRETS_SSM_PREFIX": stage.ssm_prefix,
            "POWERTOOLS_METRICS_NAMESPACE": f"RelayDesk/{stage.name}"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/deploy.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "deploy", "destroy", "env"],
                        help="env: print the export line that points the admin CLI at the stage")
    parser.add_argument("stage", help="a stage in .chalice/config.json with infra/stages/<stage>.yaml")
    parser.add_argument("--region", help="default: AWS_REGION, else AWS_DEFAULT_REGION")
    parser.add_argument("--yes", action="store_true", help="destroy without asking")
    args = parser.parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        session = _session(args.region)
        if args.command == "check":
            check(args.stage, session)
        elif args.command == "env":
            stage = load_stage(args.stage)
            account = session.client("sts").get_caller_identity()["Account"]
            variables = admin_environment(stage, account=account, region=session.region_name or "us-east-1")
            print("export " + " ".join(f"{k}={v}" for k, v in variables.items()))
        elif args.command == "deploy":
            deploy(args.stage, session)
        else:
            destroy(args.stage, session, yes=args.yes)
    except Refused as refusal:
        print(f"deploy refused: {refusal}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print("no AWS credentials found: run `aws configure` (or set AWS_PROFILE) first", file=sys.stderr)
        return 2
    except (StackFailed, ClientError, BotoCoreError, subprocess.CalledProcessError) as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
