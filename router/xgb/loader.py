"""Turns a model's bytes into a ready ``LoadedModel``, or an ``InvalidModelFile`` error.

The store reads the file once (``ModelStore.read``) and hashes it for the version; those same
bytes are checked for structure here (XGBoost's C++ reader can crash the process on a
truncated UBJ file) and handed to XGBoost.
Nothing is unpickled: only XGBoost's own JSON and UBJ formats are accepted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import xgboost
from pydantic import ValidationError

from router.counts import parse_count
from router.errors import InvalidInstances, InvalidModelFile
from router.xgb.capi import load_booster
from router.xgb.formats import (
    MEMORY_BASE_BYTES,
    ModelFormatError,
    check_model_bytes,
    sniff_format,
)
from router.xgb.formats import MEMORY_PER_UBJ_BYTE as MEMORY_PER_UBJ_BYTE  # the registry's
from router.xgb.limits import FLOAT32_MAX
from router.xgb.metadata import (
    EMBEDDED_METADATA_ATTR,
    ModelMetadata,
    RoundsChoice,
    Task,
    metadata_problems,
    task_of_objective,
)
from router.xgb.pickles import pickle_refusal
from router.xgb.predictor import Category, Predictor, Rounds, Row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from router.store import Fingerprint, ModelFiles, ModelFormat
    from router.xgb.outputs import Output


# What a model answers: XGBoost's numbers, or class labels (text or whole numbers).
Predictions = np.ndarray | list[str] | list[int]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One loaded version of a model: what the cache holds and a request predicts with."""

    name: str
    version: str
    version_key: tuple[Fingerprint, Fingerprint | None]
    predictor: Predictor
    metadata: ModelMetadata
    task: Task
    objective: str
    format: ModelFormat
    file_bytes: int
    size_bytes: int
    load_seconds: float
    estimator: str | None = None  # the scikit-learn estimator type, if one saved the model
    loaded_at: float = field(default_factory=time.time)

    @property
    def feature_names(self) -> list[str] | None:
        return self.predictor.feature_names

    @property
    def num_features(self) -> int:
        return self.predictor.num_features

    def rounds_used(self, choice: RoundsChoice | None = None) -> int:
        return self.predictor.rounds.used(choice or self.predictor.default_rounds)

    def predict(
        self, instances: Sequence[Row], output: Output = "value", rounds: RoundsChoice | None = None
    ) -> Predictions:
        """What the training-side API answers for ``instances``; a ``label`` is the class
        label when the metadata names the classes, else the class index (as ``predict``)."""
        predictor = self.predictor
        with np.errstate(over="ignore"):  # a number beyond float32 is refused just below
            matrix = predictor.matrix(instances)
        by_name = bool(instances) and isinstance(instances[0], Mapping)
        refuse_infinite(matrix, predictor.feature_names if by_name else None)
        result = predictor.predict(matrix, output, rounds)
        labels = self.metadata.class_labels
        if output == "label" and labels:
            # Any shape: a multi-label model answers a label per row and target.
            named: list[str] | list[int] = np.asarray(labels, dtype=object)[result].tolist()
            return named
        return result


def refuse_infinite(matrix: np.ndarray, names: Sequence[str] | None = None) -> None:
    """Refuse numbers JSON allows but float32 cannot hold (``1e300``): converted, they are
    infinities, and each output would treat them differently. Missing values are NaN and
    stay; a parsed body holds no infinity of its own (the API refuses them). The first one
    is named by row and column, or by feature where ``names`` says rows were keyed so."""
    infinite = np.isinf(matrix)
    if infinite.any():
        row, column = (int(index) for index in np.argwhere(infinite)[0])
        where = names[column] if names is not None else column
        raise InvalidInstances(
            f"instances.{row}.{where}: a number beyond float32's range "
            f"(±{FLOAT32_MAX:.4g}); models compute in float32"
        )


