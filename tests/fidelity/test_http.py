"""A real ``model-router serve`` answers what each estimator answers: predict_proba, predict
and the booster's values, with early stopping's best round, string labels, categories by
value and NaN or null missing values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2
import numpy as np
import pytest

from tests.live.server import running_server

from .compare import assert_same, body, requests_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from .estimators import Case

pytestmark = pytest.mark.slow
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[httpx2.Client]:
    with running_server(store) as base_url, httpx2.Client(base_url=base_url, timeout=30) as c:
        yield c


def test_every_model_answers_what_its_estimator_answers(
    client: httpx2.Client, cases: dict[str, Case]
) -> None:
    for case in cases.values():
        for form, output, request in requests_for(case):
            response = client.post(f"/models/{case.name}/predict", content=request, headers=JSON)
            assert response.status_code == 200, (case.name, form, output, response.text)
            assert_same(case, output, response.json())


def test_a_request_may_ask_for_every_round(client: httpx2.Client, cases: dict[str, Case]) -> None:
    for case in (case for case in cases.values() if case.early_stopping):
        request = body(case.array_rows(), "value", rounds="all")
        answer = client.post(f"/models/{case.name}/predict", content=request, headers=JSON)
        assert_same(case, "value", answer.json(), rounds="all")
        # Both answers are right for what they ask, and they are not the same answer.
        best = np.asarray(case.expected("value"), dtype=np.float32)
        assert not np.allclose(best, np.asarray(answer.json()["predictions"])), case.name


def test_model_detail_shows_rounds_estimator_features_and_categories(
    client: httpx2.Client, cases: dict[str, Case]
) -> None:
    detail = client.get("/models/categorical-es").json()
    booster = cases["categorical-es"].booster
    assert detail["estimator"] == "classifier"
    assert detail["rounds"] == {
        "in_file": booster.num_boosted_rounds(),
        "used": booster.best_iteration + 1,
        "early_stopping": True,
        "best_iteration": booster.best_iteration,
        "trees_per_round": 1,
        "default": "best",
    }
    assert detail["features"] == [
        {"name": "age", "type": "float", "categories": None},
        {"name": "income", "type": "float", "categories": None},
        {"name": "visits", "type": "float", "categories": None},
        {"name": "plan", "type": "c", "categories": ["free", "pro", "team"]},
    ]
    assert detail["outputs"] == ["value", "margin", "contributions", "probabilities", "label"]
    forest = client.get("/models/forest-es").json()
    assert forest["estimator"] is None  # xgb.train: no scikit-learn facts in the file
    assert forest["rounds"]["trees_per_round"] == 12  # 3 classes x 4 parallel trees
    assert forest["rounds"]["used"] == cases["forest-es"].booster.best_iteration + 1
    ranker = client.get("/models/ranker").json()
    assert ranker["estimator"] == "ranker"
    assert ranker["rounds"]["early_stopping"] is False
    assert ranker["rounds"]["used"] == ranker["rounds"]["in_file"] == 60
    assert ranker["outputs"] == ["value", "margin", "contributions"]


def test_an_unseen_category_is_refused_naming_the_feature_and_its_categories(
    client: httpx2.Client,
) -> None:
    row = {"age": 30.0, "income": 20.0, "visits": 1.0, "plan": "enterprise"}
    response = client.post("/models/categorical/predict", json={"instances": [row]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'plan'" in detail and "'enterprise'" in detail
    assert "'free', 'pro', 'team'" in detail


def test_classifier_outputs_are_refused_for_a_regressor(client: httpx2.Client) -> None:
    row = [30.0, 20.0, 1.0]
    response = client.post(
        "/models/regressor/predict", json={"instances": [row], "output": "probabilities"}
    )
    assert response.status_code == 422
    assert "for classifiers" in response.json()["detail"]
