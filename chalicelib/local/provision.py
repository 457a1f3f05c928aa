"""Create the desk's tables, bucket and queues from ``infra/resources.yaml``.

The offline harness must run against the same definitions the deployment uses,
so this reads the CloudFormation template Chalice merges at package time and
creates its ``AWS::DynamoDB::Table``, ``AWS::S3::Bucket`` and ``AWS::SQS::Queue``
resources wherever boto3 points now: moto in-process (``mock_aws``), moto
server or another emulator (``AWS_ENDPOINT_URL``).

Why boto3 calls and not a CloudFormation stack: moto's CloudFormation imports
every moto backend on first use (2.8 s for this template, measured with moto
5.2.5) and ignores PointInTimeRecoverySpecification and the bucket's
LifecycleConfiguration and BucketEncryption. Direct calls apply those and take
~0.05 s per fresh ``mock_aws`` (the first call in a process also pays moto's and
botocore's one-off loading, ~0.7 s, which any first AWS call would pay).
Table SSESpecification is the one setting read but not applied (see
``_create_table``).

Only what the template uses is translated; an unknown property raises
``UnsupportedTemplate`` instead of being silently dropped, so a new setting in
the template cannot make the harness drift from production unnoticed.
"""
from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from chalicelib import aws, config

__all__ = ["TEMPLATE_PATH", "UnsupportedTemplate", "load_template", "provision"]

_ClientFor = Callable[[str], Any]  # service name → boto3 client

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "resources.yaml"

# Resource types the harness creates; everything else (SES rules, bucket policy,
# Lambda permissions, overrides of Chalice's resources) only exists when deployed.
_TABLE = "AWS::DynamoDB::Table"
_BUCKET = "AWS::S3::Bucket"
_QUEUE = "AWS::SQS::Queue"


class UnsupportedTemplate(ValueError):
    """The template uses something this translator does not know how to create."""


# --- Loading -----------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub...) as long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":  # !GetAtt Queue.Arn is ["Queue", "Arn"] in long form
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(template_path: str | Path | None = None) -> dict[str, Any]:
    """The template as a dict, short-form intrinsics turned into long form."""
    path = Path(template_path) if template_path is not None else TEMPLATE_PATH
    return copy.deepcopy(_load_cached(str(path.resolve()), path.stat().st_mtime_ns))


@lru_cache(maxsize=4)
def _load_cached(path: str, _mtime_ns: int) -> dict[str, Any]:
    # Cached per file version: provision() runs at the start of many tests.
    with open(path, encoding="utf-8") as stream:
        template = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise UnsupportedTemplate(f"{path}: not a CloudFormation template (no Resources)")
    return template


# --- Intrinsics ----------------------------------------------------------------


