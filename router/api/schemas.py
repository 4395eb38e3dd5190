"""Request and response bodies, as pydantic models (they also document the API).

Annotations are real objects, not ``from __future__`` strings, which pydantic would compile
and evaluate one by one at import, on every cold start.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat

from router.xgb.metadata import RoundsChoice
from router.xgb.outputs import Output

# Strict: "1.5" is refused rather than coerced; a missing value is null (or NaN, see
# router.api.body), and overflowing literals such as 1e999 are refused instead of becoming
# inf. true and false are 1 and 0, as XGBoost reads a pandas bool column (the predictor
# refuses them for a categorical feature). Only rows as objects may carry strings: the value
# of a categorical feature as it was in the DataFrame ("plan": "pro"); the predictor refuses
# a string anywhere else.
Number = Annotated[StrictFloat, Field(allow_inf_nan=False)]
ArrayRow = list[Number | StrictBool | None]
ObjectRow = dict[str, Number | StrictBool | str | None]
# At least one row, said on each list: on the union itself, pydantic writes min_length as
# the JSON schema's minLength, a keyword for strings that an array ignores.
ArrayRows = Annotated[list[ArrayRow], Field(min_length=1)]
ObjectRows = Annotated[list[ObjectRow], Field(min_length=1)]


class PredictRequest(BaseModel):
    # Deferred: requests are parsed by hand and built with model_construct (router.api.body),
    # so the validator pydantic would build at import serves nothing but the OpenAPI schema,
    # which builds it when asked.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    instances: ArrayRows | ObjectRows = Field(
        description=(
            "Rows to predict: arrays of numbers in the model's feature order, or objects "
            "keyed by feature name (absent features are missing values; an empty object is "
            "refused). null (or NaN) is "
            "missing; true and false are 1 and 0 (a boolean feature takes only those). In "
            'objects, a categorical feature may be given as its category, e.g. "plan": "pro".'
        ),
        examples=[[[5.1, 3.5, 1.4, 0.2]]],
    )
    output: Output = Field(
        default="value",
        description=(
            "value: what Booster.inplace_predict returns (the positive class's probability "
            "for binary models, each class's for multiclass, predictions for regressors); "
            "margin: raw untransformed scores; contributions: per-feature SHAP values (last "
            "column is the bias); probabilities: what XGBClassifier.predict_proba returns "
            "(both columns for a binary model); label: what XGBClassifier.predict returns, "
            "the class label when the model's class_labels are known, else its index."
        ),
    )
    rounds: RoundsChoice | None = Field(
        default=None,
        description='Boosting rounds that answer: "best" (up to best_iteration when early '
        'stopping recorded one), "all"; default: the model\'s metadata, else "best".',
    )


class PredictResponse(BaseModel):
    model: str
    version: str = Field(description="First 12 hex digits of the model file's SHA-256.")
    output: str
    predictions: list[float] | list[list[float]] | list[list[list[float]]] | list[str] | list[int]
    rounds: int = Field(
        description="Boosting rounds that answered: best_iteration + 1 for a model trained "
        "with early stopping (unless rounds is all), else every round in the file."
    )
    classes: list[str] | list[int] | None = Field(
        default=None, description="Class labels from the model's metadata, in output order."
    )


class ModelSummary(BaseModel):
    name: str
    # None: the model's files cannot be read; last_error says why.
    format: str | None
    layout: str | None
    file_bytes: int | None
    modified_at: float | None
    loaded: bool = Field(
        description="The cache keeps the model loaded. A model it does not admit "
        "(ROUTER_CACHE_POLICY=tinylfu) is loaded for each request it answers; "
        "GET /models/{name} still describes it."
    )
    version: str | None = None
    # The listing does not load: right after a retrain, version is the one loaded before.
    stale: bool = Field(
        default=False,
        description="The file on disk is not the loaded version: it is loaded on the next "
        "request (or failed to load, and the loaded version serves).",
    )
    last_error: str | None = None


class ModelList(BaseModel):
    models: list[ModelSummary]


class RoundsDetail(BaseModel):
    in_file: int = Field(description="Boosting rounds in the model file.")
    used: int = Field(description="Rounds that answer a request that does not choose.")
    early_stopping: bool = Field(description="The file records early stopping's best round.")
    best_iteration: int | None = Field(
        default=None, description="The best round (0-based) early stopping recorded."
    )
    trees_per_round: int = Field(description="Classes times parallel trees (random forests).")
    default: RoundsChoice


class FeatureDetail(BaseModel):
    name: str | None
    type: str = Field(description="XGBoost's feature type: float, int, i, q, or c (categorical).")
    categories: list[str | float] | None = Field(
        default=None,
        description="A categorical feature's categories in the model, in code order.",
    )


class ModelDetail(ModelSummary):
    task: str | None = None
    objective: str | None = None
    num_features: int | None = None
    feature_names: list[str] | None = None
    class_labels: list[str] | list[int] | None = None
    description: str | None = None
    estimator: str | None = Field(
        default=None,
        description="The scikit-learn estimator type (classifier, regressor, ranker) when the "
        "model was saved by an estimator's save_model.",
    )
    rounds: RoundsDetail | None = None
    features: list[FeatureDetail] | None = None
    outputs: list[Output] | None = Field(default=None, description="Outputs this model answers.")
    memory_bytes: int | None = Field(default=None, description="Estimated memory when loaded.")
    loaded_at: float | None = None
    load_seconds: float | None = None
    last_error_at: float | None = None


class Health(BaseModel):
    status: Literal["ok"]
    cache: dict[str, int]
    counters: dict[str, int]
