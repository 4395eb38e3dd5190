"""``GET /docs``: Swagger UI, with its script and style served by the router itself; and
the bodies that ``/openapi.json`` documents by pydantic model, written when it is built.

FastAPI's own page loads Swagger UI from a public CDN, so it stays blank without internet.
The assets come from the ``fastapi-offline`` package (the ``server`` extra, for the local
server), read in place; only when it is not installed, as in the Lambda package where docs
are off by default (``ROUTER_DOCS``), does the page fall back to FastAPI's CDN links.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.requests import Request
    from starlette.routing import BaseRoute

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


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its nested models written in place: the OpenAPI
    document takes it inline, where a ``#/$defs/...`` reference would not resolve."""
    document = model.model_json_schema()
    definitions = document.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(document)
    return inlined


def write_model_schemas(routes: Iterable[BaseRoute]) -> None:
    """Replace, in the routes' ``openapi_extra`` and ``responses``, each ``"schema"`` given
    as a pydantic model class by the model's JSON schema (``json_schema``), in place.

    Routes name the model and the schema is written here, when the OpenAPI document is
    first built: a JSON schema costs about as much as the model class itself, and written
    at import it would cost every cold start for a document that only ``/openapi.json``
    serves (off on Lambda by default). Already written schemas are left as they are.
    """
    for route in routes:
        _write_schemas(getattr(route, "openapi_extra", None))
        _write_schemas(getattr(route, "responses", None))


def _write_schemas(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, type) and issubclass(value, BaseModel):
                node[key] = json_schema(value)
            else:
                _write_schemas(value)
    elif isinstance(node, list):
        for item in node:
            _write_schemas(item)
