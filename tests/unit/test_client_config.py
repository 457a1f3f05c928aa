"""Every AWS client the app makes runs with chalicelib/aws.py's timeouts and standard retries, and those fit the
functions' Lambda timeouts (.chalice/config.json) — boto3's clients and PynamoDB's connection alike."""
from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib import aws

ROOT = Path(__file__).resolve().parents[2]
API_GATEWAY_TIMEOUT_SECONDS = 29  # REST API integration timeout: past it the caller gets a 504 whatever Lambda does


@pytest.fixture
def fresh_clients(monkeypatch) -> Iterator[None]:
    from chalicelib.storage import models

    aws.reset_clients()
    models.reset_connections()
    yield
    aws.reset_clients()
    models.reset_connections()


def _services_the_app_uses() -> set[str]:
    """Every service named in ``aws.client("…")`` / ``aws.presigner("…")`` in the app's code."""
    found = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        found |= set(re.findall(r"""\b(?:aws\.)?(?:client|presigner)\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    return found


def _assert_standard_config(config) -> None:
    assert config.connect_timeout == aws.CONNECT_TIMEOUT_SECONDS
    assert config.read_timeout == aws.READ_TIMEOUT_SECONDS
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] == aws.MAX_ATTEMPTS


def test_every_boto3_client_the_app_makes_has_the_timeouts_and_standard_retries(fresh_clients):
    services = _services_the_app_uses()
    assert {"sqs", "s3", "ses"} <= services, services  # the scan finds the app's clients
    for service in sorted(services):
        _assert_standard_config(aws.client(service).meta.config)
    presigned = aws.presigner("s3").meta.config
    _assert_standard_config(presigned)
    assert presigned.signature_version == "s3v4"


def test_pynamodb_shares_one_connection_with_the_same_timeouts_and_retries(fresh_clients):
    from chalicelib.storage import models

    connections = {id(model._get_connection().connection) for model in models.ALL_MODELS}
    assert len(connections) == 1
    connection = models.TicketModel._get_connection().connection
    _assert_standard_config(connection.client.meta.config)
    assert connection.client.meta.config.retries == {"mode": "standard", "total_max_attempts": aws.MAX_ATTEMPTS}
    for model in models.ALL_MODELS:
        assert (model.Meta.connect_timeout_seconds, model.Meta.read_timeout_seconds, model.Meta.max_retry_attempts) \
            == (aws.CONNECT_TIMEOUT_SECONDS, aws.READ_TIMEOUT_SECONDS, aws.MAX_ATTEMPTS - 1)


def test_no_module_makes_a_client_of_its_own():
    """One place defines the settings: clients come from aws.py (and LocalDesk's provisioning, which uses them)."""
    allowed = {ROOT / "chalicelib" / "aws.py", ROOT / "chalicelib" / "local" / "provision.py"}
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("client", "resource", "create_client") \
                    and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "aws"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# --- The values against the functions' timeouts ------------------------------------------------------


def _function_timeouts() -> dict[str, int]:
    """Each function's smallest Lambda timeout over every stage, as Chalice resolves .chalice/config.json
    (stage and function overrides), for the function names in app.py."""
    from chalice.config import Config as ChaliceConfig

    chalice = json.loads((ROOT / ".chalice" / "config.json").read_text())
    names = set(re.findall(r"""name=["']([a-z_]+)["']""", (ROOT / "app.py").read_text()))
    assert {"ses_inbound", "process_inbound", "send_outbound"} <= names
    names.add("api_handler")  # every @app.route is one function, Chalice's api_handler
    stages = list(chalice.get("stages", {})) or ["dev"]
    return {name: min(ChaliceConfig(chalice_stage=stage, function_name=name, config_from_disk=chalice,
                                    default_params={"lambda_timeout": 60}).lambda_timeout for stage in stages)
            for name in names}


def test_one_attempt_fits_inside_the_smallest_function_timeout():
    timeouts = _function_timeouts()
    smallest = min(timeouts.values())
    assert timeouts["ses_inbound"] == smallest == 10  # the config this reasoning was written for
    assert aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS < smallest
    assert aws.CONNECT_TIMEOUT_SECONDS < aws.READ_TIMEOUT_SECONDS < smallest


def test_one_call_with_all_its_retries_fits_every_other_function_and_api_gateway():
    timeouts = _function_timeouts()
    worst = aws.worst_case_call_seconds()
    assert worst == aws.MAX_ATTEMPTS * (aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS) + 1 + 2
    assert worst < API_GATEWAY_TIMEOUT_SECONDS
    assert all(worst < timeout for name, timeout in timeouts.items() if name != "ses_inbound"), timeouts


def test_botocore_defaults_would_not_have_fitted():
    """What this guards against: botocore's own defaults, read from the installed botocore."""
    from botocore.config import Config

    default = Config()
    assert default.connect_timeout + default.read_timeout > min(_function_timeouts().values())


# --- Effective behaviour: how many attempts an AWS endpoint sees -------------------------------------


@pytest.fixture
def failing_endpoint(monkeypatch) -> Iterator[list[str]]:
    """A local endpoint that answers every request with a 500 (a transient service error); records the targets."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("X-Amz-Target") or self.path)
            body = json.dumps({"__type": "InternalFailure", "message": "try again"}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    # What a machine's environment might say: the clients' own Config must win over it.
    monkeypatch.setenv("AWS_RETRY_MODE", "legacy")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_boto3_call_is_tried_max_attempts_times_then_fails(fresh_clients, failing_endpoint):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        aws.client("sqs").get_queue_url(QueueName="relay-desk-inbound.fifo")
    assert len(failing_endpoint) == aws.MAX_ATTEMPTS == 3  # not the environment's 5


def test_a_pynamodb_call_is_tried_max_attempts_times_then_fails(fresh_clients, failing_endpoint):
    from pynamodb.exceptions import GetError

    from chalicelib.storage import models

    with pytest.raises(GetError):
        models.TicketModel.get("t-1")
    assert failing_endpoint == ["DynamoDB_20120810.GetItem"] * aws.MAX_ATTEMPTS
