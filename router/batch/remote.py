"""Starting a batch job on AWS from a laptop, and waiting for it.

The job is the one an upload under ``batch/`` starts through EventBridge: the same state
machine, given ``{bucket, key, model, outputs}`` instead of the S3 event. Its results are
under ``results/<model>/<job>/<execution name>/`` of the same bucket.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from router.aws_config import explain
from router.batch.bucket import InputKey, parse_s3_uri
from router.batch.errors import BatchError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

EXECUTION_NAME_LIMIT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class RemoteJob:
    execution_arn: str
    bucket: str
    results: str  # the key prefix of this run's results

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.results}"


@dataclass(frozen=True, slots=True)
class RemoteOutcome:
    status: str  # SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or RUNNING when we stopped waiting
    manifest: dict[str, Any] | None


def start_job(
    sfn: SFNClient,
    state_machine_arn: str,
    uri: str,
    model: str,
    outputs: Sequence[str],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RemoteJob:
    bucket, key = parse_s3_uri(uri)
    parsed = InputKey.parse(key, model)
    stamp = clock().strftime("%Y%m%dT%H%M%SZ")
    name = _UNSAFE.sub("-", f"{parsed.model}-{parsed.job}")[: EXECUTION_NAME_LIMIT - 17]
    name = f"{name}-{stamp}"
    request = {"bucket": bucket, "key": key, "model": parsed.model, "outputs": list(outputs)}
    try:
        answer = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=orjson.dumps(request).decode()
        )
    except (BotoCoreError, ClientError) as exc:
        raise BatchError(f"cannot start the batch state machine: {explain(exc)}") from exc
    return RemoteJob(answer["executionArn"], bucket, parsed.results_prefix(name))


def wait_for(
    sfn: SFNClient,
    s3: S3Client,
    job: RemoteJob,
    *,
    timeout_s: float,
    poll_s: float = 5.0,
    progress: Callable[[int, int | None], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> RemoteOutcome:
    """Poll the execution until it ends or ``timeout_s`` passes; then read its manifest."""
    deadline = monotonic() + timeout_s
    while True:
        try:
            status = sfn.describe_execution(executionArn=job.execution_arn)["status"]
        except (BotoCoreError, ClientError) as exc:  # credentials that expired while waiting
            raise BatchError(
                f"cannot follow the job ({explain(exc)}); it goes on without us: its results "
                f"will be at {job.location}"
            ) from exc
        if progress is not None:
            done, total = _item_counts(sfn, job.execution_arn)
            progress(done, total)
        if status != "RUNNING" or monotonic() >= deadline:
            break
        sleep(poll_s)
    return RemoteOutcome(status, read_manifest(s3, job) if status != "RUNNING" else None)


def read_manifest(s3: S3Client, job: RemoteJob) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=job.bucket, Key=f"{job.results}manifest.json")["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise BatchError(f"cannot read the job's manifest: {exc}") from exc
    document: dict[str, Any] = orjson.loads(body.read())
    return document


def _item_counts(sfn: SFNClient, execution_arn: str) -> tuple[int, int | None]:
    """Rows done and in total, from the map run once Step Functions has started it."""
    try:
        runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
        if not runs:
            return 0, None
        counts = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
    except (BotoCoreError, ClientError, NotImplementedError):
        return 0, None  # progress is a courtesy: never fail a wait over it
    return counts["succeeded"] + counts["failed"], counts["total"] or None
