from __future__ import annotations

import gc
import hashlib
import os
import threading
import time
import tracemalloc
import weakref
from typing import TYPE_CHECKING

import numpy as np
import pytest

from router.errors import (
    LoadTimeout,
    ModelNotFound,
    ModelOutsideRoot,
    ModelSettling,
    ModelTooLarge,
    ModelUnavailable,
    StoreUnavailable,
)
from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from router.registry.metrics import RouterMetrics
from router.registry.registry import ModelRegistry
from router.store import ModelFiles, ModelRef, ModelStore
from router.xgb.loader import MEMORY_PER_UBJ_BYTE, LoadedModel, load_model
from tests.modelkit import model_bytes, replace_file, rows, train_booster, write_model
from tests.reliability.swap import twin_models

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
    loader: Callable[[ModelFiles], LoadedModel] | None = None,
    clock: Callable[[], float] = time.monotonic,
    reload_interval_s: float = 0,
    max_models: int = 8,
    max_bytes: int = GiB,
    load_wait_s: float = 10,
    settle_s: float = 0,
    metrics: RouterMetrics | None = None,
) -> ModelRegistry:
    return ModelRegistry(
        ModelStore(root),
        max_models=max_models,
        max_bytes=max_bytes,
        reload_interval_s=reload_interval_s,
        load_wait_s=load_wait_s,
        settle_s=settle_s,
        loader=loader or (lambda files: load_model(files, nthread=1)),
        clock=clock,
        metrics=metrics,
    )


