"""Powertools Logger and EMF metrics, shared by every function.

The Logger is created once per process and attached to every Chalice function
as middleware in ``app.py``; the correlation id is set per message by the code
that knows it. Metrics are emitted one document at a time with
``single_metric`` because one SQS batch mixes channels and priorities, which
are dimensions.

No Powertools Tracer: it imports the X-Ray SDK and botocore at start-up
(~0.4 s measured here), doubling every cold start. Lambda's own active tracing
(``"xray": true`` in .chalice/config.json) records each invocation instead.

The Logger writes to whatever ``sys.stdout`` is when a line is logged
(``_CurrentStdout``), not to the stream that was current at import. Both
Powertools and Chalice name their ``logging`` logger after the service,
``relay-desk``, and ``Chalice()`` configures that logger, level ERROR
included, unless it already has a handler writing to the current
``sys.stdout`` (``Chalice._configure_logging`` / ``_already_configured`` in
chalice/app.py). In Lambda stdout never changes, so Chalice leaves the logger
alone; in LocalDesk the app is loaded inside an invocation whose stdout is
redirected, and Chalice used to take it over: INFO and WARNING lines vanished
from local runs. A handler on the current stdout always counts as configured,
so local runs log what Lambda logs, into the invocation's own output.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from aws_lambda_powertools import Logger


class _CurrentStdout(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler on ``sys.stdout`` as it is now: the pattern of the standard library's own
    ``logging.lastResort`` (``logging._StderrHandler``), for stdout."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stdout


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "relay-desk"), logger_handler=_CurrentStdout())

__all__ = ["count", "duration", "logger"]


def count(name: str, *, channel: str, value: float = 1, **dimensions: str) -> None:
    """One EMF metric with its own dimensions, flushed at once.

    A batch mixes channels, so per-metric dimensions need ``single_metric``
    rather than the function-wide ``metrics`` object.
    """
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RelayDesk")
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=namespace) as metric:
        metric.add_dimension(name="channel", value=channel)
        for key, dimension_value in dimensions.items():
            metric.add_dimension(name=key, value=dimension_value)


def duration(name: str, seconds: float, *, channel: str, **dimensions: str) -> None:
    """One EMF timing in seconds (response, resolution, handle time), with its own dimensions."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RelayDesk")
    with single_metric(name=name, unit=MetricUnit.Seconds, value=round(seconds, 3), namespace=namespace) as metric:
        metric.add_dimension(name="channel", value=channel)
        for key, dimension_value in dimensions.items():
            metric.add_dimension(name=key, value=dimension_value)
