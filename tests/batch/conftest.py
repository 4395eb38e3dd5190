"""Fixtures of the batch tests: a churn model trained as a data scientist would (pandas,
sklearn API, string labels, early stopping) and published into a model folder with history,
a moto batch bucket, and the batch state machine driven from its own definition."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import orjson
import pandas as pd
import pytest
import xgboost as xgb
from moto import mock_aws
from sklearn.preprocessing import LabelEncoder

import router.batch.lambda_handler as batch_handler
from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from scripts.lambda_inputs import LambdaContext
from tests.events import load_event
from tests.infra.hcl import MODULE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

BUCKET = "model-router-batch-test"
REGION = "eu-west-1"
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_code"]
LABELS = ["churned", "stayed", "upgraded"]
ASL_TEMPLATE = MODULE / "batch.asl.json"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:model-router-batch"


def churn_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure_months": rng.integers(0, 72, rows).astype(float),
            "monthly_charges": rng.normal(70, 20, rows).round(2),
            "support_calls": rng.poisson(1.5, rows).astype(float),
            "contract_code": rng.integers(0, 3, rows).astype(float),
        }
    )


def train_churn(seed: int, trees: int = 12) -> xgb.XGBClassifier:
    """Three classes with string labels, early stopping on a validation split."""
    frame = churn_frame(400, seed)
    score = frame["support_calls"] - frame["tenure_months"] / 24 + frame["contract_code"] / 2
    labels = np.where(score > 0.5, "churned", np.where(score < -1.0, "upgraded", "stayed"))
    encoder = LabelEncoder().fit(LABELS)
    target = encoder.transform(labels)
    model = xgb.XGBClassifier(
        n_estimators=trees,
        max_depth=3,
        learning_rate=0.3,
        random_state=seed,
        n_jobs=1,
        early_stopping_rounds=3,
        eval_metric="mlogloss",
    )
    model.fit(frame[:300], target[:300], eval_set=[(frame[300:], target[300:])], verbose=False)
    return model


def publish(
    root: Path,
    name: str,
    model: xgb.XGBModel,
    history_limit: int = 5,
    labels: list[str] | None = LABELS,
) -> str:
    """Publish as `model-router publish` does; returns the version (12 hex digits)."""
    data = bytes(model.get_booster().save_raw("ubj"))
    metadata = json.dumps({"class_labels": labels}).encode() if labels else None
    validated = validate_model(data, metadata=metadata, nthread=1)
    with ModelFolder(root, name, history_limit=history_limit) as folder:
        result = folder.publish(validated.data)
    return result.version.sha256[:12]


@pytest.fixture
def model_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


@pytest.fixture
def churn(model_root: Path) -> tuple[xgb.XGBClassifier, str]:
    model = train_churn(seed=1)
    return model, publish(model_root, "churn", model)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_root: Path) -> Iterator[S3Client]:
    """moto for every AWS call, a versioned batch bucket, and a fresh batch environment."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("ROUTER_MODEL_ROOT", str(model_root))
    new_environment()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
    new_environment()


def new_environment() -> None:
    """What a fresh Lambda execution environment of the batch function starts with."""
    for cached in (batch_handler.settings, batch_handler.registry, batch_handler.s3_client):
        cached.cache_clear()


# -- the state machine, as far as the batch function sees it ------------------------------


def render_definition(rows_per_part: int = 1000, bytes_per_part: int = 245760) -> dict[str, Any]:
    values = {
        "function_arn": FUNCTION_ARN,
        "bucket": BUCKET,
        "rows_per_part": str(rows_per_part),
        "bytes_per_part": str(bytes_per_part),
        "max_concurrency": "10",
    }
    text = re.sub(r"\$\{(\w+)\}", lambda match: values[match.group(1)], ASL_TEMPLATE.read_text())
    definition: dict[str, Any] = json.loads(text)
    return definition


def path_value(path: str, state: Any, context: dict[str, Any]) -> Any:
    """A JSONPath of the simple form the definition uses: ``$``, ``$.a.b``, ``$$.A.B``."""
    target, rest = (context, path[3:]) if path.startswith("$$.") else (state, path[2:])
    for part in filter(None, rest.split(".")):
        target = target[part]
    return target


def apply_template(template: Any, state: Any, context: dict[str, Any]) -> Any:
    """Payload, ItemSelector, BatchInput and ResultSelector templates, as Step Functions
    evaluates them: a key ending in ``.$`` takes the value at its path."""
    if isinstance(template, dict):
        return {
            key.removesuffix(".$"): (
                path_value(value, state, context)
                if key.endswith(".$")
                else apply_template(value, state, context)
            )
            for key, value in template.items()
        }
    return template