def load_model(files: ModelFiles, *, nthread: int) -> LoadedModel:
    """Parse one version's bytes, as the store read them. Bytes a publisher recorded
    (``files.published``) passed the same checks when published: they are trusted."""
    started = time.perf_counter()
    ref, data = files.ref, files.data
    predictor, config = booster_from_bytes(
        data, ref.format, nthread=nthread, trusted=files.published
    )
    # Metadata inside the file is the publisher's and always matches it; metadata.json is for
    # directories made by hand.
    metadata = ModelMetadata()
    if files.metadata is not None:
        metadata = parse_metadata(files.metadata)
    embedded = embedded_metadata(predictor)
    if embedded is not None:
        metadata = embedded
    objective = objective_of(config)
    check_metadata(
        predictor,
        metadata,
        where="the embedded metadata" if embedded is not None else "metadata.json",
    )
    ubj_size = len(data) if ref.format == "ubj" else len(predictor.booster.save_raw("ubj"))
    return LoadedModel(
        name=ref.name,
        version=files.sha256[:12],
        version_key=ref.version_key,
        predictor=predictor,
        metadata=metadata,
        task=metadata.task or task_of_objective(objective),
        objective=objective,
        format=ref.format,
        file_bytes=len(data),
        size_bytes=int(ubj_size * MEMORY_PER_UBJ_BYTE) + MEMORY_BASE_BYTES,
        load_seconds=time.perf_counter() - started,
        estimator=sklearn_estimator_type(predictor.booster),
    )


def _misnamed(data: bytes, fmt: ModelFormat) -> str:
    """What to do when the bytes are the other format (save_model("m.ubj") of a JSON
    string, a .json renamed .ubj): the suffix is what decides how a file is read."""
    try:
        actual = sniff_format(data)
    except ModelFormatError:
        return ""
    if actual == fmt:
        return ""
    return (
        f"; the file holds a {actual.upper()} model: name it .{actual}, or publish it "
        "(model-router publish converts it)"
    )


def booster_from_bytes(
    data: bytes, fmt: ModelFormat, *, nthread: int, trusted: bool = False
) -> tuple[Predictor, dict[str, Any]]:
    """Check the bytes' structure, then let XGBoost parse them. Also used by the publisher.

    ``trusted``: these exact bytes (by SHA-256) passed these checks when they were
    published, so the checks before XGBoost's own parse may be skipped.
    """
    refusal = pickle_refusal(data)
    if refusal is not None:
        raise InvalidModelFile(refusal)
    try:
        check_model_bytes(data, fmt, trusted=trusted)
    except ModelFormatError as exc:
        raise InvalidModelFile(
            f"not a valid XGBoost {fmt.upper()} model: {exc}{_misnamed(data, fmt)}"
        ) from exc
    try:
        booster = load_booster(data, nthread=nthread)
        config: dict[str, Any] = orjson.loads(booster.save_config())
        predictor = _predictor(booster, config)
    except (xgboost.core.XGBoostError, UnicodeDecodeError, ValueError) as exc:
        # The Python side decodes feature names from the file itself: an invalid one is a
        # UnicodeDecodeError, duplicate ones a ValueError, outside XGBoost's error type.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown"
        raise InvalidModelFile(f"XGBoost could not load the model: {first_line}") from exc
    return predictor, config


def _predictor(booster: xgboost.Booster, config: dict[str, Any]) -> Predictor:
    learner = config["learner"]
    gradient_booster = learner["gradient_booster"]
    linear = gradient_booster["name"] == "gblinear"
    objective = objective_of(config)
    model_param = learner["learner_model_param"]
    rounds = booster.num_boosted_rounds()
    # dart keeps its trees' parameters one level down, under "gbtree".
    tree_param = gradient_booster.get("gbtree", gradient_booster).get("gbtree_model_param", {})
    num_trees = int(tree_param.get("num_trees", 0))
    best = booster.attr("best_iteration")
    return Predictor(
        booster,
        linear=linear,
        objective=objective,
        num_classes=num_classes(objective, model_param),
        num_targets=int(model_param.get("num_target", 1)),
        rounds=Rounds(
            in_file=rounds,
            best_iteration=parse_count(best),
            trees_per_round=num_trees // rounds if rounds else 0,
            linear=linear,
        ),
        categories=stored_categories(booster) if "c" in (booster.feature_types or []) else None,
    )


