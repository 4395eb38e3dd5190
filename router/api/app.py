"""The one wiring point: ``create_app(settings, registry)``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

import router
from router.api import health, models
from router.api.problems import install_problem_handlers

if TYPE_CHECKING:
    from router.registry import ModelRegistry
    from router.settings import Settings


def create_app(settings: Settings, registry: ModelRegistry) -> FastAPI:
    """Build the HTTP app around a registry. Nothing here loads models or touches disk, so
    it is as cheap under Mangum (which builds nothing per event) as under uvicorn."""
    app = FastAPI(
        title="Model Router",
        version=router.__version__,
        summary="Many XGBoost models behind one endpoint.",
        # One docs page (/docs); no ReDoc, and no OAuth2 redirect page: the API has no OAuth
        # flow. Every route here is a route API Gateway must expose.
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.include_router(models.router)
    app.include_router(health.router)
    install_problem_handlers(app)
    return app
