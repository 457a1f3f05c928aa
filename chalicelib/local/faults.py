"""Faults at the botocore layer, for proving "nothing lost, nothing duplicated" (issue 16; ``make proof``).

``FaultInjector`` hooks every botocore client (boto3's and PynamoDB's, made before or after it is
installed) and makes a chosen share of the app's AWS calls fail with the errors AWS really returns:

* **below botocore's retries** (``before-send`` answers with the error response, so botocore's own
  retry policy sees it, backs off and tries again, as it would against AWS): throttling,
  ``ProvisionedThroughputExceededException``, 500 and 503;
* **above botocore's retries** (``before-call`` raises what the caller would get once retries are
  exhausted): the same errors, ``TransactionCanceledException`` with ``TransactionConflict``, and a
  read timeout *after* the request was applied (``after-call`` raises), the fault that makes a
  caller believe a write or a send failed although it happened.

``TransactionCanceledException`` with ``ConditionalCheckFailed`` is not injected: DynamoDB returns it
only when a condition really failed, and moto's conditions produce those for real.

``crash_rate`` / ``crash_after`` make the function itself die (``FunctionCrashed``, a
``BaseException`` so no ``except Exception`` in the app can swallow it) right after one of its AWS
calls succeeded: the Lambda runtime's view of a timeout or an out-of-memory kill. ``LocalDesk``
treats it as a failed invocation, so SQS delivers the batch again.

Only the app's own calls are faulted (a ``chalicelib`` frame outside ``chalicelib/local`` on the
stack): the harness's reads and the event source mapping (receive, delete) are AWS's, not ours.
Randomness comes from one seeded ``random.Random``: a run is repeatable.
"""
from __future__ import annotations

import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.local.client_hooks import hook_every_client

__all__ = ["ABOVE", "BELOW", "FaultInjector", "FunctionCrashed"]

_CRASH_WITHIN = 12  # a crashing invocation dies after one of its first 12 successful calls
_PACKAGE = str(Path(__file__).resolve().parents[1])  # .../chalicelib
_LOCAL = str(Path(__file__).resolve().parent)  # .../chalicelib/local


class FunctionCrashed(BaseException):
    """The function died (timeout, out of memory) after an AWS call had taken effect."""


@dataclass(frozen=True)
class _Error:
    code: str
    status: int
    message: str
    services: tuple[str, ...]  # where AWS returns it
    protocol_type: str = ""  # DynamoDB's JSON "__type" prefix


_DYNAMO = "com.amazonaws.dynamodb.v20120810#"
#: Errors AWS returns under load or failure, by the services that return them.
BELOW: tuple[_Error, ...] = (
    _Error("ThrottlingException", 400, "Rate of requests exceeds the allowed throughput.", ("dynamodb",),
           "com.amazon.coral.availability#"),
    _Error("ProvisionedThroughputExceededException", 400, "The level of configured provisioned throughput for the "
           "table was exceeded.", ("dynamodb",), _DYNAMO),
    _Error("InternalServerError", 500, "Internal server error", ("dynamodb",), _DYNAMO),
    _Error("ServiceUnavailable", 503, "Service Unavailable", ("s3", "sqs", "ses")),
    _Error("SlowDown", 503, "Please reduce your request rate.", ("s3",)),
    _Error("Throttling", 400, "Maximum sending rate exceeded.", ("ses",)),
    _Error("RequestThrottled", 400, "Request is throttled.", ("sqs",)),
)
ABOVE: tuple[_Error, ...] = BELOW + (
    _Error("TransactionCanceledException", 400, "Transaction cancelled, please refer cancellation reasons for "
           "specific reasons [TransactionConflict]", ("dynamodb",), _DYNAMO),
)


