"""Request and response bodies, as pydantic models (they also document the API)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

# Strict: "1.5" and true are refused rather than coerced; JSON has no NaN, so a missing
# value is null, and overflowing literals such as 1e999 are refused instead of becoming inf.
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
ArrayRow = list[Number | None]
ObjectRow = dict[str, Number | None]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[ArrayRow] | list[ObjectRow] = Field(
        min_length=1,
        description=(
            "Rows to predict: arrays of numbers in the model's feature order, or objects "
            "keyed by feature name (absent features are missing values). null is missing."
        ),
        examples=[[[5.1, 3.5, 1.4, 0.2]]],
    )
    output: Literal["value", "margin", "contributions"] = Field(
        default="value",
        description=(
            "value: probabilities for classifiers, predictions for regressors; margin: raw "
            "untransformed scores; contributions: per-feature SHAP values (last column is "
            "the bias)."
        ),
    )


class PredictResponse(BaseModel):
    model: str
    version: str = Field(description="First 12 hex digits of the model file's SHA-256.")
    output: str
    predictions: list[float] | list[list[float]] | list[list[list[float]]]
    classes: list[str] | None = Field(
        default=None, description="Class labels from metadata.json, in output order."
    )


class ModelSummary(BaseModel):
    name: str
    format: str
    layout: str
    file_bytes: int
    modified_at: float
    loaded: bool
    version: str | None = None
    last_error: str | None = None


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    stale: bool = Field(
        description="A newer file is on disk but failed to load; the loaded version serves."
    )
    task: str | None = None
    objective: str | None = None
    num_features: int | None = None
    feature_names: list[str] | None = None
    class_labels: list[str] | None = None
    description: str | None = None
    memory_bytes: int | None = Field(default=None, description="Estimated memory when loaded.")
    loaded_at: float | None = None
    load_seconds: float | None = None
    last_error_at: float | None = None


class Health(BaseModel):
    status: Literal["ok"]
    model_root: str
    cache: dict[str, int]
    counters: dict[str, int]
