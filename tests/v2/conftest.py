"""Iris as a data scientist trains it (scikit-learn's API, early stopping, class labels),
published three times the way `model-router publish` does, so it has a history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from router.api import create_app
from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from tests.lambda_.conftest import context, import_handler

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from router.registry.registry import ModelRegistry
    from router.settings import Settings

__all__ = ["context", "import_handler"]  # the Lambda handler's fixtures, for test_lambda

FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
CLASSES = ["setosa", "versicolor", "virginica"]


@dataclass(frozen=True)
class Published:
    version: str  # as responses report it
    booster: xgb.Booster


def train_iris(seed: int) -> xgb.Booster:
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    data = load_iris()
    train_x, valid_x, train_y, valid_y = train_test_split(
        data.data, data.target, test_size=0.3, random_state=seed
    )
    classifier = xgb.XGBClassifier(
        n_estimators=40,
        max_depth=3,
        subsample=0.8,
        early_stopping_rounds=5,
        random_state=seed,
        n_jobs=1,
    )
    classifier.fit(train_x, train_y, eval_set=[(valid_x, valid_y)], verbose=False)
    booster = classifier.get_booster()
    booster.feature_names = FEATURES
    return booster


def expected(booster: xgb.Booster, rows: np.ndarray, predict_type: str = "value") -> np.ndarray:
    """What the training side answers: up to the best round when early stopping recorded
    one (as XGBClassifier and the router do), else every round."""
    best = booster.attr("best_iteration")
    rounds = (0, int(best) + 1) if best is not None else (0, 0)
    return booster.inplace_predict(rows, predict_type=predict_type, iteration_range=rounds)


def publish(root: Path, booster: xgb.Booster, name: str = "iris") -> Published:
    """What `model-router publish` does: validate, embed metadata, swap in with history."""
    metadata = json.dumps({"class_labels": CLASSES}).encode()
    validated = validate_model(bytes(booster.save_raw("ubj")), metadata=metadata)
    with ModelFolder(root, name, history_limit=5) as folder:
        folder.publish(validated.data)
    return Published(folder.versions()[0].sha256[:12], booster)


@pytest.fixture(scope="session")
def iris_boosters() -> list[xgb.Booster]:
    """Three retrainings of iris: different models, same features."""
    return [train_iris(seed) for seed in (1, 2, 3)]


@pytest.fixture
def iris_rows() -> np.ndarray:
    return np.array(
        [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8]],
        dtype=np.float32,
    )


@pytest.fixture
def client(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client
