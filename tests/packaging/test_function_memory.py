"""The batch and inbox functions, run from the Lambda package doing their real work against
S3 (a moto server on 127.0.0.1 that the package's process talks to), fit the memory the
budgets leave them.

The budgets (``router/settings.py``) share out memory beyond ``LAMBDA_PROCESS_RESERVE_MIB``:
the model cache, and the largest upload the inbox takes (``ROUTER_INBOX_MAX_BYTES``). So
each process, on its own work, must fit the reserve (the router's handler is held under it
by ``test_build_package.py``): the batch function through a whole job's full-size parts and
Finish, the inbox through an upload's download, validation, publish and tags. And the inbox
at the smallest memory Terraform allows must take the largest upload its cap admits within
that memory, which is what the cap is for.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import TYPE_CHECKING

import boto3
import numpy as np
import pytest
import xgboost as xgb
from moto.server import ThreadedMotoServer

from router.publish.s3 import upload
from router.publish.validate import validate_model
from router.settings import Settings
from tests.batch.conftest import (
    BUCKET,
    REGION,
    StateMachineRun,
    apply_template,
    churn_frame,
    new_environment,
    publish,
    put_input,
    render_definition,
    train_churn,
)
from tests.modelkit import model_bytes, train_booster
from tests.packaging.conftest import (
    RUNTIME_CLIENT_MIB,
    assert_fits_the_process_reserve,
    run_in_package,
    runtime_site,
)
from tests.publish.conftest import s3_event

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from tests.packaging.conftest import BuiltPackage

SMALLEST_MEMORY_MIB = 256  # the least Terraform allows each function
JOB_ROWS = 30_000  # several parts, each as large as MaxInputBytesPerBatch lets it be

# In the package's interpreter: each step's event read from its own file as Lambda hands one
# event at a time (every part, then Finish), then the process's peak.
_RUN_STEPS = """
import json, sys
sys.path[0:0] = sys.argv[1:3]
from router.batch.lambda_handler import handler
for path in sys.argv[3:]:
    with open(path) as event:
        result = handler(json.load(event), None)
