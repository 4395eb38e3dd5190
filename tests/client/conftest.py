"""A real ``model-router serve`` over models trained as a data scientist would: the sklearn
API on iris, with feature names and string class labels; on a pandas DataFrame with a
category column (``plans``), on one with boolean columns (``flags``) and on one with
categories named like numbers and missing values (``ratings``); and a file that is no model
(``broken``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_iris

from tests.fidelity.estimators import Case, booleans
from tests.live.server import running_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@dataclass(frozen=True)
class Served:
    url: str
    booster: xgb.Booster
    classes: list[str]
    rows: np.ndarray  # float32 rows of iris, for predictions to check
    plans: xgb.Booster  # trained on PLANS_FRAME's columns: a category and a number
    flags: Case  # trained on a DataFrame with bool and nullable boolean columns
    ratings: xgb.XGBClassifier  # categories named like numbers and like missing values
    numbered: xgb.Booster  # trained on a DataFrame of unnamed columns: features "0", "1", ...


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the client tests (starting one takes seconds here)."""
    iris = load_iris()
    features = np.asarray(iris.data, dtype=np.float32)
    classifier = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1, random_state=0)
    classifier.fit(features, iris.target)
    booster = classifier.get_booster()
    booster.feature_names = FEATURES
    classes = [str(name) for name in iris.target_names]
    root: Path = tmp_path_factory.mktemp("client-models")
    (root / "iris").mkdir()
    booster.save_model(root / "iris" / "model.ubj")
    (root / "iris" / "metadata.json").write_text(json.dumps({"class_labels": classes}))
    plans = _plans_model()
    plans.save_model(root / "plans.ubj")
    flags = booleans("flags", "ubj", early=False)
    flags.save(root)
    ratings = _ratings_model()
    ratings.save_model(root / "ratings.ubj")
    (root / "broken.ubj").write_bytes(b"not a model")  # no version of it loads
    numbered = xgb.XGBRegressor(n_estimators=5, max_depth=2, n_jobs=1)
    numbered.fit(pd.DataFrame(features), iris.target)  # columns 0..3, as pd.DataFrame(X) has
    numbered.save_model(root / "numbered.ubj")
    with running_server(root) as url:
        yield Served(
            url, booster, classes, features[::30], plans, flags, ratings, numbered.get_booster()
        )


def plans_frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "plan": pd.Categorical(rng.choice(["basic", "pro", "team"], rows)),
            "tenure": rng.integers(1, 60, rows).astype(float),
        }
    )


def _plans_model() -> xgb.Booster:
    frame = plans_frame()
    churned = (frame["plan"] == "basic") & (frame["tenure"] < 12)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, enable_categorical=True, n_jobs=1)
    model.fit(frame, churned.astype(int))
    return model.get_booster()


def ratings_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Categories as real tables hold them: star ratings and zip codes named by digits, a
    continent named NA (North America), and a True/False text column kept as a category."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "stars": pd.Categorical(rng.choice(["1", "2", "3", "4", "5"], rows)),
            "zip": pd.Categorical(rng.choice(["02139", "10001", "94105"], rows)),
            "continent": pd.Categorical(rng.choice(["NA", "EU", "APAC"], rows)),
            "spend": rng.gamma(2.0, 30.0, rows),
        }
    )


def _ratings_model() -> xgb.XGBClassifier:
    frame = ratings_frame()
    liked = (frame["stars"].astype(int) >= 4) ^ (frame["continent"] == "NA")
    model = xgb.XGBClassifier(
        n_estimators=10, max_depth=3, enable_categorical=True, max_cat_to_onehot=1, n_jobs=1
    )
    model.fit(frame, liked.astype(int))
    return model
