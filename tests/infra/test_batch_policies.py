"""``batch_user_policy_json`` against the calls a batch user really makes.

A user uploads an input (as ``aws s3 cp`` does, through s3transfer: one ``PutObject``, or a
multipart upload above 8 MiB), runs ``model-router batch s3://...`` on a file already there
(it starts the state machine and follows the execution and its map run, then reads the
manifest), and downloads the results. Each client is recorded against moto, the state
machine's own work is emulated by ``tests.batch.conftest.StateMachineRun`` on another
client, and every recorded call is decided against the rendered document.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from moto.stepfunctions.models import stepfunctions_backends

import router.batch.cli
from tests.batch import conftest as batch_fixtures
from tests.batch.conftest import BUCKET, REGION, StateMachineRun, churn_frame, render_definition
from tests.batch.test_cli import run_cli_in_thread, start_machine, wait_for_execution
from tests.infra.policy import Request, decide, render
from tests.infra.test_policies import ACCOUNT, KEY_ARN, REFERENCES, Call, Recorder, refused

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb
    from mypy_boto3_s3 import S3Client

    from tests.infra.hcl import Module
    from tests.infra.policy import Statement

MACHINE = "model-router-batch"
STATES = f"arn:aws:states:{REGION}:{ACCOUNT}"
BATCH_REFERENCES = {
    **REFERENCES,
    "aws_s3_bucket.batch[0].arn": f"arn:aws:s3:::{BUCKET}",
    "local.batch_input_prefix": "batch/",
    "local.batch_results_prefix": "results/",
    "local.batch_state_machine_arn": f"{STATES}:stateMachine:{MACHINE}",
    "local.batch_execution_arns": f"{STATES}:execution:{MACHINE}:*",
    "local.batch_map_run_arns": f"{STATES}:mapRun:{MACHINE}/*",
}
USER = f"arn:aws:iam::{ACCOUNT}:user/analyst"
# The batch tests' fixtures: moto, the versioned batch bucket, a published churn model.
aws = batch_fixtures.aws
model_root = batch_fixtures.model_root
churn = batch_fixtures.churn


def batch_user(module: Module) -> list[Statement]:
    return render(module.data["aws_iam_policy_document.batch_user"], BATCH_REFERENCES)


def test_the_batch_user_policy_allows_a_job_from_upload_to_results(
    module: Module,
    aws: S3Client,
    churn: tuple[xgb.XGBClassifier, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_s3 = boto3.client("s3", region_name=REGION)
    recorders = [Recorder(user_s3)]
    rows = tmp_path / "nightly.csv"
    churn_frame(40, seed=8).to_csv(rows, index=False)
    user_s3.upload_file(str(rows), BUCKET, "batch/churn/nightly.csv")
    # A file over 8 MiB goes in parts: a threshold of one byte takes this file that way.
    in_parts = TransferConfig(multipart_threshold=1, use_threads=False)
    user_s3.upload_file(str(rows), BUCKET, "batch/churn/large.csv", Config=in_parts)

    real_clients = router.batch.cli._clients

    def recorded_clients(boto3_module: Any, arn: str) -> tuple[Any, Any]:
        sfn, s3 = real_clients(boto3_module, arn)
        recorders.extend([Recorder(sfn), Recorder(s3)])
        return sfn, s3

    monkeypatch.setattr(router.batch.cli, "_clients", recorded_clients)
    aws_side = boto3.client("stepfunctions", region_name=REGION)  # AWS's own: not recorded
    machine = start_machine(aws_side)
    thread, codes = run_cli_in_thread(
        [
            "batch", f"s3://{BUCKET}/batch/churn/nightly.csv", "--model", "churn",
            "--state-machine", machine, "--poll-seconds", "0.02", "--timeout", "60",
        ]
    )  # fmt: skip
    execution = wait_for_execution(aws_side, machine)
    run = StateMachineRun(aws, render_definition(rows_per_part=16), _input(execution))
    run.name = execution["name"]
    assert run.run()["status"] == "succeeded"
    backend = stepfunctions_backends[ACCOUNT][REGION]
    backend.describe_execution(execution["executionArn"]).status = "SUCCEEDED"
    thread.join(timeout=60)
    assert codes == [0]

    # The results, as `aws s3 cp --recursive s3://.../results/churn/nightly/<run>/ .` does.
    results = f"results/churn/nightly/{execution['name']}/"
    listed = user_s3.list_objects_v2(Bucket=BUCKET, Prefix=results)["Contents"]
    for item in listed:
        user_s3.download_file(BUCKET, item["Key"], str(tmp_path / item["Key"].rsplit("/")[-1]))
    assert {item["Key"].removeprefix(results) for item in listed} >= {
        "manifest.json",
        "predictions.csv",
    }

    calls = [call for recorder in recorders for call in recorder.calls]
    operations = {call.operation for call in calls}
    assert {
        "PutObject", "CompleteMultipartUpload", "StartExecution", "DescribeExecution",
        "ListMapRuns", "GetObject", "ListObjectsV2", "HeadObject",
    } <= operations  # fmt: skip
    # moto lists no map runs, so the progress bar's next call is made here as AWS names
    # it: arn:...:mapRun:<state machine>/<map label>:<id>.
    map_run = f"{STATES}:mapRun:{MACHINE}/PredictCsv:0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    calls.append(Call("DescribeMapRun", {"mapRunArn": map_run}, 200))

    policies = {
        "batch_user_policy_json": batch_user(module),
        "bucket policy": render(
            module.data["aws_iam_policy_document.batch_bucket"], BATCH_REFERENCES
        ),
    }
    assert refused(calls, policies, USER) == []


def _input(execution: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(execution["input"])
    return document


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        # Results are the state machine's to write: a user's file there would be read as
        # a job's own output.
        ("s3:PutObject", f"arn:aws:s3:::{BUCKET}/results/churn/nightly/run/predictions.csv"),
        # Other users' inputs stay theirs to read.
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/batch/fraud/claims.csv"),
        ("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/batch/churn/nightly.csv"),
        ("states:StopExecution", f"{STATES}:execution:{MACHINE}:run"),
        ("states:StartExecution", f"{STATES}:stateMachine:another-machine"),
        ("kms:Decrypt", KEY_ARN),  # not through S3: no kms:ViaService
    ],
)
def test_the_batch_user_policy_grants_nothing_more(
    module: Module, action: str, resource: str
) -> None:
    request = Request(action, resource, {"aws:PrincipalArn": USER}, USER)

    assert decide(batch_user(module), request) == "implicitly denied"


def test_the_policy_exists_only_with_batch(module: Module) -> None:
    assert module.data["aws_iam_policy_document.batch_user"]["count"] == "${local.batch_count}"
    output = module.outputs["batch_user_policy_json"]
    assert output["value"] == "${one(data.aws_iam_policy_document.batch_user[*].json)}"
