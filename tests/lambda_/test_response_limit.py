"""An answer over Lambda's 6 MB response limit gets a 413 problem from the entry itself.

Lambda fails an invocation whose response is over the limit, and API Gateway then answers
a bare ``500 {"message":"Internal Server Error"}``, while the router's log line said 200.
The size that counts is the proxy dict as the runtime serialises it, so the tests measure
exactly that, on the requests a user sends: a multiclass model's contributions for a few
thousand rows, well within ``ROUTER_MAX_ROWS``, over each path the entry has.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tritonclient.http as httpclient
import xgboost as xgb

from router.api.lambda_limits import RESPONSE_LIMIT_BYTES, response_size
from tests.events import http_api_event, load_event
from tests.modelkit import rows, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    from scripts.lambda_inputs import LambdaContext

N_FEATURES = 60
PATH = "/models/wide/predict"


def wide_booster() -> xgb.Booster:
    """A three-class model whose trees use every feature, so that its contributions are
    numbers, not mostly zeros."""
    matrix = rows(600, N_FEATURES, seed=0)
    score = matrix[:, : N_FEATURES // 2].sum(axis=1) - matrix[:, N_FEATURES // 2 :].sum(axis=1)
    label = np.digitize(score, [-3, 3]).astype(np.float32)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(matrix, label=label), num_boost_round=20)


def contributions_body(n_rows: int) -> str:
    instances = np.round(rows(n_rows, N_FEATURES, seed=3), 2).tolist()
    return json.dumps({"instances": instances, "output": "contributions"})


def rest_event(body: str) -> dict[str, Any]:
    event = load_event("apigw_rest_v1")
    event["path"] = PATH
    event["pathParameters"] = {"name": "wide"}
    event["body"] = body
    return event


def v2_binary_event(n_rows: int) -> dict[str, Any]:
    """What tritonclient sends for a binary tensor, asking for binary contributions."""
    matrix = httpclient.InferInput("input-0", [n_rows, N_FEATURES], "FP32")
    matrix.set_data_from_numpy(rows(n_rows, N_FEATURES, seed=3), binary_data=True)
    wanted = [httpclient.InferRequestedOutput("contributions", binary_data=True)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [matrix], outputs=wanted
    )
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(json_size),
    }
    return http_api_event("POST", "/v2/models/wide/infer", body, headers, binary=True)


@pytest.fixture
def handler_module(import_handler: Callable[..., ModuleType], model_root: Path) -> ModuleType:
    write_model(model_root, "wide", wide_booster())
    return import_handler(model_root)


@pytest.mark.parametrize("api", ["http-api", "rest-api"])
def test_an_answer_over_lambdas_limit_is_a_413_problem(
    handler_module: ModuleType,
    context: LambdaContext,
    api: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = contributions_body(4000)  # 8.8 MB: 4,000 x 3 x 61 numbers, from a 1.6 MB request
    event = http_api_event("POST", PATH, body) if api == "http-api" else rest_event(body)

    response = handler_module.handler(event, context)

    assert response["statusCode"] == 413
    assert response["headers"]["content-type"] == "application/problem+json"
    problem = json.loads(response["body"])
    assert problem["type"].endswith("answer-too-large")
    assert "send fewer rows" in problem["detail"]
    assert response_size(response) < 2000
    # Whichever path answered, the logs say what the caller got.
    out = capsys.readouterr().out
    assert '"status":413' in out or "answer refused: the answer is" in out


def test_the_direct_paths_prediction_line_says_413(
    handler_module: ModuleType, context: LambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    handler_module.handler(http_api_event("POST", PATH, contributions_body(4000)), context)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (prediction,) = [line for line in lines if line.get("message") == "prediction"]
    assert prediction["status"] == 413


@pytest.mark.parametrize(("n_rows", "status"), [(4000, 200), (8000, 413)])
def test_a_binary_v2_answer_counts_as_the_base64_lambda_returns(
    handler_module: ModuleType, context: LambdaContext, n_rows: int, status: int
) -> None:
    # 8,000 rows of FP32 contributions are 5.9 MB of tensor bytes, under the limit, and
    # 7.8 MB as the base64 that the proxy response carries, over it.
    tensor_bytes = n_rows * 3 * (N_FEATURES + 1) * 4
    assert tensor_bytes < RESPONSE_LIMIT_BYTES

    response = handler_module.handler(v2_binary_event(n_rows), context)

    assert response["statusCode"] == status
    if status == 200:
        assert response["isBase64Encoded"] is True
        assert len(base64.b64decode(response["body"])) > tensor_bytes
    else:  # under /v2, the protocol's error body, which tritonclient reads
        assert "a Lambda function may return" in json.loads(response["body"])["error"]


def test_an_answer_within_the_limit_is_served_and_measured_exactly(
    handler_module: ModuleType, context: LambdaContext
) -> None:
    response = handler_module.handler(
        http_api_event("POST", PATH, contributions_body(500)), context
    )

    assert response["statusCode"] == 200
    assert RESPONSE_LIMIT_BYTES // 8 < response_size(response) <= RESPONSE_LIMIT_BYTES
    contributions = np.asarray(json.loads(response["body"])["predictions"])
    assert contributions.shape == (500, 3, N_FEATURES + 1)


def _prediction_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "prediction"]


@pytest.mark.parametrize("route", ["v2 binary", "pinned version", "REST API predict"])
def test_mangums_paths_prediction_line_says_413_too(
    handler_module: ModuleType,
    context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
    route: str,
) -> None:
    # Served through Mangum (not the direct path), the app wrote its line before the Lambda
    # entry refused the answer: the line said 200 while the caller got a 413.
    if route == "v2 binary":
        event = v2_binary_event(8000)
    elif route == "REST API predict":  # payload 1.0: Mangum, then the app's direct path
        event = rest_event(contributions_body(4000))
    else:
        live = json.loads(
            handler_module.handler(http_api_event("GET", "/models/wide"), context)["body"]
        )
        capsys.readouterr()
        path = f"/models/wide/versions/{live['version']}/predict"
        event = http_api_event("POST", path, contributions_body(4000))

    response = handler_module.handler(event, context)

    assert response["statusCode"] == 413
    (line,) = _prediction_lines(capsys.readouterr().out)
    assert line["status"] == 413
    # What the operator needs to find the request: the version that answered, its rows.
    assert line["version"] and line["rows"] == (8000 if route == "v2 binary" else 4000)
