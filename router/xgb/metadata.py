"""The optional ``metadata.json`` beside a model, and what the booster says about itself.

Metadata cannot lie about the model: ``check_metadata`` holds it against the booster (its
classes, objective and feature names) wherever metadata enters, on load and on publish, and
an unknown key is an error rather than ignored (a typo such as ``class_lables`` would
otherwise silently drop the labels).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Booster attribute holding metadata JSON inside the model file itself. The publisher writes
# it, so that one atomic rename swaps a model and its metadata together.
EMBEDDED_METADATA_ATTR = "model_router_metadata"

Task = Literal["binary", "multiclass", "regression", "ranking", "survival", "other"]
# Which boosting rounds answer: "best" stops at the round early stopping chose (what the
# scikit-learn estimator and XGBoost's docs do), "all" uses every round in the file.
RoundsChoice = Literal["best", "all"]


class ModelMetadata(BaseModel):
    """Optional facts a training job writes beside ``model.ubj``.

    All fields are optional: the booster itself carries its feature names, objective, the
    round early stopping chose and (scikit-learn) its estimator type. What only metadata can
    add is class labels and a description.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature_names: list[str] | None = Field(
        default=None, description="The model's features, in order; must equal the model's own."
    )
    task: Task | None = Field(default=None, description="Must agree with the objective.")
    class_labels: list[str] | list[int] | None = Field(
        default=None,
        description="Label of each class, in the order of the model's outputs (for a "
        "LabelEncoder, its classes_). As many as the model has classes: 2 for a binary model. "
        "All text, or all whole numbers, answered as they are given.",
    )
    description: str | None = None
    example: list[float | None] | None = Field(
        default=None,
        description="One row in feature order; `model-router serve` prints a call with it.",
    )
    rounds: RoundsChoice | None = Field(
        default=None,
        description='"best" (default): the rounds up to best_iteration when the model was '
        'trained with early stopping; "all": every round in the file.',
    )

    @field_validator("class_labels", mode="before")
    @classmethod
    def _one_kind_of_label(cls, value: object) -> object:
        # A LabelEncoder's classes_.tolist() is what a data scientist saves: text, or whole
        # numbers ([3, 5, 7]; [0.0, 1.0] for a float target), which answer as the numbers
        # inverse_transform gives, so that `answer == 3` holds as it does in the notebook.
        if not isinstance(value, list) or all(type(label) is str for label in value):
            return value
        if all(_is_whole_number(label) for label in value):
            return [int(label) for label in value]
        raise ValueError(
            "class_labels must be all text or all whole numbers within 64 bits (a "
            "LabelEncoder's classes_); booleans, fractions, NaN and a mix of kinds are not "
            "labels the API can answer"
        )


def _is_whole_number(value: object) -> bool:
    """A whole number a JSON answer can carry (orjson writes 64-bit integers)."""
    if type(value) is float and value.is_integer():
        value = int(value)
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def task_of_objective(objective: str) -> Task:
    """Map XGBoost's objective name to the kind of output it predicts."""
    family = objective.split(":", 1)[0]
    if family == "binary":
        return "binary"
    if family == "multi":
        return "multiclass"
    if family in ("reg", "count"):
        return "regression"
    if family == "rank":
        return "ranking"
    if family == "survival":
        return "survival"
    return "other"


def metadata_problems(
    metadata: ModelMetadata,
    *,
    objective: str,
    num_classes: int | None,
    feature_names: list[str] | None,
    num_features: int,
) -> list[str]:
    """What in ``metadata`` contradicts the model; empty when it fits."""
    problems: list[str] = []
    derived = task_of_objective(objective)
    if metadata.task is not None and derived != "other" and metadata.task != derived:
        problems.append(
            f"says task {metadata.task!r} but the objective {objective} is a {derived} model"
        )
    labels = metadata.class_labels
    if labels is not None:
        if num_classes is None and derived != "other":
            problems.append(
                f"has class_labels, which are for classifiers; the objective {objective} is a "
                f"{derived} model"
            )
        elif num_classes is not None and len(labels) != num_classes:
            problems.append(
                f"lists {len(labels)} class_labels but the model has {num_classes} classes"
            )
        if len(set(labels)) != len(labels):
            problems.append("has duplicate class_labels")
    if metadata.example is not None and len(metadata.example) != num_features:
        problems.append(
            f"has an example of {len(metadata.example)} values but the model has "
            f"{num_features} features"
        )
    declared = metadata.feature_names
    if declared is not None:
        if len(declared) != num_features:
            problems.append(f"lists {len(declared)} features but the model has {num_features}")
        elif feature_names is not None and declared != feature_names:
            problems.append(
                "has feature_names that differ from the model's own: "
                + _differences(declared, feature_names)
            )
    return problems


def _differences(declared: list[str], own: list[str]) -> str:
    missing = [name for name in own if name not in declared]
    extra = [name for name in declared if name not in own]
    parts = []
    # Said from the metadata's side: it is the file being checked against the model.
    if missing:
        parts.append(f"the model has {_names(missing)}, which the metadata lacks")
    if extra:
        parts.append(f"the metadata has {_names(extra)}, which the model lacks")
    if not parts:
        moved = [
            f"{d!r} at {i} (the model has {o!r})"
            for i, (d, o) in enumerate(zip(declared, own, strict=True))
            if d != o
        ]
        parts.append("same names in another order: " + ", ".join(moved[:5]))
    return "; ".join(parts)


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")
