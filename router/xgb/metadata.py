"""The optional ``metadata.json`` beside a model, and what the booster says about itself."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Booster attribute holding metadata JSON inside the model file itself. The publisher writes
# it, so that one atomic rename swaps a model and its metadata together.
EMBEDDED_METADATA_ATTR = "model_router_metadata"

Task = Literal["binary", "multiclass", "regression", "ranking", "survival", "other"]


class ModelMetadata(BaseModel):
    """Optional facts a training job writes beside ``model.ubj``.

    All fields are optional: the booster itself carries its feature names and objective.
    What only metadata can add is class labels and a description.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    feature_names: list[str] | None = None
    task: Task | None = None
    class_labels: list[str] | None = Field(
        default=None, description="Label of each class, in the order of the model's outputs."
    )
    description: str | None = None


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
