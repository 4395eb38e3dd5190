"""The registry's use of its cache, through real loads: the byte budget before a file is
read, admission (ROUTER_CACHE_POLICY), and the counts that /health shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.errors import ModelTooLarge, ModelUnavailable
from router.registry.registry import ModelRegistry
from router.store import ModelStore
from router.xgb.formats import FORMATS, MEMORY_BASE_BYTES, MEMORY_PER_UBJ_BYTE
from router.xgb.loader import load_model

if TYPE_CHECKING:
    from pathlib import Path

MiB = 2**20


def make_registry(root: Path, *, max_models: int = 8, max_bytes: int = 2**30) -> ModelRegistry:
    return ModelRegistry(
        ModelStore(root),
        max_models=max_models,
        max_bytes=max_bytes,
        reload_interval_s=0,
        load_wait_s=10,
        loader=lambda files: load_model(files, nthread=1),
    )


def sparse_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(size)  # no disk used, but `size` bytes if read


def test_the_read_limit_is_the_largest_file_whose_estimated_model_fits(model_root: Path) -> None:
    budget = 64 * MiB
    memory_of = FORMATS["ubj"].memory_before_parse
    fits = int((budget - MEMORY_BASE_BYTES) / MEMORY_PER_UBJ_BYTE)  # to within rounding
    while memory_of(fits + 1) <= budget:
        fits += 1
    while memory_of(fits) > budget:
        fits -= 1
    sparse_file(model_root / "fits.ubj", fits)
    sparse_file(model_root / "over.ubj", fits + 1)
    registry = make_registry(model_root, max_bytes=budget)

    with pytest.raises(ModelUnavailable):  # read, then refused by the checks: not a model
        registry.get("fits")
    with pytest.raises(ModelTooLarge, match="fit the cache budget"):  # refused unread
        registry.get("over")
