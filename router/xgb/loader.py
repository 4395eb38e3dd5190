"""Turns a model's files into a ready ``LoadedModel``, or an ``InvalidModelFile`` error.

The file is read once; those same bytes are checked for structure (XGBoost's C++ reader can
crash the process on a truncated UBJ file), hashed for the version, and handed to XGBoost.
Nothing is unpickled: only XGBoost's own JSON and UBJ formats are accepted.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import xgboost
from pydantic import ValidationError

from router.errors import InvalidModelFile
from router.store import Fingerprint, ModelFormat, ModelRef
from router.xgb.metadata import EMBEDDED_METADATA_ATTR, ModelMetadata, Task, task_of_objective
from router.xgb.model_format import ModelFormatError, check_model_bytes
from router.xgb.predictor import Predictor

if TYPE_CHECKING:
    from pathlib import Path

# Measured resident memory of a loaded booster is 0.9-1.35x its UBJ size (~48 bytes a node
# plus ~370 a tree), from 50 to 1000 trees; 1.4x keeps the byte budget an upper bound.
MEMORY_PER_UBJ_BYTE = 1.4
MEMORY_BASE_BYTES = 64 * 1024


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
    loaded_at: float = field(default_factory=time.time)

    @property
    def feature_names(self) -> list[str] | None:
        return self.predictor.feature_names

    @property
    def num_features(self) -> int:
        return self.predictor.num_features


def read_stable(path: Path) -> tuple[bytes, Fingerprint]:
    """Read a whole file and the fingerprint of exactly what was read.

    A writer that rewrites the file in place (instead of an atomic rename) may change it
    while we read; then the bytes are not a version anyone published, so refuse them and let
    the next check, which sees a new fingerprint, try again.
    """
    with path.open("rb") as handle:
        before = Fingerprint.of(os.fstat(handle.fileno()))
        data = handle.read()
        after = Fingerprint.of(os.fstat(handle.fileno()))
    if before != after or len(data) != after.size:
        raise InvalidModelFile(f"{path.name} changed while it was read; still being written?")
    return data, after


def load_model(ref: ModelRef, *, nthread: int) -> LoadedModel:
    started = time.perf_counter()
    try:
        data, fingerprint = read_stable(ref.path)
    except FileNotFoundError as exc:
        raise InvalidModelFile(f"{ref.path.name} disappeared before it could be read") from exc
    predictor, config = booster_from_bytes(data, ref.format, nthread=nthread)
    # Metadata inside the file is the publisher's and always matches it; metadata.json is for
    # directories made by hand.
    metadata, metadata_fingerprint = _read_metadata(ref)
    embedded = embedded_metadata(predictor)
    if embedded is not None:
        metadata = embedded
    objective = objective_of(config)
    check_features(predictor, metadata)
    ubj_size = len(data) if ref.format == "ubj" else len(predictor.booster.save_raw("ubj"))
    return LoadedModel(
        name=ref.name,
        version=hashlib.sha256(data).hexdigest()[:12],
        version_key=(fingerprint, metadata_fingerprint),
        predictor=predictor,
        metadata=metadata,
        task=metadata.task or task_of_objective(objective),
        objective=objective,
        format=ref.format,
        file_bytes=len(data),
        size_bytes=int(ubj_size * MEMORY_PER_UBJ_BYTE) + MEMORY_BASE_BYTES,
        load_seconds=time.perf_counter() - started,
    )


def booster_from_bytes(
    data: bytes, fmt: ModelFormat, *, nthread: int
) -> tuple[Predictor, dict[str, Any]]:
    """Check the bytes' structure, then let XGBoost parse them. Also used by the publisher."""
    try:
        check_model_bytes(data, fmt)
    except ModelFormatError as exc:
        raise InvalidModelFile(f"not a valid XGBoost {fmt.upper()} model: {exc}") from exc
    try:
        booster = xgboost.Booster(model_file=bytearray(data))
        booster.set_param({"nthread": nthread})
        config: dict[str, Any] = orjson.loads(booster.save_config())
        linear = config["learner"]["gradient_booster"]["name"] == "gblinear"
        predictor = Predictor(booster, linear=linear)
    except (xgboost.core.XGBoostError, UnicodeDecodeError, ValueError) as exc:
        # The Python side decodes feature names from the file itself: an invalid one is a
        # UnicodeDecodeError, duplicate ones a ValueError, outside XGBoost's error type.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown"
        raise InvalidModelFile(f"XGBoost could not load the model: {first_line}") from exc
    return predictor, config


def objective_of(config: dict[str, Any]) -> str:
    """The objective name from ``Booster.save_config()``, e.g. ``binary:logistic``."""
    return str(config["learner"]["objective"]["name"])


def embedded_metadata(predictor: Predictor) -> ModelMetadata | None:
    """Metadata stored inside the model file (see ``EMBEDDED_METADATA_ATTR``), if any."""
    raw = predictor.booster.attr(EMBEDDED_METADATA_ATTR)
    if raw is None:
        return None
    return _parse_metadata(raw, f"the model's {EMBEDDED_METADATA_ATTR} attribute")


def _parse_metadata(raw: str | bytes, where: str) -> ModelMetadata:
    try:
        return ModelMetadata.model_validate_json(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field_path = ".".join(str(part) for part in problem["loc"]) or "document"
        raise InvalidModelFile(f"{where} is invalid at {field_path}: {problem['msg']}") from exc


def _read_metadata(ref: ModelRef) -> tuple[ModelMetadata, Fingerprint | None]:
    if ref.metadata_path is None:
        return ModelMetadata(), None
    try:
        raw, fingerprint = read_stable(ref.metadata_path)
    except FileNotFoundError:
        return ModelMetadata(), None
    return _parse_metadata(raw, "metadata.json"), fingerprint


def check_features(predictor: Predictor, metadata: ModelMetadata) -> None:
    """Metadata feature names must match the model; fills them in when the model has none."""
    declared = metadata.feature_names
    if declared is None:
        return
    if len(declared) != predictor.num_features:
        raise InvalidModelFile(
            f"metadata.json lists {len(declared)} features but the model has "
            f"{predictor.num_features}"
        )
    if predictor.feature_names is None:
        predictor.feature_names = list(declared)
    elif predictor.feature_names != declared:
        raise InvalidModelFile("metadata.json feature_names differ from the model's own")
