"""Benchmark batch predictions: rows per second through the batch path against
``Booster.inplace_predict`` on the same rows.

Three measures on one synthetic model (binary, 50 trees of depth 6, 10 features) and the
same rows, each the median of ``--repeats`` runs, one XGBoost thread:

1. ``inplace_predict``: the rows as one float32 matrix, predicted part by part;
2. one part as the batch function predicts it: CSV rows as Step Functions delivers them
   (objects of strings) through ``PartPredictor`` and the CSV rendering, without S3;
3. a local job: ``run_job`` over a CSV file, reading, predicting and writing files.

Prints a Markdown section; ``--write-docs`` also puts it into docs/batch.md between its
``bench_batch`` markers, and into docs/benchmarks.md (which bench_router.py carries it over in).

    .venv/bin/python scripts/bench_batch.py                 # 200,000 rows, about a minute
    .venv/bin/python scripts/bench_batch.py --rows 20000 --repeats 1   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import xgboost as xgb

if __package__ in (None, ""):  # run as a file: make `router` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from router.batch.formats import OutputLayout, render_csv
from router.batch.job import JobLimits, run_job
from router.batch.part import PartPredictor
from router.registry.registry import ModelRegistry
from router.settings import Settings
from scripts.bench.report import BATCH_MARKERS, replace_between

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "batch.md"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
START, END = BATCH_MARKERS
FEATURES = [f"x{i}" for i in range(10)]


def train(root: Path) -> xgb.Booster:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(5000, len(FEATURES))).astype(np.float32)
    label = (matrix[:, 0] + matrix[:, 1] * matrix[:, 2] > 0).astype(np.float32)
    data = xgb.DMatrix(matrix, label=label, feature_names=FEATURES)
    params = {"objective": "binary:logistic", "max_depth": 6, "nthread": 1, "seed": 0}
    booster = xgb.train(params, data, num_boost_round=50)
    (root / "bench").mkdir(parents=True)
    booster.save_model(str(root / "bench" / "model.ubj"))
    return booster


def rows_per_second(rows: int, seconds: list[float]) -> float:
    return rows / statistics.median(seconds)


def timed(work: object, repeats: int) -> list[float]:
    assert callable(work)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rows-per-part", type=int, default=1000, help="as on AWS by default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        booster = train(work / "models")
        rng = np.random.default_rng(1)
        matrix = rng.normal(size=(args.rows, len(FEATURES))).astype(np.float32).round(4)
        source = work / "rows.csv"
        with source.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", *FEATURES])
            writer.writerows([i, *row] for i, row in enumerate(matrix.tolist()))
        items = list(csv.DictReader(io.StringIO(source.read_text())))
        step = args.rows_per_part
        parts = [
            [(start + offset + 1, item) for offset, item in enumerate(items[start : start + step])]
            for start in range(0, args.rows, step)
        ]

        settings = Settings(model_root=work / "models", batch_rows_per_part=10_000)
        registry = ModelRegistry.from_settings(settings)
        model = registry.get("bench")
        layout = OutputLayout(model, ["value"])
        predictor = PartPredictor(model, "csv", ["value"])

        def raw() -> None:
            for start in range(0, args.rows, step):
                booster.inplace_predict(matrix[start : start + step])

        def batch_parts() -> None:
            for part in parts:
                render_csv(predictor.predict(part), layout, ["id"])

        def local_job() -> None:
            run_job(
                source,
                work / "out.csv",
                "bench",
                registry,
                JobLimits.from_settings(settings),
                outputs=["value"],
            )

        results = {
            "raw": timed(raw, args.repeats),
            "parts": timed(batch_parts, args.repeats),
            "job": timed(local_job, args.repeats),
        }

    raw_rate = rows_per_second(args.rows, results["raw"])
    cpu = platform.processor() or platform.machine()
    lines = [
        START,
        f"Measured by `scripts/bench_batch.py --rows {args.rows} --rows-per-part "
        f"{args.rows_per_part} --repeats {args.repeats}` on {cpu} "
        f"({os.cpu_count()} cores), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        "binary model, 50 trees of depth 6, 10 features, one XGBoost thread; median of the runs.",
        "",
        "| path | rows/s | vs `inplace_predict` |",
        "|---|---|---|",
    ]
    names = {
        "raw": f"`Booster.inplace_predict`, {step}-row float32 matrices",
        "parts": f"batch function's part work ({step}-row CSV items → CSV text), no S3",
        "job": "local `model-router batch` job (10,000-row parts, file in and out)",
    }
    for key, label in names.items():
        rate = rows_per_second(args.rows, results[key])
        lines.append(f"| {label} | {rate:,.0f} | {rate / raw_rate:.2f}x |")
    lines.append(END)
    section = "\n".join(lines)
    print(section)
    if args.write_docs:
        for document in (DOCS, BENCHMARKS):
            document.write_text(replace_between(document.read_text(), section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
