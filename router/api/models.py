"""``/models`` endpoints: list, describe, predict."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from router.api.body import read_predict_request
from router.api.dependencies import RegistryDep, app_registry, app_run_blocking, app_settings
from router.api.lambda_limits import ON_LAMBDA_KEY, refuse_oversized_answer
from router.api.problems import PROBLEM_MEDIA_TYPE
from router.api.request_log import logs_predictions, note_prediction
from router.api.schemas import (
    FeatureDetail,
    ModelDetail,
    ModelList,
    ModelSummary,
    PredictRequest,
    PredictResponse,
    RoundsDetail,
)
from router.names import NAME_PATTERN, validate_name

if TYPE_CHECKING:
    from router.api.dependencies import RunBlocking
    from router.registry.registry import CacheOutcome, LoadFailure, ModelRegistry, ModelStatus
    from router.xgb.loader import LoadedModel, Predictions

router = APIRouter(prefix="/models", tags=["models"])
PREDICT_PATH = "/models/{name}/predict"

# The predict endpoint reads its path parameter itself (see predict); this documents it.
MODEL_NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "The model's name: its file name without extension, or its folder name.",
    "schema": {"type": "string", "pattern": f"^{NAME_PATTERN.pattern}$"},
}

# Up to this many rows the prediction runs on the event loop: it takes microseconds, less
# than the hop to a worker thread. Larger batches go to a thread so the loop stays free.
INLINE_PREDICT_MAX_ROWS = 64


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"content": {PROBLEM_MEDIA_TYPE: {"schema": {"type": "object"}}}}
        for status in statuses
    }


# Predict first: routes are matched in order, and it is the one on the hot path.
@router.post(
    PREDICT_PATH.removeprefix(router.prefix),
    response_model=None,
    responses={
        200: {"model": PredictResponse, "description": "Predictions, one per row"},
        **_problems(400, 403, 404, 408, 413, 415, 422, 503),
    },
    openapi_extra={
        "parameters": [MODEL_NAME_PARAMETER],
        "requestBody": {
            "required": True,
            # Written when the OpenAPI document is built (router.api.docs), not at import.
            "content": {"application/json": {"schema": PredictRequest}},
        },
    },
)
@logs_predictions
async def predict(request: Request) -> Response:
    """Predict with the model ``name`` on the rows in ``instances``."""
    # The hot path declares nothing for FastAPI to solve: not its collaborators (read from
    # app.state), and not even the model name (read from the matched path). Each declared
    # parameter costs FastAPI's dependency solving on every request, a sizeable share of a
    # one-row prediction (the breakdown in docs/benchmarks.md).
    return await predict_with(request, validate_name(request.path_params["name"]), None)


async def predict_with(request: Request, name: str, version: str | None) -> Response:
    """Predict with the live ``name``, or with its pinned ``version`` (router.api.versions)."""
    registry = app_registry(request)
    run_blocking = app_run_blocking(request)
    payload = await read_predict_request(request, app_settings(request), run_blocking)
    model, cache = await find_model(request, name, version)
    predictions = await predict_rows(registry, model, payload, run_blocking)
    note_prediction(request, (model.version, len(payload.instances), payload.output, cache))
    response = Response(
        answer_body(name, model, payload, predictions), media_type="application/json"
    )
    if ON_LAMBDA_KEY in request.scope:  # pinned versions: Mangum serves them, not the direct path
        refuse_oversized_answer(response, request.scope)
    return response


async def predict_rows(
    registry: ModelRegistry, model: LoadedModel, payload: PredictRequest, run_blocking: RunBlocking
) -> Predictions:
    """The predictions: on the event loop for a few rows, in a thread for more."""
    if len(payload.instances) <= INLINE_PREDICT_MAX_ROWS:
        return predict_now(registry, model, payload)
    predictions: Predictions = await run_blocking(predict_now, registry, model, payload)
    return predictions


def predict_now(
    registry: ModelRegistry, model: LoadedModel, payload: PredictRequest
) -> Predictions:
    """The predictions, timed into the ``PredictTime`` metric."""
    started = time.perf_counter()
    predictions = model.predict(payload.instances, payload.output, payload.rounds)
    registry.metrics.milliseconds("PredictTime", (time.perf_counter() - started) * 1000)
    return predictions


def answer_body(
    name: str, model: LoadedModel, payload: PredictRequest, predictions: Predictions
) -> bytes:
    """The JSON answer to a predict request: what ``PredictResponse`` documents."""
    body: dict[str, object] = {
        "model": name,
        "version": model.version,
        "output": payload.output,
        "predictions": predictions,
        # Early stopping makes the default differ from Booster.predict's every round: say
        # which answered, so a comparison with a training notebook can be made like for like.
        "rounds": model.rounds_used(payload.rounds),
    }
    if model.metadata.class_labels:
        body["classes"] = model.metadata.class_labels
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


@router.get("", response_model=ModelList, responses=_problems(503))
def list_models(registry: RegistryDep) -> ModelList:
    """Every model in the store, loaded or not. Loads nothing."""
    return ModelList(models=[_summary(status) for status in registry.statuses()])


@router.get("/{name}", response_model=ModelDetail, responses=_problems(400, 403, 404, 503))
def describe_model(name: str, registry: RegistryDep) -> ModelDetail:
    """A model's file, version, rounds (early stopping), features with their types and
    categories, outputs, and last load error (loads it if needed)."""
    status = registry.load_and_describe(name)
    loaded = status.loaded
    failure = status.failure
    return ModelDetail(
        **_summary(status).model_dump(),
        task=loaded.task if loaded else None,
        objective=loaded.objective if loaded else None,
        num_features=loaded.num_features if loaded else None,
        feature_names=loaded.feature_names if loaded else None,
        class_labels=loaded.metadata.class_labels if loaded else None,
        description=loaded.metadata.description if loaded else None,
        estimator=loaded.estimator if loaded else None,
        rounds=_rounds(loaded) if loaded else None,
        features=_features(loaded) if loaded else None,
        outputs=loaded.predictor.outputs() if loaded else None,
        memory_bytes=loaded.size_bytes if loaded else None,
        loaded_at=loaded.loaded_at if loaded else None,
        load_seconds=round(loaded.load_seconds, 4) if loaded else None,
        last_error_at=failure.at if failure else None,
    )


async def find_model(
    request: Request, name: str, version: str | None
) -> tuple[LoadedModel, CacheOutcome]:
    """The live model, or one pinned version of it (``version``), and what the cache had
    (a pinned version not fresh in the cache counts as a miss)."""
    registry = app_registry(request)
    run_blocking = app_run_blocking(request)
    if version is None:
        return await find_live_model(registry, name, run_blocking)
    model = registry.cached_version_if_fresh(name, version)
    if model is None:
        return await run_blocking(registry.get_version, name, version), "miss"
    return model, "hit"


async def find_live_model(
    registry: ModelRegistry, name: str, run_blocking: RunBlocking
) -> tuple[LoadedModel, CacheOutcome]:
    """The live model ``name`` and what the cache had."""
    model = registry.cached_if_fresh(name)
    if model is None:  # a file check or a load is due: disk I/O, off the loop (create_app)
        return await run_blocking(registry.lookup, name)  # type: ignore[no-any-return]
    return model, "hit"


def _rounds(model: LoadedModel) -> RoundsDetail:
    predictor = model.predictor
    rounds = predictor.rounds
    return RoundsDetail(
        in_file=rounds.in_file,
        used=rounds.used(predictor.default_rounds),
        early_stopping=rounds.early_stopping,
        best_iteration=rounds.best_iteration,
        trees_per_round=rounds.trees_per_round,
        default=predictor.default_rounds,
    )


def _features(model: LoadedModel) -> list[FeatureDetail]:
    return [
        FeatureDetail(
            name=feature.name,
            type=feature.type,
            categories=list(feature.categories) if feature.categories else None,
        )
        for feature in model.predictor.features
    ]


def _summary(status: ModelStatus) -> ModelSummary:
    ref, loaded, failure = status.ref, status.loaded, status.failure
    return ModelSummary(
        name=status.name,
        format=ref.format if ref else None,
        layout=ref.layout if ref else None,
        file_bytes=ref.fingerprint.size if ref else None,
        modified_at=ref.fingerprint.mtime_ns / 1e9 if ref else None,
        loaded=loaded is not None and status.cached,
        version=loaded.version if loaded else None,
        stale=status.stale,
        last_error=_last_error(failure, loaded),
    )


def _last_error(failure: LoadFailure | None, loaded: LoadedModel | None) -> str | None:
    """The last load failure as the model is now: when an older version still answers,
    say so, rather than that the model has none."""
    if failure is None:
        return None
    if loaded is not None and failure.cause is not None:
        return f"the model's file does not load ({failure.cause}); version {loaded.version} answers"
    return failure.error.detail
