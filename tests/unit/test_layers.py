"""The layers point one way (store -> xgb -> registry -> api), and each knows only what it
must: the cache knows no model, the registry no file format, the API no store."""

from __future__ import annotations

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
