from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.registry.registry import ModelRegistry
from router.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb


@pytest.fixture
def model_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


@pytest.fixture
def settings(model_root: Path) -> Settings:
    # reload_interval_s=0: every request checks the file, so tests see changes at once.
    return Settings(model_root=model_root, reload_interval_s=0)


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry.from_settings(settings)


@pytest.fixture(scope="session")
def boosters() -> dict[str, xgb.Booster]:
    """One model of each kind XGBoost can save (``MODEL_KINDS``), trained once a session;
    tests read them and never change them."""
    from tests.modelkit import MODEL_KINDS  # imports XGBoost: only where a test asks for it

    return {name: make() for name, make in MODEL_KINDS.items()}
