"""Clear refusals: pickles and joblib dumps are recognised (never unpickled) and answered
with the recipe to convert them; in a request body NaN is a missing value and Infinity is
refused, saying why."""

from __future__ import annotations

import io
import json
import math
import pickle
from typing import TYPE_CHECKING

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient

from router.api import create_app
from router.cli import main
from router.errors import InvalidModelFile
from router.publish.validate import validate_model
from router.registry.registry import ModelRegistry
from router.settings import Settings

from .estimators import Case, classifier

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RECIPE = 'model.save_model("model.ubj")'


@pytest.fixture(scope="module")
def churn() -> Case:
    return classifier("churn", "ubj", early=True)


def joblib_bytes(model: object, compress: int) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=compress)
    return buffer.getvalue()


@pytest.mark.parametrize("dump", ["pickle", "joblib", "joblib-compressed"])
def test_a_pickled_estimator_is_refused_with_the_conversion_recipe(
    churn: Case, dump: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {
        "pickle": lambda: pickle.dumps(churn.model),
        "joblib": lambda: joblib_bytes(churn.model, 0),
        "joblib-compressed": lambda: joblib_bytes(churn.model, 3),
    }[dump]()
    with pytest.raises(InvalidModelFile) as raised:
        validate_model(data)
    assert "never unpickled" in raised.value.detail and RECIPE in raised.value.detail
    path = tmp_path / "churn.pkl"
    path.write_bytes(data)
    assert main(["publish", str(path), "--name", "churn", "--model-root", str(tmp_path)]) == 1
    assert RECIPE in capsys.readouterr().err


def test_a_pickle_named_like_a_model_shows_the_recipe_in_its_status(
    churn: Case, tmp_path: Path
) -> None:
    (tmp_path / "churn").mkdir()
    (tmp_path / "churn" / "model.ubj").write_bytes(pickle.dumps(churn.model))
    status = ModelRegistry.from_settings(Settings(model_root=tmp_path)).load_and_describe("churn")
    assert status.failure is not None and RECIPE in status.failure.error.detail


@pytest.fixture
def served(churn: Case, tmp_path: Path) -> Iterator[TestClient]:
    churn.save(tmp_path)
    settings = Settings(model_root=tmp_path)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client: TestClient, text: str) -> dict[str, object]:
    response = client.post(
        "/models/churn/predict", content=text, headers={"content-type": "application/json"}
    )
    return {"status": response.status_code, **response.json()}


def test_nan_in_the_body_is_a_missing_value_like_null(served: TestClient, churn: Case) -> None:
    rows = [[30.0, math.nan, 2.0], [math.nan, math.nan, math.nan]]
    with_nan = post(served, json.dumps({"instances": rows, "output": "probabilities"}))
    assert "NaN" in json.dumps(rows)  # what Python clients send
    with_null = post(
        served,
        json.dumps({"instances": [[30.0, None, 2.0], [None] * 3], "output": "probabilities"}),
    )
    assert with_nan["status"] == with_null["status"] == 200
    assert with_nan["predictions"] == with_null["predictions"]
    expected = churn.model.predict_proba(np.asarray(rows, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(with_nan["predictions"]), expected, rtol=1e-6)
    objects = post(served, '{"instances": [{"age": 30.0, "income": NaN, "visits": 2.0}]}')
    assert objects["status"] == 200


@pytest.mark.parametrize("token", ["Infinity", "-Infinity"])
def test_infinity_in_the_body_is_refused_saying_why(served: TestClient, token: str) -> None:
    answer = post(served, f'{{"instances": [[30.0, {token}, 2.0]]}}')
    assert answer["status"] == 422
    assert f"{token} is not a number a model can use" in str(answer["detail"])


def test_a_body_that_is_not_json_even_with_nan_stays_a_400(served: TestClient) -> None:
    answer = post(served, '{"instances": [[NaN, 1.0, 2.0]]')
    assert answer["status"] == 400 and "not valid JSON" in str(answer["detail"])