class CacheMisses:
    """A metrics sink whose event ``reached`` is set at the ``expected``-th cache miss."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.misses = 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def count(self, name: str, value: int) -> None:
        if name == "CacheMiss":
            with self._lock:
                self.misses += value
                if self.misses >= self.expected:
                    self.reached.set()

    def milliseconds(self, name: str, value: float) -> None:
        pass


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
    release = threading.Event()

    def held_loader(files: ModelFiles) -> LoadedModel:
        calls.append(files.ref.name)
        assert release.wait(10), "the load was never released"
        return load_model(files, nthread=1)

    misses = CacheMisses(8)
    registry = make_registry(model_root, loader=held_loader, metrics=RouterMetrics(misses))
    results: list[LoadedModel] = []
    threads = [threading.Thread(target=lambda: results.append(registry.get("m"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    # The load is released once all eight requests missed the cache: seven came during it.
    assert misses.reached.wait(10), f"{misses.misses} of 8 requests missed the cache"
    release.set()
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
    loading = {name: threading.Event() for name in ("slow-a", "slow-b")}

    def loader(files: ModelFiles) -> LoadedModel:
        if files.ref.name in loading:
            loading[files.ref.name].set()
            assert release.wait(10), "the slow load was never released"
        return load_model(files, nthread=1)

    registry = make_registry(model_root, loader=loader, reload_interval_s=60)
    registry.get("cached")
    slow = [threading.Thread(target=registry.get, args=(name,)) for name in ("slow-a", "slow-b")]
    for thread in slow:
        thread.start()

    try:
        assert all(started.wait(5) for started in loading.values())  # both under way at once
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
    release, loading = threading.Event(), threading.Event()

    def stuck_loader(files: ModelFiles) -> LoadedModel:
        loading.set()
        release.wait(10)
        return load_model(files, nthread=1)

    registry = make_registry(model_root, loader=stuck_loader, load_wait_s=0.2)
    leader = threading.Thread(target=registry.get, args=("m",))
    leader.start()
    assert loading.wait(5)
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

    loaded = {status.name for status in registry.statuses() if status.loaded}
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
    status = registry.load_and_describe("m")

    assert served is old
    assert status.loaded is old and status.stale
    assert status.failure is not None and "no loadable version" in status.failure.error.detail
    # The broken file is parsed once, not on every request.
    registry.get("m")
    assert registry.metrics.totals()["LoadFailure"] == 1

    replace_file(path, model_bytes(train_booster(seed=3)))  # fixed: loads and clears the error
    fixed = registry.get("m")
    assert fixed.version != old.version
    assert registry.load_and_describe("m").failure is None


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

    def failing_loader(files: ModelFiles) -> LoadedModel:
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

    def counting_loader(files: ModelFiles) -> LoadedModel:
        calls.append(files.ref.name)
        return load_model(files, nthread=1)

    registry = make_registry(model_root, loader=counting_loader)
    first = registry.get("m")
    ref = registry.store.resolve("m")

    # As if this request had missed the cache just before the first load finished.
    assert registry._load(ref, cached=None) is first
    assert calls == ["m"]


# -- only bytes somebody finished writing are served (issue 14, items 1 and 2) -------------


def _version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _touch(path: Path, step: int) -> None:
    """Give the file a new modification time, as the clock would between two writes."""
    base = 1_700_000_000 * 10**9
    os.utime(path, ns=(base, base + step * 10**6))


def test_a_file_rewritten_in_place_is_never_served_midway_only_once_settled(
    model_root: Path,
) -> None:
    a, b = twin_models()
    path = write_model(model_root, "m", a, layout="file")
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, settle_s=5)
    assert registry.get("m").version == _version(a)

    served = []
    with path.open("r+b") as handle:  # rsync --inplace: B over A, 1 KiB at a time
        for step, offset in enumerate(range(0, len(b), 1024)):
            handle.seek(offset)
            handle.write(b[offset : offset + 1024])
            handle.flush()
            _touch(path, step)
            clock.now += 0.1
            served.append(registry.get("m").version)

    assert set(served) == {_version(a)}  # never a mix of A and B
    clock.now += 5  # unchanged for the settle time: B is what was written
    assert registry.get("m").version == _version(b)


def test_a_copy_over_a_published_model_is_served_once_settled_and_keeps_the_history(
    model_root: Path,
) -> None:
    # `cp retrained.ubj store/m/model.ubj` over a published model: the file is rewritten in
    # place. It was refused as damaged when history entries were hard links of it, and the
    # write also destroyed the published version, so new processes fell back to an older
    # one. Now the copy is a hand-placed file: served once settled, in this process and in
    # a new one alike, while every published version stays pinnable.
    first, second = (validate_model(model_bytes(train_booster(seed=s))).data for s in (5, 6))
    retrained = validate_model(model_bytes(train_booster(seed=7))).data
    with ModelFolder(model_root, "m", history_limit=3) as folder:
        folder.publish(first)
        folder.publish(second)
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, settle_s=5)
    assert registry.get("m").version == _version(second)

    live = model_root / "m" / "model.ubj"
    with live.open("r+b") as handle:  # what cp does: truncate, then write, same inode
        handle.truncate(0)
        handle.write(retrained)
    clock.now += 0.1
    assert registry.get("m").version == _version(second)  # not settled yet
    clock.now += 5
    assert registry.get("m").version == _version(retrained)

    fresh = make_registry(model_root, clock=clock, settle_s=5)  # a new Lambda environment
    assert fresh.get("m").version == _version(retrained)
    for data in (first, second):
        assert fresh.get_version("m", _version(data)).version == _version(data)


def test_a_metadata_file_renamed_in_beside_an_in_place_write_does_not_settle_the_model(
    model_root: Path,
) -> None:
    # clf.save_model("store/m/model.ubj") writes in place; the job's metadata.json beside it
    # is written atomically, as tools do. A new metadata inode says nothing of model.ubj.
    a, b = twin_models()
    path = write_model(model_root, "m", a)  # a directory: model.ubj
    metadata = path.with_name("metadata.json")
    metadata.write_text('{"description": "v0"}')
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, settle_s=5)
    assert registry.get("m").version == _version(a)

    served = []
    with path.open("r+b") as handle:
        for step, offset in enumerate(range(0, len(b), 1024)):
            handle.seek(offset)
            handle.write(b[offset : offset + 1024])
            handle.flush()
            _touch(path, step)
            replace_file(metadata, f'{{"description": "v{step + 1}"}}'.encode())
            clock.now += 0.1
            served.append(registry.get("m").version)

    assert set(served) == {_version(a)}  # never a mix of A and B
    clock.now += 5
    assert registry.get("m").version == _version(b)


def test_an_evicted_model_whose_file_did_not_change_is_served_again_at_once(
    model_root: Path,
) -> None:
    # The file is seconds old and this process read it before, but it loaded it: the
    # version it served has settled, and an eviction does not unsettle it.
    write_model(model_root, "m", train_booster(seed=1), layout="file")
    write_model(model_root, "other", train_booster(seed=2), layout="file")
    registry = make_registry(model_root, clock=FakeClock(), settle_s=60, max_models=1)
    first = registry.get("m").version
    registry.get("other")  # evicts m

    assert registry.get("m").version == first


def test_a_dropped_registry_frees_its_models_without_the_collector(model_root: Path) -> None:
    # Its cache called back into it (a cycle), so its boosters lived on until a full
    # collection: a benchmark's pool of registries made later loads slower, and a test
    # process held every model any test had loaded.
    write_model(model_root, "m", train_booster(), layout="file")
    registry = make_registry(model_root)
    booster = weakref.ref(registry.get("m").predictor.booster)
    dropped = weakref.ref(registry)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del registry
        assert dropped() is None
        assert booster() is None
    finally:
        if was_enabled:
            gc.enable()


def test_an_eviction_is_counted(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(seed=1), layout="file")
    write_model(model_root, "other", train_booster(seed=2), layout="file")
    metrics = RouterMetrics()
    registry = make_registry(model_root, max_models=1, metrics=metrics)
    registry.get("m")

    for _ in range(3):  # asked for more often than m: TinyLFU admits it, evicting m
        registry.get("other")

    assert metrics.totals().get("CacheEviction") == 1


def test_in_place_bytes_with_nothing_else_to_serve_are_a_503_until_settled(
    model_root: Path,
) -> None:
    a, b = twin_models()
    path = write_model(model_root, "m", a, layout="file")
    write_model(model_root, "other", train_booster(), layout="file")
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, settle_s=5, max_models=1)
    registry.get("m")
    registry.get("other")  # evicts m; this process has read m's inode before

    path.write_bytes(b[:1000] + a[1000:])  # a writer midway, same inode
    _touch(path, 1)
    with pytest.raises(ModelSettling, match="ROUTER_SETTLE_S"):
        registry.get("m")
    clock.now += 5
    assert registry.get("m").version == _version(b[:1000] + a[1000:])


def test_a_file_renamed_into_place_is_served_at_once_without_settling(model_root: Path) -> None:
    a, b = twin_models()
    path = write_model(model_root, "m", a, layout="file")
    registry = make_registry(model_root, clock=FakeClock(), settle_s=5)
    registry.get("m")

    replace_file(path, b)  # a new inode: a complete file, renamed in

    assert registry.get("m").version == _version(b)


def test_a_file_whose_change_time_is_older_than_the_settle_time_is_served_at_once(
    model_root: Path,
) -> None:
    a, b = twin_models()
    path = write_model(model_root, "m", a, layout="file")
    write_model(model_root, "other", train_booster(), layout="file")
    later = [0.0]
    registry = ModelRegistry(
        ModelStore(model_root),
        max_models=1,
        max_bytes=GiB,
        reload_interval_s=0,
        load_wait_s=10,
        settle_s=5,
        loader=lambda files: load_model(files, nthread=1),
        clock=FakeClock(),
        wall_clock=lambda: time.time() + later[0],
    )
    registry.get("m")
    registry.get("other")  # evicts m
    path.write_bytes(b)  # in place: the same inode
    _touch(path, 1)

    with pytest.raises(ModelSettling):
        registry.get("m")
    later[0] = 6  # its ctime is now 6 s old: nobody has written it since
    assert registry.get("m").version == _version(b)


def test_an_in_place_write_over_published_bytes_waits_like_any_other(model_root: Path) -> None:
    a, b = twin_models()
    with ModelFolder(model_root, "m", history_limit=1) as folder:
        folder.publish(a)
    live = model_root / "m" / "model.ubj"
    replace_file(live, a)  # the published bytes, but a copy: no history entry's inode
    clock = FakeClock()
    registry = make_registry(model_root, clock=clock, settle_s=5)
    assert registry.get("m").version == _version(a)  # trusted by its hash

    with live.open("r+b") as handle:  # a writer midway through B
        handle.write(b[: len(b) // 2])
    _touch(live, 1)

    assert registry.get("m").version == _version(a)


def test_a_history_version_with_a_flipped_bit_is_never_served(model_root: Path) -> None:
    # What a version pinned in the URL, a rollback or a fallback reads: its bytes must be
    # those its name records, whatever else in them still parses.
    data = validate_model(model_bytes(train_booster(trees=20, seed=3))).data
    live_data = validate_model(model_bytes(train_booster(trees=20, seed=4))).data
    with ModelFolder(model_root, "m", history_limit=1) as folder:
        folder.publish(data)
        folder.publish(live_data)
    version = _version(data)
    (entry,) = (model_root / "m" / ".history").glob(f"*-{hashlib.sha256(data).hexdigest()}.ubj")
    rng = np.random.default_rng(14)
    served = []
    for position in rng.choice(len(data), size=20, replace=False):
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.integers(8))
        with entry.open("r+b") as handle:  # bit rot: the same inode, other bytes
            handle.write(bytes(flipped))
        registry = make_registry(model_root)  # a new process: nothing cached
        try:
            served.append(registry.get_version("m", version).version)
        except ModelUnavailable as exc:
            assert "damaged" in exc.detail or "not a valid" in exc.detail, exc.detail
    assert served == []


def test_published_bytes_are_trusted_and_skip_the_checks_before_xgboost(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = validate_model(model_bytes(train_booster())).data
    with ModelFolder(model_root, "m", history_limit=1) as folder:
        folder.publish(data)
    write_model(model_root, "by-hand", data, layout="file")
    checked: list[int] = []

    def check_model_bytes(data: bytes, fmt: str, *, trusted: bool = False) -> None:
        if not trusted:  # formats.check_model_bytes walks nothing for trusted bytes
            checked.append(len(data))

    monkeypatch.setattr("router.xgb.loader.check_model_bytes", check_model_bytes)
    registry = make_registry(model_root)

    registry.get("m")
    assert checked == []
    registry.get("by-hand")
    assert checked == [len(data)]


# -- races with other writers (items 3 and 4) ---------------------------------------------


def _after_resolve(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run ``action`` right after the registry stats the files: another writer's move."""
    original = ModelStore.resolve

    def resolve(self: ModelStore, name: str) -> ModelRef:
        ref = original(self, name)
        action()
        return ref

    monkeypatch.setattr(ModelStore, "resolve", resolve)


