"""Over HTTP: one broken model never takes the others down, and exhausting memory or the
budget is a 503 problem, never a 500."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from router.api import create_app
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.modelkit import rows

if TYPE_CHECKING:
    from pathlib import Path


def _client(settings: Settings) -> TestClient:
    return TestClient(
        create_app(settings, ModelRegistry.from_settings(settings)), raise_server_exceptions=False
    )


def test_an_unreadable_model_folder_is_listed_with_its_error_beside_the_others(
    model_root: Path, locked_model_folder: str
) -> None:
    client = _client(Settings(model_root=model_root, reload_interval_s=0))

    response = client.get("/models")

    assert response.status_code == 200
    models = {model["name"]: model for model in response.json()["models"]}
    assert models["good"]["format"] == "ubj"
    assert models["locked"]["format"] is None
    assert "Permission denied" in models["locked"]["last_error"]
    assert str(model_root) not in models["locked"]["last_error"]
    ok = client.post("/models/good/predict", json={"instances": rows(1).tolist()})
    assert ok.status_code == 200


def test_a_huge_json_file_is_a_503_problem_for_predict_and_describe(model_root: Path) -> None:
    with (model_root / "huge.json").open("wb") as handle:
        handle.truncate(16 * 2**30)  # sparse: reading it would take 16 GiB
    client = _client(Settings(model_root=model_root, cache_max_bytes=64 * 2**20))

    predicted = client.post("/models/huge/predict", json={"instances": rows(1).tolist()})
    described = client.get("/models/huge")

    assert predicted.status_code == 503
    assert predicted.json()["type"].endswith("model-too-large")
    assert described.status_code == 200
    assert "ROUTER_CACHE_MAX_BYTES" in described.json()["last_error"]