assert result["status"] == "succeeded", result
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A moto server on 127.0.0.1 with the versioned batch bucket; AWS calls of this process
    go to it (the package's process is pointed at it too)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's state is the process's, whichever server serves it: start from none.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in _aws_environment(endpoint, tmp_path).items():
        monkeypatch.setenv(variable, value)
    client = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    new_environment()
    try:
        yield endpoint
    finally:
        new_environment()
        server.stop()


def _function_environment(
    function: str, model_root: Path, endpoint: str, tmp_path: Path
) -> dict[str, str]:
    """What Lambda gives ``function``'s process, at the smallest memory Terraform allows
    (where the budgets leave the reserve and no more), with S3 at ``endpoint``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "ROUTER_MODEL_ROOT": str(model_root),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(SMALLEST_MEMORY_MIB),
        "OMP_NUM_THREADS": "1",
        **_aws_environment(endpoint, tmp_path),
    }


def _aws_environment(endpoint: str, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }


def _prepared_job(
    tmp_path: Path, model_root: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Path], S3Client, StateMachineRun]:
    """A CSV job of ``JOB_ROWS`` rows, prepared by the real Prepare step; the events its map
    and Finish would send, a file each."""
    monkeypatch.setenv("ROUTER_MODEL_ROOT", str(model_root))
    publish(model_root, "churn", train_churn(seed=1))
    frame = churn_frame(JOB_ROWS, seed=9)
    frame.insert(0, "customer_id", [f"c-{number:06d}" for number in range(JOB_ROWS)])
    client = boto3.client("s3", region_name=REGION)
    event = put_input(client, "batch/churn/big.csv", frame.to_csv(index=False).encode())
    run = StateMachineRun(client, render_definition(), event)
    assert run.prepare()["status"] == "ready"
    map_name = run.route()
    processor = run.states[map_name]["ItemProcessor"]
    part_task = processor["States"][processor["StartAt"]]
    parts = [
        apply_template(part_task["Parameters"], event, {})["Payload"]
        for event in run.part_events_for(map_name)
    ]
    assert len(parts) > 5
    finish = apply_template(run.states["Finish"]["Parameters"], run.state, {})["Payload"]
    steps = []
    for number, event in enumerate([*parts, finish]):
        steps.append(tmp_path / f"step-{number:03d}.json")
        steps[-1].write_text(json.dumps(event))
    return steps, client, run


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_batch_function_runs_a_job_within_the_process_reserve(
    lambda_package: BuiltPackage,
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model_root = tmp_path / "models"
    model_root.mkdir()
    steps, client, run = _prepared_job(tmp_path, model_root, monkeypatch)
    env = _function_environment("model-router-batch", model_root, s3_endpoint, tmp_path)
    paths = [str(lambda_package.task_root), str(runtime_site(tmp_path)), *map(str, steps)]

    output = run_in_package(lambda_package.python, _RUN_STEPS, paths, env, timeout_s=600)

    assert_fits_the_process_reserve(output.split()[-1])
    # The job did run: every row is in the results.
    results = run.state["prepared"]["job"]["results"]
    manifest = client.get_object(Bucket=BUCKET, Key=f"{results}manifest.json")["Body"].read()
    assert json.loads(manifest)["rows_out"] == JOB_ROWS


# In the package's interpreter: each upload's event handed to the inbox in turn, and the
# process's peak after each.
_RUN_UPLOADS = """
import json, sys
sys.path[0:0] = sys.argv[1:3]
from router.publish.lambda_handler import handler
for path in sys.argv[3:]:
    with open(path) as event:
        outcome = handler(json.load(event), None)["outcomes"][0]
    assert outcome["status"] == "published", outcome
    print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def _inbox_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """The inbox's upload cap at the smallest memory, as its settings derive it."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "model-router-inbox")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(SMALLEST_MEMORY_MIB))
    cap = Settings().inbox_max_bytes
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    return cap


def _model_near(cap: int) -> bytes:
    """A regression model of deep trees, as many rounds of it as fit in most of ``cap``:
    the largest upload the inbox would take at that size. (A small learning rate keeps each
    tree growing on noise, so that a few seconds of training give tens of MiB.)"""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(20_000, 20)).astype(np.float32)
    train = xgb.DMatrix(features, rng.normal(size=20_000))
    params = {"max_depth": 10, "max_bin": 64, "min_child_weight": 0, "lambda": 0, "eta": 0.01}
    rounds = 800
    booster = xgb.train({**params, "nthread": 2}, train, num_boost_round=rounds)
    data = bytes(booster.save_raw("ubj"))
    if len(data) < 0.75 * cap:  # a larger cap: as many more rounds as it needs
        rounds = int(rounds * 0.9 * cap / len(data))
        booster = xgb.train({**params, "nthread": 2}, train, num_boost_round=rounds)
        data = bytes(booster.save_raw("ubj"))
    while len(data) > 0.95 * cap:  # the first rounds only, as a slice of the booster
        rounds = rounds * 9 // 10
        data = bytes(booster[:rounds].save_raw("ubj"))
    assert len(data) > 0.75 * cap, f"{len(data):,} bytes"
    return data


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_inbox_publishes_in_the_reserve_and_its_largest_upload_in_its_memory(
    lambda_package: BuiltPackage,
    s3_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    efs = tmp_path / "efs"
    efs.mkdir()
    cap = _inbox_cap(monkeypatch)
    client = boto3.client("s3", region_name=REGION)
    # A first model, then its retrain as large as the cap lets in (which keeps the first
    # as a version): what a data scientist's uploads do.
    models = [model_bytes(train_booster("multiclass", seed=3)), _model_near(cap)]
    steps = []
    for number, data in enumerate(models):
        key, version_id = upload(client, BUCKET, "m", validate_model(data), progress=False)
        event = s3_event(BUCKET, key, version_id=version_id, sequencer=f"{number + 1:016X}")
        steps.append(tmp_path / f"upload-{number}.json")
        steps[-1].write_text(json.dumps(event))
    env = _function_environment("model-router-inbox", efs, s3_endpoint, tmp_path)
    paths = [str(lambda_package.task_root), str(runtime_site(tmp_path)), *map(str, steps)]

    output = run_in_package(lambda_package.python, _RUN_UPLOADS, paths, env, timeout_s=600)

    # The process's peak after each upload (the lines the inbox logs are JSON).
    after_first, after_largest = [line for line in output.split() if line.isdigit()]
    assert_fits_the_process_reserve(after_first)
    peak_mib = int(after_largest) / 1024
    assert peak_mib + RUNTIME_CLIENT_MIB <= SMALLEST_MEMORY_MIB, f"{peak_mib:.1f} MiB"
    assert (efs / "m" / "model.ubj").read_bytes() == validate_model(models[1]).data