def test_a_fifo_swapped_in_after_the_stat_neither_hangs_nor_blames_the_good_file(
    model_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_model(model_root, "m", train_booster(), layout="file")
    good = tmp_path / "good.ubj"
    os.link(path, good)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    _after_resolve(monkeypatch, lambda: _linked(fifo).replace(path))
    registry = make_registry(model_root)
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(errors, registry.get, "m"), daemon=True)

    worker.start()
    worker.join(timeout=10)
    hung = worker.is_alive()
    if hung:  # release the old code's blocking open so the thread can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)

    assert not hung, "a FIFO swapped in hung the loading thread"
    assert [type(error) for error in errors] == [ModelUnavailable]
    monkeypatch.undo()
    _linked(good).replace(path)  # the good file is back: it loads at once
    assert registry.get("m").name == "m"


def test_a_symlink_flipped_after_the_check_never_serves_outside_content(
    model_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = write_model(model_root, "v1", train_booster(seed=1), layout="file")
    outside = write_model(tmp_path / "elsewhere", "secret", train_booster(seed=2), layout="file")
    link = model_root / "current.ubj"
    link.symlink_to(inside)
    flipped = model_root / ".flipped"

    def flip() -> None:
        flipped.unlink(missing_ok=True)
        flipped.symlink_to(outside)
        flipped.replace(link)

    _after_resolve(monkeypatch, flip)
    registry = make_registry(model_root)

    with pytest.raises(ModelOutsideRoot):
        registry.get("current")


def _linked(source: Path) -> Path:
    temp = source.with_name(f".{source.name}.link")
    temp.unlink(missing_ok=True)
    os.link(source, temp)
    return temp


def _capture(errors: list[BaseException], call: Callable[[str], object], name: str) -> None:
    try:
        call(name)
    except BaseException as exc:  # what the thread ended with is what the test checks
        errors.append(exc)


# -- bounded work: size from the descriptor, memory (item 5) -------------------------------


@pytest.mark.parametrize("fmt", ["json", "ubj"])
def test_a_file_over_the_budget_is_refused_before_it_is_read(model_root: Path, fmt: str) -> None:
    with (model_root / f"huge.{fmt}").open("wb") as handle:
        handle.truncate(512 * 2**20)  # sparse: no disk, but 512 MiB if read
    registry = make_registry(model_root, max_bytes=64 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(ModelTooLarge, match="ROUTER_CACHE_MAX_BYTES"):
            registry.get("huge")
        with pytest.raises(ModelTooLarge, match="ROUTER_CACHE_MAX_BYTES"):
            registry.get("huge")  # remembered: refused again without another look
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_memory_error_while_loading_is_model_too_large_not_a_crash(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")

    def exhausted(files: ModelFiles) -> LoadedModel:
        raise MemoryError

    registry = make_registry(model_root, loader=exhausted)
    with pytest.raises(ModelTooLarge, match="not enough memory"):
        registry.get("m")


# -- isolation (item 12) ------------------------------------------------------------------


def test_one_unreadable_model_folder_is_listed_with_its_error_and_hides_no_other(
    model_root: Path, locked_model_folder: str
) -> None:
    registry = make_registry(model_root)
    statuses = {status.name: status for status in registry.statuses()}

    assert set(statuses) == {"good", "locked"}
    assert statuses["good"].ref is not None
    locked = statuses["locked"]
    assert locked.ref is None and locked.failure is not None
    assert "Permission denied" in locked.failure.error.detail


def test_a_pinned_request_hashes_the_live_file_once_not_on_every_request(
    model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # History entries are copies, so a pinned version is matched to the live file by its
    # hash: once per file this process opened, not per request (a DoS lever on large models).
    import router.history

    first, second = (validate_model(model_bytes(train_booster(seed=s))).data for s in (1, 2))
    with ModelFolder(model_root, "m", history_limit=3) as folder:
        folder.publish(first)
        folder.publish(second)
    live = model_root / "m" / "model.ubj"
    replace_file(live, second[:-40])  # broken: the fallback serves the newest entry
    (entry,) = (model_root / "m" / ".history").glob(f"*-{hashlib.sha256(first).hexdigest()}.ubj")
    entry.write_bytes(first[:100])  # and the pinned version fails to load
    hashed: list[object] = []
    file_version = router.history.file_version
    monkeypatch.setattr(
        router.history, "file_version", lambda ref: hashed.append(ref) or file_version(ref)
    )
    registry = make_registry(model_root, clock=FakeClock(), reload_interval_s=60)
    assert registry.get("m").version == _version(second)

    for _ in range(50):
        with pytest.raises(ModelUnavailable):
            registry.get_version("m", _version(first))

    assert len(hashed) == 1
