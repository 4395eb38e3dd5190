"""The batch function, run from the Lambda package, fits the memory the budgets reserve for
the process: its imports, its S3 client, the model and a whole job's parts and Finish.

The budgets (``router/settings.py``) share out memory beyond ``LAMBDA_PROCESS_RESERVE_MIB``
to the model cache; the router's handler and the inbox are held under the reserve by
``test_build_package.py``. The batch function reads each part's rows from its event, builds
its outputs, writes three objects, and Finish streams every part into the results: all of
that, for parts as large as the state machine makes them, must fit too. The job is prepared
by the real Prepare step (in this process), against a moto server on 127.0.0.1 that the
package's process then talks to, as the function talks to S3.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.server import ThreadedMotoServer

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
from tests.packaging.conftest import assert_fits_the_process_reserve, run_in_package, runtime_site

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

    from tests.packaging.conftest import BuiltPackage

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
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "ROUTER_MODEL_ROOT": str(model_root),
        "AWS_LAMBDA_FUNCTION_NAME": "model-router-batch",
        # The smallest memory Terraform allows: the budgets leave the reserve and no more.
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "OMP_NUM_THREADS": "1",
        **_aws_environment(s3_endpoint, tmp_path),
    }
    paths = [str(lambda_package.task_root), str(runtime_site(tmp_path)), *map(str, steps)]

    output = run_in_package(lambda_package.python, _RUN_STEPS, paths, env, timeout_s=600)

    assert_fits_the_process_reserve(output.split()[-1])
    # The job did run: every row is in the results.
    results = run.state["prepared"]["job"]["results"]
    manifest = client.get_object(Bucket=BUCKET, Key=f"{results}manifest.json")["Body"].read()
    assert json.loads(manifest)["rows_out"] == JOB_ROWS
