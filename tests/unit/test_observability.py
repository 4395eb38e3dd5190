from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from fastapi.testclient import TestClient

from router.api import create_app
from router.observability import (
    EMF_MAX_VALUES_PER_METRIC,
    JSON_LOGGERS,
    LAMBDA_LEVEL_OF_UNLEVELLED_LINES,
    PREDICTION_MESSAGE,
    SERVICE,
    EmfMetricsSink,
    configure_logging,
    prediction_level,
    rfc3339,
)
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.events import http_api_event, load_event
from tests.lambda_ import conftest as lambda_fixtures
from tests.log_lines import json_lines, prediction_lines
from tests.modelkit import model_bytes, replace_file, rows, train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import ModuleType

    from scripts.lambda_inputs import LambdaContext

# The Lambda tests' fixtures: the real handler, imported afresh, and its context.
import_handler = lambda_fixtures.import_handler
context = lambda_fixtures.context


def test_emf_document_is_the_one_powertools_writes() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink("ModelRouter", write=lines.append)
    reference = Metrics(namespace="ModelRouter", service="model-router")
    for name, unit, value in [
        ("CacheHit", MetricUnit.Count, 1),
        ("PredictTime", MetricUnit.Milliseconds, 0.43),
        ("PredictTime", MetricUnit.Milliseconds, 0.51),
    ]:
        reference.add_metric(name=name, unit=unit, value=value)
        if unit == MetricUnit.Count:
            sink.count(name, int(value))
        else:
            sink.milliseconds(name, value)

    sink.flush()

    ours = json.loads(lines[0])
    expected = reference.serialize_metric_set()
    reference.clear_metrics()
    for document in (ours, expected):
        assert isinstance(document["_aws"].pop("Timestamp"), int)
    assert ours == expected
    assert lines[0].endswith("\n") and lines[0].count("\n") == 1


def test_flush_writes_nothing_when_nothing_was_recorded_and_then_resets() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink("ModelRouter", write=lines.append)

    sink.flush()
    sink.count("CacheMiss", 1)
    sink.flush()
    sink.flush()

    assert len(lines) == 1


def test_a_full_metric_is_flushed_before_cloudwatch_would_drop_it() -> None:
    lines: list[str] = []
    sink = EmfMetricsSink("ModelRouter", write=lines.append)

    for _ in range(EMF_MAX_VALUES_PER_METRIC + 1):
        sink.milliseconds("LoadTime", 1.0)
    sink.flush()

    assert [len(json.loads(line)["LoadTime"]) for line in lines] == [EMF_MAX_VALUES_PER_METRIC, 1]


# -- the prediction log line ---------------------------------------------------------------

# Lambda's log-level filter: a line's "level" (Python's names included), or INFO without one.
LAMBDA_LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4}
LAMBDA_LEVELS |= {"FATAL": 5, "CRITICAL": 5}
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def test_successes_are_sampled_and_failures_always_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="router")
    draws = iter([0.1, 0.3, 0.9])

    def draw() -> float:
        return next(draws)

    assert [prediction_level(0.25, 200, draw) for _ in range(3)] == [logging.INFO, 0, 0]
    assert prediction_level(0.0, 200, pytest.fail) == 0  # nothing drawn at 0
    assert prediction_level(1.0, 200, pytest.fail) == logging.INFO  # nor at 1
    assert prediction_level(0.0, 404, pytest.fail) == logging.WARNING
    assert prediction_level(0.0, 503, pytest.fail) == logging.ERROR


def test_router_log_level_filters_prediction_lines_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="router")

    assert prediction_level(1.0, 200) == 0
    assert prediction_level(1.0, 422) == logging.WARNING


