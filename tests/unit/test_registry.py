from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.errors import (
    LoadTimeout,
    ModelNotFound,
    ModelTooLarge,
    ModelUnavailable,
    StoreUnavailable,
)
from router.registry.registry import ModelRegistry
from router.store import ModelRef, ModelStore
from router.xgb.loader import MEMORY_PER_UBJ_BYTE, LoadedModel, load_model
from tests.modelkit import model_bytes, replace_file, rows, train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

GiB = 2**30


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_registry(
    root: Path,
    *,
    loader: Callable[[ModelRef], LoadedModel] | None = None,
    clock: Callable[[], float] = time.monotonic,
    reload_interval_s: float = 0,
    max_models: int = 8,
    max_bytes: int = GiB,
    load_wait_s: float = 10,
) -> ModelRegistry:
    return ModelRegistry(
        ModelStore(root),
        max_models=max_models,
        max_bytes=max_bytes,
        reload_interval_s=reload_interval_s,
        load_wait_s=load_wait_s,
        loader=loader or (lambda ref: load_model(ref, nthread=1)),
        clock=clock,
    )


def predict(model: LoadedModel) -> np.ndarray:
    return model.predictor.predict(rows())


def test_loads_lazily_and_counts_hits_and_misses(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")
    registry = make_registry(model_root)
    assert registry.cache_usage()["models"] == 0

    first = registry.get("m")
    second = registry.get("m")

    assert first is second
    assert registry.metrics.totals() == {"CacheMiss": 1, "ModelLoad": 1, "CacheHit": 1}
    expected = int(len(model_bytes(train_booster())) * MEMORY_PER_UBJ_BYTE)
    assert registry.cache_usage()["bytes"] >= expected


def test_concurrent_requests_for_one_model_cause_one_load(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")
    calls: list[str] = []

    def slow_loader(ref: ModelRef) -> LoadedModel:
        calls.append(ref.name)
        time.sleep(0.3)
        return load_model(ref, nthread=1)

    registry = make_registry(model_root, loader=slow_loader)
    results: list[LoadedModel] = []
    threads = [threading.Thread(target=lambda: results.append(registry.get("m"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert calls == ["m"]
    assert len(results) == 8
    assert all(result is results[0] for result in results)


def test_slow_load_does_not_block_cached_models_and_loads_run_in_parallel(
    model_root: Path,
) -> None:
    for name in ("cached", "slow-a", "slow-b"):
        write_model(model_root, name, train_booster(), layout="file")
    release = threading.Event()
    loading: list[str] = []

    def loader(ref: ModelRef) -> LoadedModel:
        if ref.name.startswith("slow"):
            loading.append(ref.name)
            assert release.wait(10), "the slow load was never released"
        return load_model(ref, nthread=1)

    registry = make_registry(model_root, loader=loader, reload_interval_s=60)
    registry.get("cached")
    slow = [threading.Thread(target=registry.get, args=(name,)) for name in ("slow-a", "slow-b")]
    for thread in slow:
        thread.start()
    deadline = time.monotonic() + 5
    while len(loading) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    try:
        assert sorted(loading) == ["slow-a", "slow-b"]  # both loads under way at once
        started = time.perf_counter()
        assert registry.get("cached").name == "cached"
        assert time.perf_counter() - started < 0.1
    finally:
        release.set()
        for thread in slow:
            thread.join(timeout=10)
    assert registry.cache_usage()["models"] == 3


def test_waiter_gives_up_after_load_wait(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")
    release = threading.Event()

    def stuck_loader(ref: ModelRef) -> LoadedModel:
        release.wait(10)
        return load_model(ref, nthread=1)

    registry = make_registry(model_root, loader=stuck_loader, load_wait_s=0.2)
    leader = threading.Thread(target=registry.get, args=("m",))
    leader.start()
    time.sleep(0.05)
    try:
        with pytest.raises(LoadTimeout):
            registry.get("m")
    finally:
        release.set()
        leader.join(timeout=10)
    assert registry.get("m").name == "m"


def test_evicts_least_recently_used_model(model_root: Path) -> None:
    for name in "abc":
        write_model(model_root, name, train_booster(), layout="file")
    registry = make_registry(model_root, max_models=2)
    registry.get("a")
    registry.get("b")
    registry.get("a")

    registry.get("c")

    loaded = {status.ref.name for status in registry.statuses() if status.loaded}
    assert loaded == {"a", "c"}
    assert registry.metrics.totals()["CacheEviction"] == 1


def test_replaced_file_is_served_after_the_interval_and_in_flight_keeps_old(
    model_root: Path,
) -> None:
    path = write_model(model_root, "m", train_booster(seed=1), layout="file")
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, reload_interval_s=2)
    old = registry.get("m")
    old_predictions = predict(old)

    replace_file(path, model_bytes(train_booster(seed=2)))
    assert registry.get("m") is old  # within the interval: no file check yet
    clock.now += 2.5
    new = registry.get("m")

    assert new.version != old.version
    assert not np.array_equal(predict(new), old_predictions)
    # A request that already held the old model finishes on it.
    np.testing.assert_array_equal(predict(old), old_predictions)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"not a model at all", id="garbage"),
        pytest.param(lambda data: data[:20] + b"\xff" * 16 + data[36:], id="overwritten"),
    ],
)
def test_broken_replacement_keeps_old_version_and_reports_it(
    model_root: Path, corrupt: Callable[[bytes], bytes]
) -> None:
    path = write_model(model_root, "m", train_booster(seed=1), layout="file")
    registry = make_registry(model_root)
    old = registry.get("m")

    replace_file(path, corrupt(model_bytes(train_booster(seed=2))))
    served = registry.get("m")
    status = registry.status("m")

    assert served is old
    assert status.loaded is old and status.stale
    assert status.failure is not None and "no loadable version" in status.failure.error.detail
    # The broken file is parsed once, not on every request.
    registry.get("m")
    assert registry.metrics.totals()["LoadFailure"] == 1

    replace_file(path, model_bytes(train_booster(seed=3)))  # fixed: loads and clears the error
    fixed = registry.get("m")
    assert fixed.version != old.version
    assert registry.status("m").failure is None


def test_no_working_version_is_unavailable(model_root: Path) -> None:
    write_model(model_root, "m", b"{broken", layout="file")
    registry = make_registry(model_root)

    with pytest.raises(ModelUnavailable, match="no loadable version"):
        registry.get("m")
    with pytest.raises(ModelUnavailable):
        registry.get("m")
    assert registry.metrics.totals()["LoadFailure"] == 1


def test_truncation_at_many_cut_points_never_crashes_and_never_replaces(
    model_root: Path,
) -> None:
    good = model_bytes(train_booster(seed=1, trees=3))
    path = write_model(model_root, "m", good, layout="file")
    registry = make_registry(model_root)
    old = registry.get("m")
    replacement = model_bytes(train_booster(seed=2, trees=3))
    # Every offset where a length or count marker ends (the cuts that crash XGBoost itself),
    # plus a regular sample of all other offsets.
    markers = {i + 1 for i, byte in enumerate(replacement) if byte in b"L#$"}
    cuts = sorted(markers | set(range(0, len(replacement), 7)))

    for cut in cuts:
        replace_file(path, replacement[:cut])
        assert registry.get("m") is old, f"cut at {cut} replaced the working version"
    assert len(cuts) > 100


def test_deleted_model_stops_being_served(model_root: Path) -> None:
    path = write_model(model_root, "m", train_booster(), layout="file")
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, reload_interval_s=2)
    registry.get("m")

    path.unlink()
    assert registry.get("m").name == "m"  # until the next check
    clock.now += 3
    with pytest.raises(ModelNotFound):
        registry.get("m")
    assert registry.cache_usage()["models"] == 0


def test_changed_metadata_reloads_the_model(model_root: Path) -> None:
    booster = train_booster(task="multiclass")
    write_model(model_root, "m", booster, metadata={"class_labels": ["a", "b", "c"]})
    registry = make_registry(model_root)
    assert registry.get("m").metadata.class_labels == ["a", "b", "c"]

    replace_file(model_root / "m" / "metadata.json", b'{"class_labels": ["x", "y", "z"]}')

    assert registry.get("m").metadata.class_labels == ["x", "y", "z"]


def test_model_over_the_byte_budget_gets_a_clear_error(model_root: Path) -> None:
    write_model(model_root, "big", train_booster(trees=50), layout="file")
    registry = make_registry(model_root, max_bytes=10_000)

    with pytest.raises(ModelTooLarge, match="ROUTER_CACHE_MAX_BYTES"):
        registry.get("big")


def test_io_error_is_unavailable_store_not_a_broken_model(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")

    def failing_loader(ref: ModelRef) -> LoadedModel:
        raise PermissionError(13, "Permission denied")

    registry = make_registry(model_root, loader=failing_loader)
    with pytest.raises(StoreUnavailable):
        registry.get("m")
    [status] = registry.statuses()
    assert status.failure is None  # a later read may well succeed: nothing is remembered


def test_preload_loads_and_logs_failures(
    model_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_model(model_root, "good", train_booster(), layout="file")
    registry = make_registry(model_root)

    registry.preload(["good", "missing"])

    assert registry.cache_usage()["models"] == 1
    assert any(record.message == "preload failed" for record in caplog.records)


def test_a_miss_that_races_a_finished_load_does_not_load_again(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")
    calls: list[str] = []

    def counting_loader(ref: ModelRef) -> LoadedModel:
        calls.append(ref.name)
        return load_model(ref, nthread=1)

    registry = make_registry(model_root, loader=counting_loader)
    first = registry.get("m")
    ref = registry.store.resolve("m")

    # As if this request had missed the cache just before the first load finished.
    assert registry._load(ref, cached=None) is first
    assert calls == ["m"]
