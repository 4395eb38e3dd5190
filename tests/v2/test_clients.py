"""Stock Open Inference Protocol clients against `model-router serve`, unchanged.

tritonclient[http] is Triton's own client. The second client is the protocol working
group's generated REST client (open-inference-openapi): MLServer (whose codecs would be the
natural pick) pins FastAPI below 0.116, older than this project's, and KServe's client comes
with its model server, Kubernetes and gRPC; so the pandas-codec request is built here the
way MLServer's PandasCodec builds it (one tensor per column, shape [rows, 1], content_type
"pd") and sent through that client's types.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from open_inference.openapi.client import InferenceRequest, OpenInferenceClient
from open_inference.openapi.core.api_error import ApiError
from tritonclient.utils import InferenceServerException

from models.demo import train_demo_models
from tests.live.server import running_server
from tests.v2.conftest import CLASSES, FEATURES, expected, publish, train_iris

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.v2.conftest import Published

pytestmark = pytest.mark.slow

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]], np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Published]]]:
    """Iris published twice (so there is a version to pin), behind a real server."""
    root = tmp_path_factory.mktemp("models")
    published = [publish(root, train_iris(seed)) for seed in (11, 12)]
    with running_server(root) as base_url:
        yield base_url, published


@pytest.fixture
def open_inference(served: tuple[str, list[Published]]) -> Iterator[OpenInferenceClient]:
    with httpx.Client(timeout=10) as http:
        yield OpenInferenceClient(base_url=served[0], httpx_client=http)


@pytest.fixture
def triton(served: tuple[str, list[Published]]) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(served[0].removeprefix("http://"))
    yield client
    client.close()


def features(binary: bool, rows: np.ndarray = ROWS) -> httpclient.InferInput:
    tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    return tensor


def live(served: tuple[str, list[Published]]) -> Published:
    return served[1][-1]


def test_tritonclient_health_and_metadata(
    triton: httpclient.InferenceServerClient, served: tuple[str, list[Published]]
) -> None:
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("iris") and not triton.is_model_ready("nope")
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]

    metadata = triton.get_model_metadata("iris")

    assert metadata["name"] == "iris" and metadata["platform"] == "xgboost"
    assert metadata["versions"] == [p.version for p in reversed(served[1])]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    outputs = {output["name"]: output for output in metadata["outputs"]}
    assert outputs["value"] == {"name": "value", "datatype": "FP32", "shape": [-1, 3]}
    assert outputs["contributions"]["shape"] == [-1, 3, 5]


@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
def test_tritonclient_infer(
    triton: httpclient.InferenceServerClient,
    served: tuple[str, list[Published]],
    binary_in: bool,
    binary_out: bool,
) -> None:
    requested = [
        httpclient.InferRequestedOutput("value", binary_data=binary_out),
        httpclient.InferRequestedOutput("margin", binary_data=binary_out),
    ]

    result = triton.infer("iris", [features(binary_in)], outputs=requested, request_id="r-7")

    booster = live(served).booster
    response = result.get_response()
    assert (response["model_name"], response["model_version"]) == ("iris", live(served).version)
    assert response["id"] == "r-7"
    np.testing.assert_array_equal(result.as_numpy("value"), expected(booster, ROWS))
    np.testing.assert_array_equal(result.as_numpy("margin"), expected(booster, ROWS, "margin"))
    assert all(("data" in output) != binary_out for output in response["outputs"])


def test_tritonclient_default_outputs_are_the_prediction_in_binary(
    triton: httpclient.InferenceServerClient, served: tuple[str, list[Published]]
) -> None:
    result = triton.infer("iris", [features(binary=True)])  # tritonclient asks binary_data_output

    (output,) = result.get_response()["outputs"]
    assert output["name"] == "value" and "binary_data_size" in output["parameters"]
    np.testing.assert_array_equal(result.as_numpy("value"), expected(live(served).booster, ROWS))


def test_tritonclient_pinned_version(
    triton: httpclient.InferenceServerClient, served: tuple[str, list[Published]]
) -> None:
    first = served[1][0]

    result = triton.infer("iris", [features(binary=True)], model_version=first.version)

    assert result.get_response()["model_version"] == first.version
    np.testing.assert_array_equal(result.as_numpy("value"), expected(first.booster, ROWS))
    assert triton.is_model_ready("iris", first.version)
    assert triton.get_model_metadata("iris", first.version)["parameters"]["version"] == (
        first.version
    )


def test_tritonclient_raises_our_errors(triton: httpclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as unknown_model:
        triton.infer("nope", [features(binary=True)])
    with pytest.raises(InferenceServerException) as unknown_version:
        triton.infer("iris", [features(binary=False)], model_version="0123456789ab")
    with pytest.raises(InferenceServerException) as wrong_width:
        triton.infer("iris", [features(binary=True, rows=ROWS[:, :3])])

    assert unknown_model.value.status() == "404"
    assert unknown_model.value.message() == "no model named 'nope' in the model store"
    assert unknown_version.value.status() == "404"
    assert "has no version '0123456789ab'; its versions are" in unknown_version.value.message()
    assert wrong_width.value.status() == "422"
    assert "the model expects [rows, 4]" in wrong_width.value.message()


def pandas_codec_request(rows: np.ndarray, names: list[str]) -> InferenceRequest:
    """What MLServer's PandasCodec.encode_request sends for a DataFrame of these columns."""
    return InferenceRequest.parse_obj(
        {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {
                    "name": name,
                    "shape": [len(rows), 1],
                    "datatype": "FP64",
                    "data": rows[:, column].astype(np.float64).tolist(),
                }
                for column, name in enumerate(names)
            ],
        }
    )