@dataclass
class StateMachineRun:
    """One execution of the batch state machine, following its definition: Prepare, the
    Distributed Map's item batches (read from S3 as its ItemReader does), then Finish."""

    s3: S3Client
    definition: dict[str, Any]
    execution_input: dict[str, Any]
    name: str = "run-1"
    state: dict[str, Any] = field(default_factory=dict)
    part_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def states(self) -> dict[str, Any]:
        states: dict[str, Any] = self.definition["States"]
        return states

    def invoke(self, task: dict[str, Any], state: Any, context: dict[str, Any]) -> Any:
        parameters = apply_template(task["Parameters"], state, context)
        assert parameters["FunctionName"] == FUNCTION_ARN
        payload = orjson.loads(orjson.dumps(parameters["Payload"]))  # JSON, as Lambda gets it
        result = batch_handler.handler(payload, LambdaContext())
        return orjson.loads(orjson.dumps(result))

    def prepare(self) -> dict[str, Any]:
        self.state = dict(self.execution_input)
        context = {"Execution": {"Name": self.name}}
        task = self.states["Prepare"]
        payload = self.invoke(task, self.state, context)
        self.state["prepared"] = apply_template(task["ResultSelector"], {"Payload": payload}, {})
        return self.state["prepared"]  # type: ignore[no-any-return]

    def route(self) -> str:
        choice = self.states["Route"]
        for rule in choice["Choices"]:
            if path_value(rule["Variable"], self.state, {}) == rule["StringEquals"]:
                return str(rule["Next"])
        return str(choice["Default"])

    def part_events_for(self, map_name: str) -> list[dict[str, Any]]:
        """The events the map's item batches invoke the function with."""
        map_state = self.states[map_name]
        reader = map_state["ItemReader"]
        location = apply_template(reader["Parameters"], self.state, {})
        body = self.s3.get_object(
            Bucket=location["Bucket"], Key=location["Key"], VersionId=location["VersionId"]
        )["Body"].read()
        items = read_items(body, reader["ReaderConfig"])
        batcher = map_state["ItemBatcher"]
        batch_input = apply_template(batcher["BatchInput"], self.state, {})
        selected = [
            apply_template(
                map_state["ItemSelector"], {}, {"Map": {"Item": {"Index": i, "Value": v}}}
            )
            for i, v in enumerate(items)
        ]
        size = batcher["MaxItemsPerBatch"]
        return [
            {"Items": selected[start : start + size], "BatchInput": batch_input}
            for start in range(0, len(selected), size)
        ]

    def predict_parts(self, map_name: str, events: list[dict[str, Any]]) -> list[Any]:
        processor = self.states[map_name]["ItemProcessor"]
        task = processor["States"][processor["StartAt"]]
        return [self.invoke(task, event, {}) for event in events]

    def finish(self) -> dict[str, Any]:
        task = self.states["Finish"]
        payload = self.invoke(task, self.state, {})
        self.state["finished"] = apply_template(task["ResultSelector"], {"Payload": payload}, {})
        return self.state["finished"]  # type: ignore[no-any-return]

    def run(self) -> dict[str, Any]:
        prepared = self.prepare()
        if prepared["status"] == "failed":
            return prepared
        map_name = self.route()
        self.predict_parts(map_name, self.part_events_for(map_name))
        return self.finish()


def read_items(body: bytes, config: dict[str, Any]) -> list[Any]:
    """Items as the ItemReader gives them: CSV rows as objects of strings keyed by the first
    row; JSON Lines lines as the JSON values they hold."""
    if config["InputType"] == "CSV":
        assert config["CSVHeaderLocation"] == "FIRST_ROW"
        return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert config["InputType"] == "JSONL"
    return [orjson.loads(line) for line in body.splitlines() if line.strip()]


def object_created(key: str, version_id: str) -> dict[str, Any]:
    """The EventBridge event S3 sends for a new object, from the recorded one."""
    event = load_event("eventbridge_s3_object_created")
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"]["key"] = key
    event["detail"]["object"]["version-id"] = version_id
    return event


def put_input(s3: S3Client, key: str, body: bytes) -> dict[str, Any]:
    version = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
    return object_created(key, version)


def read_text(s3: S3Client, uri: str) -> str:
    key = uri.removeprefix(f"s3://{BUCKET}/")
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def manifest_at(s3: S3Client, uri: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(read_text(s3, uri))
    return document
