"""``/v2``: the Open Inference Protocol (KServe V2) REST endpoints, over the same models,
versions, limits and cache as ``/models``.

Endpoints delegate: ``infer`` turns tensors into the predictor's matrix and its outputs
into tensors (``router.api.v2.infer``); a pinned ``/versions/{version}`` is the registry's
(``router.history`` lists what exists). Errors are ``{"error": "..."}`` (``errors``).
Infer writes the prediction log line that ``/models`` predict writes
(``router.api.request_log``), so that one query finds every model's traffic and failures.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from router import __version__
from router.api.body import INLINE_PARSE_MAX_BYTES, read_body
from router.api.content_coding import decode_body, is_compressed
from router.api.dependencies import RegistryDep, app_registry, app_run_blocking, app_settings
from router.api.lambda_limits import ON_LAMBDA_KEY, refuse_oversized_answer
from router.api.models import INLINE_PREDICT_MAX_ROWS, MODEL_NAME_PARAMETER, find_model
from router.api.request_log import logs_predictions, note_prediction
from router.api.v2 import schemas
from router.api.v2.infer import (
    HEADER_LENGTH,
    InferRequest,
    RequestedOutput,
    compute_outputs,
    infer_response,
    input_matrix,
    parse_infer_request,
)
from router.api.v2.tensors import datatype_of
from router.api.versions import VERSION_PARAMETER
from router.errors import UnknownVersion
from router.names import validate_name
from router.settings import Settings

if TYPE_CHECKING:
    from router.registry.registry import CacheOutcome
    from router.xgb.loader import LoadedModel

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])

EXTENSIONS = ["binary_tensor_data"]
PLATFORM = "xgboost"
INPUT_NAME = "input"  # the advertised [rows, features] tensor; infer accepts any name for it


# Responses are documented by schema, not by "model": FastAPI would build a response field
# for each model of each route at import, which costs cold start and validates nothing here.
# A schema given as a model class is written when the OpenAPI document is built
# (router.api.docs.write_model_schemas), not at import.
_ERROR = {"content": {"application/json": {"schema": schemas.ErrorResponse}}}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return dict.fromkeys(statuses, _ERROR)


def _ok(model: type[BaseModel], *errors: int) -> dict[int | str, dict[str, Any]]:
    ok = {"content": {"application/json": {"schema": model}}}
    return {200: ok, **_errors(*errors)}


def _json(body: BaseModel) -> Response:
    return Response(body.model_dump_json(), media_type="application/json")


_INFER_BODY = {
    "required": True,
    "description": (
        "JSON, or (binary tensor data extension) a JSON header of "
        "Inference-Header-Content-Length bytes followed by the tensors' raw bytes."
    ),
    "content": {
        "application/json": {"schema": schemas.InferenceRequest},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def _infer_extra(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"parameters": list(parameters), "requestBody": _INFER_BODY}


_INFER_RESPONSES = _ok(schemas.InferenceResponse, 400, 403, 404, 413, 422, 503)
_INFER_RESPONSES[200]["description"] = (
    "Outputs as JSON, or with binary outputs a JSON header and their bytes"
)


# Infer first: routes are matched in order, and these are the hot paths.
@router.post(
    "/models/{name}/infer",
    response_model=None,
    responses=_INFER_RESPONSES,
    openapi_extra=_infer_extra(MODEL_NAME_PARAMETER),
)
@logs_predictions
async def infer(request: Request) -> Response:
    """Infer with the live model ``name``."""
    # Like POST /models/{name}/predict, nothing for FastAPI to solve on the hot path.
    return await _infer(request, validate_name(request.path_params["name"]), None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=None,
    responses=_INFER_RESPONSES,
    openapi_extra=_infer_extra(MODEL_NAME_PARAMETER, VERSION_PARAMETER),
)
@logs_predictions
async def infer_version(request: Request) -> Response:
    """Infer with one version of ``name``, whatever version is live."""
    name = validate_name(request.path_params["name"])
    return await _infer(request, name, request.path_params["version"])


async def _infer(request: Request, name: str, version: str | None) -> Response:
    registry = app_registry(request)
    settings = app_settings(request)
    run_blocking = app_run_blocking(request)
    body = await read_body(request, settings.max_body_bytes, request.app.state.body_timeout_s)
    headers = request.headers
    encoding = headers.get("content-encoding")
    read = functools.partial(
        _read_request,
        body,
        encoding,
        headers.get(HEADER_LENGTH),
        headers.get("content-type"),
        settings,
    )
    # As /models bodies: a small one is read on the event loop, faster than the hop to a
    # worker thread; a large one in a thread, so the loop keeps serving other requests. A
    # compressed one too, whatever its size: a few KiB can inflate to the body limit.
    if len(body) <= INLINE_PARSE_MAX_BYTES and not is_compressed(encoding):
        payload = read()
    else:
        payload = await run_blocking(read)
    model, cache = await _find_model(request, name, version)
    started = time.perf_counter()
    rows = payload.inputs[0].shape[0]
    if rows <= INLINE_PREDICT_MAX_ROWS:
        content, header_length = _answer(name, model, payload)
    else:
        content, header_length = await run_blocking(_answer, name, model, payload)
    registry.metrics.milliseconds("PredictTime", (time.perf_counter() - started) * 1000)
    # The prediction line's "output": the outputs asked for, in their order.
    outputs = ",".join(output.name for output in payload.outputs)
    note_prediction(request, (model.version, rows, outputs, cache))
    if header_length is None:
        response = Response(content, media_type="application/json")
    else:
        response = Response(
            content,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(header_length)},
        )
    if ON_LAMBDA_KEY in request.scope:  # so that the prediction line says what Lambda sends
        refuse_oversized_answer(response, request.scope)
    return response


def _read_request(
    body: bytes,
    content_encoding: str | None,
    header_length: str | None,
    content_type: str | None,
    settings: Settings,
) -> InferRequest:
    """The body, inflated and parsed: CPU work in proportion to its size."""
    inflated = decode_body(body, content_encoding, settings.max_body_bytes)
    return parse_infer_request(
        inflated, header_length, max_rows=settings.max_rows, content_type=content_type
    )


def _answer(name: str, model: LoadedModel, payload: InferRequest) -> tuple[bytes, int | None]:
    matrix = input_matrix(payload.inputs, model.predictor)
    return infer_response(name, model, payload, compute_outputs(model, matrix, payload))


@router.get("", response_model=None, responses=_ok(schemas.ServerMetadata))
async def server_metadata() -> Response:
    """The server's name, version and the protocol extensions it serves."""
    metadata = schemas.ServerMetadata(
        name="model-router", version=__version__, extensions=EXTENSIONS
    )
    return _json(metadata)


