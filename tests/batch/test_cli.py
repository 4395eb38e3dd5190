"""``model-router batch``: a local file into local files, and an S3 input as a job of the
batch state machine (moto Step Functions), waited for from the command line."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import orjson
import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.models import stepfunctions_backends

from router.batch.errors import BatchError
from router.batch.remote import RemoteJob, wait_for
from router.cli import main
from tests.batch.conftest import (
    BUCKET,
    FEATURES,
    LABELS,
    REGION,
    StateMachineRun,
    churn_frame,
    render_definition,
)

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb
    from mypy_boto3_s3 import S3Client


def write_csv(path: Path, rows: int) -> np.ndarray:
    frame = churn_frame(rows, seed=5)
    frame.insert(0, "id", range(rows))
    frame.to_csv(path, index=False)
    return frame[FEATURES].to_numpy(np.float32)


def test_local_job_writes_predictions_rejects_and_manifest_beside_the_output(
    tmp_path: Path,
    model_root: Path,
    churn: tuple[xgb.XGBClassifier, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, version = churn
    source = tmp_path / "nightly.csv"
    matrix = write_csv(source, 50)
    with source.open("a") as handle:
        handle.write("50,oops,1,1,1\n")
    output = tmp_path / "out" / "scored.csv"

    code = main(
        [
            "batch",
            str(source),
            "--model",
            "churn",
            "--output",
            str(output),
            "--model-root",
            str(model_root),
            "--rows-per-part",
            "8",
            "--parallelism",
            "3",
            "--outputs",
            "value,contributions",
            "--no-progress",
        ]
    )

    assert code == 0
    printed = capsys.readouterr().out
    assert f"50 of 51 rows predicted with churn version {version}" in printed
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert [int(row["id"]) for row in rows] == list(range(50))  # input order, 3 threads
    assert f"contribution_{LABELS[0]}_bias" in rows[0]
    values = np.array([[float(row[f"value_{label}"]) for label in LABELS] for row in rows])
    expected = model.get_booster().inplace_predict(matrix)
    np.testing.assert_array_equal(values.astype(np.float32), expected)
    manifest = json.loads((tmp_path / "out" / "scored.manifest.json").read_text())
    assert manifest["refused"] == [
        {"row": 51, "reason": "feature 'tenure_months': 'oops' is not a number"}
    ]
    assert manifest["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (tmp_path / "out" / "scored.rejects.csv").read_text().startswith("row,reason,id,")
    assert not [path.name for path in output.parent.iterdir() if path.name.startswith(".")]


def test_a_csv_number_beyond_float32_is_refused_as_json_lines_and_the_api_refuse_it(
    tmp_path: Path, model_root: Path, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    # 1e39 is finite as a double and infinite as float32: once predicted as infinity.
    source = tmp_path / "rows.csv"
    write_csv(source, 3)
    with source.open("a") as handle:
        handle.write("3,1e39,1,1,1\n4,-3.5e38,1,1,1\n")
    output = tmp_path / "scored.csv"

    argv = ["batch", str(source), "--model", "churn", "--output", str(output)]
    assert main([*argv, "--model-root", str(model_root), "--no-progress"]) == 0

    assert [row["id"] for row in csv.DictReader(io.StringIO(output.read_text()))] == [
        "0",
        "1",
        "2",
    ]
    manifest = json.loads(output.with_suffix(".manifest.json").read_text())
    assert [refused["row"] for refused in manifest["refused"]] == [4, 5]
    assert "'1e39' does not fit a 32-bit float" in manifest["refused"][0]["reason"]


def test_json_lines_written_by_json_dumps_keep_their_rows_with_missing_values(
    tmp_path: Path, model_root: Path, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    # json.dumps(row) of a pandas row writes NaN for a missing value, as the API accepts.
    model, _ = churn
    frame = churn_frame(4, seed=5)
    frame.loc[1, "support_calls"] = np.nan
    source = tmp_path / "rows.jsonl"
    lines = [json.dumps({"id": i, **frame.iloc[i].to_dict()}) for i in range(len(frame))]
    lines.append('{"id": 4, "tenure_months": Infinity}')
    lines.append('{"id": 5, "tenure_months": ' + "9" * 400 + "}")
    lines += ["{}", '{"id": 7}']  # no feature at all: refused, as the API's {} row is
    source.write_text("\n".join(lines) + "\n")
    assert "NaN" in lines[1]
    output = tmp_path / "scored.jsonl"

    argv = ["batch", str(source), "--model", "churn", "--output", str(output)]
    assert main([*argv, "--model-root", str(model_root), "--no-progress", "--outputs",
                 "value"]) == 0  # fmt: skip

    scored = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["id"] for row in scored] == [0, 1, 2, 3]  # passed through as written
    expected = model.get_booster().inplace_predict(frame[FEATURES].to_numpy(np.float32))
    np.testing.assert_allclose([row["value"] for row in scored], expected, rtol=1e-6)
    manifest = json.loads(output.with_suffix(".manifest.json").read_text())
    reasons = [refused["reason"] for refused in manifest["refused"]]
    assert "Infinity is not a number a model can use" in reasons[0]
    assert "does not fit a 32-bit float" in reasons[1]
    assert [refused["row"] for refused in manifest["refused"]][2:] == [7, 8]
    assert all("names none of the model's features" in reason for reason in reasons[2:])


def test_an_output_that_is_the_input_file_is_refused_before_a_row_is_written(
    tmp_path: Path,
    model_root: Path,
    churn: tuple[xgb.XGBClassifier, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "rows.csv"
    write_csv(source, 3)
    before = source.read_bytes()
    (tmp_path / "link.csv").symlink_to(source)

    for output in (source, tmp_path / "link.csv", tmp_path / "sub" / ".." / "rows.csv"):
        argv = ["batch", str(source), "--model", "churn", "--output", str(output)]
        code = main([*argv, "--model-root", str(model_root), "--no-progress"])

        assert code == 1, output
        assert "is the input file" in capsys.readouterr().err
        assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("source", "output", "refusal"),
    [
        ("rows.csv", "seg.jsonl", "error: the output must be csv like the input: seg.jsonl"),
        ("rows.jsonl", "seg.csv", "error: the output must be jsonl like the input: seg.csv"),
        ("rows.txt", "seg.csv", "error: 'rows.txt' is neither .csv nor .jsonl"),
        ("rows.csv", "rows.csv", "error: the output rows.csv is the input file"),
    ],
)
def test_files_a_job_could_not_run_with_are_refused_before_anything_is_written(
    tmp_path: Path,
    model_root: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    output: str,
    refusal: str,
) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / source).write_text(f"{','.join(FEATURES)}\n1,2,3,4\n")
    capsys.readouterr()

    # With the progress bar: it starts only for a job that runs.
    argv = ["batch", str(folder / source), "--model", "churn", "--output", str(folder / output)]
    assert main([*argv, "--model-root", str(model_root)]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(refusal)
    # No manifest for a job that never ran, nor predictions or rejects.
    assert sorted(path.name for path in folder.iterdir()) == [source]


def test_an_output_the_system_will_not_write_is_one_line_not_a_traceback(
    tmp_path: Path, model_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not even root may make a file in /proc, nor a folder under a file.
    source = tmp_path / "rows.csv"
    source.write_text(f"{','.join(FEATURES)}\n1,2,3,4\n")
    for output in ("/proc/seg.csv", "/proc/new/seg.csv", f"{source}/seg.csv"):
        argv = ["batch", str(source), "--model", "churn", "--output", output]

        assert main([*argv, "--model-root", str(model_root), "--no-progress"]) == 1

        err = capsys.readouterr().err
        assert err.startswith("error: cannot read or write ") and "Traceback" not in err
        assert output.rpartition("/")[0] in err


def test_csv_na_and_null_are_missing_values_in_the_fast_conversion_too(
    tmp_path: Path, model_root: Path, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    model, _ = churn
    source = tmp_path / "rows.csv"
    source.write_text(f"{','.join(FEATURES)}\nNA,70.5,1,NULL\n3,null,N/A,1\n")
    output = tmp_path / "scored.csv"

    argv = ["batch", str(source), "--model", "churn", "--output", str(output), "--outputs"]
    assert main([*argv, "value", "--model-root", str(model_root), "--no-progress"]) == 0

    rows = np.array([[np.nan, 70.5, 1, np.nan], [3, np.nan, np.nan, 1]], dtype=np.float32)
    scored = list(csv.DictReader(io.StringIO(output.read_text())))
    values = [[float(row[f"value_{label}"]) for label in LABELS] for row in scored]
    np.testing.assert_allclose(values, model.get_booster().inplace_predict(rows), rtol=1e-6)


def test_local_job_of_a_missing_model_fails_with_a_manifest(
    tmp_path: Path, model_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_bytes(orjson.dumps({"tenure_months": 1}) + b"\n")

    code = main(
        [
            "batch",
            str(source),
            "--model",
            "churn",
            "--output",
            str(tmp_path / "out.jsonl"),
            "--model-root",
            str(model_root),
            "--no-progress",
        ]
    )

    assert code == 1
    assert "error: no model named 'churn' in the model store" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert (manifest["status"], manifest["version"]) == ("failed", None)
    assert not (tmp_path / "out.jsonl").exists()


def start_machine(sfn: Any) -> str:
    answer = sfn.create_state_machine(
        name="model-router-batch",
        definition=json.dumps(render_definition(rows_per_part=16)),
        roleArn="arn:aws:iam::123456789012:role/model-router-batch-state-machine",
    )
    arn: str = answer["stateMachineArn"]
    return arn


def wait_for_execution(sfn: Any, machine: str) -> dict[str, Any]:
    """The execution the CLI started, once it exists (bounded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if executions:
            found: dict[str, Any] = sfn.describe_execution(
                executionArn=executions[0]["executionArn"]
            )
            return found
        time.sleep(0.02)
    raise AssertionError("the CLI started no execution")


def run_cli_in_thread(argv: list[str]) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv)), daemon=True)
    thread.start()
    return thread, codes


