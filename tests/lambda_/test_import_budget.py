"""Cold start cannot regress silently: what ``import router.lambda_handler`` may import, and
roughly how long it may take next to the stack it is built on.

Both are read from ``python -X importtime`` in fresh processes, with the Lambda environment.
Time is compared as a ratio to ``import fastapi, mangum, xgboost`` measured alternately in
the same way, taking each side's median run, so that a loaded machine slows both alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

# Needed by no request: the server, the publisher and its AWS SDK, the CLI and progress
# bars, data frames, batch jobs, a settings library for reading a few variables, a logging
# library (and its JMESPath) for JSON lines that router.observability writes itself.
# Allowed where the floor imports them too (XGBoost imports scikit-learn, and it pandas,
# whenever installed, as in this venv).
FORBIDDEN = (
    *("uvicorn", "boto3", "botocore", "tqdm", "pandas", "sklearn", "httpx"),
    *("pydantic_settings", "dotenv", "aws_lambda_powertools", "jmespath"),
    *("router.cli", "router.publish", "router.batch"),
)
# The entry builds settings, logging, registry and app beyond the framework's own imports.
# The lean environment of scripts/bench_router.py measures how much (docs/benchmarks.md);
# this bound catches an accidental heavy import, not a few milliseconds, with room for a
# loaded machine's noise.
MAX_RATIO = 1.3
RUNS = 3
BASELINE = "import fastapi, mangum, xgboost"


def _importtime(code: str, env: dict[str, str]) -> dict[str, int]:
    """Each module the code imported, and its cumulative import time in µs."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _, cumulative, name = line.split("|")
        modules[name.strip()] = int(cumulative)
    return modules


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root: Path = tmp_path_factory.mktemp("models")
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
    return {
        **{key: os.environ[key] for key in keep if key in os.environ},
        "AWS_LAMBDA_FUNCTION_NAME": "model-router",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": "eu-west-1",
        "ROUTER_MODEL_ROOT": str(root),
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "",
    }


@pytest.fixture(scope="module")
def runs(env: dict[str, str]) -> dict[str, list[dict[str, int]]]:
    found: dict[str, list[dict[str, int]]] = {"router": [], "baseline": []}
    for _ in range(RUNS):  # alternate, so that a change in the machine's load hits both
        found["router"].append(_importtime("import router.lambda_handler", env))
        found["baseline"].append(_importtime(BASELINE, env))
    return found


@pytest.mark.slow
def test_the_lambda_entry_imports_nothing_the_first_request_does_not_need(
    runs: dict[str, list[dict[str, int]]],
) -> None:
    imported = runs["router"][0]
    assert "router.lambda_handler" in imported
    unwanted = sorted(
        name
        for name in imported.keys() - runs["baseline"][0].keys()
        for top in FORBIDDEN
        if name == top or name.startswith(top + ".")
    )
    assert not unwanted, f"imported at cold start: {unwanted}"


@pytest.mark.slow
def test_the_lambda_entry_imports_in_about_the_frameworks_time(
    runs: dict[str, list[dict[str, int]]],
) -> None:
    ours = statistics.median(run["router.lambda_handler"] for run in runs["router"])
    floor = statistics.median(
        sum(run[name] for name in ("fastapi", "mangum", "xgboost")) for run in runs["baseline"]
    )
    assert ours / floor <= MAX_RATIO, (
        f"import router.lambda_handler took {ours / 1000:.0f} ms, {ours / floor:.2f}x "
        f"{BASELINE} ({floor / 1000:.0f} ms); the budget is {MAX_RATIO}x"
    )


# Counts the JSON schemas pydantic generates (model_json_schema and TypeAdapter.json_schema
# both go through GenerateJsonSchema.generate) while the Lambda entry is imported, and names
# the request and /v2 bodies whose validators were built by then.
IMPORT_BUILDS = """\
import pydantic.json_schema as js
made = []
generate = js.GenerateJsonSchema.generate
def counting(self, *args, **kwargs):
    made.append(1)
    return generate(self, *args, **kwargs)
js.GenerateJsonSchema.generate = counting
import router.lambda_handler
from pydantic import BaseModel
from router.api import schemas
from router.api.v2 import schemas as v2
bodies = [schemas.PredictRequest, *(
    item for item in vars(v2).values() if isinstance(item, type) and issubclass(item, BaseModel)
)]
print(len(made), *(body.__name__ for body in bodies if body.__pydantic_complete__))
"""


@pytest.mark.slow
def test_the_lambda_entry_builds_no_json_schema_and_no_unused_validator(
    env: dict[str, str],
) -> None:
    # JSON schemas only feed /openapi.json, which builds them when it is first asked for.
    # PredictRequest is parsed by hand, and no /models request uses the /v2 bodies.
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_BUILDS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == ["0"]


def test_the_cold_starts_pydantic_models_have_real_annotations() -> None:
    # A string annotation (from __future__ import annotations) is compiled and evaluated by
    # pydantic when the class is made, one by one, on every cold start.
    from pydantic import BaseModel

    from router import settings
    from router.api import schemas
    from router.api.v2 import schemas as v2

    models = [
        item
        for module in (settings, schemas, v2)
        for item in vars(module).values()
        if isinstance(item, type) and issubclass(item, BaseModel) and item is not BaseModel
    ]
    strings = {
        f"{model.__name__}.{field}"
        for model in models
        for field, annotation in vars(model).get("__annotations__", {}).items()
        if isinstance(annotation, str)
    }
    assert len(models) > 20 and not strings
