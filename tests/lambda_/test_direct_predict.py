"""The Lambda entry's direct path for predict events (router.api.lambda_predict) answers
exactly what Mangum and the app answer for the same event: status, headers and bytes, for
answers and for every kind of refusal; and leaves every other event to Mangum."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

from router.api import lambda_predict
from router.api import models as models_api
from router.api.gateway_events import check_event
from tests.events import http_api_event, load_event
from tests.log_lines import (
    assert_the_secret_is_only_in_the_log,
    comparable_prediction_lines,
    fail_with_a_secret,
)
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    from scripts.lambda_inputs import LambdaContext

MAX_BODY_BYTES = 4096
ROW = [0.5, -1.0, 2.0, 0.25]
FEATURES = ["a", "b", "c", "d"]
OBJECT_ROW = dict(zip(FEATURES, ROW, strict=True))


def _body(document: object) -> str:
    return json.dumps(document)


def _event(path: str, body: str | None, **headers: str | None) -> dict[str, Any]:
    named = {key.replace("_", "-"): value for key, value in headers.items()}
    return http_api_event("POST", path, body, named)


def _with_content_length(event: dict[str, Any], value: str) -> dict[str, Any]:
    event["headers"]["content-length"] = value
    return event


def _mixed_case_headers(event: dict[str, Any]) -> dict[str, Any]:
    event["headers"] = {name.title(): value for name, value in event["headers"].items()}
    return event


def _base64(event: dict[str, Any]) -> dict[str, Any]:
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    return event


PREDICT = "/models/m/predict"
ONE_ROW = _body({"instances": [ROW]})
# Every way a predict event can go, right or wrong, as a client or API Gateway sends it.
CORPUS: dict[str, dict[str, Any]] = {
    "one row": _event(PREDICT, ONE_ROW),
    "rows as objects": _event(PREDICT, _body({"instances": [OBJECT_ROW]})),
    "margin": _event(PREDICT, _body({"instances": [ROW], "output": "margin"})),
    "probabilities": _event(PREDICT, _body({"instances": [ROW], "output": "probabilities"})),
    "labels": _event(PREDICT, _body({"instances": [ROW, ROW], "output": "label"})),
    "all rounds": _event(PREDICT, _body({"instances": [ROW], "rounds": "all"})),
    "NaN and null": _event(PREDICT, '{"instances": [[NaN, null, 1.0, 2.0]]}'),
    "a regression model": _event("/models/reg/predict", ONE_ROW),
    "a percent-encoded name": _event("/models/%6D/predict", ONE_ROW),
    "a query string": {**_event(PREDICT, ONE_ROW), "rawQueryString": "debug=1"},
    "a base64 body": _base64(_event(PREDICT, ONE_ROW)),
    "header names in mixed case": _mixed_case_headers(_event(PREDICT, ONE_ROW)),
    "a type in mixed case": _mixed_case_headers(_event(PREDICT, ONE_ROW, content_type="text/csv")),
    "a charset": _event(PREDICT, ONE_ROW, content_type="application/json; charset=utf-8"),
    "no content type": _event(PREDICT, ONE_ROW, content_type=None),
    "not JSON by its type": _event(PREDICT, ONE_ROW, content_type="text/plain"),
    "declared too large": _with_content_length(_event(PREDICT, ONE_ROW), "999999"),
    # Digits str.isdigit() passes and int() refuses: they were a 500.
    "a superscript length": _with_content_length(_event(PREDICT, ONE_ROW), "\u00b2"),
    "a 5,000-digit length": _with_content_length(_event(PREDICT, ONE_ROW), "9" * 5000),
    "too large": _event(PREDICT, _body({"instances": [ROW] * 300})),
    "no body": _event(PREDICT, None),
    "not JSON": _event(PREDICT, '{"instances": [[1, 2,'),
    "Infinity": _event(PREDICT, '{"instances": [[Infinity, 1, 2, 3]]}'),
    "a key twice": _event(PREDICT, '{"instances": [[1, 2, 3, 4]], "instances": [[1]]}'),
    "an unknown field": _event(PREDICT, _body({"instances": [ROW], "outptu": "margin"})),
    "no rows": _event(PREDICT, _body({"instances": []})),
    "the wrong width": _event(PREDICT, _body({"instances": [[1.0, 2.0]]})),
    "a boolean": _event(PREDICT, _body({"instances": [[True, 1, 2, 3]]})),
    "an unknown output": _event(PREDICT, _body({"instances": [ROW], "output": "odds"})),
    "an invalid name": _event("/models/-m/predict", ONE_ROW),
    "an unknown model": _event("/models/nothing/predict", ONE_ROW),
    "a broken model": _event("/models/broken/predict", ONE_ROW),
}
# Events the direct path leaves to Mangum: other methods, routes and payload versions.
NOT_DIRECT: dict[str, Callable[[], dict[str, Any]]] = {
    "GET on the predict path": lambda: http_api_event("GET", PREDICT),
    "a trailing slash": lambda: _event(PREDICT + "/", ONE_ROW),
    "a pinned version": lambda: _event("/models/m/versions/0123456789ab/predict", ONE_ROW),
    "a stage in the path": lambda: _event("/prod" + PREDICT, ONE_ROW),
    "the Open Inference Protocol": lambda: _event("/v2/models/m/infer", "{}"),
    "a REST API event": lambda: load_event("apigw_rest_v1"),
}


@pytest.fixture
def module(import_handler: Callable[..., ModuleType], model_root: Path) -> ModuleType:
    write_model(
        model_root,
        "m",
        train_booster("binary", feature_names=FEATURES),
        metadata={"class_labels": ["no", "yes"]},
    )
    write_model(model_root, "reg", train_booster())
    write_model(model_root, "broken", b"{not a model")
    return import_handler(model_root, max_body_bytes=str(MAX_BODY_BYTES))


def _by_mangum(module: ModuleType, event: dict[str, Any], context: LambdaContext) -> Any:
    return module._adapter(check_event(event), context)


def _direct(module: ModuleType, event: dict[str, Any], context: LambdaContext) -> Any:
    return module._direct_predict(check_event(event), context)


@pytest.mark.parametrize("case", CORPUS)
def test_the_direct_path_answers_what_mangum_answers(
    module: ModuleType, context: LambdaContext, case: str
) -> None:
    event = CORPUS[case]
    by_mangum = _by_mangum(module, event, context)

    direct = _direct(module, event, context)

    assert direct == by_mangum


def test_the_corpus_covers_answers_and_every_kind_of_refusal(
    module: ModuleType, context: LambdaContext
) -> None:
    statuses = {_direct(module, event, context)["statusCode"] for event in CORPUS.values()}

    assert statuses == {200, 400, 404, 413, 415, 422, 503}


@pytest.mark.parametrize("case", NOT_DIRECT)
def test_other_events_are_left_to_mangum(
    module: ModuleType, context: LambdaContext, case: str
) -> None:
    assert _direct(module, NOT_DIRECT[case](), context) is None


def test_the_handler_answers_predict_events_directly(
    module: ModuleType, context: LambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_mangum(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        raise AssertionError("a predict event went through Mangum")

    monkeypatch.setattr(module, "_adapter", no_mangum)

    response = module.handler(CORPUS["one row"], context)

    assert response["statusCode"] == 200
    assert json.loads(response["body"])["classes"] == ["no", "yes"]


@pytest.mark.parametrize("case", ["one row", "the wrong width", "an invalid name"])
def test_the_direct_path_writes_the_apps_prediction_line(
    module: ModuleType, context: LambdaContext, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    _by_mangum(module, CORPUS["one row"], context)  # the first, cold-start line, out of the way
    capsys.readouterr()
    _by_mangum(module, CORPUS[case], context)
    by_mangum = comparable_prediction_lines(capsys.readouterr().out)

    _direct(module, CORPUS[case], context)

    assert comparable_prediction_lines(capsys.readouterr().out) == by_mangum
    assert len(by_mangum) == 1


def test_a_bug_on_the_direct_path_is_the_apps_500_problem_with_the_trace_in_the_log(
    module: ModuleType,
    context: LambdaContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(lambda_predict, "predict_now", fail_with_a_secret)
    monkeypatch.setattr(models_api, "predict_now", fail_with_a_secret)
    by_mangum = _by_mangum(module, CORPUS["one row"], context)
    caplog.clear()

    direct = _direct(module, CORPUS["one row"], context)

    assert direct == by_mangum
    assert direct["statusCode"] == 500
    assert_the_secret_is_only_in_the_log(caplog, direct["body"])
