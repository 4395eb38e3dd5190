"""Boolean features, as a DataFrame's bool columns train them (XGBoost's indicator type):
true and false are what XGBoost reads, 1 and 0, in every row form; a value the model never
saw there (0.5, 2), and a boolean for a categorical feature, are refused, saying what the
feature takes, where XGBoost would answer without an error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from router.api import create_app
from router.registry.registry import ModelRegistry
from router.settings import Settings

from .estimators import Case, booleans, categorical

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def flags() -> Case:
    return booleans("flags", "ubj", early=False)


@pytest.fixture(scope="module")
def plans() -> Case:
    return categorical("plans", "json", early=False)


@pytest.fixture
def client(flags: Case, plans: Case, tmp_path: Path) -> Iterator[TestClient]:
    flags.save(tmp_path)
    plans.save(tmp_path)
    settings = Settings(model_root=tmp_path)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def post(client: TestClient, name: str, rows: list[Any], output: str = "value") -> Any:
    response = client.post(
        f"/models/{name}/predict",
        content=json.dumps({"instances": rows, "output": output}),
        headers={"content-type": "application/json"},
    )
    return response.status_code, response.json()


def test_true_and_false_are_one_and_zero_as_xgboost_reads_them(
    client: TestClient, flags: Case
) -> None:
    as_booleans = flags.array_rows()
    as_numbers = [[float("nan") if v is None else float(v) for v in row] for row in as_booleans]
    for rows in (as_booleans, as_numbers, flags.object_rows()):
        status, answer = post(client, "flags", rows, "probabilities")
        assert status == 200, answer
        np.testing.assert_allclose(
            np.asarray(answer["predictions"]), flags.expected("probabilities"), rtol=1e-6
        )


@pytest.mark.parametrize("value", [0.5, 2, -1])
def test_a_boolean_feature_refuses_what_no_bool_column_holds(
    client: TestClient, flags: Case, value: float
) -> None:
    rows = flags.array_rows()[1:3]
    rows[1][flags.rows.columns.get_loc("member")] = value
    status, answer = post(client, "flags", rows)
    assert status == 422
    assert answer["detail"] == (
        f"instances.1.member: {value} is not a value of the boolean feature 'member'; send "
        "true or false (or 1 or 0), or null for a missing value"
    )


def test_beyond_float32_or_a_string_for_a_boolean_feature_is_refused_for_what_it_is(
    client: TestClient, flags: Case
) -> None:
    rows = flags.array_rows()[1:2]
    rows[0][flags.rows.columns.get_loc("member")] = 1e300
    status, answer = post(client, "flags", rows)
    assert status == 422
    assert answer["detail"].startswith("instances.0.member: a number beyond float32's range")
    objects = flags.object_rows()[1:2]
    objects[0]["member"] = "True"
    status, answer = post(client, "flags", objects)
    assert status == 422
    assert answer["detail"] == (
        "instances.0.member: the feature is boolean and 'True' is a string; send true or false"
    )


def test_a_boolean_for_a_categorical_feature_is_refused_in_either_row_form(
    client: TestClient, plans: Case
) -> None:
    column = plans.rows.columns.get_loc("plan")
    arrays = plans.array_rows()[1:3]
    arrays[1][column] = True
    objects = plans.object_rows()[1:3]
    objects[0]["plan"] = False
    for rows, row in ((arrays, 1), (objects, 0)):
        status, answer = post(client, "plans", rows)
        assert status == 422
        assert answer["detail"].startswith(
            f"instances.{row}.plan: a boolean, but the feature is categorical: send one of its "
            "categories ('free', 'pro', 'team') or its code"
        )


def test_a_boolean_for_a_numeric_feature_is_its_number(client: TestClient, flags: Case) -> None:
    """As XGBoost reads a bool column where the model has a number: true is 1."""
    rows = flags.array_rows()[1:2]
    rows[0][flags.rows.columns.get_loc("visits")] = True
    frame = flags.rows.iloc[1:2].copy()
    frame["visits"] = 1.0
    status, answer = post(client, "flags", rows, "probabilities")
    assert status == 200, answer
    expected = flags.model.predict_proba(frame)
    np.testing.assert_allclose(np.asarray(answer["predictions"]), expected, rtol=1e-6)


def test_a_boolean_for_a_category_of_numbers_says_to_send_the_number(tmp_path: Path) -> None:
    """Numeric categories go by value, not by code: the refusal says so."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"x": rng.normal(size=300), "seats": pd.Categorical(rng.choice([1, 5, 10], 300))}
    )
    model = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, n_jobs=1)
    model.fit(frame, (frame["seats"] == 5).astype(int))
    (tmp_path / "seats").mkdir()
    model.save_model(tmp_path / "seats" / "model.ubj")
    settings = Settings(model_root=tmp_path)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    with TestClient(app) as test_client:
        status, answer = post(test_client, "seats", [{"x": 0.5, "seats": True}])

    assert status == 422
    assert answer["detail"] == (
        "instances.0.seats: a boolean, but the feature is categorical: send one of its "
        "categories (1, 5, 10), or null for a missing value"
    )