def test_open_inference_client_pandas_style_request(
    open_inference: OpenInferenceClient, served: tuple[str, list[Published]]
) -> None:
    client, published = open_inference, served[1]
    # Columns in another order, and one left out: a missing value, as in object rows.
    order = [3, 0, 2]

    response = client.model_infer(
        "iris", request=pandas_codec_request(ROWS[:, order], [FEATURES[i] for i in order])
    )
    pinned = client.model_version_infer(
        "iris", published[0].version, request=pandas_codec_request(ROWS, FEATURES)
    )

    expected_rows = ROWS.copy()
    expected_rows[:, 1] = np.nan
    (output,) = response.outputs
    assert (response.model_name, response.model_version) == ("iris", published[-1].version)
    assert (output.name, output.datatype, output.shape) == ("value", "FP32", [3, 3])
    np.testing.assert_array_equal(
        np.asarray(output.data.__root__, dtype=np.float32).reshape(output.shape),
        expected(published[-1].booster, expected_rows),
    )
    np.testing.assert_array_equal(
        np.asarray(pinned.outputs[0].data.__root__, dtype=np.float32).reshape(3, 3),
        expected(published[0].booster, ROWS),
    )
    client.check_server_readiness()
    assert client.read_model_metadata("iris").platform == "xgboost"


def test_open_inference_client_sees_unknown_features_as_our_error(
    open_inference: OpenInferenceClient,
) -> None:
    with pytest.raises(ApiError) as refused:
        open_inference.model_infer(
            "iris", request=pandas_codec_request(ROWS[:, :2], ["sepal_length_cm", "petal"])
        )

    assert refused.value.status_code == 422
    assert "petal" in str(refused.value.body)


def test_tritonclient_label_and_probabilities(
    triton: httpclient.InferenceServerClient, served: tuple[str, list[Published]]
) -> None:
    requested = [
        httpclient.InferRequestedOutput("label", binary_data=True),
        httpclient.InferRequestedOutput("probabilities", binary_data=False),
    ]

    result = triton.infer("iris", [features(binary=True)], outputs=requested)

    probabilities = expected(live(served).booster, ROWS)
    labels = result.as_numpy("label")
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)
    assert [label.decode() for label in labels] == [
        CLASSES[index] for index in probabilities.argmax(axis=1)
    ]
    assert {o["name"]: o["datatype"] for o in result.get_response()["outputs"]} == {
        "label": "BYTES",
        "probabilities": "FP32",
    }


def test_tritonclient_json_data_with_missing_values(
    triton: httpclient.InferenceServerClient, served: tuple[str, list[Published]]
) -> None:
    # tritonclient writes a NaN of JSON data as NaN (Python's json.dumps): a missing value,
    # as in the native body, not a 400 for JSON that Python itself wrote.
    rows = ROWS.copy()
    rows[1, 2] = np.nan
    requested = [httpclient.InferRequestedOutput("value", binary_data=False)]

    result = triton.infer("iris", [features(binary=False, rows=rows)], outputs=requested)

    np.testing.assert_array_equal(result.as_numpy("value"), expected(live(served).booster, rows))


def test_the_readmes_tritonclient_example_runs_as_written_before_and_after_a_retrain(
    tmp_path: Path,
) -> None:
    # In README order: the demo models, this example, then the quickstart's retrain (which
    # replaces iris without a publish history), and the example again: its pinned call
    # must pin the version it was just told, not the first demo's.
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    (block,) = [
        code
        for code in re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
        if "tritonclient" in code
    ]
    train_demo_models(tmp_path)
    with running_server(tmp_path) as base_url:
        code = block.replace("127.0.0.1:8000", base_url.removeprefix("http://"))
        for seed in (None, 8):
            if seed is not None:
                before = httpx.get(f"{base_url}/models/iris").json()["version"]
                train_demo_models(tmp_path, seed=seed)
                _wait_for_a_new_version(base_url, before)
            namespace: dict[str, Any] = {}
            exec(compile(code, "README.md", "exec"), namespace)
            assert namespace["result"].as_numpy("value").shape == (1, 3)


def _wait_for_a_new_version(base_url: str, before: str) -> None:
    """Until the server answers with the retrained version (ROUTER_RELOAD_INTERVAL_S)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if httpx.get(f"{base_url}/models/iris").json()["version"] != before:
            return
        time.sleep(0.2)
    raise AssertionError("the server never loaded the retrained model")