class _Resolver:
    """Resolves the intrinsics the harness's resources may use: Ref, GetAtt …Arn, Sub, Join."""

    def __init__(self, template: Mapping[str, Any], region: str) -> None:
        self.values: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "relay-desk-local",
        }
        for name, parameter in (template.get("Parameters") or {}).items():
            if "Default" not in parameter:
                raise UnsupportedTemplate(f"parameter {name} has no Default to provision with")
            default = parameter["Default"]
            if parameter.get("Type") == "CommaDelimitedList" and isinstance(default, str):
                default = [part.strip() for part in default.split(",")]
            self.values[name] = default
        self.arns: dict[str, str] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self._lookup(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                if attribute != "Arn" or logical_id not in self.arns:
                    raise UnsupportedTemplate(f"cannot resolve Fn::GetAtt {logical_id}.{attribute} locally")
                return self.arns[logical_id]
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(part) for part in self.resolve(parts))
            if key.startswith("Fn::") or key == "Condition":
                raise UnsupportedTemplate(f"intrinsic {key} is not supported by the local harness")
        return {key: self.resolve(item) for key, item in value.items()}

    def _lookup(self, name: str) -> Any:
        if name not in self.values:
            raise UnsupportedTemplate(f"cannot resolve Ref {name} locally")
        return self.values[name]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        extra = {name: self.resolve(value) for name, value in variables.items()}
        out, rest = [], text
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            out.append(before)
            if name.startswith("!"):  # ${!Literal} escapes a literal ${Literal}
                out.append("${" + name[1:] + "}")
            elif name in extra:
                out.append(str(extra[name]))
            elif name.endswith(".Arn"):
                out.append(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
            else:
                out.append(str(self._lookup(name)))
        out.append(rest)
        return "".join(out)


# --- Creators: CloudFormation properties → API calls ---------------------------


def _check_known(logical_id: str, properties: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(properties) - known)
    if unknown:
        raise UnsupportedTemplate(f"{logical_id}: the local harness does not translate {', '.join(unknown)}")


def _tags(properties: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": tag["Key"], "Value": str(tag["Value"])} for tag in properties.get("Tags", [])]


_TABLE_PROPERTIES = {
    "TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput",
    "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "SSESpecification", "StreamSpecification",
    "PointInTimeRecoverySpecification", "TimeToLiveSpecification", "DeletionProtectionEnabled", "Tags",
}


def _create_table(client: _ClientFor, logical_id: str, properties: dict[str, Any], resolver: _Resolver) -> str:
    _check_known(logical_id, properties, _TABLE_PROPERTIES)
    dynamodb = client("dynamodb")
    name = properties["TableName"]
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes",
                "DeletionProtectionEnabled"):
        if key in properties:
            request[key] = properties[key]
    # SSESpecification is read and deliberately not applied: encryption at rest
    # changes nothing a test can observe, and moto 5.2.5 creates the aws/dynamodb
    # KMS key for it with an RSA-2048 key pair (kms/models.py Key.__init__),
    # 0.1-0.5 s on every fresh mock_aws, the largest single cost of provision().
    if "StreamSpecification" in properties:
        request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    if properties.get("Tags"):
        request["Tags"] = _tags(properties)
    try:
        description = dynamodb.create_table(**request)["TableDescription"]
    except dynamodb.exceptions.ResourceInUseException:
        description = dynamodb.describe_table(TableName=name)["Table"]  # already provisioned
    else:
        pitr = properties.get("PointInTimeRecoverySpecification") or {}
        if pitr.get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        ttl = properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
    resolver.arns[logical_id] = description["TableArn"]
    resolver.values[logical_id] = name  # Ref of a table is its name
    return name


_BUCKET_PROPERTIES = {
    "BucketName", "PublicAccessBlockConfiguration", "OwnershipControls", "BucketEncryption",
    "LifecycleConfiguration", "VersioningConfiguration", "Tags", "CorsConfiguration",
}


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """One CloudFormation lifecycle rule in the S3 API's shape (the subset the template uses)."""
    _check_known(rule.get("Id", "lifecycle rule"), rule,
                 {"Id", "Status", "Prefix", "ExpirationInDays", "AbortIncompleteMultipartUpload",
                  "NoncurrentVersionExpiration"})
    api_rule: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api_rule["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        api_rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
    return api_rule


def _cors_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """One CloudFormation CORS rule in the S3 API's shape (ExposedHeaders: ExposeHeaders, MaxAge: MaxAgeSeconds)."""
    _check_known(rule.get("Id", "CORS rule"), rule,
                 {"Id", "AllowedOrigins", "AllowedMethods", "AllowedHeaders", "ExposedHeaders", "MaxAge"})
    names = {"Id": "ID", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    return {names.get(key, key): int(value) if key == "MaxAge" else value for key, value in rule.items()}


def _encryption_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
    api_rule = {key: value for key, value in rule.items() if key != "ServerSideEncryptionByDefault"}
    if "ServerSideEncryptionByDefault" in rule:
        api_rule["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    return api_rule


def _create_bucket(client: _ClientFor, logical_id: str, properties: dict[str, Any], resolver: _Resolver) -> str:
    _check_known(logical_id, properties, _BUCKET_PROPERTIES)
    s3 = client("s3")
    name = properties["BucketName"]
    request: dict[str, Any] = {"Bucket": name}
    if s3.meta.region_name != "us-east-1":  # S3: us-east-1 is the one region without a constraint
        request["CreateBucketConfiguration"] = {"LocationConstraint": s3.meta.region_name}
    try:
        s3.create_bucket(**request)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        _remember_bucket(resolver, logical_id, name)
        return name  # already provisioned
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in properties:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=properties["OwnershipControls"])
    if "BucketEncryption" in properties:
        rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        s3.put_bucket_encryption(
            Bucket=name, ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(rule) for rule in rules]}
        )
    if "VersioningConfiguration" in properties:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
    if "LifecycleConfiguration" in properties:
        rules = [_lifecycle_rule(rule) for rule in properties["LifecycleConfiguration"]["Rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "CorsConfiguration" in properties:
        rules = [_cors_rule(rule) for rule in properties["CorsConfiguration"]["CorsRules"]]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    if properties.get("Tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(properties)})
    _remember_bucket(resolver, logical_id, name)
    return name


def _remember_bucket(resolver: _Resolver, logical_id: str, name: str) -> None:
    resolver.arns[logical_id] = f"arn:{resolver.values['AWS::Partition']}:s3:::{name}"
    resolver.values[logical_id] = name  # Ref of a bucket is its name


_QUEUE_ATTRIBUTES = {
    "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled",
    "VisibilityTimeout",
}


def _queue_attribute(value: Any) -> str:
    """SQS attributes are strings: JSON for policies, lowercase for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _create_queue(client: _ClientFor, logical_id: str, properties: dict[str, Any], resolver: _Resolver) -> str:
    _check_known(logical_id, properties, _QUEUE_ATTRIBUTES | {"QueueName", "Tags"})
    sqs = client("sqs")
    attributes = {key: _queue_attribute(value) for key, value in properties.items() if key in _QUEUE_ATTRIBUTES}
    request: dict[str, Any] = {"QueueName": properties["QueueName"], "Attributes": attributes}
    if properties.get("Tags"):
        request["tags"] = {tag["Key"]: tag["Value"] for tag in _tags(properties)}
    # CreateQueue is idempotent while the attributes match, so a second provision() is a no-op.
    url = sqs.create_queue(**request)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    resolver.arns[logical_id] = arn
    resolver.values[logical_id] = url  # Ref of a queue is its URL
    return url


_Creator = Callable[[_ClientFor, str, dict[str, Any], _Resolver], str]
_CREATORS: dict[str, _Creator] = {_TABLE: _create_table, _BUCKET: _create_bucket, _QUEUE: _create_queue}


# --- Ordering --------------------------------------------------------------------


def _references(value: Any) -> set[str]:
    """Logical ids a value points at through Ref, GetAtt or ${...} in Sub."""
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, argument in value.items():
        if key == "Ref" and isinstance(argument, str):
            found.add(argument)
        elif key == "Fn::GetAtt":
            found.add(argument[0] if isinstance(argument, list) else argument.split(".", 1)[0])
        elif key == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            found.update(part.split("}", 1)[0].split(".", 1)[0] for part in text.split("${")[1:])
            found |= _references(argument) if not isinstance(argument, str) else set()
        else:
            found |= _references(argument)
    return found


def _creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Dependencies first (e.g. the dead-letter queue before the queue that redrives into it)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        if logical_id in visiting:
            raise UnsupportedTemplate(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        resource = resources[logical_id]
        depends_on = resource.get("DependsOn", [])
        needs = _references(resource.get("Properties", {})) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        for other in sorted(needs & resources.keys()):
            visit(other)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return ordered


# --- Entry point -------------------------------------------------------------------


_client_cache: dict[tuple[Any, ...], Any] = {}


def _client(service: str, region: str) -> Any:
    """A boto3 client for the endpoint configured now, reused while that configuration holds.

    Keyed on the endpoint settings botocore reads at client creation, so pointing
    AWS_ENDPOINT_URL elsewhere (moto server, another emulator) gets a new client.
    Creating clients costs ~15 ms each; provision() runs at the start of many tests.
    """
    endpoint = tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
        )
    )
    key = (service, region, endpoint)
    cached = _client_cache.get(key)
    if cached is None:
        if any(other[2] != endpoint for other in _client_cache):
            _client_cache.clear()  # a moto server on a new port each run: keep only the current one
        cached = _client_cache[key] = _session().client(service, region_name=region,
                                                               config=aws.client_config())
    return cached


@lru_cache(maxsize=1)
def _session() -> Any:
    """One boto3 session for all of them: a session loads endpoint and service data once."""
    import boto3  # heavy; the Lambda functions never call this module

    return boto3.session.Session()


def provision(template_path: str | Path | None = None) -> dict[str, str]:
    """Create the template's tables, bucket and queues at boto3's current endpoint.

    Returns logical id → physical name (table, bucket) or queue URL. Safe to call
    again: what already exists is left as it is.
    """
    template = load_template(template_path)
    resources = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") in _CREATORS
    }
    # The app's own region rule (AWS_REGION, then AWS_DEFAULT_REGION), so the
    # resources land where chalicelib.aws's clients will look for them.
    region = config.region()

    def client(service: str) -> Any:
        return _client(service, region)

    resolver = _Resolver(template, region)
    created: dict[str, str] = {}
    for logical_id in _creation_order(resources):
        resource = resources[logical_id]
        if "Condition" in resource:
            raise UnsupportedTemplate(f"{logical_id}: conditional resources are not supported locally")
        properties = resolver.resolve(resource.get("Properties") or {})
        created[logical_id] = _CREATORS[resource["Type"]](client, logical_id, properties, resolver)
    return created
