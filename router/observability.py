"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF), via Powertools.

Modules log through the standard ``logging`` module with ``extra={...}``; this sets the
"router" logger tree to print one JSON object a line. On Lambda, metrics recorded during an
invocation are printed as one EMF blob at its end, which CloudWatch turns into metrics
without any API call from the function.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from router.settings import Settings

SERVICE = "model-router"


def configure_logging(settings: Settings) -> Logger:
    """JSON lines for every ``router.*`` logger; returns the Powertools logger so the Lambda
    entry can add invocation keys (request id, cold start) to every line."""
    logging.getLogger("router").setLevel(settings.log_level)
    logger = Logger(service=SERVICE, level=settings.log_level)
    copy_config_to_registered_loggers(source_logger=logger, include={"router"})
    return logger


class EmfMetricsSink:
    """Buffers this invocation's metrics; ``flush`` prints them as one EMF document.

    Model names are deliberately not dimensions: each distinct dimension value is a separate
    CloudWatch metric, billed monthly, and a router may serve thousands of models.
    """

    def __init__(self, namespace: str) -> None:
        self._metrics = Metrics(namespace=namespace, service=SERVICE)
        self._pending = False

    def count(self, name: str, value: int) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        self._pending = True

    def milliseconds(self, name: str, value: float) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
        self._pending = True

    def flush(self) -> None:
        # Powertools warns when asked to flush nothing; most health checks record nothing.
        if self._pending:
            self._metrics.flush_metrics()
            self._pending = False
