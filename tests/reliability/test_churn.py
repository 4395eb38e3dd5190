"""Churn: many models of mixed sizes through a small cache. The cache's own accounting
must hold, and so must the process's memory: resident memory stays within the baseline
plus the cache budget, and stops growing once every model has been loaded a few times."""

from __future__ import annotations

import gc
import resource
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from router.registry.registry import ModelRegistry
from router.store import ModelStore
from router.xgb.loader import load_model
from tests.modelkit import model_bytes, rows, train_booster, write_model

if TYPE_CHECKING:
    from tests.reliability.conftest import Budget

MIB = 2**20
CACHE_BYTES = 64 * MIB
TREES = (5, 20, 60, 150)  # mixed sizes: about 6 KiB to 170 KiB of UBJ each
# Slack for what is not a model: allocator pages, numpy's and XGBoost's buffers.
RSS_SLACK = 24 * MIB


def rss() -> int:
    """Resident memory of this process now, from /proc (Linux), else the peak so far."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_churn_through_a_small_cache_keeps_memory_bounded(
    model_root: Path, budget: Budget, report: Any
) -> None:
    boosters = {trees: train_booster("binary", trees=trees, seed=trees) for trees in TREES}
    for i in range(budget.churn_models):
        trees = TREES[i % len(TREES)]
        write_model(model_root, f"m{i:03d}", model_bytes(boosters[trees]), layout="file")
    del boosters
    registry = ModelRegistry(
        ModelStore(model_root),
        max_models=budget.churn_cache_models,
        max_bytes=CACHE_BYTES,
        reload_interval_s=60,
        load_wait_s=10,
        loader=lambda files: load_model(files, nthread=1),
    )
    matrix = rows(4)
    order = np.random.default_rng(14).integers(budget.churn_models, size=budget.churn_requests)
    gc.collect()
    baseline = rss()
    peak = after_warm_up = baseline
    warm_up = len(order) // 4
    for i, index in enumerate(order):
        model = registry.get(f"m{index:03d}")
        model.predictor.predict(matrix)
        if i % 50 == 0:
            peak = max(peak, rss())
            assert registry.cache_usage()["bytes"] <= CACHE_BYTES
        if i == warm_up:
            gc.collect()
            after_warm_up = rss()
    gc.collect()
    end = rss()
    peak = max(peak, end)
    loads = registry.metrics.totals()["ModelLoad"]
    report(
        "churn",
        models=budget.churn_models,
        cache_models=budget.churn_cache_models,
        requests=budget.churn_requests,
        loads=loads,
        baseline_mib=round(baseline / MIB, 1),
        budget_mib=CACHE_BYTES // MIB,
        peak_mib=round(peak / MIB, 1),
        growth_after_warm_up_mib=round((end - after_warm_up) / MIB, 1),
    )
    assert loads > budget.churn_requests // 4  # the cache really churned
    assert peak <= baseline + CACHE_BYTES + RSS_SLACK
    assert end - after_warm_up <= RSS_SLACK // 3