def num_classes(objective: str, model_param: dict[str, Any]) -> int | None:
    """Classes of a classifier (2 for binary), ``None`` for other models."""
    task = task_of_objective(objective)
    if task == "binary":
        return 2
    if task == "multiclass":
        return int(model_param.get("num_class", 0)) or None
    return None


def stored_categories(booster: xgboost.Booster) -> dict[int, tuple[Category, ...]]:
    """The categories of each categorical feature, as XGBoost (3.1 and later) stores them
    when a model is trained from a DataFrame: a category's code is its position.

    XGBoost's Python API exports them only to pyarrow, which the router does not ship, so
    they are read from the model's JSON (only for models with categorical features)."""
    document = orjson.loads(booster.save_raw("json"))
    gradient_booster = document["learner"]["gradient_booster"]
    model = gradient_booster.get("gbtree", gradient_booster).get("model", {})
    encodings = model.get("cats", {}).get("enc", [])
    found: dict[int, tuple[Category, ...]] = {}
    for feature, encoding in enumerate(encodings):
        values = encoding.get("values", [])
        if not values:
            continue
        offsets = encoding.get("offsets")
        if offsets:
            text = bytes(values)
            found[feature] = tuple(
                text[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)
            )
        else:
            found[feature] = tuple(values)
    return found


def sklearn_estimator_type(booster: xgboost.Booster) -> str | None:
    """``classifier``, ``regressor`` or ``ranker`` for a model saved by a scikit-learn
    estimator's ``save_model`` (XGBoost stores it as the ``scikit_learn`` attribute)."""
    raw = booster.attr("scikit_learn")
    if raw is None:
        return None
    try:
        facts = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    kind = facts.get("_estimator_type") if isinstance(facts, dict) else None
    return kind if isinstance(kind, str) else None


def objective_of(config: dict[str, Any]) -> str:
    """The objective name from ``Booster.save_config()``, e.g. ``binary:logistic``."""
    return str(config["learner"]["objective"]["name"])


def embedded_metadata(predictor: Predictor) -> ModelMetadata | None:
    """Metadata stored inside the model file (see ``EMBEDDED_METADATA_ATTR``), if any."""
    raw = predictor.booster.attr(EMBEDDED_METADATA_ATTR)
    if raw is None:
        return None
    return parse_metadata(raw, f"the model's {EMBEDDED_METADATA_ATTR} attribute")


def parse_metadata(raw: str | bytes, where: str = "metadata.json") -> ModelMetadata:
    """A metadata document; raises ``InvalidModelFile`` saying where it is wrong."""
    try:
        return ModelMetadata.model_validate_json(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field_path = ".".join(str(part) for part in problem["loc"]) or "document"
        if problem["type"] == "extra_forbidden":
            known = ", ".join(ModelMetadata.model_fields)
            raise InvalidModelFile(
                f"{where} has an unknown key {field_path!r}; the keys are {known}"
            ) from exc
        raise InvalidModelFile(f"{where} is invalid at {field_path}: {problem['msg']}") from exc


def check_metadata(predictor: Predictor, metadata: ModelMetadata, *, where: str) -> None:
    """Refuse metadata that contradicts the model; fill in feature names the model lacks, and
    the round choice (``rounds``)."""
    problems = metadata_problems(
        metadata,
        objective=predictor.objective,
        num_classes=predictor.num_classes,
        feature_names=predictor.feature_names,
        num_features=predictor.num_features,
    )
    if problems:
        raise InvalidModelFile(f"{where} {'; '.join(problems)}")
    if metadata.feature_names is not None and predictor.feature_names is None:
        predictor.feature_names = list(metadata.feature_names)
        predictor.features = [
            feature._replace(name=name)
            for feature, name in zip(predictor.features, metadata.feature_names, strict=True)
        ]
    predictor.default_rounds = metadata.rounds or "best"
