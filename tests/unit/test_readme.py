"""The README is the one place settings and endpoints are documented: keep it true."""

from __future__ import annotations

import re
from pathlib import Path

from router.api import create_app
from router.registry.registry import ModelRegistry
from router.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_configuration_table_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"^\| `(ROUTER_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    expected = {f"ROUTER_{name.upper()}" for name in Settings.model_fields}

    assert documented == expected


# FastAPI's own documentation routes; the README lists them in the API table too.
DOCS_ROUTES = {"GET /docs", "GET /openapi.json"}


def documented_routes() -> set[str]:
    """Every `METHOD /path` in a row of the README's API table."""
    table_rows = re.findall(r"^\| `[A-Z]+ /.*$", README, flags=re.MULTILINE)
    return {
        route for row in table_rows for route in re.findall(r"`([A-Z]+ /[^`]*)`", row.split("|")[1])
    }


def test_api_table_lists_exactly_the_routes(tmp_path: Path) -> None:
    settings = Settings(model_root=tmp_path)
    app = create_app(settings, ModelRegistry.from_settings(settings))
    routes = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }

    assert documented_routes() == routes | DOCS_ROUTES
