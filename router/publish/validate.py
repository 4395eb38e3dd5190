"""Bytes in, a publishable model out: checked the way the router will load it, always UBJ,
with its metadata inside the file.

A published version is one file. Metadata embedded as the booster attribute
``EMBEDDED_METADATA_ATTR`` travels with the model through one ``os.replace``, so the router
never sees a new model with old metadata. Every check here is one the router's loader makes
too, plus one prediction; anything that fails raises ``InvalidModelFile`` and nothing is
written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import ValidationError

from router.errors import InvalidInstances, InvalidModelFile
from router.xgb.loader import booster_from_bytes, check_features, embedded_metadata, objective_of
from router.xgb.metadata import EMBEDDED_METADATA_ATTR, ModelMetadata
from router.xgb.model_format import ModelFormat, ModelFormatError, sniff_format

if TYPE_CHECKING:
    from router.xgb.predictor import Predictor

MetadataSource = Literal["embedded", "given"]


@dataclass(frozen=True, slots=True)
class ValidatedModel:
    """A model that passed every check: ``data`` is what gets published."""

    data: bytes
    sha256: str
    source_format: ModelFormat
    objective: str
    num_features: int
    metadata: ModelMetadata | None
    metadata_source: MetadataSource | None

    def describe(self) -> str:
        """One line for people, e.g. ``binary:logistic, 4 features, 12.3 KiB UBJ``."""
        size = f"{human_size(len(self.data))} UBJ"
        parts = [self.objective, f"{self.num_features} features", size]
        if self.source_format == "json":
            parts[-1] += " (converted from JSON)"
        if self.metadata is not None:
            parts.append("with metadata")
        return ", ".join(parts)


def parse_metadata(raw: bytes) -> ModelMetadata:
    """A ``metadata.json`` document; raises ``InvalidModelFile`` saying where it is wrong."""
    try:
        return ModelMetadata.model_validate_json(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "document"
        raise InvalidModelFile(f"metadata.json is invalid at {where}: {problem['msg']}") from exc


def validate_model(
    data: bytes,
    *,
    metadata: bytes | None = None,
    prefer: MetadataSource = "given",
    nthread: int = 1,
) -> ValidatedModel:
    """Check ``data`` (an XGBoost JSON or UBJ model) and return the file to publish.

    ``metadata`` is a ``metadata.json`` document to embed. A model file may already carry
    metadata; ``prefer`` says which wins when both exist: ``"given"`` (an explicit
    ``--metadata``, or a metadata upload) or ``"embedded"`` (a model uploaded with its own).
    """
    try:
        fmt = sniff_format(data)
    except ModelFormatError as exc:
        raise InvalidModelFile(f"not an XGBoost model: {exc}") from exc
    predictor, config = booster_from_bytes(data, fmt, nthread=nthread)
    embedded = embedded_metadata(predictor)
    given = parse_metadata(metadata) if metadata is not None else None
    chosen, source = _choose_metadata(embedded, given, prefer)
    check_features(predictor, chosen or ModelMetadata())
    _predict_once(predictor)
    if fmt == "ubj" and source != "given":
        published = data  # nothing to change: publish the very bytes that were checked
    else:
        if source == "given" and chosen is not None:
            predictor.booster.set_attr(
                **{EMBEDDED_METADATA_ATTR: chosen.model_dump_json(exclude_none=True)}
            )
        published = bytes(predictor.booster.save_raw("ubj"))
    return ValidatedModel(
        data=published,
        sha256=hashlib.sha256(published).hexdigest(),
        source_format=fmt,
        objective=objective_of(config),
        num_features=predictor.num_features,
        metadata=chosen,
        metadata_source=source,
    )


def _choose_metadata(
    embedded: ModelMetadata | None, given: ModelMetadata | None, prefer: MetadataSource
) -> tuple[ModelMetadata | None, MetadataSource | None]:
    if given is not None and (prefer == "given" or embedded is None):
        return given, "given"
    if embedded is not None:
        return embedded, "embedded"
    return None, None


def _predict_once(predictor: Predictor) -> None:
    """Predict one row of missing values: a model that loads but cannot predict must not go
    live either."""
    row = np.full((1, predictor.num_features), np.nan, dtype=np.float32)
    try:
        predictor.predict(row)
    except InvalidInstances as exc:
        raise InvalidModelFile(f"XGBoost loads the model but cannot predict: {exc.detail}") from exc


def human_size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
