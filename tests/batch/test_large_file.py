"""``model-router batch`` on a 1,000,000-row CSV: memory stays bounded by the part size, and
the output is what the API answers for the same rows."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from router.api.app import create_app
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.batch.conftest import publish

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

ROWS = 1_000_000
FEATURES = ["usage_gb", "age_days", "plan"]
# Growth of the process's peak RSS from 1,000 rows to 1,000,000 rows (a 19.6 MB file), in
# parts of 10,000 rows: measured 175 -> 184 MB. Holding the parsed rows (about 600 bytes
# each as dicts of strings) would add some 600 MB.
GROWTH_LIMIT_BYTES = 40 * 1024 * 1024


def write_rows(path: Path, rows: int, chunk: int = 100_000) -> None:
    """The CSV written chunk by chunk, never all in memory."""
    rng = np.random.default_rng(11)
    with path.open("w", newline="") as handle:
        handle.write("row_id," + ",".join(FEATURES) + "\n")
        for start in range(0, rows, chunk):
            count = min(chunk, rows - start)
            frame = pd.DataFrame(
                {
                    "row_id": np.arange(start, start + count),
                    "usage_gb": rng.gamma(2.0, 3.0, count).round(3),
                    "age_days": rng.integers(0, 3000, count),
                    "plan": rng.integers(0, 4, count),
                }
            )
            frame.to_csv(handle, header=False, index=False)


def train_usage_model() -> xgb.XGBRegressor:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "usage_gb": rng.gamma(2.0, 3.0, 500),
            "age_days": rng.integers(0, 3000, 500).astype(float),
            "plan": rng.integers(0, 4, 500).astype(float),
        }
    )
    target = frame["usage_gb"] * (1 + frame["plan"]) - frame["age_days"] / 1000
    model = xgb.XGBRegressor(n_estimators=20, max_depth=4, random_state=0, n_jobs=1)
    return model.fit(frame, target)


def run_batch(source: Path, output: Path, model_root: Path) -> int:
    """Run the CLI in a child process; returns its peak RSS in bytes."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "router.cli",
            "batch",
            str(source),
            "--model",
            "usage",
            "--output",
            str(output),
            "--model-root",
            str(model_root),
            "--outputs",
            "value",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "ROUTER_BATCH_ROWS_PER_PART": "10000", "OMP_NUM_THREADS": "1"},
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    return usage.ru_maxrss * 1024  # kilobytes on Linux


def test_a_million_rows_with_bounded_memory_and_the_api_predictions(
    tmp_path: Path, model_root: Path
) -> None:
    publish_regressor(model_root)
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_rows(small, 1_000)
    write_rows(large, ROWS)

    baseline = run_batch(small, tmp_path / "small-out.csv", model_root)
    peak = run_batch(large, tmp_path / "large-out.csv", model_root)

    assert peak - baseline < GROWTH_LIMIT_BYTES, (baseline, peak)
    sample = sorted(int(i) for i in np.random.default_rng(4).choice(ROWS, 200, replace=False))
    wanted = set(sample)
    inputs, outputs, count = [], [], 0
    # One pass over input and output together: row n of one is row n of the other.
    with large.open(newline="") as source, (tmp_path / "large-out.csv").open(newline="") as out:
        in_rows, out_rows = csv.reader(source), csv.reader(out)
        in_header, out_header = next(in_rows), next(out_rows)
        for number, (row, predicted) in enumerate(zip(in_rows, out_rows, strict=True)):
            if number in wanted:
                inputs.append(dict(zip(in_header, row, strict=True)))
                outputs.append(dict(zip(out_header, predicted, strict=True)))
            count += 1
    assert count == ROWS
    settings = Settings(model_root=model_root)
    with TestClient(create_app(settings, ModelRegistry.from_settings(settings))) as client:
        answer = client.post(
            "/models/usage/predict",
            json={"instances": [{name: float(row[name]) for name in FEATURES} for row in inputs]},
        ).json()
    assert [int(row["row_id"]) for row in outputs] == sample
    assert [float(row["value"]) for row in outputs] == answer["predictions"]
    assert {row["model_version"] for row in outputs} == {answer["version"]}


def publish_regressor(model_root: Path) -> None:
    publish(model_root, "usage", train_usage_model(), labels=None)
