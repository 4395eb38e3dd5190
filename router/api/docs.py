"""``GET /docs``: Swagger UI, with its script and style served by the router itself.

FastAPI's own page loads Swagger UI from a public CDN, so it stays blank without internet.
The assets come from the ``fastapi-offline`` package (the ``server`` extra, for the local
server), read in place; only when it is not installed, as in the Lambda package where docs
are off by default (``ROUTER_DOCS``), does the page fall back to FastAPI's CDN links.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request

DOCS_URL = "/docs"
ASSETS = {  # served name: media type
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


def offline_assets() -> Path | None:
    """The folder of Swagger UI's files in ``fastapi-offline``, found without importing it."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def docs_routes(title: str, openapi_url: str) -> list[Route]:
    assets = offline_assets()

    async def page(request: Request) -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        root = request.scope.get("root_path", "")
        page_title, spec_url = f"{title} - Swagger UI", f"{root}{openapi_url}"
        if assets is None:
            return get_swagger_ui_html(openapi_url=spec_url, title=page_title)
        return get_swagger_ui_html(
            openapi_url=spec_url,
            title=page_title,
            swagger_js_url=f"{root}{DOCS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_URL}/favicon.png",
        )

    routes = [Route(DOCS_URL, page, methods=["GET"], include_in_schema=False)]
    if assets is not None:
        for name, media_type in ASSETS.items():
            routes.append(_asset_route(assets / name, media_type))
    return routes


def _asset_route(path: Path, media_type: str) -> Route:
    async def asset(request: Request) -> FileResponse:
        # The files change only with the package: let browsers keep them for a day.
        return FileResponse(
            path, media_type=media_type, headers={"cache-control": "public, max-age=86400"}
        )

    return Route(f"{DOCS_URL}/{path.name}", asset, methods=["GET"], include_in_schema=False)
