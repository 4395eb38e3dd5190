"""The V2 requests stock clients send, as API Gateway HTTP API events through the real Lambda
handler: binary bodies arrive base64-encoded (tritonclient sends no Content-Type) and binary
answers must leave base64-encoded."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import tritonclient.http as httpclient

from tests.events import http_api_event
from tests.v2.conftest import FEATURES, expected, publish

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    import xgboost as xgb

    from scripts.lambda_inputs import LambdaContext

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4]], dtype=np.float32)


def binary_event(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """What API Gateway makes of a body without a text Content-Type: base64."""
    return http_api_event("POST", path, body, {"content-type": None, **headers}, binary=True)


def response_bytes(response: dict[str, Any]) -> bytes:
    body: str = response["body"]
    return base64.b64decode(body) if response["isBase64Encoded"] else body.encode()


def test_binary_infer_through_the_handler(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    iris_boosters: list[xgb.Booster],
) -> None:
    published = publish(model_root, iris_boosters[0])
    module = import_handler(model_root)
    tensor = httpclient.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=True)
    requested = [httpclient.InferRequestedOutput(name) for name in ("value", "contributions")]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [tensor], outputs=requested, request_id="lambda-1"
    )
    assert json_size is not None

    response = module.handler(
        binary_event(
            "/v2/models/iris/infer", body, {"inference-header-content-length": str(json_size)}
        ),
        context,
    )

    assert response["statusCode"] == 200, response
    assert response["isBase64Encoded"] is True
    headers = response["headers"]
    result = httpclient.InferenceServerClient.parse_response_body(
        response_bytes(response), header_length=int(headers["inference-header-content-length"])
    )
    booster = published.booster
    np.testing.assert_array_equal(result.as_numpy("value"), expected(booster, ROWS))
    np.testing.assert_array_equal(
        result.as_numpy("contributions"),
        booster.predict(
            _dmatrix(ROWS),
            pred_contribs=True,
            iteration_range=(0, int(booster.attr("best_iteration") or -1) + 1),
        ),
    )
    assert result.get_response()["id"] == "lambda-1"
    assert result.get_response()["model_version"] == published.version


def test_json_infer_metadata_and_errors_through_the_handler(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    iris_boosters: list[xgb.Booster],
) -> None:
    first, second = (publish(model_root, booster) for booster in iris_boosters[:2])
    module = import_handler(model_root)
    columns = {  # one tensor per feature, as MLServer's pandas codec sends a DataFrame
        "inputs": [
            {"name": name, "shape": [2, 1], "datatype": "FP64", "data": ROWS[:, i].tolist()}
            for i, name in enumerate(FEATURES)
        ]
    }
    json_headers = {"content-type": "application/json"}

    pinned = module.handler(
        http_api_event(
            "POST",
            f"/v2/models/iris/versions/{first.version}/infer",
            json.dumps(columns),
            json_headers,
        ),
        context,
    )
    metadata = module.handler(http_api_event("GET", "/v2/models/iris"), context)
    missing = module.handler(
        http_api_event("POST", "/v2/models/nope/infer", json.dumps(columns), json_headers),
        context,
    )

    assert pinned["statusCode"] == 200 and pinned["isBase64Encoded"] is False
    (output,) = json.loads(pinned["body"])["outputs"]
    np.testing.assert_array_equal(
        np.asarray(output["data"], dtype=np.float32).reshape(output["shape"]),
        expected(first.booster, ROWS),
    )
    assert json.loads(metadata["body"])["versions"] == [second.version, first.version]
    assert missing["statusCode"] == 404
    assert missing["headers"]["content-type"] == "application/json"
    assert json.loads(missing["body"]) == {"error": "no model named 'nope' in the model store"}


def _dmatrix(rows: np.ndarray) -> Any:
    import xgboost as xgb

    return xgb.DMatrix(rows, feature_names=FEATURES)


def test_a_new_environment_serves_the_newest_working_version_of_a_broken_model(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    iris_boosters: list[xgb.Booster],
) -> None:
    working = publish(model_root, iris_boosters[0])
    live = model_root / "iris" / "model.ubj"
    temp = live.with_name(".model.ubj.tmp")
    temp.write_bytes(b"{not a model")
    temp.replace(live)  # a broken file dropped over the live one
    module = import_handler(model_root)  # what every new Lambda environment does
    request = json.dumps({"instances": ROWS.tolist()})

    response = module.handler(
        http_api_event(
            "POST", "/models/iris/predict", request, {"content-type": "application/json"}
        ),
        context,
    )

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["version"] == working.version
    np.testing.assert_array_equal(
        np.asarray(body["predictions"], dtype=np.float32), expected(working.booster, ROWS)
    )
