"""Train the demo models on data sets that ship inside scikit-learn (no download).

Four models cover what the router serves: binary classification (breast cancer), multi-class
(iris, wine) and regression (diabetes), in both store layouts. Each is written as UBJ, with
class labels and an example row in ``metadata.json``, atomically (temp file + rename), so a
server that is already running picks the new files up and never reads half of one.

Run with ``model-router demo --model-root DIR`` or ``python -m models.demo DIR``.
``model-router demo --bucket BUCKET`` publishes them through the S3 inbox instead: each one
validated as ``model-router publish`` validates, with its metadata embedded, and uploaded.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xgboost as xgb

from router.atomic import write_atomically

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class DemoModel:
    name: str
    loader: str  # a load_* function of sklearn.datasets
    params: dict[str, Any]
    rounds: int
    layout: str  # "directory" (with metadata.json) or "file"


DEMO_MODELS = (
    DemoModel(
        "breast-cancer", "load_breast_cancer", {"objective": "binary:logistic"}, 50, "directory"
    ),
    DemoModel(
        "iris", "load_iris", {"objective": "multi:softprob", "num_class": 3}, 30, "directory"
    ),
    DemoModel(
        "wine", "load_wine", {"objective": "multi:softprob", "num_class": 3}, 50, "directory"
    ),
    DemoModel("diabetes", "load_diabetes", {"objective": "reg:squarederror"}, 100, "file"),
)
SEED = 7


def feature_name(raw: str) -> str:
    """``"sepal length (cm)"`` -> ``"sepal_length_cm"``: names that are easy to type in JSON."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", raw).strip("_").lower()


def train(spec: DemoModel, *, seed: int = SEED) -> tuple[xgb.Booster, dict[str, Any]]:
    import sklearn.datasets

    data = getattr(sklearn.datasets, spec.loader)()
    features = [feature_name(name) for name in data.feature_names]
    matrix = np.asarray(data.data, dtype=np.float32)
    dtrain = xgb.DMatrix(matrix, label=data.target, feature_names=features)
    # Row and column sampling make the seed matter: without them XGBoost ignores it, and
    # retraining with another seed would write the very same model.
    params = {
        "max_depth": 4,
        "eta": 0.2,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "seed": seed,
        "nthread": 2,
        **spec.params,
    }
    booster = xgb.train(params, dtrain, num_boost_round=spec.rounds)
    metadata: dict[str, Any] = {
        "feature_names": features,
        "description": f"Demo: XGBoost on scikit-learn's {spec.loader[5:]} data set.",
        "example": [round(float(value), 4) for value in matrix[0]],
    }
    if hasattr(data, "target_names"):
        metadata["class_labels"] = [str(label) for label in data.target_names]
    return booster, metadata


def save(spec: DemoModel, booster: xgb.Booster, metadata: dict[str, Any], root: Path) -> Path:
    model_bytes = bytes(booster.save_raw("ubj"))
    if spec.layout == "file":
        target = root / f"{spec.name}.ubj"
        write_atomically(target, model_bytes)
        return target
    directory = root / spec.name
    write_atomically(directory / "metadata.json", json.dumps(metadata, indent=2).encode())
    write_atomically(directory / "model.ubj", model_bytes)
    return directory / "model.ubj"


def train_demo_models(root: Path, *, seed: int = SEED) -> list[tuple[DemoModel, Path, list[float]]]:
    """Train and write every demo model under ``root``; returns what was written. Training is
    deterministic: another ``seed`` gives other models (and a running server a new version)."""
    written = []
    for spec in DEMO_MODELS:
        booster, metadata = train(spec, seed=seed)
        written.append((spec, save(spec, booster, metadata, root), metadata["example"]))
    return written


@dataclass(frozen=True)
class UploadedDemo:
    spec: DemoModel
    key: str
    version_id: str | None
    example: list[float]


def upload_demo_models(s3: S3Client, bucket: str, *, seed: int = SEED) -> list[UploadedDemo]:
    """Train every demo model and upload it to the inbox ``bucket``, as
    ``model-router publish --bucket`` does; the inbox function publishes each onto EFS."""
    from router.publish.s3 import upload
    from router.publish.validate import validate_model

    uploaded = []
    for spec in DEMO_MODELS:
        booster, metadata = train(spec, seed=seed)
        validated = validate_model(
            bytes(booster.save_raw("ubj")), metadata=json.dumps(metadata).encode()
        )
        key, version_id = upload(s3, bucket, spec.name, validated, progress=False)
        uploaded.append(UploadedDemo(spec, key, version_id, metadata["example"]))
    return uploaded


if __name__ == "__main__":
    # python -m models.demo [ROOT] [SEED]
    target_root = Path(sys.argv[1] if len(sys.argv) > 1 else "model-store")
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else SEED
    for spec, path, _ in train_demo_models(target_root, seed=seed):
        print(f"{spec.name:15} {path}")
