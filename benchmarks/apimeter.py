"""Count and time every AWS call the app makes while LocalDesk runs its functions.

Both kinds of client go through ``botocore.client.BaseClient._make_api_call``:
the boto3 clients of ``chalicelib.aws`` and the botocore client PynamoDB makes
for itself, so one wrapper there sees every call, and with moto in-process the
time inside it is the "AWS" time (serialisation, moto's backend, parsing).

Only calls made while a scope is open are recorded. ``DeskProbe`` opens one
per ``LocalDesk.invoke`` (so the harness's own S3 put of the raw mail and its
SQS receive/delete/visibility calls are left out) and one per pipeline record
(``chalicelib.pipeline.worker._handle``) so calls can be attributed to the
message that caused them.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["ApiMeter", "DeskProbe", "Invocation", "RecordRun", "Scope"]


@dataclass(eq=False)  # scopes are closed by identity: two empty scopes must not compare equal
class Scope:
    """Calls (``service.Operation`` → count) and seconds spent inside them, for one unit of work."""

    calls: Counter = field(default_factory=Counter)
    api_seconds: float = 0.0
    op_seconds: dict[str, list[float]] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class ApiMeter:
    """Wraps ``BaseClient._make_api_call``; records into every open scope."""

    def __init__(self) -> None:
        self._stack: list[Scope] = []
        self._original: Callable[..., Any] | None = None
        self._inside = False  # a call made while one is being timed (not expected with in-process moto)

    def install(self) -> "ApiMeter":
        import botocore.client

        if self._original is not None:
            return self
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            if not meter._stack or meter._inside:
                return original(client, operation_name, api_params)
            meter._inside = True
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                elapsed = time.perf_counter() - started
                meter._inside = False
                name = f"{client.meta.service_model.service_name}.{operation_name}"
                for scope in meter._stack:
                    scope.calls[name] += 1
                    scope.api_seconds += elapsed
                    scope.op_seconds.setdefault(name, []).append(elapsed)

        botocore.client.BaseClient._make_api_call = _make_api_call
        self._original = original
        return self

    def uninstall(self) -> None:
        import botocore.client

        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original
            self._original = None

    def open(self) -> Scope:
        scope = Scope()
        self._stack.append(scope)
        return scope

    def close(self, scope: Scope) -> None:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index] is scope:
                del self._stack[index]
                return


@dataclass
class Invocation:
    function: str
    records: int
    wall: float
    scope: Scope
    kind: str | None = None  # the corpus kind, for ses_inbound (one mail per invocation)
    ses_message_id: str | None = None
    error: str | None = None  # what the invocation raised, if it did
    failed_records: int = 0  # batchItemFailures it reported

    @property
    def own(self) -> float:
        return self.wall - self.scope.api_seconds


@dataclass
class RecordRun:
    """One SQS record through ``worker._handle`` (the pipeline for one message)."""

    ses_message_id: str | None
    wall: float
    scope: Scope
    failed: bool

    @property
    def own(self) -> float:
        return self.wall - self.scope.api_seconds


class DeskProbe:
    """Instruments one LocalDesk: every invocation and every pipeline record, with their AWS calls."""

    def __init__(self, desk: Any, meter: ApiMeter) -> None:
        self.desk, self.meter = desk, meter
        self.invocations: list[Invocation] = []
        self.records: list[RecordRun] = []
        self.current_kind: str | None = None
        self.per_record = False
        self._invoke = desk.invoke
        desk.invoke = self._timed_invoke  # pump() and receive_email() call self.invoke
        self._worker: Any = None
        self._handle: Callable[..., Any] | None = None
        try:
            from chalicelib.pipeline import worker
        except ImportError:
            return
        if callable(getattr(worker, "_handle", None)):
            self._worker, self._handle = worker, worker._handle
            worker._handle = self._timed_handle  # process_batch looks the global up per call
            self.per_record = True

    def close(self) -> None:
        if self._worker is not None:
            self._worker._handle = self._handle
            self._worker = None
        self.desk.invoke = self._invoke

    def __enter__(self) -> "DeskProbe":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def mark(self) -> tuple[int, int]:
        return len(self.invocations), len(self.records)

    def since(self, mark: tuple[int, int]) -> tuple[list[Invocation], list[RecordRun]]:
        return self.invocations[mark[0]:], self.records[mark[1]:]

    def _timed_invoke(self, function_name: str, event: Any) -> Any:
        records = event.get("Records", []) if isinstance(event, dict) else []
        ses_id = None
        if function_name == "ses_inbound" and records:
            ses_id = ((records[0].get("ses") or {}).get("mail") or {}).get("messageId")
        scope = self.meter.open()
        started = time.perf_counter()
        error, failures = None, 0
        try:
            payload = self._invoke(function_name, event)
            if isinstance(payload, dict):
                failures = len(payload.get("batchItemFailures") or [])
            return payload
        except BaseException as err:
            error = repr(err)[:300]
            raise
        finally:
            wall = time.perf_counter() - started
            self.meter.close(scope)
            kind = self.current_kind if function_name == "ses_inbound" else None
            self.invocations.append(Invocation(function_name, max(1, len(records)), wall, scope, kind, ses_id,
                                               error, failures))

    def _timed_handle(self, record: Any) -> Any:
        scope = self.meter.open()
        started = time.perf_counter()
        failed = True
        try:
            result = self._handle(record)  # type: ignore[misc]
            failed = False
            return result
        finally:
            wall = time.perf_counter() - started
            self.meter.close(scope)
            self.records.append(RecordRun(_ses_id(getattr(record, "body", None)), wall, scope, failed))


def _ses_id(body: Any) -> str | None:
    try:
        envelope = json.loads(body)
    except (TypeError, ValueError):
        return None
    return envelope.get("ses_message_id") if isinstance(envelope, dict) else None