@router.get("/health/live", response_model=None, responses=_ok(schemas.ServerLive))
async def server_live() -> Response:
    """The process answers."""
    return _json(schemas.ServerLive(live=True))


@router.get("/health/ready", response_model=None, responses=_ok(schemas.ServerReady, 503))
def server_ready(registry: RegistryDep) -> Response:
    """The model store is reachable (models load on their first request)."""
    registry.store.check()
    return _json(schemas.ServerReady(ready=True))


# The routes below read their path parameters themselves, as infer does, and document them
# in openapi_extra: a parameter declared in the signature costs FastAPI a validator built at
# import, on every cold start, to check a string that validate_name checks anyway.
_NAME_ONLY = {"parameters": [MODEL_NAME_PARAMETER]}
_NAME_AND_VERSION = {"parameters": [MODEL_NAME_PARAMETER, VERSION_PARAMETER]}


@router.get(
    "/models/{name}",
    response_model=None,
    responses=_ok(schemas.ModelMetadata, 400, 403, 404, 503),
    openapi_extra=_NAME_ONLY,
)
async def model_metadata(request: Request) -> Response:
    """The live model's inputs and outputs (loads it if needed)."""
    name = validate_name(request.path_params["name"])
    return _json(await _metadata(request, name, None))


@router.get(
    "/models/{name}/versions/{version}",
    response_model=None,
    responses=_ok(schemas.ModelMetadata, 400, 403, 404, 503),
    openapi_extra=_NAME_AND_VERSION,
)
async def model_version_metadata(request: Request) -> Response:
    """One version's inputs and outputs (loads it if needed)."""
    name = validate_name(request.path_params["name"])
    return _json(await _metadata(request, name, request.path_params["version"]))


@router.get(
    "/models/{name}/ready",
    response_model=None,
    responses=_ok(schemas.ModelReady, 400, 404, 503),
    openapi_extra=_NAME_ONLY,
)
async def model_ready(request: Request) -> Response:
    """The model can serve: it is loaded, or loads now."""
    name = validate_name(request.path_params["name"])
    await find_model(request, name, None)
    return _json(schemas.ModelReady(name=name, ready=True))


@router.get(
    "/models/{name}/versions/{version}/ready",
    response_model=None,
    responses=_ok(schemas.ModelReady, 400, 404, 503),
    openapi_extra=_NAME_AND_VERSION,
)
async def model_version_ready(request: Request) -> Response:
    """That version can serve: it is loaded, or loads now."""
    name = validate_name(request.path_params["name"])
    await _find_model(request, name, request.path_params["version"])
    return _json(schemas.ModelReady(name=name, ready=True))


async def _find_model(
    request: Request, name: str, version: str | None
) -> tuple[LoadedModel, CacheOutcome]:
    """``find_model``, with an unknown version's error saying what a version is here:
    Triton and KServe clients count versions (``/versions/1``); ours are content hashes."""
    try:
        return await find_model(request, name, version)
    except UnknownVersion as exc:
        raise UnknownVersion(
            f"{exc.detail}. A version is the 12 hex digits that responses report as "
            "model_version, not a counter; list them with GET /v2/models/"
            f"{name} (versions) or GET /models/{name}/versions"
        ) from exc


async def _metadata(request: Request, name: str, version: str | None) -> schemas.ModelMetadata:
    registry = app_registry(request)
    model, _ = await _find_model(request, name, version)
    versions = await app_run_blocking(request)(registry.versions, name)
    predictor = model.predictor
    # One row of missing values gives each output's shape and type, for every kind of model.
    probe = np.full((1, predictor.num_features), np.nan, dtype=np.float32)
    outputs = []
    for output in predictor.outputs():
        result = compute_outputs(
            model, probe, InferRequest(None, [], [RequestedOutput(output, False)])
        )[0]
        outputs.append(
            schemas.MetadataTensor(
                name=output, datatype=datatype_of(result), shape=[-1, *result.shape[1:]]
            )
        )
    return schemas.ModelMetadata(
        name=name,
        versions=[v.version for v in versions],
        platform=PLATFORM,
        inputs=[
            schemas.MetadataTensor(
                name=INPUT_NAME, datatype="FP32", shape=[-1, predictor.num_features]
            )
        ],
        outputs=outputs,
        parameters={"version": model.version},
    )
