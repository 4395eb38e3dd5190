"""One mapping from errors to ``application/problem+json`` (RFC 9457) responses; under
``/v2`` the Open Inference Protocol's own error body instead."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from router.api.v2.errors import is_v2_path, v2_error_response
from router.errors import RouterError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

    from router.settings import Settings

logger = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"
# Load timeouts and unavailable stores are usually over within seconds.
RETRY_AFTER_S = "2"


def problem_type(slug: str) -> str:
    return f"urn:model-router:problem:{slug}"


def problem_body(status: int, slug: str, title: str, detail: str, instance: str) -> dict[str, Any]:
    return {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }


def problem_response(
    status: int, slug: str, title: str, detail: str, instance: str, *, retry: bool = False
) -> Response:
    headers = {"Retry-After": RETRY_AFTER_S} if retry else None
    if is_v2_path(instance):
        return v2_error_response(status, detail, headers)
    body = problem_body(status, slug, title, detail, instance)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def name_the_root(detail: str, model_root: Path) -> str:
    """``detail`` with the model root's path replaced by the setting that names it: where
    models live on the server is no caller's business, and the setting is what to fix.

    Only where it is the root: the store's own words for it (``model root '...'``), its
    absolute path wherever it stands, and a relative spelling where a path goes on below
    it. A root named like a word (``models``, ``store``) is a word elsewhere in a message
    ("models compute in float32", "in the model store"), and a model, feature or category
    may be named like it too."""
    spellings = {str(model_root), str(model_root.absolute())} - {".", ""}
    for spelling in sorted(spellings, key=len, reverse=True):
        detail = detail.replace(f"model root {spelling!r}", "model root ROUTER_MODEL_ROOT")
        escaped = re.escape(spelling)
        if Path(spelling).is_absolute():
            detail = re.sub(rf"(?<![\w./-]){escaped}(?![\w.-])", "ROUTER_MODEL_ROOT", detail)
        else:
            detail = re.sub(rf"(?<![\w./-]){escaped}(?=/)", "ROUTER_MODEL_ROOT", detail)
    return detail


def router_problem(exc: RouterError, path: str, settings: Settings) -> Response:
    """The problem response for ``exc``, raised serving ``path``."""
    detail = name_the_root(exc.detail, settings.model_root)
    return problem_response(exc.status, exc.slug, exc.title, detail, path, retry=exc.retryable)


def internal_problem(path: str) -> Response:
    """The answer to a bug, not bad input: the stack trace for the logs, none for the caller."""
    logger.exception("unhandled error", extra={"path": path})
    return problem_response(
        500, "internal-error", "Internal error", "the router failed; see its logs", path
    )


def _path_of(request: Request) -> str:
    # The scope's path, not request.url's: Starlette builds the URL from the Host header and
    # the scheme, and raises on ones it cannot read (a hand-made Lambda event may hold them),
    # which would fail the answer to the error it is answering.
    return str(request.scope["path"])


async def _router_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RouterError)
    return router_problem(exc, _path_of(request), request.app.state.settings)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors()[:5]
    )
    return problem_response(422, "invalid-request", "Invalid request", details, _path_of(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    slug = phrase.lower().replace(" ", "-")
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    if exc.status_code == 404 and (route := _route_without_trailing_slash(request)):
        detail = f"no route is {_path_of(request)[:200]!r}; {route[:200]!r} is, without the slash"
    response = problem_response(exc.status_code, slug, phrase, detail, _path_of(request))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _route_without_trailing_slash(request: Request) -> str | None:
    """The request's path without its trailing slash, where a route takes that path."""
    path = _path_of(request)
    if not path.endswith("/") or not path.strip("/"):
        return None
    scope = {**request.scope, "path": path.rstrip("/")}
    for route in request.app.router.routes:
        if route.matches(scope)[0] != Match.NONE:
            return str(scope["path"])
    return None


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return internal_problem(_path_of(request))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RouterError, _router_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