@dataclass
class FaultInjector:
    """``rate``: share of the app's calls that fail; ``above``: share of those failing above the retries
    (the rest fail below them, once per attempt); ``applied_timeout``: share of the above-retries faults that
    are a read timeout after the call took effect; ``crash_rate``: share of invocations that die, after a
    random one of their first ``_CRASH_WITHIN`` successful calls (a Lambda timeout or out-of-memory kill is an
    event of the invocation, not of each call); ``crash_after``: {function name: N} dies once, after its N-th
    call."""

    rate: float = 0.0
    seed: int = 0
    above: float = 0.5
    applied_timeout: float = 0.2
    crash_rate: float = 0.0
    crash_after: dict[str, int] = field(default_factory=dict)
    services: tuple[str, ...] = ("dynamodb", "s3", "ses", "sesv2", "sqs")
    injected: Counter = field(default_factory=Counter)  # "<where>:<service>.<operation>:<code>" -> count
    crashes: Counter = field(default_factory=Counter)  # function name -> crashes
    _random: random.Random = field(init=False, repr=False)
    _function: str | None = field(default=None, init=False)
    _calls: int = field(default=0, init=False)
    _original: Any = field(default=None, init=False, repr=False)  # stops hooking new clients (client_hooks)
    _paused: int = field(default=0, init=False)
    _timeout_next: str | None = field(default=None, init=False)
    _crash_at: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    # --- installing -----------------------------------------------------------------------------
    def install(self) -> "FaultInjector":
        """Hook every botocore client, those already made and those made from now on."""
        if self._original is None:
            self._original = hook_every_client(self._register)
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            self._original()  # stop hooking new clients
            self._original = None
        self.rate = self.crash_rate = 0.0
        self.crash_after = {}

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No faults in here (the harness checking its invariants)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    @contextmanager
    def invocation(self, function_name: str) -> Iterator[None]:
        """One function invocation: ``crash_after`` counts its calls from here."""
        previous = (self._function, self._calls, self._crash_at)
        self._function, self._calls = function_name, 0
        self._crash_at = self._random.randint(1, _CRASH_WITHIN) if self.crash_rate and \
            self._random.random() < self.crash_rate else None
        try:
            yield
        finally:
            self._function, self._calls, self._crash_at = previous

    def wrap(self, invoke: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
        """``LocalDesk.invoke`` with each invocation marked (``desk.invoke = injector.wrap(desk.invoke)``)."""
        def invoking(function_name: str, event: Any) -> Any:
            with self.invocation(function_name):
                return invoke(function_name, event)
        return invoking

    def _register(self, client: Any) -> None:
        events = client.meta.events
        tag = f"relay-desk.faults.{id(self)}"
        events.register_first("before-send", self._before_send, unique_id=f"{tag}.send")
        events.register_first("before-call", self._before_call, unique_id=f"{tag}.call")
        events.register_last("after-call", self._after_call, unique_id=f"{tag}.after")

    # --- the hooks ------------------------------------------------------------------------------
    def _eligible(self, model: Any) -> bool:
        if self._paused or model is None or model.service_model.service_name not in self.services:
            return False
        return _called_by_app()

    def _pick(self, errors: tuple[_Error, ...], service: str) -> _Error:
        return self._random.choice([error for error in errors if service in error.services])

    def _before_call(self, model: Any = None, context: Any = None, **_: Any) -> None:
        """Above the retries: the caller gets the error botocore would raise once retries are exhausted."""
        if not self.rate or not self._eligible(model):
            return
        if context is not None:  # the request's attempts (before-send) may fail below the retries
            context["relay_desk_fault"] = (model.service_model.service_name, model.name)
        if self._random.random() >= self.rate * self.above:
            return
        service = model.service_model.service_name
        if self._random.random() < self.applied_timeout:
            return self._mark_timeout(model)
        error = self._pick(ABOVE, "ses" if service == "sesv2" else service)
        if error.code == "TransactionCanceledException" and model.name != "TransactWriteItems":
            error = self._pick(BELOW, service)
        self.injected[f"above:{service}.{model.name}:{error.code}"] += 1
        from botocore.exceptions import ClientError

        body: dict[str, Any] = {"Error": {"Code": error.code, "Message": error.message},
                                "ResponseMetadata": {"HTTPStatusCode": error.status}}
        if error.code == "TransactionCanceledException":
            body["CancellationReasons"] = [{"Code": "TransactionConflict",
                                            "Message": "Transaction is ongoing for the item"}]
        raise ClientError(body, model.name)

    def _mark_timeout(self, model: Any) -> None:
        self._timeout_next = f"{model.service_model.service_name}.{model.name}"

    def _before_send(self, request: Any = None, **_: Any) -> Any:
        """Below the retries: an error response botocore's retry policy handles (each attempt rolls again).

        The request's URL is pointed nowhere first, so moto's own ``before-send`` handler (in-process
        mode) does not apply it: a throttled request did nothing, as on AWS."""
        marked = (getattr(request, "context", None) or {}).get("relay_desk_fault")
        if not self.rate or marked is None or self._paused:
            return None
        if self._random.random() >= self.rate * (1 - self.above):
            return None
        service, operation = marked
        error = self._pick(BELOW, "ses" if service == "sesv2" else service)
        self.injected[f"below:{service}.{operation}:{error.code}"] += 1
        response = _response(request, error, service)
        request.url = "https://fault-injected.invalid/"
        return response

    def _after_call(self, model: Any = None, http_response: Any = None, **_: Any) -> None:
        """After a call took effect: the read timeout of an applied call, or the function dying."""
        if model is None or self._paused or not _called_by_app():
            return
        name = f"{model.service_model.service_name}.{model.name}"
        if getattr(self, "_timeout_next", None) == name:
            self._timeout_next = None
            if getattr(http_response, "status_code", 200) < 300:
                self.injected[f"applied-timeout:{name}:ReadTimeout"] += 1
                from botocore.exceptions import ReadTimeoutError

                raise ReadTimeoutError(endpoint_url=f"https://{model.service_model.endpoint_prefix}.amazonaws.com")
        if getattr(http_response, "status_code", 200) >= 300 or self._function is None:
            return
        self._calls += 1
        limit = self.crash_after.get(self._function)
        if (limit is not None and self._calls == limit) or self._calls == self._crash_at:
            if limit is not None and self._calls == limit:
                del self.crash_after[self._function]  # once: the redelivery runs to the end
            self._crash_at = None
            self.crashes[self._function] += 1
            raise FunctionCrashed(f"{self._function} died after {name} (call {self._calls})")

    def summary(self) -> dict[str, int]:
        """Faults injected by kind ("below", "above", "applied-timeout") and crashes."""
        kinds: Counter = Counter()
        for key, count in self.injected.items():
            kinds[key.split(":", 1)[0]] += count
        kinds["crashes"] = sum(self.crashes.values())
        return dict(kinds)


def _called_by_app() -> bool:
    """Is a chalicelib frame (outside chalicelib/local: the harness) on the stack?"""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_PACKAGE) and not filename.startswith(_LOCAL):
            return True
        frame = frame.f_back
    return False


def _response(request: Any, error: _Error, service: str) -> Any:
    """An HTTP error response in the service's own protocol, for botocore to parse and retry."""
    from botocore.awsrequest import AWSResponse

    if service == "dynamodb":
        body = json.dumps({"__type": error.protocol_type + error.code, "message": error.message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": error.code}
    elif service == "sqs" and "json" in str(request.headers.get("Content-Type") or ""):
        body = json.dumps({"__type": error.code, "message": error.message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{error.code};Sender"}
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{error.code}</Code>"
                f"<Message>{error.message}</Message></Error></ErrorResponse>").encode()
        if service == "s3":
            body = f"<Error><Code>{error.code}</Code><Message>{error.message}</Message></Error>".encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(request.url, error.status, headers, _Raw(body))


class _Raw:
    """The raw body botocore streams from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        body, self._body = self._body, b""
        return body
