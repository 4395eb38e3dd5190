"""The real Lambda entry point, invoked with recorded-shape API Gateway events."""

from __future__ import annotations

import gc
import json
import sys
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from tests.events import http_api_event, load_event
from tests.modelkit import rows, train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    import pytest

    from scripts.lambda_inputs import LambdaContext

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def emf_documents(output: str) -> list[dict[str, Any]]:
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def test_http_api_v2_predict_and_second_invocation_hits_the_cache(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    booster = train_booster("multiclass", trees=10)
    write_model(model_root, "iris", booster)
    module = import_handler(model_root)
    event = load_event("apigw_http_v2")  # POST /models/iris/predict, as recorded

    first = module.handler(event, context)
    second = module.handler(load_event("apigw_http_v2"), context)

    assert first["statusCode"] == 200 and second["statusCode"] == 200
    assert first["headers"]["content-type"] == "application/json"
    body = json.loads(first["body"])
    expected = booster.inplace_predict(np.asarray([IRIS_ROW], dtype=np.float32))
    np.testing.assert_array_equal(np.asarray(body["predictions"], dtype=np.float32), expected)
    assert module.registry.metrics.totals() == {"CacheMiss": 1, "ModelLoad": 1, "CacheHit": 1}
    documents = emf_documents(capsys.readouterr().out)
    assert len(documents) == 2  # one EMF document per invocation
    assert documents[0]["ColdStart"] == [1.0] and "ColdStart" not in documents[1]
    assert documents[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ModelRouter"


def test_rest_api_v1_event_is_served(
    import_handler: Callable[..., ModuleType], context: LambdaContext, model_root: Path
) -> None:
    write_model(model_root, "iris", train_booster("multiclass"))
    module = import_handler(model_root)

    response = module.handler(load_event("apigw_rest_v1"), context)

    assert response["statusCode"] == 200
    assert len(json.loads(response["body"])["predictions"][0]) == 3


def test_errors_come_back_as_problem_responses(
    import_handler: Callable[..., ModuleType], context: LambdaContext, model_root: Path
) -> None:
    module = import_handler(model_root)

    missing = module.handler(http_api_event("POST", "/models/nope/predict", "{}"), context)
    malformed = module.handler(http_api_event("POST", "/models/nope/predict", "{x"), context)
    health = module.handler(http_api_event("GET", "/health"), context)

    assert malformed["statusCode"] == 400
    assert missing["statusCode"] == 422  # the body is checked before the model is looked up
    assert missing["headers"]["content-type"] == "application/problem+json"
    assert health["statusCode"] == 200


def test_preload_happens_at_init_not_in_the_first_request(
    import_handler: Callable[..., ModuleType], context: LambdaContext, model_root: Path
) -> None:
    write_model(model_root, "a", train_booster(), layout="file")
    write_model(model_root, "b", train_booster(), layout="file")

    module = import_handler(model_root, preload="a, b", cache_max_models="4")

    assert module.registry.cache_usage()["models"] == 2
    response = module.handler(
        http_api_event("POST", "/models/a/predict", json.dumps({"instances": rows(1).tolist()})),
        context,
    )
    assert response["statusCode"] == 200
    assert module.registry.metrics.totals() == {"CacheMiss": 2, "ModelLoad": 2, "CacheHit": 1}


def test_cache_budget_derives_from_the_function_memory(
    import_handler: Callable[..., ModuleType], model_root: Path
) -> None:
    module = import_handler(model_root)

    # Half of 2048 MiB less the 144 MiB the process keeps for itself.
    assert module.settings.cache_max_bytes == (2048 - 144) // 2 * 2**20
    assert module.settings.model_root == model_root


def test_same_calls_as_the_test_client(
    import_handler: Callable[..., ModuleType], context: LambdaContext, model_root: Path
) -> None:
    booster = train_booster(feature_names=["a", "b", "c", "d"])
    write_model(model_root, "m", booster)
    module = import_handler(model_root)
    matrix = rows(2)
    objects = [dict(zip("abcd", map(float, row), strict=True)) for row in matrix]

    listing = module.handler(http_api_event("GET", "/models"), context)
    detail = module.handler(http_api_event("GET", "/models/m"), context)
    by_objects = module.handler(
        http_api_event("POST", "/models/m/predict", json.dumps({"instances": objects})), context
    )

    assert [m["name"] for m in json.loads(listing["body"])["models"]] == ["m"]
    assert json.loads(detail["body"])["feature_names"] == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(
        np.asarray(json.loads(by_objects["body"])["predictions"], dtype=np.float32),
        booster.inplace_predict(matrix),
    )


def test_a_prediction_starts_no_thread_hit_or_miss(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lambda runs one event at a time: a worker thread is pure cost there, and under Mangum
    # it was a new thread per request (a plain `def` dependency, or a load sent to the
    # thread pool). Count every thread started while requests are served.
    write_model(model_root, "m", train_booster())
    module = import_handler(model_root, reload_interval_s="0")
    started: list[str] = []
    original_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self.name)
        original_start(self)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    body = json.dumps({"instances": rows(100).tolist()})  # a batch above the inline size

    for _ in range(3):  # a miss (load), then hits that check the file (interval 0)
        response = module.handler(http_api_event("POST", "/models/m/predict", body), context)
        assert response["statusCode"] == 200

    assert started == []


def test_each_event_builds_its_scope_once(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mangum.handlers.api_gateway import HTTPGateway

    write_model(model_root, "m", train_booster())
    module = import_handler(model_root)
    builds: list[str] = []
    build_scope = HTTPGateway.scope.fget
    assert build_scope is not None

    def counting(self: HTTPGateway) -> Any:
        builds.append(self.event["rawPath"])
        return build_scope(self)

    monkeypatch.setattr(HTTPGateway, "scope", property(counting))
    # Predict events skip Mangum (tests/lambda_/test_direct_predict.py); other routes do not.
    event = http_api_event("GET", "/models/m")

    response = module.handler(event, context)

    assert response["statusCode"] == 200
    assert builds == ["/models/m"]  # Mangum's own handler builds it twice


def test_init_runs_without_the_collector_and_freezes_what_it_made(
    import_handler: Callable[..., ModuleType], model_root: Path
) -> None:
    write_model(model_root, "m", train_booster())
    gc.unfreeze()
    collections: list[str] = []

    def note(phase: str, info: dict[str, int]) -> None:
        frame = sys._getframe()
        while frame is not None:  # a collection while the entry module runs its init
            if frame.f_globals.get("__name__") == "router.lambda_handler":
                collections.append(phase)
            frame = frame.f_back

    thresholds = gc.get_threshold()
    gc.set_threshold(10)  # here most modules are imported already: collect at once if on
    gc.callbacks.append(note)
    try:
        module = import_handler(model_root, preload="m")
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*thresholds)

    assert collections == []  # no collection while init ran (and loaded a model)
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert module.registry.cached_if_fresh("m") is not None
