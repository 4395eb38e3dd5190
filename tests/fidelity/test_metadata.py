"""Metadata that cannot lie: each contradiction is refused, on publish (the validator both
publish paths use) and on load of a hand-placed metadata.json, where the model's status
shows the reason."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.errors import InvalidModelFile
from router.publish.validate import validate_model
from router.registry.registry import ModelRegistry
from router.settings import Settings

from .estimators import classifier, multiclass, regressor

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def binary_model() -> bytes:
    return bytes(classifier("m", "ubj", early=False).booster.save_raw("ubj"))


def refusal(model: bytes, metadata: dict[str, object]) -> str:
    with pytest.raises(InvalidModelFile) as raised:
        validate_model(model, metadata=json.dumps(metadata).encode())
    return raised.value.detail


def test_an_unknown_key_is_refused_naming_it(binary_model: bytes) -> None:
    detail = refusal(binary_model, {"class_lables": ["no", "yes"]})
    assert "unknown key 'class_lables'" in detail and "class_labels" in detail


def test_class_labels_must_count_the_models_classes(binary_model: bytes) -> None:
    detail = refusal(binary_model, {"class_labels": ["yes"]})
    assert "lists 1 class_labels but the model has 2 classes" in detail
    three = bytes(multiclass("m", "ubj", early=False, labels=False).booster.save_raw("ubj"))
    assert "lists 2 class_labels but the model has 3 classes" in refusal(
        three, {"class_labels": ["a", "b"]}
    )


def test_class_labels_are_refused_for_a_regressor() -> None:
    model = bytes(regressor("m", "ubj", early=False).booster.save_raw("ubj"))
    assert "has class_labels, which are for classifiers" in refusal(
        model, {"class_labels": ["a", "b"]}
    )


def test_task_must_agree_with_the_objective(binary_model: bytes) -> None:
    detail = refusal(binary_model, {"task": "regression"})
    assert "says task 'regression' but the objective binary:logistic is a binary model" in detail


def test_feature_names_that_differ_list_the_differences(binary_model: bytes) -> None:
    detail = refusal(binary_model, {"feature_names": ["age", "salary", "visits"]})
    assert "the model has 'income', which the metadata lacks" in detail
    assert "the metadata has 'salary', which the model lacks" in detail
    moved = refusal(binary_model, {"feature_names": ["income", "age", "visits"]})
    assert "another order" in moved and "'income' at 0 (the model has 'age')" in moved


def test_a_hand_placed_invalid_metadata_file_shows_in_the_models_status(
    tmp_path: Path, binary_model: bytes
) -> None:
    (tmp_path / "churn").mkdir()
    (tmp_path / "churn" / "model.ubj").write_bytes(binary_model)
    (tmp_path / "churn" / "metadata.json").write_text('{"class_lables": ["no", "yes"]}')
    registry = ModelRegistry.from_settings(Settings(model_root=tmp_path))
    status = registry.load_and_describe("churn")
    assert status.loaded is None and status.failure is not None
    assert "metadata.json has an unknown key 'class_lables'" in status.failure.error.detail


def test_metadata_rounds_all_serves_every_round(tmp_path: Path) -> None:
    case = classifier("churn", "ubj", early=True)
    case.metadata = {"rounds": "all"}
    case.save(tmp_path)
    model = ModelRegistry.from_settings(Settings(model_root=tmp_path)).get("churn")
    assert model.rounds_used() == case.booster.num_boosted_rounds()
    got = model.predict(case.array_rows(), "value")
    np.testing.assert_allclose(got, case.expected("value", rounds="all"), rtol=1e-6)
    best = model.predict(case.array_rows(), "value", rounds="best")
    np.testing.assert_allclose(best, case.expected("value"), rtol=1e-6)
