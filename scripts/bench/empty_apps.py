"""Framework floors for the handler breakdown: apps with an empty predict endpoint.

Separate from ``worker`` so that FastAPI reads these endpoints' annotations from module
globals, and so that FastAPI is imported only after ``router.lambda_handler``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.responses import Response

# FastAPI reads endpoint annotations at run time: these must stay real imports.
from router.api.dependencies import RegistryDep, SettingsDep  # noqa: TC001

if TYPE_CHECKING:
    from mangum.types import Receive, Scope, Send

    from router.registry.registry import ModelRegistry
    from router.settings import Settings

PATH = "/models/{name}/predict"


def empty_app() -> FastAPI:
    """One ``async`` endpoint on the predict path that reads the body and answers ``{}``.

    Like the router's, it declares only the request (the name is in the matched path)."""
    app = FastAPI()

    @app.post(PATH)
    async def predict(request: Request) -> Response:
        await request.body()
        return Response(b"{}", media_type="application/json")

    return app


def app_with_dependencies(registry: ModelRegistry, settings: Settings) -> FastAPI:
    """The same, declaring the dependencies that the router's predict endpoint declares."""
    app = FastAPI()
    app.state.registry = registry
    app.state.settings = settings

    @app.post(PATH)
    async def predict(request: Request, registry: RegistryDep, settings: SettingsDep) -> Response:
        await request.body()
        return Response(b"{}", media_type="application/json")

    return app


async def bare_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """No framework at all: what Mangum alone costs."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})
