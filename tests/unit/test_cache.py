from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.errors import ModelTooLarge
from router.registry.cache import Frequencies, ModelCache
from router.store import ModelStore
from router.xgb.loader import LoadedModel, load_model
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

    from router.settings import CachePolicy


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


# -- admission (ROUTER_CACHE_POLICY) -------------------------------------------------------


def requested(
    cache: ModelCache[LoadedModel], loaded: LoadedModel, name: str, size: int = 1
) -> bool:
    """One request as the registry makes it: ``access``, and on a miss ``admit``; whether the
    model was cached afterwards."""
    if cache.access(name) is None:
        return cache.admit(name, sized(loaded, name, size))
    return True


@pytest.mark.parametrize(("policy", "kept"), [("tinylfu", ["a", "b"]), ("lru", ["b", "c"])])
def test_a_one_off_request_for_an_unpopular_model_evicts_a_popular_one_only_under_lru(
    loaded: LoadedModel, policy: CachePolicy, kept: list[str]
) -> None:
    evicted: list[str] = []
    cache = ModelCache[LoadedModel](
        2, 1000, policy=policy, on_evict=lambda key, _: evicted.append(key)
    )
    for name in "abababab":
        requested(cache, loaded, name)

    cached = requested(cache, loaded, "c")

    assert sorted(cache) == kept
    assert cached == (policy == "lru")
    assert evicted == ([] if policy == "tinylfu" else ["a"])


def test_popularity_that_moves_is_followed_once_the_counts_have_aged(
    loaded: LoadedModel,
) -> None:
    cache = ModelCache[LoadedModel](2, 1000, policy="tinylfu")
    sample = cache.frequencies.sample  # counts halve every `sample` requests
    for _ in range(3 * sample):  # a and b popular for six samples' worth of requests
        for name in "ab":
            requested(cache, loaded, name)
    assert sorted(cache) == ["a", "b"]
    assert not requested(cache, loaded, "c")  # new, and once: refused

    # Then only c and d are asked for. Without aging, each would need as many requests as a
    # and b had (3 * sample); halving lets them in within one sample.
    admitted_at: dict[str, int] = {}
    for number in range(3 * sample):
        for name in "cd":
            if requested(cache, loaded, name) and name not in admitted_at:
                admitted_at[name] = number
    assert sorted(cache) == ["c", "d"]
    assert 0 < max(admitted_at.values()) < sample


def test_a_tie_admits_the_newcomer(loaded: LoadedModel) -> None:
    cache = ModelCache[LoadedModel](1, 1000, policy="tinylfu")
    assert requested(cache, loaded, "a")

    assert requested(cache, loaded, "b")  # asked for once each: as often as its victim
    assert list(cache) == ["b"]


def test_a_cache_with_room_admits_a_model_never_asked_for(loaded: LoadedModel) -> None:
    cache = ModelCache[LoadedModel](2, 1000, policy="tinylfu")
    for _ in range(5):
        requested(cache, loaded, "a")

    assert cache.admit("b", sized(loaded, "b", 1))
    assert sorted(cache) == ["a", "b"]


def test_a_new_version_of_a_cached_model_always_replaces_the_old_one(
    loaded: LoadedModel,
) -> None:
    evicted: list[str] = []
    cache = ModelCache[LoadedModel](3, 100, on_evict=lambda key, _: evicted.append(key))
    for name in "aaaabbbb":
        requested(cache, loaded, name, size=40)
    requested(cache, loaded, "c", size=20)  # room: admitted, asked for once

    assert cache.admit("c", sized(loaded, "c", 60))  # its bigger new version

    assert evicted == ["a"]  # the least recently used other entry, never c's old version
    assert (sorted(cache), cache.currsize) == (["b", "c"], 100)


@pytest.mark.parametrize(("policy", "admitted"), [("tinylfu", False), ("lru", True)])
def test_admission_weighs_every_entry_the_byte_budget_would_evict(
    loaded: LoadedModel, policy: CachePolicy, admitted: bool
) -> None:
    cache = ModelCache[LoadedModel](10, 100, policy=policy)
    for name in "aaaaaab":  # a popular, b asked for once, both least recently used first
        requested(cache, loaded, name, size=40)
    for _ in range(2):
        cache.access("big")  # more often than b, less than a

    # 70 bytes need both a and b out: a's count is the one that refuses.
    assert cache.admit("big", sized(loaded, "big", 70)) is admitted
    assert sorted(cache) == (["big"] if admitted else ["a", "b"])


@pytest.mark.parametrize("policy", ["tinylfu", "lru"])
def test_both_bounds_hold_under_either_policy(loaded: LoadedModel, policy: CachePolicy) -> None:
    rng = np.random.default_rng(3)
    cache = ModelCache[LoadedModel](4, 1000, policy=policy)
    # Zipf-ish names, sizes that change per version: every eviction path gets exercised.
    for _ in range(3000):
        name = f"m{min(int(rng.zipf(1.3)), 40)}"
        requested(cache, loaded, name, size=int(rng.integers(1, 400)))
        assert len(cache) <= 4
        assert cache.currsize <= 1000
        assert cache.currsize == sum(entry.size_bytes for entry in cache.values())
    assert len(cache) >= 2  # something was kept all along


def test_request_counts_stay_bounded_however_many_names_are_asked_for() -> None:
    frequencies = Frequencies(sample=50)
    for number in range(20_000):
        frequencies.record(f"never-again-{number}")
        frequencies.record("popular")
        assert len(frequencies) <= 2 * frequencies.sample

    assert frequencies["popular"] > frequencies["never-again-19990"]
