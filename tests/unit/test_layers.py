"""The layers point one way (store -> xgb -> registry -> api), and each knows only what it
must: the cache knows no model, the registry no file format, the API no store."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROUTER = Path(__file__).parents[2] / "router"


def modules_after_importing(module: str) -> list[str]:
    """Every module a fresh interpreter has loaded once it imported ``module``."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(completed.stdout)
    return loaded


def test_importing_the_cache_loads_no_xgboost_and_no_model_layer() -> None:
    loaded = modules_after_importing("router.registry.cache")

    assert "router.registry.cache" in loaded
    assert [m for m in loaded if m.split(".")[0] == "xgboost" or m.startswith("router.xgb")] == []


def test_the_local_app_loads_no_lambda_adapter() -> None:
    # Mangum is the Lambda entry's: the server `make run` starts pays nothing for it.
    loaded = modules_after_importing("router.api.app")

    assert "router.api.app" in loaded
    assert [m for m in loaded if m.split(".")[0] == "mangum"] == []


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (``TYPE_CHECKING`` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_registry_knows_no_file_format() -> None:
    for path in sorted((ROUTER / "registry").rglob("*.py")):
        assert "ubj" not in path.read_text().lower(), path.name
        checks = {m for m in imported_modules(path) if m.startswith("router.xgb.checks")}
        assert checks == set(), path.name


def test_the_api_reaches_the_store_only_through_the_registry() -> None:
    store_modules = ("router.store", "router.history")
    for path in sorted((ROUTER / "api").rglob("*.py")):
        reached = {m for m in imported_modules(path) if m.startswith(store_modules)}
        assert reached == set(), path.relative_to(ROUTER)
