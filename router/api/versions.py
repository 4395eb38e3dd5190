"""``/models/{name}/versions``: the versions in a model's publish history, and predictions
pinned to one of them (``router.history`` says which exist; the registry loads them)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.responses import Response

from router.api import models
from router.api.dependencies import RegistryDep
from router.api.problems import PROBLEM_MEDIA_TYPE
from router.api.request_log import logs_predictions
from router.names import VERSION_PATTERN, validate_name

router = APIRouter(prefix="/models", tags=["versions"])

VERSION_PARAMETER = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "A version as responses report it: 12 hex digits of the file's SHA-256.",
    "schema": {"type": "string", "pattern": f"^{VERSION_PATTERN.pattern}$"},
}


class VersionInfo(BaseModel):
    version: str = Field(description="First 12 hex digits of the model file's SHA-256.")
    number: int | None = Field(
        description="Its number in the publish history; null for a live file put by hand."
    )
    published_at: datetime = Field(
        description="When it was published (for a file put by hand: its modification time)."
    )
    size: int = Field(description="File size in bytes.")
    live: bool = Field(description="The version the model's live file holds now.")


class VersionList(BaseModel):
    model: str
    versions: list[VersionInfo] = Field(description="Newest first.")


# The pinned predict is the live one with a version: the same body, answers and problems.
_LIVE_PREDICT = next(
    route
    for route in models.router.routes
    if isinstance(route, APIRoute) and route.endpoint is models.predict
)
_PINNED_PREDICT_EXTRA = {
    **(_LIVE_PREDICT.openapi_extra or {}),
    "parameters": [models.MODEL_NAME_PARAMETER, VERSION_PARAMETER],
}


@router.post(
    "/{name}/versions/{version}/predict",
    response_model=None,
    responses=_LIVE_PREDICT.responses,
    openapi_extra=_PINNED_PREDICT_EXTRA,
)
@logs_predictions
async def predict_version(request: Request) -> Response:
    """Predict with one version of ``name``, whatever version is live: the body and the
    answer are those of ``POST /models/{name}/predict``."""
    name = validate_name(request.path_params["name"])
    return await models.predict_with(request, name, request.path_params["version"])


@router.get(
    "/{name}/versions",
    response_model=VersionList,
    responses={
        status: {"content": {PROBLEM_MEDIA_TYPE: {"schema": {"type": "object"}}}}
        for status in (400, 403, 404, 503)
    },
)
def list_versions(name: str, registry: RegistryDep) -> VersionList:
    """The versions of a model that can be served, newest first, the live one marked."""
    return VersionList(
        model=name,
        versions=[
            VersionInfo(
                version=v.version,
                number=v.number,
                published_at=v.published_at,
                size=v.size,
                live=v.live,
            )
            for v in registry.versions(name)
        ],
    )
