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

from router.errors import InvalidInstances, InvalidModelFile
from router.store import DIR_MODEL_STEM, METADATA_FILE
from router.xgb.formats import SUFFIXES, ModelFormat, ModelFormatError, sniff_format
from router.xgb.loader import (
    booster_from_bytes,
    check_metadata,
    embedded_metadata,
    objective_of,
    parse_metadata,
)
from router.xgb.metadata import EMBEDDED_METADATA_ATTR, ModelMetadata

if TYPE_CHECKING:
    from pathlib import Path

    from router.xgb.metadata import RoundsChoice
    from router.xgb.predictor import Predictor, Rounds

# Where a published version's metadata came from: given with the upload (--metadata, a
# metadata.json upload), inside the uploaded file, or kept from the version that was live.
MetadataSource = Literal["embedded", "given", "kept"]

__all__ = [
    "MetadataSource",
    "ValidatedModel",
    "kept_metadata",
    "parse_metadata",
    "validate_model",
    "with_kept_metadata",
]


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
    rounds: Rounds | None = None
    default_rounds: RoundsChoice = "best"

    def describe(self) -> str:
        """One line for people, e.g. ``binary:logistic, 4 features, 12.3 KiB UBJ``."""
        size = f"{human_size(len(self.data))} UBJ"
        parts = [self.objective, f"{self.num_features} features", size]
        if self.source_format == "json":
            parts[-1] += " (converted from JSON)"
        if self.rounds is not None:
            parts.append(self.describe_rounds())
        if self.metadata is not None and self.metadata.model_dump(exclude_none=True):
            parts.append(
                "with the live version's metadata"
                if self.metadata_source == "kept"
                else "with metadata"
            )
        elif self.metadata is not None:
            parts.append("without metadata")  # e.g. --drop-metadata: published as {}
        return ", ".join(parts)

    def metadata_keys(self) -> str:
        """The metadata's keys, e.g. ``class_labels, description``."""
        keys = self.metadata.model_dump(exclude_none=True) if self.metadata else {}
        return ", ".join(keys) or "none"

    def describe_rounds(self) -> str:
        rounds = self.rounds
        if rounds is None:
            return ""
        used = rounds.used(self.default_rounds)
        plural = "round" if rounds.in_file == 1 else "rounds"
        if not rounds.early_stopping:
            return f"no early stopping: serves all {rounds.in_file} {plural}"
        best = f"early stopping at best_iteration {rounds.best_iteration}"
        if rounds.linear:
            # XGBoost has no rounds to choose in a linear model: it always uses every one.
            return f"{best}, but gblinear always serves all {rounds.in_file} {plural}"
        return f"{best}: serves rounds 1-{used} of {rounds.in_file}" + (
            ' (metadata rounds: "all")' if self.default_rounds == "all" else ""
        )


def validate_model(
    data: bytes,
    *,
    metadata: bytes | None = None,
    prefer: Literal["embedded", "given"] = "given",
    kept: bytes | None = None,
    nthread: int = 1,
    metadata_name: str = METADATA_FILE,
) -> ValidatedModel:
    """Check ``data`` (an XGBoost JSON or UBJ model) and return the file to publish.

    ``metadata`` is a ``metadata.json`` document to embed. A model file may already carry
    metadata; ``prefer`` says which wins when both exist: ``"given"`` (an explicit
    ``--metadata``, or a metadata upload) or ``"embedded"`` (a model uploaded with its own).
    ``kept`` is the live version's metadata (``kept_metadata``): used when neither exists,
    so that class labels survive a retrain. To publish without any, give ``b"{}"``.
    ``metadata_name`` is what errors call ``metadata`` (the file the user gave).
    """
    try:
        fmt = sniff_format(data)
    except ModelFormatError as exc:
        raise InvalidModelFile(f"not an XGBoost model: {exc}") from exc
    predictor, config = booster_from_bytes(data, fmt, nthread=nthread)
    embedded = embedded_metadata(predictor)
    given = parse_metadata(metadata, metadata_name) if metadata is not None else None
    chosen, source = _choose_metadata(embedded, given, prefer)
    if chosen is None and kept is not None:
        chosen, source = parse_metadata(kept, "the live version's metadata"), "kept"
    where = {
        "embedded": "the model's embedded metadata",
        "given": metadata_name,
        "kept": "the live version's metadata (kept because none came with this model; give "
        "new metadata, or publish without: --drop-metadata)",
    }
    check_metadata(predictor, chosen or ModelMetadata(), where=where[source or "given"])
    _predict_once(predictor)
    if fmt == "ubj" and source not in ("given", "kept"):
        published = data  # nothing to change: publish the very bytes that were checked
    else:
        if source in ("given", "kept") and chosen is not None:
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
        rounds=predictor.rounds,
        default_rounds=predictor.default_rounds,
    )


def with_kept_metadata(model: ValidatedModel, model_folder: Path) -> ValidatedModel:
    """``model`` with the live version's metadata in ``<root>/<name>/`` when it came with
    none: the folder's side of the one rule the inbox follows too."""
    if model.metadata_source is not None:
        return model
    kept = kept_metadata(model_folder)
    return model if kept is None else validate_model(model.data, kept=kept)


def kept_metadata(model_folder: Path) -> bytes | None:
    """The live version's metadata in ``<root>/<name>/``, as the router serves it: embedded
    in the live model file (a published one), else a hand-placed ``metadata.json`` beside
    it (how a folder made by hand, like ``make run``'s demo models, gives its labels);
    ``None`` when there is none. A live file that does not load has no metadata of its own:
    a ``metadata.json`` beside it is still the folder's."""
    for suffix, fmt in SUFFIXES:  # the store's order: model.ubj before model.json
        try:
            data = (model_folder / f"{DIR_MODEL_STEM}{suffix}").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            predictor, _ = booster_from_bytes(data, fmt, nthread=1)
        except InvalidModelFile:
            break
        raw = predictor.booster.attr(EMBEDDED_METADATA_ATTR)
        if raw is not None:
            return raw.encode()
        break
    try:
        return (model_folder / METADATA_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _choose_metadata(
    embedded: ModelMetadata | None, given: ModelMetadata | None, prefer: str
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
