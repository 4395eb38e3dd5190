"""Structured JSON logs (Powertools), one log line per prediction request, and CloudWatch
Embedded Metric Format (EMF) metrics.

Modules log through the standard ``logging`` module with ``extra={...}``; this sets the
"router" logger tree to print one JSON object a line. On Lambda, metrics recorded during an
invocation are printed as one EMF document at its end, which CloudWatch turns into metrics
without any API call from the function.

Levels are filtered here, by ``ROUTER_LOG_LEVEL``, and never by Lambda: Lambda's own filter
gives a line without a ``level`` the level INFO, so a filter above INFO would drop every EMF
document. Terraform keeps Lambda's filter at INFO; EMF documents bypass ``logging`` (they
are written to stdout directly), so no ``ROUTER_LOG_LEVEL`` can drop them either.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from typing import TYPE_CHECKING

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.settings import Settings

SERVICE = "model-router"
# What Lambda's log-level filter assumes of a line without a "level" (an EMF document):
# Terraform sets the function's application_log_level no higher than this.
LAMBDA_LEVEL_OF_UNLEVELLED_LINES = "INFO"
PREDICTION_MESSAGE = "prediction"

logger = logging.getLogger(__name__)
# CloudWatch accepts at most 100 values per metric in one EMF document.
EMF_MAX_VALUES_PER_METRIC = 100


def configure_logging(settings: Settings) -> Logger:
    """JSON lines for every ``router.*`` logger; returns the Powertools logger so the Lambda
    entry can add invocation keys (request id, cold start) to every line."""
    logging.getLogger("router").setLevel(settings.log_level)
    logger = Logger(service=SERVICE, level=settings.log_level)
    copy_config_to_registered_loggers(source_logger=logger, include={"router"})
    return logger


def prediction_level(sample: float, status: int, draw: Callable[[], float] = random.random) -> int:
    """The level of a prediction request's log line, or 0: not logged.

    Successful requests are logged at INFO, a ``sample`` fraction of them (0..1, drawn per
    request); failed ones always, at WARNING (4xx) or ERROR (5xx). Nothing below
    ``ROUTER_LOG_LEVEL`` is logged. Called first, so that a request whose line is not
    written costs a comparison or two and a random draw, nothing more.
    """
    if status < 400:
        if sample < 1.0 and (sample <= 0.0 or draw() >= sample):
            return 0
        level = logging.INFO
    else:
        level = logging.WARNING if status < 500 else logging.ERROR
    return level if logger.isEnabledFor(level) else 0


def log_prediction(
    level: int,
    sample: float,
    *,
    model: str | None,
    version: str | None,
    rows: int | None,
    output: str | None,
    status: int,
    latency_ms: float,
    cache: str | None,
    cold_start: bool,
    request_id: str | None = None,
    write: Callable[[str], object] | None = None,
) -> None:
    """One JSON line, message ``prediction``, about one ``POST /models/{name}/predict``,
    at the level ``prediction_level`` gave; fields that are ``None`` are left out.

    ``sample_rate`` is the chance a line like it had to be written (failures: 1), so that
    ``sum(1 / sample_rate)`` estimates request counts from sampled lines. The line is built
    with orjson and written to stdout directly, as the EMF document is, rather than through
    Powertools' formatter, which took many times the cost of a one-row prediction for it
    (scripts/bench_router.py times the handler with the line written). Its ``level`` and
    RFC 3339 ``timestamp`` are what Lambda's log-level filter reads.
    """
    now = time.time()
    line: dict[str, object] = {
        "level": logging.getLevelName(level),
        "message": PREDICTION_MESSAGE,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now * 1000) % 1000:03d}Z",
        "service": SERVICE,
        "model": model,
        "version": version,
        "rows": rows,
        "output": output,
        "status": status,
        "latency_ms": round(latency_ms, 3),
        "cache": cache,
        "cold_start": cold_start,
        "request_id": request_id,
        "sample_rate": sample if status < 400 else 1.0,
    }
    text = orjson.dumps({key: value for key, value in line.items() if value is not None})
    (write or sys.stdout.write)(text.decode() + "\n")


class EmfMetricsSink:
    """Buffers this invocation's metrics; ``flush`` prints them as one EMF document.

    The document is the one Powertools' ``Metrics`` writes (a test compares the two), built
    here with orjson: Powertools' own serialisation cost a sizeable share of a one-row
    prediction on every invocation (scripts/bench_router.py).

    Model names are deliberately not dimensions: each distinct dimension value is a separate
    CloudWatch metric, billed monthly, and a router may serve thousands of models.
    """

    def __init__(
        self, namespace: str, service: str = SERVICE, write: Callable[[str], object] | None = None
    ) -> None:
        self.namespace = namespace
        self.service = service
        self._write = write
        self._values: dict[str, list[float]] = {}
        self._units: dict[str, str] = {}

    def count(self, name: str, value: int) -> None:
        self._record(name, "Count", value)

    def milliseconds(self, name: str, value: float) -> None:
        self._record(name, "Milliseconds", value)

    def _record(self, name: str, unit: str, value: float) -> None:
        values = self._values.setdefault(name, [])
        values.append(float(value))
        self._units[name] = unit
        if len(values) == EMF_MAX_VALUES_PER_METRIC:
            self.flush()

    def flush(self) -> None:
        """Print the buffered metrics, if any (most health checks record none)."""
        if not self._values:
            return
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["service"]],
                        "Metrics": [
                            {"Name": name, "Unit": self._units[name]} for name in self._values
                        ],
                    }
                ],
            },
            "service": self.service,
            **self._values,
        }
        self._values = {}
        self._units = {}
        line = orjson.dumps(document).decode()
        # Looked up per flush, not bound at init, so that redirected stdout is honoured.
        (self._write or sys.stdout.write)(line + "\n")
