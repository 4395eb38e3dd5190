"""Churn: many models of mixed sizes through a small cache, over HTTP against a real
``model-router serve``. The cache's own accounting must hold, and so must the server's
memory: resident memory stays within the baseline plus the cache budget, and stops growing
once every model has been loaded a few times."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import numpy as np
import pytest

from tests.live.server import running_server
from tests.modelkit import model_bytes, rows, train_booster, write_model

if TYPE_CHECKING:
    from tests.reliability.conftest import Budget

MIB = 2**20
CACHE_BYTES = 64 * MIB
TREES = (5, 20, 60, 150)  # mixed sizes: about 6 KiB to 170 KiB of UBJ each
# Slack for what is not a model: allocator pages, numpy's and XGBoost's buffers, threads.
RSS_SLACK = 24 * MIB
SAMPLE_EVERY = 50


def server_rss(model_root: Path) -> int:
    """Resident memory of the server over ``model_root``: the child process of this one that
    serves it (Linux /proc). Other tests' children may still be here, exited or not."""
    children = [
        int(pid)
        for task in Path("/proc/self/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]
    servers = [pid for pid in children if _serves(pid, model_root)]
    assert len(servers) == 1, f"expected one server over {model_root}, found {servers}"
    for line in Path(f"/proc/{servers[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc status")


def _serves(pid: int, model_root: Path) -> bool:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:  # exited meanwhile
        return False
    return b"serve" in arguments and str(model_root).encode() in arguments


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads the server's memory from Linux /proc"
)
def test_churn_through_a_small_cache_keeps_server_memory_bounded(
    model_root: Path, budget: Budget, report: Any
) -> None:
    boosters = {trees: train_booster("binary", trees=trees, seed=trees) for trees in TREES}
    for i in range(budget.churn_models):
        data = model_bytes(boosters[TREES[i % len(TREES)]])
        write_model(model_root, f"m{i:03d}", data, layout="file")
    order = np.random.default_rng(14).integers(budget.churn_models, size=budget.churn_requests)
    body = {"instances": rows(4).tolist()}
    warm_up = len(order) // 4
    samples: list[int] = []
    by_quarter: list[int] = []  # after the warm-up, half way, three quarters, the end

    with (
        running_server(
            model_root,
            cache_max_models=str(budget.churn_cache_models),
            cache_max_bytes=str(CACHE_BYTES),
            reload_interval_s="60",
            log_level="WARNING",
        ) as url,
        httpx2.Client(base_url=url, timeout=30) as http,
    ):
        baseline = server_rss(model_root)
        for i, index in enumerate(order):
            response = http.post(f"/models/m{index:03d}/predict", json=body)
            assert response.status_code == 200, response.text
            if i % SAMPLE_EVERY == 0:
                samples.append(server_rss(model_root))
                cache = http.get("/health").json()["cache"]
                assert cache["bytes"] <= cache["max_bytes"] == CACHE_BYTES
            if i == warm_up:
                after_warm_up = server_rss(model_root)
            if (i + 1) % warm_up == 0:
                by_quarter.append(server_rss(model_root))
        end = server_rss(model_root)
        loads = http.get("/health").json()["counters"]["ModelLoad"]

    peak = max([*samples, end])
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
        rss_by_quarter_mib=[round(rss / MIB, 1) for rss in by_quarter],
        malloc_arena_max=os.environ.get("MALLOC_ARENA_MAX"),
    )
    assert loads > budget.churn_requests // 4  # the cache really churned
    assert peak <= baseline + CACHE_BYTES + RSS_SLACK
    assert end - after_warm_up <= RSS_SLACK // 3
