"""Structured JSON logs, one log line per prediction request, and CloudWatch Embedded
Metric Format (EMF) metrics.

Modules log through the standard ``logging`` module with ``extra={...}``; this sets the
"router" logger tree to print one JSON object a line, with the keys Powertools' Logger
writes (level, location, message, timestamp, service, the logger's name, appended keys and
extras). The formatter is a few lines of stdlib and orjson: importing Powertools (and
jmespath with it) cost every cold start more than everything it was used for here
(docs/benchmarks.md). On Lambda, metrics recorded during an invocation are printed as one
EMF document at its end, which CloudWatch turns into metrics without any API call from the
function.

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
import traceback
import warnings
from typing import TYPE_CHECKING, Any, TextIO

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

    from router.settings import Settings

SERVICE = "model-router"
# What Lambda's log-level filter assumes of a line without a "level" (an EMF document):
# Terraform sets the function's application_log_level no higher than this.
LAMBDA_LEVEL_OF_UNLEVELLED_LINES = "INFO"
PREDICTION_MESSAGE = "prediction"
# Where Python's warnings are logged (the name logging.captureWarnings uses).
WARNINGS_LOGGER = "py.warnings"
# The loggers whose records become JSON lines: the router's modules, the Lambda entry's,
# and Python's warnings.
JSON_LOGGERS = ("router", SERVICE, WARNINGS_LOGGER)

logger = logging.getLogger(__name__)
# CloudWatch accepts at most 100 values per metric in one EMF document.
EMF_MAX_VALUES_PER_METRIC = 100
# What every LogRecord has; anything else on a record came from ``extra={...}``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def rfc3339(now: float) -> str:
    """``now`` (seconds since the epoch) as UTC RFC 3339 with milliseconds, the form of
    timestamp that Lambda's log-level filter reads."""
    second, milliseconds = divmod(int(now * 1000), 1000)
    cached_second, prefix = _last_second[0]
    if second != cached_second:
        # gmtime and strftime cost more than the rest of a prediction's log line; every line
        # of one second shares them. One tuple, so threads read a matching pair.
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second[0] = (second, prefix)
    return f"{prefix}.{milliseconds:03d}Z"


_last_second: list[tuple[int, str]] = [(-1, "")]


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: level, location, message, timestamp, service, logger
    name, the appended keys, the record's extras, and its exception if any. Keys whose value
    is None are left out, as Powertools leaves them out."""

    def __init__(self, service: str = SERVICE) -> None:
        super().__init__()
        self.service = service
        self.keys: dict[str, object] = {}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": rfc3339(record.created),
            "service": self.service,
            "name": record.name,
            **self.keys,
        }
        line.update(
            (key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES
        )
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            line["exception_name"] = record.exc_info[0].__name__
        if record.stack_info:
            line["stack_info"] = record.stack_info
        text = orjson.dumps(
            {key: value for key, value in line.items() if value is not None},
            default=str,
            option=orjson.OPT_NON_STR_KEYS,
        )
        return text.decode()


class StdoutHandler(logging.Handler):
    """Writes each formatted record as a line to ``sys.stdout``, looked up per record, as the
    prediction line and the EMF document are, so that redirected stdout is honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class JsonLogger(logging.LoggerAdapter[logging.Logger]):
    """The Lambda entry's logger, whose ``append_keys`` adds keys (request id, cold start)
    to every JSON line of the router's loggers from then on."""

    def __init__(self, logger: logging.Logger, formatter: JsonFormatter) -> None:
        super().__init__(logger)
        self.formatter = formatter

    def append_keys(self, **keys: object) -> None:
        self.formatter.keys.update(keys)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs  # a LoggerAdapter's own would replace the call's ``extra``


def configure_logging(settings: Settings) -> JsonLogger:
    """JSON lines for every ``router.*`` logger and the Lambda entry's (``SERVICE``); returns
    the latter, through which the Lambda entry adds invocation keys to every line.

    Called again, it replaces the handler it installed, keys and all. The loggers stop
    propagating: Lambda's runtime gives the root logger a handler of its own, which would
    print each record a second time. Warnings become JSON lines too (``log_warning``).
    """
    formatter = JsonFormatter()
    handler = StdoutHandler()
    handler.setFormatter(formatter)
    for name in JSON_LOGGERS:
        configured = logging.getLogger(name)
        for old in [h for h in configured.handlers if isinstance(h, StdoutHandler)]:
            configured.removeHandler(old)
        configured.addHandler(handler)
        configured.setLevel(settings.log_level)
        configured.propagate = False
    warnings.showwarning = log_warning
    return JsonLogger(logging.getLogger(SERVICE), formatter)


def log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning``: a warning as a JSON line at WARNING, not plain text on
    stderr. libxgboost's warnings come this way (a model saved by an old XGBoost, a parameter
    it ignores): XGBoost's Python package turns them into ``UserWarning``s
    (``xgboost.core._log_callback``). Unlike ``logging.captureWarnings``, setting it again is
    harmless, and the line keeps the warning's own text apart from where it was raised."""
    logging.getLogger(WARNINGS_LOGGER).warning(
        str(message).strip(),
        extra={"category": category.__name__, "warned_at": f"{filename}:{lineno}"},
    )


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
    ``logging`` and a formatter: Powertools' formatter took many times the cost of a one-row
    prediction for it (scripts/bench_router.py times the handler with the line written).
    Its ``level`` and RFC 3339 ``timestamp`` are what Lambda's log-level filter reads.
    """
    line: dict[str, object] = {
        "level": logging.getLevelName(level),
        "message": PREDICTION_MESSAGE,
        "timestamp": rfc3339(time.time()),
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
