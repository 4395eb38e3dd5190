"""What the benchmark serves: seeded synthetic XGBoost models, the request row, API Gateway
events built from the recorded one in ``tests/events`` (by ``scripts.lambda_inputs``), and
the Zipf model popularity.

Models are trained here, once per specification, into a work folder that later runs reuse;
nothing binary is committed. Training needs only XGBoost and numpy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scripts.lambda_inputs import LambdaContext, http_api_event

REPO = Path(__file__).resolve().parents[2]
MANIFEST = "bench-manifest.json"

# Demo-sized: as many features as the breast-cancer demo model, a little deeper.
N_FEATURES = 30
MAX_DEPTH = 6


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    trees: int
    seed: int
    rows: int


def size_models(trees: tuple[int, ...]) -> list[ModelSpec]:
    """One binary classifier per tree count, trained on the same data."""
    return [ModelSpec(f"trees-{count}", count, seed=7, rows=4000) for count in trees]


def zipf_models(count: int, trees: int) -> list[ModelSpec]:
    """``count`` small models with distinct seeds (so distinct files and versions)."""
    return [ModelSpec(f"zipf-{i:02d}", trees, seed=1000 + i, rows=1000) for i in range(count)]


def request_row() -> list[float]:
    """The one row every request sends: fixed, with a value in each feature."""
    return [round(((i * 7919) % 97) / 97 * 4 - 2, 4) for i in range(N_FEATURES)]


def ensure_models(root: Path, specs: list[ModelSpec]) -> list[Path]:
    """Train the models that ``root`` does not hold yet; returns their files, in order."""
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    paths = []
    for spec in specs:
        path = root / f"{spec.name}.ubj"
        wanted = {**asdict(spec), "features": N_FEATURES, "params": _params(spec.seed)}
        if manifest.get(spec.name) != wanted or not path.exists():
            _train(spec).save_model(str(path))
            manifest[spec.name] = wanted
            manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        paths.append(path)
    return paths


def _train(spec: ModelSpec) -> Any:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(spec.seed)
    matrix = rng.normal(size=(spec.rows, N_FEATURES)).astype(np.float32)
    signal = matrix[:, 0] + matrix[:, 1] * matrix[:, 2] - 0.5 * matrix[:, 3] ** 2
    label = (signal + rng.normal(scale=0.7, size=spec.rows) > 0).astype(np.float32)
    dtrain = xgb.DMatrix(matrix, label=label)
    return xgb.train(_params(spec.seed), dtrain, num_boost_round=spec.trees)


def _params(seed: int) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "max_depth": MAX_DEPTH,
        "eta": 0.05,
        "subsample": 0.8,
        "seed": seed,
        # One thread: on a busy 2-core machine OpenMP's spinning makes two much slower.
        "nthread": 1,
    }


def predict_body(row: list[float]) -> str:
    return json.dumps({"instances": [row]}, separators=(",", ":"))


def predict_event(template: dict[str, Any], model: str, body: str) -> dict[str, Any]:
    """The recorded HTTP API (payload 2.0) event, re-aimed at ``model``'s predict with ``body``."""
    path, route = f"/models/{model}/predict", "POST /models/{name}/predict"
    return http_api_event(
        "POST", path, body, route=route, path_parameters={"name": model}, template=template
    )


# The benchmark's function: the context its handlers get, and LAMBDA_ENV's name and memory.
BENCH_CONTEXT = LambdaContext(
    function_name="model-router-bench",
    memory_limit_in_mb=1024,
    aws_request_id="bench-0000",
    log_stream_name="2026/11/23/[$LATEST]bench",
    remaining_ms=30_000,
)


# The Lambda-like environment of every process that imports router.lambda_handler.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": BENCH_CONTEXT.function_name,
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(BENCH_CONTEXT.memory_limit_in_mb),
    "AWS_LAMBDA_FUNCTION_VERSION": BENCH_CONTEXT.function_version,
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    # As terraform/locals.tf sets them for the function (thread_environment).
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def zipf_probabilities(count: int, exponent: float) -> list[float]:
    """P(rank k) proportional to k**-exponent for k = 1..count; rank 1 is model 0."""
    weights = [k**-exponent for k in range(1, count + 1)]
    total = sum(weights)
    return [weight / total for weight in weights]
