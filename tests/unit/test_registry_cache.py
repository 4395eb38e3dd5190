"""The registry's use of its cache, through real loads: the byte budget before a file is
read, admission (ROUTER_CACHE_POLICY), and the counts that /health shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from router.api import create_app
from router.errors import ModelTooLarge, ModelUnavailable
from router.names import VERSION_LENGTH
from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from router.registry.registry import ModelRegistry
from router.settings import Settings
from router.store import ModelStore
from router.xgb.formats import FORMATS, MEMORY_BASE_BYTES, MEMORY_PER_UBJ_BYTE
from router.xgb.loader import load_model
from tests.modelkit import model_bytes, replace_file, rows, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb

    from router.settings import CachePolicy

MiB = 2**20


def make_registry(
    root: Path,
    *,
    max_models: int = 8,
    max_bytes: int = 2**30,
    policy: CachePolicy = "tinylfu",
    settle_s: float = 0,
) -> ModelRegistry:
    return ModelRegistry(
        ModelStore(root),
        max_models=max_models,
        max_bytes=max_bytes,
        reload_interval_s=0,
        load_wait_s=10,
        settle_s=settle_s,
        cache_policy=policy,
        loader=lambda files: load_model(files, nthread=1),
    )


def predict(booster: xgb.Booster) -> np.ndarray:
    """What XGBoost itself answers for the test rows."""
    return booster.inplace_predict(rows())  # type: ignore[no-any-return]


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


# -- admission (ROUTER_CACHE_POLICY), through real loads -----------------------------------


def write_models(root: Path, names: str, *, trees: int = 5) -> dict[str, xgb.Booster]:
    boosters = {}
    for seed, name in enumerate(names):
        boosters[name] = train_booster(trees=trees, seed=seed)
        write_model(root, name, boosters[name], layout="file")
    return boosters


def loaded_names(registry: ModelRegistry) -> set[str]:
    return {status.name for status in registry.statuses() if status.loaded is not None}


def request(registry: ModelRegistry, sequence: str) -> None:
    for name in sequence:
        registry.get(name)


@pytest.mark.parametrize(
    ("policy", "kept", "counts"),
    [
        ("tinylfu", {"a", "b"}, {"CacheAdmissionRefused": 2, "CacheEviction": 0}),
        ("lru", {"b", "c"}, {"CacheAdmissionRefused": 0, "CacheEviction": 1}),
    ],
)
def test_a_one_off_request_is_served_without_evicting_a_popular_model(
    model_root: Path, policy: CachePolicy, kept: set[str], counts: dict[str, int]
) -> None:
    boosters = write_models(model_root, "abc")
    registry = make_registry(model_root, max_models=2, policy=policy)
    request(registry, "abababab")

    served = registry.get("c")
    registry.get("c")  # not kept: loaded again; under LRU, a hit

    np.testing.assert_array_equal(served.predictor.predict(rows()), predict(boosters["c"]))
    assert loaded_names(registry) == kept
    totals = registry.metrics.totals()
    assert {key: totals.get(key, 0) for key in counts} == counts
    loads = {"tinylfu": 4, "lru": 3}[policy]
    assert (totals["ModelLoad"], totals["CacheMiss"]) == (loads, loads)


@pytest.mark.parametrize("reload_interval_s", [0, 60])
def test_each_request_counts_once_for_admission_whichever_path_it_takes(
    model_root: Path, reload_interval_s: float
) -> None:
    """Misses, hits after a file check (interval 0) and fresh hits (60 s), through the API's
    two steps (``cached_if_fresh`` on the event loop, then ``lookup``): the counts the cache
    admits by are the replayed trace's (scripts/bench/policy.py)."""
    write_models(model_root, "ab")
    settings = Settings(model_root=model_root, reload_interval_s=reload_interval_s)
    registry = ModelRegistry.from_settings(settings)
    client = TestClient(create_app(settings, registry))
    for name in "aabab":
        response = client.post(f"/models/{name}/predict", json={"instances": rows().tolist()})
        assert response.status_code == 200
    registry.get("a")  # the registry's own callers (batch jobs, preload)

    frequencies = registry._cache.frequencies  # what admission compares
    assert (frequencies["a"], frequencies["b"]) == (4, 2)


def test_a_model_that_becomes_popular_is_cached_and_then_hit(model_root: Path) -> None:
    write_models(model_root, "abc")
    registry = make_registry(model_root, max_models=2)
    request(registry, "ab" * 20)  # two samples' worth (10 requests per cached model each)

    loads_before = registry.metrics.totals()["ModelLoad"]
    for _ in range(20):
        request(registry, "c")
        if "c" in loaded_names(registry):
            break
    loads = registry.metrics.totals()["ModelLoad"] - loads_before
    request(registry, "ccc")

    assert "c" in loaded_names(registry)
    assert 1 < loads < 20  # refused at first, admitted once its count caught up
    assert registry.metrics.totals()["ModelLoad"] - loads_before == loads  # then hits
    assert registry.metrics.totals()["CacheEviction"] == 1


