from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from router.registry.registry import ModelRegistry
from router.settings import Settings

if TYPE_CHECKING:
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


@pytest.fixture
def locked_model_folder(model_root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A readable model ``good`` and a model folder ``locked`` whose files cannot be stat-ed
    (what ``chmod 000`` does to anyone but root: the suite may run as root); its name."""
    from tests.modelkit import train_booster, write_model

    write_model(model_root, "good", train_booster(), layout="file")
    write_model(model_root, "locked", train_booster(), layout="directory")
    original = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if isinstance(path, (str, os.PathLike)) and Path(path).parent.name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return original(path, *args, **kwargs)

    # Path.stat calls os.stat: both ways of asking are refused.
    monkeypatch.setattr(os, "stat", stat)
    return "locked"
