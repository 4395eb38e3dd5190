"""Categorical features: what XGBoost does with a value it never saw (pinned, so the guide's
account of it fails if XGBoost changes), and what the router accepts: a known category, a
whole-number code in range, or a missing value; anything else is a 422 naming the feature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from router.api import create_app
from router.errors import InvalidInstances
from router.registry.registry import ModelRegistry
from router.settings import Settings
from router.xgb.predictor import Predictor
from tests.modelkit import MODEL_KINDS

from .estimators import PLANS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SEATS = [1, 5, 10]  # a pandas category of numbers: sent by value, in arrays too
AGES = [20.0, 30.0, 50.0]


def customers(n: int = 300) -> tuple[pd.DataFrame, pd.Series[int]]:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n),
            "plan": pd.Categorical(rng.choice(PLANS, n), categories=PLANS),
            "seats": pd.Categorical(rng.choice(SEATS, n), categories=SEATS),
        }
    )
    df.loc[rng.random(n) < 0.2, "plan"] = np.nan  # so the missing branch learns its own answer
    y = ((df["age"] < 35) ^ (df["plan"] == "pro")) | df["plan"].isna() | (df["seats"] == 5)
    return df, y.astype(int)


@pytest.fixture(scope="module")
def clf() -> xgb.XGBClassifier:
    df, y = customers()
    model = xgb.XGBClassifier(
        n_estimators=15, max_depth=3, n_jobs=1, enable_categorical=True, max_cat_to_onehot=1
    )
    return model.fit(df, y)


def rows(plan: list[Any], seats: tuple[int, ...] = (1, 1, 1)) -> pd.DataFrame:
    categories = None if plan == ["enterprise"] * len(plan) else PLANS
    return pd.DataFrame(
        {
            "age": AGES[: len(plan)],
            "plan": pd.Categorical(plan, categories=categories),
            "seats": pd.Categorical(seats[: len(plan)], categories=SEATS),
        }
    )


def test_xgboost_answers_an_unseen_category_silently_and_not_as_missing(
    clf: xgb.XGBClassifier,
) -> None:
    """What docs/byom.md says XGBoost does: no error, through every call, and an answer that
    is not the missing-value one (a split's "other categories" branch)."""
    unseen = rows(["enterprise"] * 3)
    answer = clf.predict_proba(unseen)[:, 1]
    booster = clf.get_booster()
    np.testing.assert_array_equal(booster.inplace_predict(unseen), answer)
    np.testing.assert_array_equal(
        booster.predict(xgb.DMatrix(unseen, enable_categorical=True)), answer
    )
    missing = clf.predict_proba(rows([None] * 3))[:, 1]
    assert not np.allclose(answer, missing)


@pytest.fixture(scope="module")
def served(
    clf: xgb.XGBClassifier, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("categories")
    (root / "plans").mkdir()
    clf.save_model(root / "plans" / "model.ubj")
    settings = Settings(model_root=root)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def predict(client: TestClient, instances: list[Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/models/plans/predict", json={"instances": instances, "output": "probabilities"}
    )
    return response.status_code, response.json()


def test_known_categories_codes_and_missing_values_answer_as_the_estimator(
    served: TestClient, clf: xgb.XGBClassifier
) -> None:
    expected = clf.predict_proba(rows(["pro", "team", None], seats=(10, 1, 5)))
    by_code = predict(served, [[20.0, 1, 10], [30.0, 2.0, 1], [50.0, None, 5]])
    by_value = predict(
        served,
        [{"age": 20.0, "plan": "pro", "seats": 10}, {"age": 30.0, "plan": 2, "seats": 1},
         {"age": 50.0, "plan": None, "seats": 5}],
    )  # fmt: skip
    for status, body in (by_code, by_value):
        assert status == 200, body
        np.testing.assert_allclose(body["predictions"], expected, rtol=1e-6)


def test_an_unseen_category_is_a_422_naming_the_feature_and_its_categories(
    served: TestClient,
) -> None:
    status, body = predict(served, [{"age": 30.0, "plan": "enterprise", "seats": 1}])
    assert status == 422
    assert "'plan'" in body["detail"] and "'free', 'pro', 'team'" in body["detail"]


@pytest.mark.parametrize("code", [3, 7, -1, 1e10, 1.5])
@pytest.mark.parametrize("form", ["array", "object"])
def test_a_code_that_is_no_category_is_a_422_saying_what_the_feature_accepts(
    served: TestClient, code: float, form: str
) -> None:
    row: Any = [30.0, code, 1] if form == "array" else {"age": 30.0, "plan": code, "seats": 1}
    status, body = predict(served, [[20.0, 0, 1], row] if form == "array" else [row])
    assert status == 422, body
    where = "instances.1" if form == "array" else "instances.0"
    assert body["detail"].startswith(f"{where}: {code!r}".replace("10000000000.0", "10000000000"))
    assert "'plan'" in body["detail"] and "a code 0-2" in body["detail"]
    assert "'free', 'pro', 'team'" in body["detail"]


@pytest.mark.parametrize("form", ["array", "object"])
def test_a_number_that_is_no_numeric_category_is_a_422(served: TestClient, form: str) -> None:
    row: Any = [30.0, 0, 7] if form == "array" else {"age": 30.0, "plan": "free", "seats": 7}
    status, body = predict(served, [row])
    assert status == 422, body
    assert "no category 7" in body["detail"] and "feature 'seats'" in body["detail"]
    assert "1, 5, 10" in body["detail"]


@pytest.mark.parametrize("code", [-1, 1.5, 2.0**24])
def test_without_stored_categories_a_code_must_still_be_a_whole_number(code: float) -> None:
    """A booster trained on codes (xgb.train on a numpy matrix) stores no categories: the
    count is unknown, so only the form of a code is checked."""
    predictor = Predictor(MODEL_KINDS["categorical"]())
    assert predictor.features[0].categorical and predictor.features[0].categories is None
    predictor.predict(predictor.matrix([[5.0, 0.1, 0.2, 0.3], [None, 0.1, 0.2, 0.3]]))
    with pytest.raises(InvalidInstances, match="send a whole-number code from 0, or null"):
        predictor.matrix([[0.0, 0.1, 0.2, 0.3], [code, 0.1, 0.2, 0.3]])


def test_a_category_of_numbers_may_come_as_its_text(
    served: TestClient, clf: xgb.XGBClassifier
) -> None:
    """ "10" for seats, a category of ints: what a V2 BYTES tensor of such a column holds."""
    expected = clf.predict_proba(rows(["pro"], seats=(10,)))
    status, body = predict(served, [{"age": 20.0, "plan": "pro", "seats": "10"}])
    assert status == 200, body
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-6)
    status, body = predict(served, [{"age": 20.0, "plan": "pro", "seats": "7"}])
    assert status == 422 and "no category '7' for feature 'seats'" in body["detail"]


def test_a_number_for_categories_named_by_numbers_is_refused_as_ambiguous(
    tmp_path: Path,
) -> None:
    """Ratings "1".."5" read back by read_csv are numbers: as codes they would be other
    ratings (2 is "3"), which XGBoost refuses to guess on such a frame, and so does the
    router, in object rows; array rows carry codes, as XGBoost's own arrays do."""
    rng = np.random.default_rng(0)
    stars = ["1", "2", "3", "4", "5"]
    frame = pd.DataFrame(
        {"stars": pd.Categorical(rng.choice(stars, 300)), "x": rng.normal(size=300)}
    )
    model = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, n_jobs=1)
    model.fit(frame, (frame["stars"].astype(int) >= 4).astype(int))
    (tmp_path / "ratings").mkdir()
    model.save_model(tmp_path / "ratings" / "model.ubj")
    read_back = frame.assign(stars=frame["stars"].astype(int))
    with pytest.raises(ValueError, match="data type"):
        model.predict_proba(read_back)
    settings = Settings(model_root=tmp_path)
    with TestClient(create_app(settings, ModelRegistry.from_settings(settings))) as client:
        as_numbers = client.post(
            "/models/ratings/predict", json={"instances": [{"stars": 2, "x": 0.0}]}
        )
        as_text = client.post(
            "/models/ratings/predict", json={"instances": [{"stars": "2", "x": 0.0}]}
        )
        as_code = client.post("/models/ratings/predict", json={"instances": [[1, 0.0]]})

    assert as_numbers.status_code == 422
    assert as_numbers.json()["detail"] == (
        "instances.0.stars: 2 is ambiguous: feature 'stars' has a category named '2', and a "
        'number here is a code; send the category by name ("2"), or its code where rows are '
        "arrays"
    )
    two = pd.DataFrame({"stars": pd.Categorical(["2"], categories=stars), "x": [0.0]})
    expected = model.predict_proba(two)[:, 1]
    for answer in (as_text, as_code):
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-6)


def test_a_number_for_zero_padded_categories_is_ambiguous_too(tmp_path: Path) -> None:
    """Months "01".."12" read back by read_csv: 4 is "04" to the user, and code 4 is "05"."""
    rng = np.random.default_rng(1)
    months = [f"{m:02d}" for m in range(1, 13)]
    frame = pd.DataFrame({"month": pd.Categorical(rng.choice(months, 400)), "x": rng.random(400)})
    model = xgb.XGBClassifier(n_estimators=5, enable_categorical=True, n_jobs=1)
    model.fit(frame, frame["month"].isin(["04", "06"]).astype(int))
    (tmp_path / "month").mkdir()
    model.save_model(tmp_path / "month" / "model.ubj")
    settings = Settings(model_root=tmp_path)
    with TestClient(create_app(settings, ModelRegistry.from_settings(settings))) as client:
        answer = client.post("/models/month/predict", json={"instances": [{"month": 4, "x": 0.5}]})

    assert answer.status_code == 422
    assert "4 is ambiguous: feature 'month' has a category named '04'" in answer.json()["detail"]