@pytest.fixture
def api(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client


def test_one_line_per_request_tells_the_cache_miss_hit_and_reload(
    api: TestClient,
    model_root: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="router")
    path = write_model(model_root, "m", train_booster(seed=1))
    body = {"instances": rows(3).tolist(), "output": "margin"}

    for _ in range(2):
        assert api.post("/models/m/predict", json=body).status_code == 200
    replace_file(path, model_bytes(train_booster(seed=2)))
    api.post("/models/m/predict", json=body, headers={"x-request-id": "abc-123"})

    lines = prediction_lines(capsys.readouterr().out)
    assert [line["cache"] for line in lines] == ["miss", "hit", "reload"]
    assert [line["cold_start"] for line in lines] == [True, False, False]
    first, _, last = lines
    assert (first["model"], first["rows"], first["output"], first["status"]) == (
        "m",
        3,
        "margin",
        200,
    )
    assert first["version"] != last["version"] and len(last["version"]) == 12
    assert first["latency_ms"] > 0 and first["sample_rate"] == 1.0
    assert last["request_id"] == "abc-123" and "request_id" not in first
    assert all(line["level"] == "INFO" for line in lines)
    assert re.fullmatch(RFC3339_MS, first["timestamp"])


def test_a_prediction_pinned_to_a_version_gets_its_line_too(
    api: TestClient,
    model_root: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="router")
    write_model(model_root, "m", train_booster(seed=1))
    body = {"instances": rows(2).tolist()}
    version = api.post("/models/m/predict", json=body).json()["version"]

    assert api.post(f"/models/m/versions/{version}/predict", json=body).status_code == 200
    assert api.post("/models/m/versions/0123456789ab/predict", json=body).status_code == 404

    _, pinned, unknown = prediction_lines(capsys.readouterr().out)
    assert (pinned["model"], pinned["version"], pinned["rows"], pinned["status"]) == (
        "m",
        version,
        2,
        200,
    )
    assert (unknown["model"], unknown["status"], unknown["level"]) == ("m", 404, "WARNING")


def test_failed_requests_are_logged_with_their_status_even_unsampled(
    model_root: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="router")
    settings = Settings(model_root=model_root, request_log_sample=0)
    write_model(model_root, "m", train_booster())
    app = create_app(settings, ModelRegistry.from_settings(settings))

    with TestClient(app, raise_server_exceptions=False) as api:
        api.post("/models/m/predict", json={"instances": rows(1).tolist()})  # not sampled
        api.post("/models/nope/predict", json={"instances": [[1.0]]})
        api.post("/models/m/predict", json={"instances": [[1.0]]})  # wrong width
        api.post("/models/-bad-/predict", json={"instances": [[1.0]]})

    lines = prediction_lines(capsys.readouterr().out)
    assert [(line["level"], line["status"], line.get("model")) for line in lines] == [
        ("WARNING", 404, "nope"),
        ("WARNING", 422, "m"),
        ("WARNING", 400, None),  # an invalid name is not logged
    ]
    assert all(line["sample_rate"] == 1.0 and "cache" not in line for line in lines)
    assert [line["cold_start"] for line in lines] == [False, False, False]  # the first: unsampled


@pytest.fixture(autouse=True)
def fresh_json_loggers() -> Iterator[None]:
    """Undo ``configure_logging``, as a new process would: its loggers stop propagating, and
    its handler would outlive the test (and its captured stdout)."""
    yield
    for name in JSON_LOGGERS:
        configured = logging.getLogger(name)
        configured.handlers.clear()
        configured.propagate = True
        configured.setLevel(logging.NOTSET)


RFC3339_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_log_lines_are_json_with_powertools_keys_appended_keys_and_extras(
    model_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_logger = configure_logging(Settings(model_root=model_root, log_level="INFO"))
    json_logger.append_keys(request_id="req-1", cold_start=True, absent=None)

    logging.getLogger("router.registry.registry").info(
        "model %s loaded", "m", extra={"model": "m", "load_ms": 1.5, "path": model_root}
    )
    logging.getLogger("router.store").debug("below the level")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        json_logger.exception("the event could not be served")

    first, second = json_lines(capsys.readouterr().out)
    assert first == {
        "level": "INFO",
        "location": first["location"],
        "message": "model m loaded",
        "timestamp": first["timestamp"],
        "service": SERVICE,
        "name": "router.registry.registry",
        "request_id": "req-1",
        "cold_start": True,
        "model": "m",
        "load_ms": 1.5,
        "path": str(model_root),
    }
    assert first["location"].startswith(
        "test_log_lines_are_json_with_powertools_keys_appended_keys_and_extras:"
    )
    assert re.fullmatch(RFC3339_MS, first["timestamp"])
    assert (second["level"], second["name"], second["request_id"]) == ("ERROR", SERVICE, "req-1")
    assert second["exception_name"] == "ZeroDivisionError"
    assert second["exception"].startswith("Traceback") and "division by zero" in second["exception"]


def test_configuring_again_replaces_the_handler_and_nothing_reaches_the_root_logger(
    model_root: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging(Settings(model_root=model_root)).append_keys(request_id="old")
    configure_logging(Settings(model_root=model_root, log_level="WARNING"))

    logging.getLogger("router.store").info("filtered out")
    logging.getLogger("router.store").warning("once")

    assert [
        (line["message"], "request_id" in line) for line in json_lines(capsys.readouterr().out)
    ] == [("once", False)]
    # Lambda's runtime gives the root logger a handler: a propagated record prints twice.
    assert caplog.records == []


def test_on_lambda_the_line_carries_the_invocations_request_id_and_cold_start(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_model(model_root, "iris", train_booster("multiclass"))
    module = import_handler(model_root)

    module.handler(load_event("apigw_http_v2"), context)
    module.handler(load_event("apigw_http_v2"), replace(context, aws_request_id="second-id"))

    lines = prediction_lines(capsys.readouterr().out)
    assert [(line["request_id"], line["cold_start"], line["cache"]) for line in lines] == [
        (context.aws_request_id, True, "miss"),
        ("second-id", False, "hit"),
    ]
    assert {"model", "version", "rows", "output", "status", "latency_ms"} <= lines[0].keys()


def test_above_info_the_app_filters_and_lambdas_filter_at_info_keeps_every_metric(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_model(model_root, "iris", train_booster("multiclass"))
    module = import_handler(model_root, log_level="WARNING")
    body = json.dumps({"instances": [IRIS_ROW]})

    module.handler(load_event("apigw_http_v2"), context)  # a load: an INFO line, metrics
    module.handler(load_event("apigw_http_v2"), context)  # a hit: metrics
    module.handler(http_api_event("POST", "/models/nope/predict", body), context)  # none

    lines = json_lines(capsys.readouterr().out)
    metrics = [line for line in lines if "_aws" in line]
    logs = [line for line in lines if "_aws" not in line]
    assert [sorted(m) for m in metrics] == [
        ["CacheMiss", "ColdStart", "LoadTime", "ModelLoad", "PredictTime", "_aws", "service"],
        ["CacheHit", "PredictTime", "_aws", "service"],
    ]
    assert [(line["message"], line["level"], line["status"]) for line in logs] == [
        (PREDICTION_MESSAGE, "WARNING", 404)  # the success and "model loaded" are below it
    ]
    # What Terraform's filter at LAMBDA_LEVEL_OF_UNLEVELLED_LINES lets through: everything.
    floor = LAMBDA_LEVELS[LAMBDA_LEVEL_OF_UNLEVELLED_LINES]
    assert all(LAMBDA_LEVELS[line.get("level", "INFO").upper()] >= floor for line in lines)


@pytest.mark.parametrize(
    "now",
    [0.0, 1796304301.117, 1796304301.999, 1796304302.0005, 1796304302.5, 1796304301.25, -0.5],
)
def test_rfc3339_is_utc_with_milliseconds_whatever_second_came_before(now: float) -> None:
    """The second's text is kept between calls: each answer is still the time it was
    given, in the order above (back and forth across seconds)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1))
    assert rfc3339(now) == f"{whole}.{int(now * 1000) % 1000:03d}Z"
