"""Tiny seeded XGBoost models for tests, written in either store layout. No binary fixtures
are committed: every model is trained in a few milliseconds from a seed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

from router.atomic import write_atomically

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

OBJECTIVES: dict[str, dict[str, Any]] = {
    "binary": {"objective": "binary:logistic"},
    "multiclass": {"objective": "multi:softprob", "num_class": 3},
    "regression": {"objective": "reg:squarederror"},
}


def train_booster(
    task: str = "regression",
    *,
    n_features: int = 4,
    trees: int = 5,
    seed: int = 0,
    feature_names: list[str] | None = None,
) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(200, n_features)).astype(np.float32)
    signal = matrix[:, 0] + 0.5 * matrix[:, -1] + rng.normal(scale=0.1, size=200)
    if task == "binary":
        label = (signal > 0).astype(np.float32)
    elif task == "multiclass":
        label = np.digitize(signal, [-0.5, 0.5]).astype(np.float32)
    else:
        label = signal
    names = feature_names or [f"f{i}" for i in range(n_features)]
    dtrain = xgb.DMatrix(matrix, label=label, feature_names=names)
    params = {"max_depth": 3, "seed": seed, "nthread": 1, **OBJECTIVES[task]}
    return xgb.train(params, dtrain, num_boost_round=trees)


def model_bytes(booster: xgb.Booster, fmt: str = "ubj") -> bytes:
    return bytes(booster.save_raw(fmt))  # type: ignore[arg-type]


def write_model(
    root: Path,
    name: str,
    booster: xgb.Booster | bytes,
    *,
    layout: str = "directory",
    fmt: str = "ubj",
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (temp + rename), as a publisher would; returns the model's path."""
    data = booster if isinstance(booster, bytes) else model_bytes(booster, fmt)
    if layout == "directory":
        path = root / name / f"model.{fmt}"
        if metadata is not None:
            replace_file(root / name / "metadata.json", json.dumps(metadata).encode())
    else:
        path = root / f"{name}.{fmt}"
    replace_file(path, data)
    return path


def replace_file(path: Path, data: bytes) -> None:
    """Replace a file as a publisher does: one rename of a complete, fsynced file."""
    write_atomically(path, data)


def rows(n_rows: int = 3, n_features: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_rows, n_features)).astype(np.float32)


def train_variant(
    params: dict[str, Any], *, categorical: bool = False, targets: int = 1
) -> xgb.Booster:
    """Models that train_booster does not make: other boosters, categorical splits,
    vector leaves. Four features; with ``categorical``, the first holds codes 0-5."""
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(200, 4)).astype(np.float32)
    if categorical:
        matrix[:, 0] = rng.integers(0, 6, size=200)
    label = matrix[:, 0] % 2 + 0.3 * matrix[:, 1]
    dtrain = xgb.DMatrix(
        matrix,
        label=np.column_stack([label] * targets) if targets > 1 else label,
        feature_types=["c", "q", "q", "q"] if categorical else None,
        enable_categorical=categorical,
    )
    return xgb.train({"seed": 0, "nthread": 1, **params}, dtrain, num_boost_round=4)


# One of each kind of model XGBoost can save, for tests that must hold for all of them.
MODEL_KINDS: dict[str, Callable[[], xgb.Booster]] = {
    "binary": lambda: train_booster("binary"),
    "multiclass": lambda: train_booster("multiclass"),
    "regression": lambda: train_booster("regression", feature_names=["age", "höhe", "x y", ""]),
    "categorical": lambda: train_variant(
        {"tree_method": "hist", "max_depth": 3, "max_cat_to_onehot": 1}, categorical=True
    ),
    "dart": lambda: train_variant({"booster": "dart", "rate_drop": 0.2, "max_depth": 2}),
    "gblinear": lambda: train_variant({"booster": "gblinear"}),
    "multi_output_tree": lambda: train_variant(
        {"tree_method": "hist", "multi_strategy": "multi_output_tree", "max_depth": 2}, targets=2
    ),
}