def test_s3_input_runs_the_state_machine_and_prints_where_results_are(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, version = churn
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = start_machine(sfn)
    frame = churn_frame(40, seed=8)
    aws.put_object(Bucket=BUCKET, Key="batch/churn/job.csv", Body=frame.to_csv(index=False))
    thread, codes = run_cli_in_thread(
        [
            "batch",
            f"s3://{BUCKET}/batch/churn/job.csv",
            "--model",
            "churn",
            "--state-machine",
            machine,
            "--poll-seconds",
            "0.02",
            "--timeout",
            "60",
            "--outputs",
            "value",
            "--no-progress",
        ]
    )

    execution = wait_for_execution(sfn, machine)
    # What AWS does meanwhile: the state machine runs the job and succeeds.
    execution_input = json.loads(execution["input"])
    assert execution_input == {
        "bucket": BUCKET,
        "key": "batch/churn/job.csv",
        "model": "churn",
        "outputs": ["value"],
    }
    run = StateMachineRun(aws, render_definition(rows_per_part=16), execution_input)
    run.name = execution["name"]
    assert run.run()["status"] == "succeeded"
    backend = stepfunctions_backends["123456789012"][REGION]
    backend.describe_execution(execution["executionArn"]).status = "SUCCEEDED"
    thread.join(timeout=60)

    assert codes == [0]
    printed = capsys.readouterr().out
    results = f"s3://{BUCKET}/results/churn/job/{execution['name']}/"
    assert f"results: {results}" in printed
    assert f"40 of 40 rows predicted with churn version {version}; 0 refused" in printed
    assert f"predictions: {results}predictions.csv" in printed
    body = aws.get_object(
        Bucket=BUCKET, Key=f"results/churn/job/{execution['name']}/predictions.csv"
    )
    assert len(list(csv.DictReader(io.StringIO(body["Body"].read().decode())))) == 40


def test_s3_input_of_a_failed_job_exits_with_the_manifest_error(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = start_machine(sfn)
    aws.put_object(Bucket=BUCKET, Key="batch/fraud/job.jsonl", Body=b'{"a": 1}\n')
    thread, codes = run_cli_in_thread(
        [
            "batch",
            f"s3://{BUCKET}/batch/fraud/job.jsonl",
            "--model",
            "fraud",
            "--state-machine",
            machine,
            "--poll-seconds",
            "0.02",
            "--no-progress",
        ]
    )

    execution = wait_for_execution(sfn, machine)
    run = StateMachineRun(aws, render_definition(), json.loads(execution["input"]))
    run.name = execution["name"]
    assert run.run()["status"] == "failed"
    backend = stepfunctions_backends["123456789012"][REGION]
    backend.describe_execution(execution["executionArn"]).status = "FAILED"
    thread.join(timeout=60)

    assert codes == [1]
    assert "error: no model named 'fraud' in the model store; manifest: s3://" in (
        capsys.readouterr().err
    )


def test_local_job_answers_what_the_estimator_answers_as_probabilities_and_labels(
    tmp_path: Path, model_root: Path, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    model, _ = churn
    source = tmp_path / "rows.csv"
    matrix = write_csv(source, 30)
    output = tmp_path / "scored.csv"

    code = main(
        [
            "batch",
            str(source),
            "--model",
            "churn",
            "--output",
            str(output),
            "--model-root",
            str(model_root),
            "--outputs",
            "probabilities,label",
            "--no-progress",
        ]
    )

    assert code == 0
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert list(rows[0])[1:] == [
        *(f"probability_{label}" for label in LABELS),
        "label",
        "model_version",
    ]
    frame = churn_frame(30, seed=5)
    probabilities = np.array([[float(row[f"probability_{c}"]) for c in LABELS] for row in rows])
    np.testing.assert_array_equal(
        probabilities.astype(np.float32), model.predict_proba(frame).astype(np.float32)
    )
    assert [row["label"] for row in rows] == [LABELS[i] for i in model.predict(frame)]
    assert matrix.shape == (30, 4)


def test_s3_input_takes_its_region_from_the_state_machine_arn(
    aws: S3Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    machine = start_machine(boto3.client("stepfunctions", region_name=REGION))
    # boto3 reads AWS_DEFAULT_REGION only; with none set, the client had no region at all.
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    uri = f"s3://{BUCKET}/batch/churn/job.csv"
    argv = ["batch", uri, "--model", "churn", "--state-machine", machine, "--timeout", "0"]

    assert main(argv) == 0
    assert f"started {machine.replace(':stateMachine:', ':execution:')}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("environment", "machine", "says"),
    [
        ({"AWS_PROFILE": "nope"}, None, "cannot use the AWS configuration"),
        ({}, "model-router-batch", "is not a state machine ARN"),
    ],
    ids=["unknown-profile", "not-an-arn"],
)
def test_s3_input_with_aws_it_cannot_use_is_one_line_not_a_traceback(
    aws: S3Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    machine: str | None,
    says: str,
) -> None:
    arn = machine or start_machine(boto3.client("stepfunctions", region_name=REGION))
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    uri = f"s3://{BUCKET}/batch/churn/job.csv"

    code = main(["batch", uri, "--model", "churn", "--state-machine", arn, "--timeout", "0"])

    err = capsys.readouterr().err
    assert code != 0
    assert says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_credentials_that_expire_while_waiting_end_the_wait_with_where_results_go() -> None:
    class ExpiredSfn:
        def describe_execution(self, **_: Any) -> dict[str, Any]:
            error = {"Error": {"Code": "ExpiredTokenException", "Message": "expired"}}
            raise ClientError(error, "DescribeExecution")  # type: ignore[arg-type]

    job = RemoteJob("arn:aws:states:eu-west-1:1:execution:m:x", BUCKET, "results/churn/job/x/")
    with pytest.raises(BatchError, match=r"cannot follow the job .*ExpiredToken.*results/churn"):
        wait_for(ExpiredSfn(), None, job, timeout_s=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("write", "hint"),
    [
        # Excel in a European locale separates with ';'.
        (
            lambda frame, path: frame.to_csv(path, index=False, sep=";"),
            "the header is one column: is the file separated by commas?",
        ),
        (
            lambda frame, path: frame.to_csv(path, index=False, header=False),
            "the first line holds numbers: the file needs a header of feature names",
        ),
        (
            lambda frame, path: frame.rename(columns=str.title).to_csv(path, index=False),
            "spelt otherwise in the header: 'Tenure_Months' for 'tenure_months'",
        ),
    ],
    ids=["semicolons", "no-header", "capitalised"],
)
def test_a_header_without_the_features_says_what_likely_went_wrong(
    tmp_path: Path,
    model_root: Path,
    churn: tuple[xgb.XGBClassifier, str],
    capsys: pytest.CaptureFixture[str],
    write: Any,
    hint: str,
) -> None:
    source = tmp_path / "rows.csv"
    write(churn_frame(5, seed=1), source)

    code = main(
        ["batch", str(source), "--model", "churn", "--output", str(tmp_path / "out.csv"),
         "--model-root", str(model_root), "--no-progress"]
    )  # fmt: skip

    err = capsys.readouterr().err
    assert code == 1
    assert "the CSV header lacks" in err and hint in err, err
