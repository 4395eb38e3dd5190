"""Races with other writers on a shared file system, run for a bounded time: a FIFO and a
symlink swapped in and out as fast as the racer can, truncated files, and huge sparse files.
The process stays up, every call answers within ``load_wait_s``, and nothing from outside
the model root is ever served."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from router.errors import RouterError
from router.registry.registry import ModelRegistry
from router.store import ModelStore
from router.xgb.loader import load_model
from tests.modelkit import model_bytes, train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.reliability.conftest import Budget

READERS = 4
LOAD_WAIT_S = 5.0


def _registry(root: Path, **overrides: Any) -> ModelRegistry:
    options: dict[str, Any] = {
        "max_models": 8,
        "max_bytes": 256 * 2**20,
        "reload_interval_s": 0,
        "load_wait_s": LOAD_WAIT_S,
        "settle_s": 0.5,
        "loader": lambda files: load_model(files, nthread=1),
    }
    return ModelRegistry(ModelStore(root), **(options | overrides))


def _version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _race(
    registry: ModelRegistry, name: str, racer: Callable[[threading.Event], int], seconds: float
) -> tuple[Counter[str], Counter[str], float, int]:
    """Readers call ``get(name)`` while ``racer`` runs; returns the versions served, the
    errors by type, the slowest call and the racer's count of swaps."""
    stop = threading.Event()
    served: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    slowest = [0.0]
    lock = threading.Lock()

    def read() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                version = registry.get(name).version
            except RouterError as exc:
                with lock:
                    errors[type(exc).__name__] += 1
            else:
                with lock:
                    served[version] += 1
            with lock:
                slowest[0] = max(slowest[0], time.monotonic() - started)

    swaps = [0]
    racer_thread = threading.Thread(target=lambda: swaps.__setitem__(0, racer(stop)))
    readers = [threading.Thread(target=read, daemon=True) for _ in range(READERS)]
    for thread in [racer_thread, *readers]:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in [racer_thread, *readers]:
        thread.join(timeout=LOAD_WAIT_S + 10)
    assert not any(thread.is_alive() for thread in readers), "a reader hung"
    return served, errors, slowest[0], swaps[0]


def test_a_fifo_swapped_in_and_out_never_hangs_a_reader(
    model_root: Path, tmp_path: Path, budget: Budget, report: Any
) -> None:
    good = model_bytes(train_booster(seed=1))
    path = write_model(model_root, "m", good, layout="file")
    good_link, fifo = tmp_path / "good", tmp_path / "fifo"
    os.link(path, good_link)
    os.mkfifo(fifo)
    temp = model_root / ".swap"

    def racer(stop: threading.Event) -> int:
        swaps = 0
        while not stop.is_set():
            for source in (fifo, good_link):
                temp.unlink(missing_ok=True)
                os.link(source, temp)
                temp.replace(path)
                swaps += 1
        return swaps

    registry = _registry(model_root)
    served, errors, slowest, swaps = _race(registry, "m", racer, budget.race_seconds)
    report(
        "races",
        race="fifo",
        swaps=swaps,
        served=sum(served.values()),
        errors=dict(errors),
        slowest_s=round(slowest, 3),
        load_wait_s=LOAD_WAIT_S,
    )
    assert set(served) <= {_version(good)}
    assert slowest < LOAD_WAIT_S
    good_link.replace(path)
    assert registry.get("m").version == _version(good)  # no failure blamed on the good file


def test_a_symlink_flipped_outside_and_back_never_serves_outside_content(
    model_root: Path, tmp_path: Path, budget: Budget, report: Any
) -> None:
    inside_data = model_bytes(train_booster(seed=1))
    outside_data = model_bytes(train_booster(seed=2))
    inside = write_model(model_root, "v1", inside_data, layout="file")
    outside = write_model(tmp_path / "elsewhere", "secret", outside_data, layout="file")
    link, temp = model_root / "current.ubj", model_root / ".flip"
    link.symlink_to(inside)

    def racer(stop: threading.Event) -> int:
        flips = 0
        while not stop.is_set():
            for target in (outside, inside):
                temp.unlink(missing_ok=True)
                temp.symlink_to(target)
                temp.replace(link)
                flips += 1
        return flips

    registry = _registry(model_root)
    served, errors, slowest, flips = _race(registry, "current", racer, budget.race_seconds)
    report(
        "races",
        race="symlink",
        swaps=flips,
        served=sum(served.values()),
        errors=dict(errors),
        outside_served=served[_version(outside_data)],
        slowest_s=round(slowest, 3),
    )
    assert served[_version(outside_data)] == 0
    assert set(served) <= {_version(inside_data)}
    assert slowest < LOAD_WAIT_S


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_truncation_at_every_length_marker_and_random_cuts_never_replaces_the_model(
    model_root: Path, fmt: str, budget: Budget, report: Any
) -> None:
    old = model_bytes(train_booster(seed=1, trees=3), fmt)
    new = model_bytes(train_booster(seed=2, trees=3), fmt)
    path = write_model(model_root, "m", old, layout="file", fmt=fmt)
    registry = _registry(model_root)
    served = registry.get("m")
    markers = {i + 1 for i, byte in enumerate(new) if byte in (b"L#$" if fmt == "ubj" else b",:[{")}
    rng = np.random.default_rng(14)
    cuts = sorted(markers | {int(cut) for cut in rng.integers(len(new), size=budget.random_cuts)})

    for cut in cuts:
        temp = path.with_name(".cut")
        temp.write_bytes(new[:cut])
        temp.replace(path)
        assert registry.get("m") is served, f"a cut at {cut} replaced the working version"
    report("races", race=f"truncation-{fmt}", cuts=len(cuts), replaced=0)


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_huge_sparse_files_are_refused_from_their_size(
    model_root: Path, fmt: str, report: Any
) -> None:
    with (model_root / f"huge.{fmt}").open("wb") as handle:
        handle.truncate(16 * 2**30)  # 16 GiB that take no disk
    registry = _registry(model_root)
    started = time.monotonic()
    with pytest.raises(RouterError) as raised:
        registry.get("huge")
    elapsed = time.monotonic() - started
    report(
        "races",
        race=f"sparse-16GiB-{fmt}",
        status=raised.value.status,
        slug=raised.value.slug,
        seconds=round(elapsed, 3),
    )
    assert (raised.value.status, raised.value.slug) == (503, "model-too-large")
    assert elapsed < 1
