"""/docs works without internet where it is on (locally), and neither it nor /openapi.json
answers where it is off (Lambda's default: a browser cannot sign the API's requests)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from router.api import create_app
from router.api.docs import offline_assets
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
