from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from router.errors import ModelTooLarge
from router.registry.cache import ModelCache
from router.store import ModelStore
from router.xgb.loader import LoadedModel, load_model
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def loaded(model_root: Path) -> LoadedModel:
    write_model(model_root, "m", train_booster(), layout="file")
    return load_model(ModelStore(model_root).read_named("m"), nthread=1)


def sized(model: LoadedModel, name: str, size: int) -> LoadedModel:
    return dataclasses.replace(model, name=name, size_bytes=size)


def test_evicts_least_recently_used_when_count_is_full(loaded: LoadedModel) -> None:
    evicted: list[str] = []
    cache = ModelCache(max_models=2, max_bytes=10_000, on_evict=lambda k, _: evicted.append(k))
    cache["a"] = sized(loaded, "a", 1)
    cache["b"] = sized(loaded, "b", 1)
    assert cache.get("a") is not None  # a is now the most recently used

    cache["c"] = sized(loaded, "c", 1)

    assert evicted == ["b"]
    assert sorted(cache) == ["a", "c"]


def test_evicts_until_the_byte_budget_holds(loaded: LoadedModel) -> None:
    evicted: list[str] = []
    cache = ModelCache(max_models=10, max_bytes=100, on_evict=lambda k, _: evicted.append(k))
    for name in "abc":
        cache[name] = sized(loaded, name, 30)

    cache["big"] = sized(loaded, "big", 70)

    assert evicted == ["a", "b"]
    assert cache.currsize == 100


def test_model_larger_than_the_budget_is_refused_without_evicting(loaded: LoadedModel) -> None:
    cache = ModelCache(max_models=10, max_bytes=100)
    cache["a"] = sized(loaded, "a", 50)

    with pytest.raises(ModelTooLarge, match="ROUTER_CACHE_MAX_BYTES"):
        cache["huge"] = sized(loaded, "huge", 101)
    assert list(cache) == ["a"]


def test_peek_does_not_refresh_recency(loaded: LoadedModel) -> None:
    cache = ModelCache(max_models=2, max_bytes=1000)
    cache["a"] = sized(loaded, "a", 1)
    cache["b"] = sized(loaded, "b", 1)

    assert cache.peek("a") is not None
    assert cache.peek("missing") is None
    cache["c"] = sized(loaded, "c", 1)

    assert "a" not in cache


def test_replacing_a_key_counts_its_new_size_once(loaded: LoadedModel) -> None:
    cache = ModelCache(max_models=2, max_bytes=100)
    cache["a"] = sized(loaded, "a", 40)
    cache["a"] = sized(loaded, "a", 60)

    assert (len(cache), cache.currsize) == (1, 60)
