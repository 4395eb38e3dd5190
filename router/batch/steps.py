"""The three steps of a batch job on AWS, each one invocation of the batch function.

1. ``prepare`` (once): read the S3 event, pin the model version, check a CSV header, and
   describe the job for every part. A job that cannot run gets its failed manifest here.
2. ``predict_part`` (once per item batch of the Distributed Map, in parallel): predict the
   rows with the pinned version and write the part's predictions, rejects and summary.
3. ``finish`` (once): concatenate the parts in row order into the job's files, check that
   they cover every row exactly once, and write the manifest.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

import orjson
from botocore.exceptions import ClientError

from router.batch import formats
from router.batch.bucket import (
    PARTS_FOLDER,
    RESULTS_PREFIX,
    InputKey,
    StreamingUpload,
    delete_keys,
    keys_under,
    part_key,
)
from router.batch.errors import BatchInputInvalid, InputUnavailable
from router.batch.manifest import Manifest, utc_now
from router.batch.outputs import OUTPUT_COLUMNS
from router.batch.part import PartPredictor
from router.batch.pin import pinned_model
from router.errors import RouterError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mypy_boto3_s3 import S3Client

    from router.batch.part import InputFormat, RawRow
    from router.registry.registry import ModelRegistry
    from router.xgb.outputs import Output

DEFAULT_OUTPUTS: list[Output] = ["value", "margin"]
HEADER_BYTES = 64 * 1024
CONTENT_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
# S3's answers for an object or version that is not there. A HEAD has no error body, only
# a status: 400 is how it answers a version id that is no id at all (and only then is it
# read so: without a version id, a 400 is another bad request, such as an SSE-C object's).
_NOT_THERE = {"404", "NoSuchKey", "NoSuchVersion"}
_NO_SUCH_VERSION_ID = {"400", "InvalidArgument"}
# ...and for one it will not say is there: the batch function may list only results/, and S3
# answers a missing key with 403 to a role that may not list it.
_DENIED = {"403", "AccessDenied"}


class Job(TypedDict):
    """What every part of a job receives (the Map's ``BatchInput``)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    format: InputFormat
    model: str
    version: str
    outputs: list[Output]
    header: list[str]
    passed: list[str]
    columns: list[str]
    results: str
    map_run: str
    started_at: str


def prepare(
    request: Mapping[str, Any], run: str, client: S3Client, registry: ModelRegistry
) -> dict[str, Any]:
    """``request`` is an EventBridge "Object Created" event or the CLI's ``{bucket, key,
    model?, outputs?}``. Returns ``{"status", "job", "error", "manifest"}``: ready with the
    job, or failed with the error and the failed manifest's location."""
    started_at = utc_now()
    bucket, key, version_id = _object_of(request)
    manifest = Manifest(model=str(request.get("model") or "?"), input={"bucket": bucket})
    manifest.input.update(key=key, version_id=version_id)
    # Where a job whose key names no model reports that (no model name starts with "_").
    results = f"{RESULTS_PREFIX}_invalid/{run}/"
    try:
        parsed = InputKey.parse(key, request.get("model"))
        manifest.model = parsed.model
        results = parsed.results_prefix(run)
        fmt = formats.format_of(key)
        manifest.input["format"] = fmt
        with _reading_input(bucket, key, version_id):
            head = (
                client.head_object(Bucket=bucket, Key=key, VersionId=version_id)
                if version_id
                else client.head_object(Bucket=bucket, Key=key)
            )
        version_id = head.get("VersionId", version_id)
        manifest.input.update(version_id=version_id, etag=head.get("ETag"))
        outputs = _outputs(request.get("outputs"))
        manifest.outputs = list(outputs)
        model = pinned_model(registry, parsed.model)
        manifest.version = model.version
        layout = formats.OutputLayout(model, outputs)
        header: list[str] = []
        passed: list[str] = []
        if fmt == "csv":
            with _reading_input(bucket, key, version_id):
                header = _csv_header(client, bucket, key, version_id)
            passed = layout.check_csv_header(header, model.feature_names or [])
    except RouterError as exc:
        manifest.fail(exc.detail)
        location = _write_failure(client, bucket, results, manifest)
        return {"status": "failed", "job": None, "error": manifest.error, "manifest": location}
    job: Job = {
        "bucket": bucket,
        "key": key,
        "version_id": version_id,
        "etag": manifest.input.get("etag"),  # type: ignore[typeddict-item]
        "format": fmt,
        "model": parsed.model,
        "version": model.version,
        "outputs": list(outputs),
        "header": header,
        "passed": passed,
        "columns": layout.csv_columns,
        "results": results,
        "map_run": f"{results}map-run",
        "started_at": started_at,
    }
    return {"status": "ready", "job": job, "error": None, "manifest": None}


def predict_part(
    event: Mapping[str, Any], client: S3Client, registry: ModelRegistry
) -> dict[str, Any]:
    """One item batch of the Distributed Map: ``{"Items": [{"index", "row"}], "BatchInput":
    {"job": ...}}``. Writes the part's files; returns its counts (what ResultWriter keeps)."""
    job: Job = event["BatchInput"]["job"]
    rows: list[RawRow] = sorted((item["index"] + 1, item["row"]) for item in event["Items"])
    model = pinned_model(registry, job["model"], job["version"])
    layout = formats.OutputLayout(model, job["outputs"])
    reserved = frozenset(layout.keys | set(layout.csv_columns))
    predictor = PartPredictor(model, job["format"], job["outputs"], reserved=reserved)
    result = predictor.predict(rows)
    if job["format"] == "csv":
        data = formats.render_csv(result, layout, job["passed"]).encode()
        rejects = formats.render_csv_rejects(result.refused, job["header"]).encode()
    else:
        data = formats.render_jsonl(result, layout, set(predictor.features))
        rejects = formats.render_jsonl_rejects(result.refused)
    first = rows[0][0]
    summary = {
        "first": first,
        "rows_in": result.rows_in,
        "rows_out": len(result.accepted),
        "refused": [{"row": refused.row, "reason": refused.reason} for refused in result.refused],
    }
    prefix, bucket = job["results"], job["bucket"]
    client.put_object(Bucket=bucket, Key=part_key(prefix, first, "data"), Body=data)
    client.put_object(Bucket=bucket, Key=part_key(prefix, first, "rejects"), Body=rejects)
    # The summary last: finish counts a part as done only once its files exist.
    client.put_object(
        Bucket=bucket, Key=part_key(prefix, first, "json"), Body=orjson.dumps(summary)
    )
    return {key: value for key, value in summary.items() if key != "refused"} | {
        "rows_refused": len(result.refused)
    }


def finish(state: Mapping[str, Any], client: S3Client) -> dict[str, Any]:
    """Assemble the parts; ``state`` is the execution's state (with ``error`` when the map
    failed). Returns ``{"status", "manifest", "error"}``."""
    job: Job = state["prepared"]["job"]
    bucket, prefix, fmt = job["bucket"], job["results"], job["format"]
    manifest = Manifest(
        model=job["model"],
        version=job["version"],
        outputs=list(job["outputs"]),
        started_at=job["started_at"],
        input={
            "bucket": bucket,
            "key": job["key"],
            "version_id": job["version_id"],
            "etag": job["etag"],
            "format": fmt,
        },
    )
    summaries = sorted(
        (
            orjson.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            for key in keys_under(client, bucket, prefix + PARTS_FOLDER)
            if key.endswith(".json")
        ),
        key=lambda summary: summary["first"],
    )
    for summary in summaries:
        manifest.parts += 1
        manifest.rows_in += summary["rows_in"]
        manifest.rows_out += summary["rows_out"]
        manifest.rows_refused += len(summary["refused"])
        manifest.add_refusals(summary["refused"])
    error = state.get("error")
    if error:
        cause = str(error.get("Cause") or "")[:500]
        manifest.fail(f"the map run failed: {error.get('Error')}: {cause}".rstrip(": "))
    else:
        gap = _coverage_gap(summaries)
        if gap:
            manifest.fail(gap)
    if manifest.status == "succeeded" and manifest.rows_out:
        manifest.predictions = _assemble(client, job, summaries, "data", "predictions")
    manifest.rejects = _assemble(client, job, summaries, "rejects", "rejects")
    started = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00"))
    manifest.finish(time.time() - started.timestamp())
    location = _put_manifest(client, bucket, prefix, manifest)
    delete_keys(client, bucket, list(keys_under(client, bucket, prefix + PARTS_FOLDER)))
    return {"status": manifest.status, "manifest": location, "error": manifest.error}


# -- helpers -------------------------------------------------------------------------------


def _object_of(request: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """The bucket, key and version id of the object a job reads.

    An EventBridge "Object Created" event's key is taken as it is: S3 URL-encodes keys in
    its notifications to Lambda, SQS and SNS (as AWS documents, and as the inbox decodes),
    but AWS documents no encoding of EventBridge events, and moto sends their keys raw.
    """
    detail = request.get("detail")
    if isinstance(detail, dict):  # EventBridge: S3 "Object Created"
        found = (
            _member(detail, "bucket", "name"),
            _member(detail, "object", "key"),
            _member(detail, "object", "version-id"),
        )
    else:  # the CLI's {bucket, key, version_id?}
        found = (request.get("bucket"), request.get("key"), request.get("version_id"))
    bucket, key, version_id = found
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise BatchInputInvalid(
            'the job names no object: Prepare takes an EventBridge "Object Created" event '
            "(detail.bucket.name, detail.object.key) or {bucket, key}; this one has "
            f"{', '.join(sorted(map(str, request))[:10]) or 'no keys'}"
        )
    if version_id is not None and not isinstance(version_id, str):
        raise BatchInputInvalid(f"the object's version id is not text: {version_id!r:.60}")
    return bucket, key, version_id


def _member(document: Mapping[str, Any], outer: str, inner: str) -> object:
    value = document.get(outer)
    return value.get(inner) if isinstance(value, dict) else None


@contextlib.contextmanager
def _reading_input(bucket: str, key: str, version_id: str | None) -> Iterator[None]:
    """An input that is not there (deleted since its event, a version id that names none) as
    the job's error, so that it ends with a failed manifest saying so; anything else S3
    answers is raised, for Step Functions to report."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code") or "Unknown"
        where = f"the input s3://{bucket}/{key}"
        if version_id:
            where = f"version {version_id!r} of {where}"
        if code in _NOT_THERE or (version_id and code in _NO_SUCH_VERSION_ID):
            raise InputUnavailable(f"{where} does not exist") from exc
        if code in _DENIED:
            raise InputUnavailable(
                f"S3 denies reading {where} ({code}): it does not exist (S3 answers so to a "
                "role that may not list batch/), or the batch function may not read it"
            ) from exc
        raise


def _outputs(requested: object) -> list[Output]:
    if requested is None:
        return list(DEFAULT_OUTPUTS)
    allowed = set(OUTPUT_COLUMNS)
    if not isinstance(requested, list) or not requested or not set(requested) <= allowed:
        raise BatchInputInvalid(f"outputs must be a list among {', '.join(sorted(allowed))}")
    return list(dict.fromkeys(requested))


def _csv_header(client: S3Client, bucket: str, key: str, version_id: str | None) -> list[str]:
    span = f"bytes=0-{HEADER_BYTES - 1}"
    answer = (
        client.get_object(Bucket=bucket, Key=key, Range=span, VersionId=version_id)
        if version_id
        else client.get_object(Bucket=bucket, Key=key, Range=span)
    )
    head = answer["Body"].read().decode("utf-8-sig", errors="replace")
    line, newline, _ = head.partition("\n")
    if not newline and len(head) >= HEADER_BYTES:
        raise BatchInputInvalid(f"the CSV header is longer than {HEADER_BYTES} bytes")
    header = next(csv.reader(io.StringIO(line)), [])
    if not header:
        raise BatchInputInvalid("the CSV file is empty: it needs a header row")
    return header


def _coverage_gap(summaries: list[dict[str, Any]]) -> str | None:
    """Parts must cover rows 1..N once each: a lost or doubled part is a failed job."""
    expected = 1
    for summary in summaries:
        if summary["first"] != expected:
            return (
                "the parts do not cover every row once: expected row "
                f"{expected} next, got {summary['first']}"
            )
        expected += summary["rows_in"]
    return None


def _assemble(
    client: S3Client, job: Job, summaries: list[dict[str, Any]], kind: str, name: str
) -> str:
    fmt = job["format"]
    key = f"{job['results']}{name}.{'csv' if fmt == 'csv' else 'jsonl'}"
    upload = StreamingUpload(client, job["bucket"], key, CONTENT_TYPES[fmt])
    try:
        if fmt == "csv":
            columns = (
                [*job["passed"], *job["columns"]]
                if kind == "data"
                else [*formats.REJECT_COLUMNS, *job["header"]]
            )
            upload.write(formats.csv_header(columns).encode())
        for summary in summaries:
            part = client.get_object(
                Bucket=job["bucket"], Key=part_key(job["results"], summary["first"], kind)
            )
            for chunk in part["Body"].iter_chunks(1024 * 1024):
                upload.write(chunk)
        upload.close()
    except BaseException:
        upload.abort()
        raise
    return f"s3://{job['bucket']}/{key}"


def _put_manifest(client: S3Client, bucket: str, prefix: str, manifest: Manifest) -> str:
    key = f"{prefix}manifest.json"
    client.put_object(
        Bucket=bucket, Key=key, Body=manifest.to_json(), ContentType="application/json"
    )
    return f"s3://{bucket}/{key}"


def _write_failure(client: S3Client, bucket: str, results: str, manifest: Manifest) -> str:
    manifest.finish(0.0)
    return _put_manifest(client, bucket, results, manifest)
