"""The one wiring point: ``create_app(settings, registry)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

import router
from router.api import health, models, versions
from router.api.asgi_predict import AsgiPredict
from router.api.dependencies import run_inline
from router.api.docs import docs_routes, write_model_schemas
from router.api.head import HeadAsGet
from router.api.problems import install_problem_handlers
from router.api.v2 import routes as v2

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from router.registry.registry import ModelRegistry
    from router.settings import Settings

OPENAPI_URL = "/openapi.json"


class RouterApp(FastAPI):
    """FastAPI, with predict requests served ahead of it (router.api.asgi_predict), and the
    bodies that routes document by model class written into the OpenAPI document when it
    is built rather than at import (router.api.docs)."""

    direct_predict: AsgiPredict | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = self.direct_predict
        if direct is not None and scope["type"] == "http" and await direct(scope, receive, send):
            return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        write_model_schemas(self.routes)
        return super().openapi()


def create_app(
    settings: Settings, registry: ModelRegistry, *, one_request_at_a_time: bool = False
) -> RouterApp:
    """Build the HTTP app around a registry. Nothing here loads models or touches disk, so
    it is as cheap under Mangum (which builds nothing per event) as under uvicorn.

    ``one_request_at_a_time``: the server never runs two requests at once (Lambda: one event
    per instance), so nothing else waits on the event loop and blocking work (file checks,
    loads, large batches) runs inline instead of in a worker thread. Under Mangum that
    thread is a new one per invocation, since anyio's workers end with the event's task:
    about 2.3 ms of a 50-tree model's 8.4 ms cache miss (scripts/bench_router.py).
    """
    app = RouterApp(
        title="Model Router",
        version=router.__version__,
        summary="Many XGBoost models behind one endpoint.",
        # FastAPI's OpenTelemetry hooks check for providers on every request; the router
        # reports through JSON logs and EMF metrics instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # One docs page (/docs, router/api/docs.py), when ROUTER_DOCS asks for it; no ReDoc,
        # and no OAuth2 redirect page: the API has no OAuth flow.
        openapi_url=OPENAPI_URL if settings.docs else None,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # A path with a slash too many is a 404 that names the route, not Starlette's 307:
        # its Location is built from the Host header, which behind API Gateway's REST API
        # lacks the stage, and a redirected POST is one more round trip for every caller.
        redirect_slashes=False,
        # The routes go on the app itself, not through include_router: FastAPI now keeps an
        # included router as a nested router that is matched, and bookkept in the scope, on
        # every request, a measurable share of the framework's work for a predict.
        routes=[
            *models.router.routes,
            *health.router.routes,
            *versions.router.routes,
            *v2.router.routes,
        ],
    )
    if settings.docs:
        app.router.routes.extend(docs_routes(app.title, OPENAPI_URL))
    app.state.settings = settings
    app.state.registry = registry
    app.state.run_blocking = run_inline if one_request_at_a_time else run_in_threadpool
    # Under Mangum the whole body is in the event: nothing to wait for, no timer to set.
    app.state.body_timeout_s = None if one_request_at_a_time else settings.body_timeout_s
    install_problem_handlers(app)
    app.add_middleware(HeadAsGet)
    app.direct_predict = AsgiPredict(app.state)
    return app