def test_a_model_not_admitted_keeps_its_failure_and_settle_bookkeeping(model_root: Path) -> None:
    write_models(model_root, "abc")
    path = model_root / "c.ubj"
    registry = make_registry(model_root, max_models=2, settle_s=5)
    request(registry, "abababab")
    request(registry, "cc")  # refused twice: its second read is of an inode read before,
    # within settle_s, so it is served only because the process served those bytes already

    replace_file(path, b"{not a model")
    for _ in range(3):
        with pytest.raises(ModelUnavailable, match="no loadable version"):
            registry.get("c")
    assert registry.metrics.totals()["LoadFailure"] == 1  # remembered, not parsed again

    replace_file(path, model_bytes(train_booster(seed=9)))
    np.testing.assert_array_equal(
        registry.get("c").predictor.predict(rows()), predict(train_booster(seed=9))
    )


def test_a_one_off_pinned_version_does_not_evict_popular_models(model_root: Path) -> None:
    old, new = (validate_model(model_bytes(train_booster(seed=s))).data for s in (1, 2))
    with ModelFolder(model_root, "m", history_limit=3) as folder:
        first = folder.publish(old).version.sha256[:VERSION_LENGTH]
        folder.publish(new)
    write_models(model_root, "a")
    registry = make_registry(model_root, max_models=2)
    request(registry, "amamamam")

    pinned = registry.get_version("m", first)

    assert pinned.version == first
    np.testing.assert_array_equal(pinned.predictor.predict(rows()), predict(train_booster(seed=1)))
    assert registry.cache_usage()["models"] == 2
    assert loaded_names(registry) == {"a", "m"}
    assert registry.metrics.totals()["CacheAdmissionRefused"] == 1


@pytest.mark.parametrize("policy", ["tinylfu", "lru"])
def test_the_count_and_byte_bounds_hold_under_either_policy(
    model_root: Path, policy: CachePolicy
) -> None:
    for trees, names in ((4, "abc"), (12, "def"), (30, "gh")):
        write_models(model_root, names, trees=trees)
    store = ModelStore(model_root)
    sizes = {name: load_model(store.read_named(name), nthread=1).size_bytes for name in "abcdefgh"}
    budget = sizes["g"] + sizes["d"] + sizes["a"]
    registry = make_registry(model_root, max_models=3, max_bytes=budget, policy=policy)
    rng = np.random.default_rng(5)

    for pick in rng.zipf(1.4, size=80):
        registry.get("abcdefgh"[min(int(pick), 8) - 1])
        usage = registry.cache_usage()
        assert usage["models"] <= 3
        assert usage["bytes"] <= budget
        assert usage["bytes"] == sum(sizes[name] for name in loaded_names(registry))
    assert registry.metrics.totals()["CacheEviction"] > 0


@pytest.mark.parametrize(("policy", "evictions", "refused"), [("tinylfu", 0, 1), ("lru", 1, 0)])
def test_health_shows_the_settings_policy_at_work(
    model_root: Path, policy: str, evictions: int, refused: int
) -> None:
    write_models(model_root, "abc")
    settings = Settings(
        model_root=model_root, reload_interval_s=0, cache_max_models=2, cache_policy=policy
    )
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))
    body = {"instances": rows().tolist()}
    for name in "ababababc":
        assert client.post(f"/models/{name}/predict", json=body).status_code == 200

    health = client.get("/health").json()

    assert health["cache"]["models"] == 2
    assert health["counters"].get("CacheEviction", 0) == evictions
    assert health["counters"].get("CacheAdmissionRefused", 0) == refused


def test_an_unknown_cache_policy_is_refused_by_the_settings(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_CACHE_POLICY", "lfu")
    with pytest.raises(ValidationError, match="tinylfu"):
        Settings(model_root=model_root)


def test_a_model_the_cache_does_not_admit_is_still_described(model_root: Path) -> None:
    # GET /models/{name} "loads the model if needed": it did, and then described nothing,
    # because it looked for the model in the cache that had just refused to keep it.
    boosters = write_models(model_root, "abc")
    settings = Settings(model_root=model_root, reload_interval_s=0, cache_max_models=2)
    client = TestClient(create_app(settings, ModelRegistry.from_settings(settings)))
    body = {"instances": rows().tolist()}
    for name in "abababab":
        assert client.post(f"/models/{name}/predict", json=body).status_code == 200

    detail = client.get("/models/c").json()

    assert client.get("/health").json()["counters"]["CacheAdmissionRefused"] == 1
    assert detail["loaded"] is False  # not kept
    assert detail["version"] is not None and detail["last_error"] is None
    assert detail["num_features"] == boosters["c"].num_features()
    assert detail["objective"] and detail["outputs"] and detail["rounds"]
    listed = {model["name"]: model for model in client.get("/models").json()["models"]}
    assert listed["c"]["loaded"] is False and listed["a"]["loaded"] is True
