"""Validation: what may be published, and the one UBJ file that is published."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
import xgboost as xgb

from router.errors import InvalidModelFile
from router.publish.validate import validate_model
from router.store import ModelStore
from router.xgb.formats import sniff_format
from router.xgb.loader import booster_from_bytes, embedded_metadata, load_model
from router.xgb.metadata import EMBEDDED_METADATA_ATTR
from tests.modelkit import model_bytes, rows, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

METADATA = {"class_labels": ["no", "yes"], "description": "churn"}


def test_ubj_without_metadata_is_published_byte_for_byte() -> None:
    data = model_bytes(train_booster("binary"))

    model = validate_model(data)

    assert model.data == data
    assert (model.source_format, model.objective, model.num_features) == (
        "ubj",
        "binary:logistic",
        4,
    )
    assert model.metadata is None


def test_json_becomes_ubj_with_the_same_predictions() -> None:
    booster = train_booster("multiclass")

    model = validate_model(model_bytes(booster, "json"))

    assert model.source_format == "json"
    assert sniff_format(model.data) == "ubj"
    loaded = xgb.Booster(model_file=bytearray(model.data))
    np.testing.assert_array_equal(loaded.inplace_predict(rows()), booster.inplace_predict(rows()))
    assert "converted from JSON" in model.describe()


def test_given_metadata_is_embedded() -> None:
    model = validate_model(
        model_bytes(train_booster("binary")), metadata=json.dumps(METADATA).encode()
    )

    booster = xgb.Booster(model_file=bytearray(model.data))
    assert json.loads(booster.attr(EMBEDDED_METADATA_ATTR) or "") == METADATA
    assert model.metadata is not None and model.metadata.class_labels == ["no", "yes"]
    assert model.metadata_source == "given"


def test_loader_serves_the_published_file_with_its_metadata(tmp_path: Path) -> None:
    model = validate_model(
        model_bytes(train_booster("binary")), metadata=json.dumps(METADATA).encode()
    )
    write_model(tmp_path, "churn", model.data)

    loaded = load_model(ModelStore(tmp_path).read_named("churn"), nthread=1)

    assert loaded.metadata.class_labels == ["no", "yes"]


def test_metadata_already_in_the_file_is_kept_or_overridden_as_asked() -> None:
    inside = validate_model(
        model_bytes(train_booster("binary")), metadata=b'{"description": "inside"}'
    ).data
    other = b'{"description": "beside"}'

    kept = validate_model(inside, metadata=other, prefer="embedded")
    overridden = validate_model(inside, metadata=other, prefer="given")

    assert kept.data == inside and kept.metadata_source == "embedded"
    assert kept.metadata is not None and kept.metadata.description == "inside"
    predictor = booster_from_bytes(overridden.data, "ubj", nthread=1)[0]
    described = embedded_metadata(predictor)
    assert described is not None and described.description == "beside"


@pytest.mark.parametrize(
    ("data", "metadata", "message"),
    [
        (b"", None, "not an XGBoost model: empty file"),
        (b"PK\x03\x04 a zip file", None, "not an XGBoost model"),
        (b'{"learner": 1}', None, "'learner' must be an object"),
        ("truncated", None, "file is truncated"),
        ("model", b'{"feature_names": ["a", "b"]}', "lists 2 features but the model has 4"),
        ("model", b'{"class_labels": "yes"}', "metadata.json is invalid at class_labels"),
        ("model", b"{not json", "metadata.json is invalid"),
    ],
)
def test_what_is_not_publishable_is_refused_with_the_reason(
    data: bytes | str, metadata: bytes | None, message: str
) -> None:
    good = model_bytes(train_booster("binary"))
    if data == "model":
        data = good
    elif data == "truncated":
        data = good[: len(good) // 2]
    assert isinstance(data, bytes)

    with pytest.raises(InvalidModelFile, match=message):
        validate_model(data, metadata=metadata)


def test_embedded_metadata_that_contradicts_the_model_is_refused() -> None:
    booster = train_booster("binary")
    booster.set_attr(**{EMBEDDED_METADATA_ATTR: '{"feature_names": ["x"]}'})

    with pytest.raises(InvalidModelFile, match="lists 1 features"):
        validate_model(model_bytes(booster))


def test_metadata_feature_names_must_match_the_models_own() -> None:
    data = model_bytes(train_booster("binary", feature_names=["a", "b", "c", "d"]))

    with pytest.raises(InvalidModelFile, match="differ from the model's own"):
        validate_model(data, metadata=b'{"feature_names": ["a", "b", "c", "x"]}')


def test_a_published_file_validates_again_unchanged() -> None:
    model = validate_model(model_bytes(train_booster("regression"), "json"), metadata=b"{}")

    again = validate_model(model.data)

    assert again.data == model.data
    assert again.metadata_source == "embedded"


def test_the_rounds_line_of_a_linear_model_says_every_round_serves() -> None:
    # gblinear records best_iteration under early stopping, but XGBoost predicts with every
    # round of a linear model: "serves rounds 1-4 of 7" would be a line that lies.
    rng = np.random.default_rng(3)
    features = rng.normal(size=(300, 3))
    target = features @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=3.0, size=300)
    train = xgb.DMatrix(features[:200], target[:200])
    held_out = xgb.DMatrix(features[200:], target[200:])
    booster = xgb.train(
        {"booster": "gblinear", "eta": 0.9}, train, 200,
        evals=[(held_out, "held_out")], early_stopping_rounds=2, verbose_eval=False,
    )  # fmt: skip
    assert booster.best_iteration is not None

    line = validate_model(model_bytes(booster)).describe_rounds()

    rounds = booster.num_boosted_rounds()
    assert line == (
        f"early stopping at best_iteration {booster.best_iteration}, but gblinear always "
        f"serves all {rounds} {'round' if rounds == 1 else 'rounds'}"
    )
    single = validate_model(model_bytes(train_booster(trees=1))).describe_rounds()
    assert single == "no early stopping: serves all 1 round"
