from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
import xgboost as xgb

from tests.modelkit import rows, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi.testclient import TestClient


def as_float32(values: object) -> np.ndarray:
    # The response carries float32 results in their shortest decimal form; parsed back and
    # cast to float32 they are the very same numbers.
    return np.asarray(values, dtype=np.float32)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("layout", ["file", "directory"])
def test_predictions_equal_inplace_predict(
    client: TestClient, model_root: Path, task: str, layout: str
) -> None:
    booster = train_booster(task, trees=20, seed=3)
    write_model(model_root, "m", booster, layout=layout)
    matrix = rows(5)

    response = client.post("/models/m/predict", json={"instances": matrix.tolist()})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "m" and len(body["version"]) == 12 and body["output"] == "value"
    np.testing.assert_array_equal(as_float32(body["predictions"]), booster.inplace_predict(matrix))


def test_object_rows_are_matched_by_feature_name(client: TestClient, model_root: Path) -> None:
    names = ["age", "bmi", "bp", "s1"]
    booster = train_booster(feature_names=names)
    write_model(model_root, "m", booster)
    matrix = rows(2)
    shuffled = [
        {name: float(row[i]) for i, name in reversed(list(enumerate(names)))} for row in matrix
    ]

    response = client.post("/models/m/predict", json={"instances": shuffled})

    assert response.status_code == 200, response.text
    np.testing.assert_array_equal(
        as_float32(response.json()["predictions"]), booster.inplace_predict(matrix)
    )


def test_null_and_absent_features_are_missing_values(client: TestClient, model_root: Path) -> None:
    booster = train_booster(trees=10)
    write_model(model_root, "m", booster)
    matrix = rows(1)
    matrix[0, 1] = np.nan
    array_row = [None if np.isnan(v) else float(v) for v in matrix[0]]
    object_row = {f"f{i}": float(v) for i, v in enumerate(matrix[0]) if not np.isnan(v)}

    by_array = client.post("/models/m/predict", json={"instances": [array_row]}).json()
    by_object = client.post("/models/m/predict", json={"instances": [object_row]}).json()

    expected = booster.inplace_predict(matrix)
    np.testing.assert_array_equal(as_float32(by_array["predictions"]), expected)
    np.testing.assert_array_equal(as_float32(by_object["predictions"]), expected)


def test_margin_output(client: TestClient, model_root: Path) -> None:
    booster = train_booster("binary", trees=10)
    write_model(model_root, "m", booster)
    matrix = rows(3)

    body = client.post(
        "/models/m/predict", json={"instances": matrix.tolist(), "output": "margin"}
    ).json()

    np.testing.assert_array_equal(
        as_float32(body["predictions"]), booster.inplace_predict(matrix, predict_type="margin")
    )


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_contributions_are_shap_values(client: TestClient, model_root: Path, task: str) -> None:
    booster = train_booster(task, trees=10)
    write_model(model_root, "m", booster)
    matrix = rows(3)

    body = client.post(
        "/models/m/predict", json={"instances": matrix.tolist(), "output": "contributions"}
    ).json()

    dmatrix = xgb.DMatrix(matrix, feature_names=booster.feature_names)
    expected = booster.predict(dmatrix, pred_contribs=True)
    np.testing.assert_allclose(as_float32(body["predictions"]), expected, rtol=1e-6)
    # SHAP values plus bias add up to the margin.
    margin = booster.inplace_predict(matrix, predict_type="margin")
    np.testing.assert_allclose(expected.sum(axis=-1), margin, rtol=1e-5, atol=1e-5)


def test_classes_come_from_metadata(client: TestClient, model_root: Path) -> None:
    write_model(
        model_root,
        "m",
        train_booster("multiclass"),
        metadata={"class_labels": ["setosa", "versicolor", "virginica"]},
    )

    body = client.post("/models/m/predict", json={"instances": rows(1).tolist()}).json()

    assert body["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(body["predictions"][0]) == 3


def test_large_batch_goes_through_the_worker_thread_path(
    client: TestClient, model_root: Path
) -> None:
    booster = train_booster(trees=10)
    write_model(model_root, "m", booster)
    matrix = rows(500)

    body = client.post("/models/m/predict", json={"instances": matrix.tolist()}).json()

    np.testing.assert_array_equal(as_float32(body["predictions"]), booster.inplace_predict(matrix))


@pytest.mark.parametrize("output", ["value", "margin", "contributions"])
def test_linear_models_predict_through_a_dmatrix(
    client: TestClient, model_root: Path, output: str
) -> None:
    # XGBoost has no in-place prediction for gblinear boosters.
    matrix = rows(50)
    dtrain = xgb.DMatrix(matrix, label=matrix[:, 0], feature_names=["a", "b", "c", "d"])
    booster = xgb.train({"booster": "gblinear", "objective": "reg:squarederror"}, dtrain, 5)
    write_model(model_root, "linear", booster)

    body = client.post(
        "/models/linear/predict", json={"instances": matrix[:3].tolist(), "output": output}
    ).json()

    expected = booster.predict(
        xgb.DMatrix(matrix[:3], feature_names=["a", "b", "c", "d"]),
        output_margin=output == "margin",
        pred_contribs=output == "contributions",
    )
    np.testing.assert_allclose(as_float32(body["predictions"]), expected, rtol=1e-6)
