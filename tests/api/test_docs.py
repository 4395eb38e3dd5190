"""/docs works without internet where it is on (locally), and neither it nor /openapi.json
answers where it is off (Lambda's default: a browser cannot sign the API's requests)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from router.api import create_app
from router.api.docs import json_schema, offline_assets
from router.api.schemas import PredictRequest
from router.api.v2 import routes as v2_routes
from router.api.v2 import schemas as v2
from router.registry.registry import ModelRegistry
from router.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_the_docs_page_loads_every_asset_from_the_router(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert "/openapi.json" in urls
    assert urls and all(url.startswith("/") for url in urls), urls  # nothing from elsewhere
    assets = offline_assets()
    assert assets is not None
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    script = client.get("/docs/swagger-ui-bundle.js")
    assert script.content == (assets / "swagger-ui-bundle.js").read_bytes()
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/openapi.json").json()["info"]["title"] == "Model Router"


def test_docs_off_means_no_page_no_assets_no_openapi(model_root: Path) -> None:
    settings = Settings(model_root=model_root, docs=False)
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))

    for path in ("/docs", "/openapi.json", "/docs/swagger-ui.css"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/health").status_code == 200


def test_docs_default_on_locally_off_on_lambda(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert Settings(model_root=model_root).docs is True
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "model-router")
    assert Settings(model_root=model_root).docs is False
    monkeypatch.setenv("ROUTER_DOCS", "true")
    assert Settings(model_root=model_root).docs is True


def as_json(documented: object) -> object:
    """``documented`` as /openapi.json writes it: a model class as its JSON schema, and no
    null values (FastAPI encodes the document with ``exclude_none``)."""
    if isinstance(documented, type) and issubclass(documented, BaseModel):
        documented = json_schema(documented)
    if isinstance(documented, dict):
        return {key: as_json(value) for key, value in documented.items() if value is not None}
    if isinstance(documented, list):
        return [as_json(item) for item in documented]
    return json.loads(json.dumps(documented))


def test_bodies_documented_by_model_are_written_as_their_json_schemas(
    client: TestClient,
) -> None:
    # What the routes wrote at import before their schemas were written lazily, as JSON.
    predict_body = as_json(
        {"required": True, "content": {"application/json": {"schema": PredictRequest}}}
    )
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]

    for path in ("/models/{name}/predict", "/models/{name}/versions/{version}/predict"):
        assert paths[path]["post"]["requestBody"] == predict_body, path
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        content = paths[path]["post"]["requestBody"]["content"]
        assert content["application/json"]["schema"] == as_json(v2.InferenceRequest)
    responses = paths["/v2/models/{name}/ready"]["get"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"] == as_json(v2.ModelReady)
    assert responses["404"]["content"]["application/json"]["schema"] == {
        "properties": {"error": {"title": "Error", "type": "string"}},
        "required": ["error"],
        "title": "ErrorResponse",
        "type": "object",
    }
    # Nested models inline: a "#/$defs/..." reference would not resolve in the document.
    assert "#/$defs/" not in json.dumps(spec)
    assert client.get("/openapi.json").json() == spec  # written once, then served as built


def test_every_path_parameter_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert documented == re.findall(r"{(\w+)}", path), (method, path)


def test_v2_routes_leave_fastapi_no_path_parameter_to_validate() -> None:
    # Each declared one costs a validator built at import (see router.api.v2.routes).
    routes = [route for route in v2_routes.router.routes if isinstance(route, APIRoute)]

    assert routes and all(not route.dependant.path_params for route in routes)
