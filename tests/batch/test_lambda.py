"""The batch function with the events the state machine sends (its definition drives them:
Prepare's payload, the Distributed Map's item batches with ``Items`` and ``BatchInput``,
Finish), against moto S3 and a model folder with publish history."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pytest
from botocore.exceptions import ClientError

import router.batch.lambda_handler as batch_handler
from router.batch import steps
from router.batch.errors import BatchInputInvalid, InputUnavailable, PinnedVersionUnavailable
from scripts.lambda_inputs import LambdaContext
from tests.batch.conftest import (
    BUCKET,
    FEATURES,
    LABELS,
    StateMachineRun,
    churn_frame,
    manifest_at,
    new_environment,
    publish,
    put_input,
    read_text,
    render_definition,
    train_churn,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import xgboost as xgb
    from mypy_boto3_s3 import S3Client


def csv_input(rows: int, seed: int = 3) -> tuple[bytes, np.ndarray]:
    """A CSV with an id and a label to pass through, features in a shuffled order."""
    frame = churn_frame(rows, seed)
    frame.insert(0, "customer_id", [f"c{i:05d}" for i in range(rows)])
    frame["actual"] = "unknown"
    columns = ["customer_id", "support_calls", "tenure_months", "actual", *FEATURES[1::2]]
    return frame[columns].to_csv(index=False).encode(), frame[FEATURES].to_numpy(np.float32)


def expected_values(model: xgb.XGBClassifier, matrix: np.ndarray) -> np.ndarray:
    """What POST /models/churn/predict answers: the booster's inplace_predict."""
    return np.asarray(model.get_booster().inplace_predict(matrix), dtype=np.float32)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_job_predicts_every_row_in_order_and_passes_other_columns_through(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    model, version = churn
    body, matrix = csv_input(23)
    event = put_input(aws, "batch/churn/nightly.csv", body)
    run = StateMachineRun(aws, render_definition(rows_per_part=5), event)

    finished = run.run()

    assert len(run.part_events_for("PredictCsv")) == 5  # 23 rows, 5 a part
    assert finished["status"] == "succeeded", finished
    manifest = manifest_at(aws, finished["manifest"])
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_refused"]) == (23, 23, 0)
    assert manifest["version"] == version
    assert manifest["input"]["version_id"] == event["detail"]["object"]["version-id"]
    rows = csv_rows(read_text(aws, manifest["predictions"]))
    assert list(rows[0]) == [
        "customer_id",
        "actual",
        *(f"value_{label}" for label in LABELS),
        *(f"margin_{label}" for label in LABELS),
        "model_version",
    ]
    assert [row["customer_id"] for row in rows] == [f"c{i:05d}" for i in range(23)]
    assert {row["actual"] for row in rows} == {"unknown"}
    assert {row["model_version"] for row in rows} == {version}
    values = np.array([[float(row[f"value_{label}"]) for label in LABELS] for row in rows])
    np.testing.assert_array_equal(values.astype(np.float32), expected_values(model, matrix))
    # The parts are gone once assembled; the job's files stay.
    keys = {entry["Key"] for entry in aws.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert not [key for key in keys if "/parts/" in key]


def test_refused_csv_rows_go_to_rejects_with_their_row_number_and_reason(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    header = "id,tenure_months,monthly_charges,support_calls,contract_code\n"
    lines = ["a,12,70.5,1,0", "b,twelve,70.5,1,0", "c,3,,2,1", "d,1,2", "e,5,60,inf,1"]
    event = put_input(aws, "batch/churn/mixed.csv", (header + "\n".join(lines) + "\n").encode())

    finished = StateMachineRun(aws, render_definition(rows_per_part=2), event).run()

    manifest = manifest_at(aws, finished["manifest"])
    assert finished["status"] == "succeeded"
    assert (manifest["rows_in"], manifest["rows_out"], manifest["rows_refused"]) == (5, 2, 3)
    assert manifest["refused"] == [
        {"row": 2, "reason": "feature 'tenure_months': 'twelve' is not a number"},
        {"row": 4, "reason": "the row has fewer fields than the header"},
        {"row": 5, "reason": "feature 'support_calls': 'inf' is not a finite number"},
    ]
    assert [row["id"] for row in csv_rows(read_text(aws, manifest["predictions"]))] == ["a", "c"]
    rejects = csv_rows(read_text(aws, manifest["rejects"]))
    assert [(row["row"], row["id"], row["tenure_months"]) for row in rejects] == [
        ("2", "b", "twelve"),
        ("4", "d", "1"),
        ("5", "e", "5"),
    ]


def test_jsonl_job_keeps_other_keys_and_refuses_values_that_are_not_numbers(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    model, version = churn
    good = {"id": 7, "tenure_months": 3, "monthly_charges": 80.25, "support_calls": 4}
    lines = [
        good,
        {"id": 8, "tenure_months": "3", "monthly_charges": 1.0},
        {"id": 9, "tenure_months": [3]},
        {"id": 10, "value": 1.0, "tenure_months": 1},
        {"id": 11, "contract_code": None, "tenure_months": 40, "monthly_charges": 20},
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines) + b"\n"
    event = put_input(aws, "batch/churn/api-shaped.jsonl", body)

    finished = StateMachineRun(aws, render_definition(rows_per_part=2), event).run()

    manifest = manifest_at(aws, finished["manifest"])
    assert manifest["input"]["format"] == "jsonl"
    assert [item["row"] for item in manifest["refused"]] == [2, 3, 4]
    assert "a string is not a JSON number" in manifest["refused"][0]["reason"]
    assert "list is not a JSON number" in manifest["refused"][1]["reason"]
    assert "'value' has the name of a prediction column" in manifest["refused"][2]["reason"]
    out = [orjson.loads(line) for line in read_text(aws, manifest["predictions"]).splitlines()]
    assert [record["id"] for record in out] == [7, 11]
    assert set(out[0]) == {"id", "value", "margin", "model_version"}
    assert {record["model_version"] for record in out} == {version}
    # Absent features and null are missing values, as in the API's object rows.
    matrix = np.full((2, 4), np.nan, dtype=np.float32)
    matrix[0, :3] = [3, 80.25, 4]
    matrix[1, :2] = [40, 20]
    np.testing.assert_array_equal(
        np.array([record["value"] for record in out], dtype=np.float32),
        expected_values(model, matrix),
    )
    rejects = [orjson.loads(line) for line in read_text(aws, manifest["rejects"]).splitlines()]
    assert rejects[0] == {
        "row": 2,
        "reason": manifest["refused"][0]["reason"],
        "input": lines[1],
    }


def test_every_part_predicts_with_the_version_the_job_started_with(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str], model_root: Path
) -> None:
    old_model, old_version = churn
    body, matrix = csv_input(12)
    event = put_input(aws, "batch/churn/rescore.csv", body)
    run = StateMachineRun(aws, render_definition(rows_per_part=4), event)
    assert run.prepare()["job"]["version"] == old_version
    events = run.part_events_for(run.route())
    run.predict_parts("PredictCsv", events[:1])

    retrained = train_churn(seed=2)
    new_version = publish(model_root, "churn", retrained)  # goes live mid-job
    assert new_version != old_version
    run.predict_parts("PredictCsv", events[1:2])  # an environment that had the old model
    new_environment()  # the rest land on environments that never saw the old version
    run.predict_parts("PredictCsv", events[2:])
    finished = run.finish()

    manifest = manifest_at(aws, finished["manifest"])
    rows = csv_rows(read_text(aws, manifest["predictions"]))
    assert {row["model_version"] for row in rows} == {old_version} == {manifest["version"]}
    values = np.array([[float(row[f"value_{label}"]) for label in LABELS] for row in rows])
    np.testing.assert_array_equal(values.astype(np.float32), expected_values(old_model, matrix))
    assert not np.array_equal(
        expected_values(old_model, matrix), expected_values(retrained, matrix)
    )


def test_a_part_fails_when_its_version_left_the_history(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str], model_root: Path
) -> None:
    body, _ = csv_input(4)
    event = put_input(aws, "batch/churn/late.csv", body)
    run = StateMachineRun(aws, render_definition(rows_per_part=2), event)
    run.prepare()
    events = run.part_events_for(run.route())
    for seed in (2, 3):  # history_limit 0: each publish drops every earlier version
        publish(model_root, "churn", train_churn(seed=seed), history_limit=0)
    new_environment()

    with pytest.raises(PinnedVersionUnavailable, match="no longer live"):
        run.predict_parts("PredictCsv", events)


def test_a_missing_model_fails_the_job_with_a_clear_manifest(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    body, _ = csv_input(3)
    event = put_input(aws, "batch/fraud/nightly.csv", body)
    run = StateMachineRun(aws, render_definition(), event, name="nightly-1")

    prepared = run.run()

    assert prepared["status"] == "failed"
    assert run.route() == "PrepareFailed"
    assert prepared["manifest"] == f"s3://{BUCKET}/results/fraud/nightly/nightly-1/manifest.json"
    manifest = manifest_at(aws, prepared["manifest"])
    assert manifest["status"] == "failed"
    assert manifest["error"] == "no model named 'fraud' in the model store"
    assert manifest["error"] == prepared["error"]


def test_a_header_without_the_features_fails_the_job_before_any_part(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    event = put_input(aws, "batch/churn/typo.csv", b"id,tenure,monthly_charges\n1,2,3\n")

    prepared = StateMachineRun(aws, render_definition(), event).run()

    assert prepared["status"] == "failed"
    assert "lacks 3 of the model's features: tenure_months, support_calls" in prepared["error"]


def test_a_job_whose_every_row_is_refused_fails_with_its_rejects(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    header = ",".join(FEATURES) + "\n"
    event = put_input(aws, "batch/churn/junk.csv", (header + "x,1,1,1\ny,2,2,2\n").encode())
    run = StateMachineRun(aws, render_definition(), event)

    finished = run.run()

    assert finished["status"] == "failed"
    assert finished["error"] == "every row was refused (see the rejects file)"
    manifest: dict[str, Any] = manifest_at(aws, finished["manifest"])
    assert manifest["predictions"] is None
    assert len(csv_rows(read_text(aws, manifest["rejects"]))) == 2


def test_a_failed_map_run_is_reported_in_the_manifest(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    body, _ = csv_input(6)
    event = put_input(aws, "batch/churn/broken.csv", body)
    run = StateMachineRun(aws, render_definition(rows_per_part=2), event)
    run.prepare()
    run.predict_parts("PredictCsv", run.part_events_for(run.route())[:2])  # the third fails
    catch = run.states["PredictCsv"]["Catch"][0]
    assert catch["Next"] == "Finish"
    run.state[catch["ResultPath"].removeprefix("$.")] = {
        "Error": "States.ExceedToleratedFailureThreshold",
        "Cause": "The specified tolerated failure threshold was exceeded",
    }

    finished = run.finish()

    assert finished["status"] == "failed"
    assert finished["error"].startswith("the map run failed: States.ExceedToleratedFailure")
    assert manifest_at(aws, finished["manifest"])["rows_in"] == 4


def test_an_eventbridge_key_is_the_objects_key_as_is(
    aws: S3Client, churn: tuple[xgb.XGBClassifier, str]
) -> None:
    """EventBridge's S3 events carry the key as it is, not URL-encoded as S3's notifications
    to Lambda are (AWS documents the encoding for those only; moto sends EventBridge keys
    raw): a space stays a space and a plus a plus."""
    body, _ = csv_input(3)
    key = "batch/churn/nightly run+1.csv"
    event = put_input(aws, key, body)
    assert event["detail"]["object"]["key"] == key

    finished = StateMachineRun(aws, render_definition(), event).run()

    assert finished["status"] == "succeeded", finished
    manifest = manifest_at(aws, finished["manifest"])
    assert manifest["input"]["key"] == key
    assert finished["manifest"] == f"s3://{BUCKET}/results/churn/nightly run+1/run-1/manifest.json"


GONE = "batch/churn/gone.csv"


def deleted_version(s3: S3Client) -> dict[str, Any]:
    """The event of an upload whose version was deleted before the job read it."""
    event = put_input(s3, GONE, b"a,b\n1,2\n")
    s3.delete_object(Bucket=BUCKET, Key=GONE, VersionId=event["detail"]["object"]["version-id"])
    return event


def unknown_version(s3: S3Client) -> dict[str, Any]:
    event = put_input(s3, GONE, b"a,b\n1,2\n")
    event["detail"]["object"]["version-id"] = "no-such-version"
    return event


@pytest.mark.parametrize(
    ("request_of", "error"),
    [
        (lambda _: {"bucket": BUCKET, "key": GONE}, f"the input s3://{BUCKET}/{GONE} does not"),
        (deleted_version, "version '"),
        (unknown_version, f"version 'no-such-version' of the input s3://{BUCKET}/{GONE} does"),
    ],
    ids=["no-such-key", "deleted-version", "unknown-version"],
)
def test_an_input_that_is_not_there_fails_the_job_with_a_manifest(
    aws: S3Client,
    churn: tuple[xgb.XGBClassifier, str],
    request_of: Callable[[S3Client], dict[str, Any]],
    error: str,
) -> None:
    run = StateMachineRun(aws, render_definition(), request_of(aws), name="nightly-1")

    prepared = run.run()

    assert prepared["status"] == "failed"
    assert run.route() == "PrepareFailed"
    assert prepared["manifest"] == f"s3://{BUCKET}/results/churn/gone/nightly-1/manifest.json"
    manifest = manifest_at(aws, prepared["manifest"])
    assert manifest["status"] == "failed" and manifest["error"] == prepared["error"]
    assert prepared["error"].startswith(error), prepared["error"]
    assert prepared["error"].endswith("does not exist")
    assert manifest["input"]["key"] == GONE


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("403", "S3 denies reading the input s3://b/k (403): it does not exist (S3 answers"),
        ("AccessDenied", "S3 denies reading the input s3://b/k (AccessDenied): it does not"),
    ],
)
def test_a_403_for_the_input_is_reported_as_perhaps_missing(code: str, error: str) -> None:
    """The batch role may list only results/: S3 answers a missing input with 403."""
    denied = ClientError({"Error": {"Code": code, "Message": "Forbidden"}}, "HeadObject")

    with pytest.raises(InputUnavailable) as caught, steps._reading_input("b", "k", None):
        raise denied
    assert caught.value.detail.startswith(error)
    with pytest.raises(ClientError), steps._reading_input("b", "k", None):
        raise ClientError({"Error": {"Code": "SlowDown"}}, "HeadObject")


@pytest.mark.parametrize(
    "request_",
    [{}, {"detail": {"bucket": {"name": BUCKET}}}, {"bucket": BUCKET}, {"key": "batch/a/b.csv"}],
    ids=["nothing", "event-without-object", "no-key", "no-bucket"],
)
def test_a_prepare_input_that_names_no_object_is_a_clear_error(
    aws: S3Client, request_: dict[str, Any]
) -> None:
    event = {"step": "prepare", "run": "run-1", "input": request_}

    with pytest.raises(BatchInputInvalid, match="names no object"):
        batch_handler.handler(event, LambdaContext())


@pytest.mark.parametrize(
    ("version_id", "gone"), [("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", True), (None, False)]
)
def test_a_400_is_a_missing_input_only_for_a_version_id(version_id: str | None, gone: bool) -> None:
    # S3 answers a HEAD with a bare 400 for a version id that is no id, and also for an
    # SSE-C object asked without its key: only the first is an input that does not exist.
    from botocore.exceptions import ClientError

    from router.batch.errors import InputUnavailable
    from router.batch.steps import _reading_input

    answer: Any = {"Error": {"Code": "400", "Message": "Bad Request"}}
    expected = InputUnavailable if gone else ClientError
    with pytest.raises(expected), _reading_input("bucket", "batch/churn/job.csv", version_id):
        raise ClientError(answer, "HeadObject")
