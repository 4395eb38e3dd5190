"""A LabelEncoder fitted on whole numbers (classes 3, 5, 7; or 0.0, 1.0, 2.0 from a float
target) gives ``class_labels`` that are numbers, and the API answers them as the numbers
``encoder.inverse_transform(classifier.predict(X))`` gives: ``answer == 3`` holds, as in the
notebook. They were served as text ("3"), which compares unequal to 3 without an error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import tritonclient.http as httpclient
import xgboost as xgb
from fastapi.testclient import TestClient
from sklearn.preprocessing import LabelEncoder

from router.api import create_app
from router.errors import InvalidModelFile
from router.publish.validate import validate_model
from router.settings import Settings
from tests.modelkit import model_bytes, train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from router.registry.registry import ModelRegistry

FEATURES = ["a", "b", "c", "d"]


def train(raw_classes: np.ndarray, features: np.ndarray) -> tuple[xgb.XGBClassifier, Any]:
    encoder = LabelEncoder().fit(raw_classes)
    classifier = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1)
    classifier.fit(features, encoder.transform(raw_classes))
    return classifier, encoder


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    return features, np.digitize(features[:, 0], [-0.5, 0.5])


@pytest.fixture
def settings(model_root: Path) -> Settings:
    return Settings(model_root=model_root, reload_interval_s=0)


@pytest.fixture
def client(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry)) as client:
        yield client


def publish(model_root: Path, name: str, classifier: xgb.XGBClassifier, encoder: Any) -> None:
    """As the data scientist saves it: the encoder's classes_ beside the model."""
    metadata = json.dumps({"class_labels": encoder.classes_.tolist()}).encode()
    booster = classifier.get_booster()
    booster.feature_names = FEATURES
    published = validate_model(bytes(booster.save_raw("ubj")), metadata=metadata)
    write_model(model_root, name, published.data, layout="file")


@pytest.mark.parametrize(
    "classes", [np.array([3, 5, 7]), np.array([0.0, 1.0, 2.0])], ids=["ints", "whole floats"]
)
def test_labels_answer_as_the_encoders_numbers(
    client: TestClient,
    model_root: Path,
    data: tuple[np.ndarray, np.ndarray],
    classes: np.ndarray,
) -> None:
    features, codes = data
    classifier, encoder = train(classes[codes], features)
    publish(model_root, "m", classifier, encoder)
    rows = features[:20].tolist()

    answer = client.post("/models/m/predict", json={"instances": rows, "output": "label"}).json()

    expected = encoder.inverse_transform(classifier.predict(features[:20])).tolist()
    assert answer["predictions"] == expected
    assert all(type(label) is int for label in answer["predictions"])
    assert answer["classes"] == [int(c) for c in classes]
    assert client.get("/models/m").json()["class_labels"] == [int(c) for c in classes]


@pytest.mark.parametrize("binary", [False, True], ids=["JSON", "binary"])
def test_the_v2_label_tensor_is_int64(
    client: TestClient, model_root: Path, data: tuple[np.ndarray, np.ndarray], binary: bool
) -> None:
    features, codes = data
    classifier, encoder = train(np.array([3, 5, 7])[codes], features)
    publish(model_root, "m", classifier, encoder)
    tensor = httpclient.InferInput("input-0", [20, 4], "FP32")
    tensor.set_data_from_numpy(features[:20], binary_data=binary)
    wanted = [httpclient.InferRequestedOutput("label", binary_data=binary)]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        [tensor], outputs=wanted
    )
    headers = {"content-type": "application/json"}
    if json_size is not None:
        headers = {
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(json_size),
        }

    response = client.post("/v2/models/m/infer", content=body, headers=headers)

    assert response.status_code == 200, response.text
    header_length = response.headers.get("inference-header-content-length")
    result = httpclient.InferResult.from_response_body(
        response.content, header_length=int(header_length) if header_length else None
    )
    labels = result.as_numpy("label")
    assert labels.dtype == np.int64
    expected = encoder.inverse_transform(classifier.predict(features[:20]))
    np.testing.assert_array_equal(labels, expected)
    described = client.get("/v2/models/m").json()["outputs"]
    assert {tensor["name"]: tensor["datatype"] for tensor in described}["label"] == "INT64"


def test_a_multi_label_model_answers_a_whole_number_per_row_and_target(
    client: TestClient, model_root: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    # scikit-learn's multi-label recipe: a 2-D indicator target, one binary label per column;
    # its labels are 0 and 1, in a [rows, targets] tensor.
    features, codes = data
    indicators = np.column_stack([codes == 0, codes == 2, features[:, 1] > 0]).astype(int)
    classifier = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1, tree_method="hist")
    classifier.fit(features, indicators)
    publish(model_root, "m", classifier, LabelEncoder().fit([0, 1]))
    expected = classifier.predict(features[:20])
    assert expected.shape == (20, 3)

    answer = client.post(
        "/models/m/predict", json={"instances": features[:20].tolist(), "output": "label"}
    ).json()
    assert answer["predictions"] == expected.tolist()
    assert all(type(label) is int for row in answer["predictions"] for label in row)

    tensor = httpclient.InferInput("input-0", [20, 4], "FP32")
    tensor.set_data_from_numpy(features[:20], binary_data=False)
    body, _ = httpclient.InferenceServerClient.generate_request_body(
        [tensor], outputs=[httpclient.InferRequestedOutput("label", binary_data=False)]
    )
    response = client.post(
        "/v2/models/m/infer", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    output = response.json()["outputs"][0]
    assert (output["datatype"], output["shape"]) == ("INT64", [20, 3])
    labels = httpclient.InferResult.from_response_body(response.content).as_numpy("label")
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ([True, False], "booleans"),
        ([0.5, 1.5], "fractions"),
        (["no", 1], "a mix"),
        ([2**70, 1], "beyond 64 bits"),
    ],
)
def test_labels_that_are_no_one_kind_of_whole_number_or_text_are_refused(
    labels: list[object], why: str
) -> None:
    metadata = json.dumps({"class_labels": labels}).encode()

    with pytest.raises(InvalidModelFile, match="all text or all whole numbers"):
        validate_model(model_bytes(train_booster("binary")), metadata=metadata)
