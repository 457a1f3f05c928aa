"""Powertools Logger and EMF metrics, shared by every function.

The Logger is created once per process and attached to every Chalice function
as middleware in ``app.py``; the correlation id is set per message by the code
that knows it. Metrics are emitted one document at a time with
``single_metric`` because one SQS batch mixes channels and priorities, which
are dimensions.

No Powertools Tracer: it imports the X-Ray SDK and botocore at start-up
(~0.4 s measured here), doubling every cold start. Lambda's own active tracing
(``"xray": true`` in .chalice/config.json) records each invocation instead.
"""
from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "relay-desk"))

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
