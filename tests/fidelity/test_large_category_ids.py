"""Numeric categories beyond float32's exact whole numbers: product ids, account numbers, zip
codes read as integers. A pandas category of such numbers is sent by value, and float32
(which XGBoost computes in) rounds 100000001 to 100000000 from 2**24 up: matched after that
rounding, every id was the first one's, with its answer and a 200. Each way rows reach the
router is checked against the estimator: array and object rows, both V2 tensor forms, and a
local batch job of a CSV file."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from router.api import create_app
from router.cli import main
from router.registry.registry import ModelRegistry
from router.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SKUS = [100_000_000, 100_000_001, 100_000_002, 100_000_003]
# Two ids float32 cannot tell apart from their neighbours: 16777217 reads as 16777216.
SPARSE_IDS = [16_777_216, 16_777_218, 16_777_220]


def sku_model(ids: list[int], hot: int) -> xgb.XGBClassifier:
    """A classifier whose answer turns on one id among ``ids``, as a shop's model would."""
    rng = np.random.default_rng(0)
    sku = rng.choice(ids, 600)
    frame = pd.DataFrame({"x": rng.normal(size=600), "sku": pd.Categorical(sku, categories=ids)})
    label = ((sku == hot) * 2 + frame["x"] > 1).astype(int)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1, enable_categorical=True)
    return model.fit(frame, label)


def expected(model: xgb.XGBClassifier, ids: list[int]) -> np.ndarray:
    """The estimator's answers for ``ids`` (each one of SKUS) at x = 0."""
    frame = pd.DataFrame({"x": [0.0] * len(ids), "sku": pd.Categorical(ids, categories=SKUS)})
    probabilities: np.ndarray = model.predict_proba(frame)
    return probabilities


@pytest.fixture(scope="module")
def skus() -> xgb.XGBClassifier:
    return sku_model(SKUS, hot=SKUS[1])


@pytest.fixture(scope="module")
def root(skus: xgb.XGBClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("skus")
    (root / "skus").mkdir()
    skus.save_model(root / "skus" / "model.ubj")
    sparse = sku_model(SPARSE_IDS, hot=SPARSE_IDS[0])
    (root / "sparse").mkdir()
    sparse.save_model(root / "sparse" / "model.ubj")
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    settings = Settings(model_root=root)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def probabilities(client: TestClient, model: str, instances: list[Any]) -> Any:
    response = client.post(
        f"/models/{model}/predict", json={"instances": instances, "output": "probabilities"}
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def v2_probabilities(client: TestClient, inputs: list[dict[str, Any]]) -> np.ndarray:
    body = {"inputs": inputs, "outputs": [{"name": "probabilities"}]}
    response = client.post("/v2/models/skus/infer", json=body)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


def test_the_model_answers_each_id_apart(skus: xgb.XGBClassifier) -> None:
    # What makes the rest a real test: the hot id's answer is not its neighbours'.
    answers = expected(skus, SKUS)[:, 1]
    assert answers[1] > 0.9 and max(answers[0], answers[2], answers[3]) < 0.1


@pytest.mark.parametrize("form", ["array rows", "object rows"])
def test_rows_answer_each_id_as_the_estimator(
    client: TestClient, skus: xgb.XGBClassifier, form: str
) -> None:
    if form == "array rows":
        instances: list[Any] = [[0.0, sku] for sku in SKUS]
    else:
        instances = [{"x": 0.0, "sku": sku} for sku in SKUS]

    answers = probabilities(client, "skus", instances)

    np.testing.assert_allclose(answers, expected(skus, SKUS), rtol=1e-6)


@pytest.mark.parametrize("form", ["matrix", "per feature"])
def test_v2_int64_tensors_answer_each_id_as_the_estimator(
    client: TestClient, skus: xgb.XGBClassifier, form: str
) -> None:
    if form == "matrix":
        data = [value for sku in SKUS for value in (0, sku)]
        inputs = [{"name": "input", "shape": [len(SKUS), 2], "datatype": "INT64", "data": data}]
    else:
        inputs = [
            {"name": "x", "shape": [len(SKUS)], "datatype": "FP32", "data": [0.0] * len(SKUS)},
            {"name": "sku", "shape": [len(SKUS)], "datatype": "INT64", "data": SKUS},
        ]

    answers = v2_probabilities(client, inputs)

    np.testing.assert_allclose(answers, expected(skus, SKUS), rtol=1e-6)


def test_an_id_float32_would_round_onto_a_category_is_refused(client: TestClient) -> None:
    # 16777217 is no category of the model; in float32 it is 16777216, which is.
    for instances in ([[0.0, 16_777_217]], [{"x": 0.0, "sku": 16_777_217}]):
        response = client.post("/models/sparse/predict", json={"instances": instances})
        assert response.status_code == 422, response.text
        assert "no category 16777217 for feature 'sku'" in response.json()["detail"]


def test_a_batch_job_answers_each_id_as_the_estimator(
    root: Path, skus: xgb.XGBClassifier, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("x,sku\n" + "".join(f"0.0,{sku}\n" for sku in SKUS))
    output = tmp_path / "scored.csv"

    code = main(
        ["batch", str(source), "--model", "skus", "--output", str(output),
         "--model-root", str(root), "--outputs", "probabilities", "--no-progress"]
    )  # fmt: skip

    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    columns = [name for name in rows[0] if name.startswith("probabilit")]
    answers = np.array([[float(row[name]) for name in columns] for row in rows])
    np.testing.assert_allclose(answers, expected(skus, SKUS), rtol=1e-6)
    manifest = json.loads(output.with_suffix(".manifest.json").read_text())
    assert manifest["refused"] == []
