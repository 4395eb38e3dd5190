"""A real ``model-router serve`` over a model trained as a data scientist would: the sklearn
API on iris, with feature names and string class labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import load_iris

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
    with running_server(root) as url:
        yield Served(url, booster, classes, features[::30])
