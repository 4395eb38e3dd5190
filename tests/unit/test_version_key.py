"""A model's version key: what makes the registry load a model again, and what must not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.registry.registry import ModelRegistry
from router.store import ModelStore
from router.xgb.loader import load_model
from tests.modelkit import replace_file, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

    from router.store import ModelFiles
    from router.xgb.loader import LoadedModel


def counting_registry(root: Path, loads: list[str]) -> ModelRegistry:
    def loader(files: ModelFiles) -> LoadedModel:
        loads.append(files.ref.name)
        return load_model(files, nthread=1)

    # reload_interval_s=0: every get() checks the files on disk.
    return ModelRegistry(
        ModelStore(root),
        max_models=4,
        max_bytes=2**30,
        reload_interval_s=0,
        load_wait_s=10,
        loader=loader,
    )


def test_an_unchanged_model_with_metadata_is_loaded_once(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), metadata={"description": "churn"})
    loads: list[str] = []
    registry = counting_registry(model_root, loads)

    for _ in range(5):
        registry.get("m")

    assert loads == ["m"]


def test_changed_metadata_alone_loads_the_model_again(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), metadata={"description": "v1"})
    loads: list[str] = []
    registry = counting_registry(model_root, loads)
    registry.get("m")

    replace_file(model_root / "m" / "metadata.json", b'{"description": "v2"}')

    assert registry.get("m").metadata.description == "v2"
    assert loads == ["m", "m"]
