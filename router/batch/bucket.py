"""The batch bucket's layout, and the few S3 operations the batch steps need.

::

    batch/<model>/<job>.csv | .jsonl          inputs; creating one starts a job (EventBridge)
    results/<model>/<job>/<run>/              one run of the job (the execution's name)
        predictions.<csv|jsonl>  rejects.<csv|jsonl>  manifest.json
        parts/<first row>.{data,rejects,json}  each part's output, until the job assembles it
        map-run/                               Step Functions' own record of the map run

Results live outside ``batch/``, so writing them never starts another job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from router.batch.errors import BatchInputInvalid
from router.batch.formats import format_of
from router.store import validate_name

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

INPUT_PREFIX = "batch/"
RESULTS_PREFIX = "results/"
PARTS_FOLDER = "parts/"
# S3 multipart uploads need parts of at least 5 MiB (but the last).
UPLOAD_PART_BYTES = 8 * 1024 * 1024
_S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)")


@dataclass(frozen=True, slots=True)
class InputKey:
    model: str
    job: str
    extension: str

    @classmethod
    def parse(cls, key: str, model: str | None = None) -> InputKey:
        """``batch/<model>/<job>.<ext>``; ``model`` (from the CLI) overrides the key's."""
        if not key.startswith(INPUT_PREFIX):
            raise BatchInputInvalid(f"batch inputs live under {INPUT_PREFIX}: {key[:200]!r}")
        fmt = format_of(key)
        rest = key[len(INPUT_PREFIX) :]
        folder, _, filename = rest.partition("/")
        if not filename:
            raise BatchInputInvalid(
                f"name the model in the key: {INPUT_PREFIX}<model>/<job>.{fmt}, not {key[:200]!r}"
            )
        stem, _, extension = filename.rpartition(".")
        return cls(validate_name(model or folder), stem, extension or fmt)

    def results_prefix(self, run: str) -> str:
        return f"{RESULTS_PREFIX}{self.model}/{self.job}/{run}/"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri)
    if match is None:
        raise BatchInputInvalid(f"{uri[:200]!r} is not an s3://bucket/key address")
    return match["bucket"], match["key"]


def part_key(prefix: str, first_row: int, kind: str) -> str:
    return f"{prefix}{PARTS_FOLDER}{first_row:012d}.{kind}"


def keys_under(client: S3Client, bucket: str, prefix: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"]


def delete_keys(client: S3Client, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        chunk = keys[start : start + 1000]
        client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
        )


class StreamingUpload:
    """Writes one object from many chunks with bounded memory: a multipart upload once the
    data passes ``UPLOAD_PART_BYTES``, else a single PutObject."""

    def __init__(self, client: S3Client, bucket: str, key: str, content_type: str) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, object]] = []
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.bytes += len(data)
        if len(self._buffer) >= UPLOAD_PART_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self._content_type
            )["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})
        self._buffer.clear()

    def close(self) -> None:
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType=self._content_type,
            )
            return
        if self._buffer:
            self._flush()
        self._client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
        )

    def abort(self) -> None:
        if self._upload_id is not None:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
            )
