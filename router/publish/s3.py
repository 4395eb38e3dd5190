"""The inbox bucket: uploads, versions, rollbacks and the status tags the inbox writes.

The bucket is versioned, so its versions of ``models/<name>/<file>`` are the model's
published history. The inbox function tags each object version it handles:
``model-router-status`` is ``published`` (live now), ``replaced`` (was live), ``unpublished``
(was live until its object was deleted), ``rejected`` or ``pending`` (metadata waiting for a
model); ``model-router-reason`` says why a version was rejected or is pending.

boto3 is imported when a client is made, never at import, and tqdm only for an upload.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from botocore.exceptions import BotoCoreError, ClientError

from router.aws_config import bounded_config, credentials_hint, explain, refuses_credentials
from router.publish.errors import (
    BucketUnavailable,
    InboxRejected,
    NothingToRollBack,
    NoVerdict,
    ObjectOverwritten,
    ObjectTooLarge,
    PublishError,
    VersionNotFound,
)
from router.publish.events import MODELS_PREFIX, NotAnInboxKey, model_key, parse_inbox_key
from router.publish.validate import ValidatedModel, validate_model
from router.store import METADATA_FILE, validate_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from botocore.config import Config
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import TagTypeDef

Status = Literal["published", "replaced", "unpublished", "rejected", "pending"]
STATUS_TAG = "model-router-status"
REASON_TAG = "model-router-reason"
UPLOAD_ID_METADATA = "model-router-upload-id"
TAG_VALUE_LIMIT = 256
CHUNK_BYTES = 1024 * 1024
# The most a metadata.json may weigh. ROUTER_INBOX_MAX_BYTES is sized for models (a quarter
# of the function's memory) and a metadata file is held about four times while it is parsed
# and embedded, so it gets its own cap: 1 MiB holds names and an example row for ~30,000
# features, and a file larger than that is a mistake (a data file under the wrong name).
METADATA_MAX_BYTES = 1024 * 1024
# Characters S3 allows in a tag value besides letters, digits and spaces.
_TAG_UNSAFE = re.compile(r"[^\w +\-=.:/@]")
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}


@dataclass(frozen=True, slots=True)
class S3Object:
    key: str
    version_id: str | None
    last_modified: datetime
    data: bytes


@dataclass(frozen=True, slots=True)
class StagedObject:
    """An object version streamed into a file: what it was, not its bytes."""

    key: str
    version_id: str | None
    last_modified: datetime
    size: int


@dataclass(frozen=True, slots=True)
class BucketVersion:
    """One version (or delete marker) of a model file in the bucket, newest first."""

    key: str
    version_id: str
    last_modified: datetime
    size: int
    etag: str
    is_latest: bool
    deleted: bool  # a delete marker: the object was removed here
    status: str | None = None
    reason: str | None = None

    @property
    def file(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def live(self) -> bool:
        return self.status == "published"


# A verdict tag is two calls made while the model's lock is held: at most 2 x (2 s + 5 s)
# each, against the default bounds' 3 x (connect + read) per call.
TAGGING_CONNECT_TIMEOUT_S = 2.0
TAGGING_READ_TIMEOUT_S = 5.0
TAGGING_ATTEMPTS = 2


def tagging_client() -> S3Client:
    """An S3 client for verdict tags, bounded for calls made under a lock."""
    return s3_client(
        bounded_config(TAGGING_CONNECT_TIMEOUT_S, TAGGING_READ_TIMEOUT_S, TAGGING_ATTEMPTS)
    )


def s3_client(config: Config | None = None) -> S3Client:
    try:
        import boto3
    except ImportError as exc:  # the router's own install has no boto3
        raise PublishError(
            "publishing to a bucket needs boto3: pip install 'model-router[publish]'"
        ) from exc
    try:
        return boto3.client("s3", config=config or bounded_config())
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
        raise BucketUnavailable(f"cannot use the AWS configuration: {explain(exc)}") from exc


@contextlib.contextmanager
def bucket_errors(bucket: str, action: str) -> Iterator[None]:
    """Turn botocore's errors into ``BucketUnavailable`` carrying AWS's error code."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or "no message"
        hint = f": {credentials_hint()}" if refuses_credentials(code) else ""
        raise BucketUnavailable(
            f"cannot {action} s3://{bucket}: {code}: {message}{hint}", code=code
        ) from exc
    except BotoCoreError as exc:  # no credentials, no network, ...
        raise BucketUnavailable(f"cannot {action} s3://{bucket}: {explain(exc)}") from exc


def is_not_found(exc: ClientError) -> bool:
    """Whether S3 answered that the key or the version does not exist."""
    return error_code(exc) in _NOT_FOUND


def error_code(exc: ClientError) -> str:
    code = exc.response.get("Error", {}).get("Code") or "Unknown"
    # HEAD requests have no error body, only a status.
    return {"403": "AccessDenied", "404": "NotFound"}.get(code, code)


# -- objects -------------------------------------------------------------------------------


def download(s3: S3Client, bucket: str, key: str, version_id: str | None = None) -> S3Object | None:
    """One object version, in memory (small ones: metadata, a model to roll back to);
    ``None`` when the key or version no longer exists."""
    buffer = io.BytesIO()
    staged = download_to(s3, bucket, key, version_id, sink=buffer)
    if staged is None:
        return None
    return S3Object(staged.key, staged.version_id, staged.last_modified, buffer.getvalue())


def download_to(
    s3: S3Client,
    bucket: str,
    key: str,
    version_id: str | None = None,
    *,
    sink: BinaryIO,
    max_bytes: int | None = None,
    if_match: str | None = None,
) -> StagedObject | None:
    """Stream one object version into ``sink`` chunk by chunk, keeping none of it in memory;
    ``None`` when the key or version no longer exists. An object over ``max_bytes`` raises
    ``ObjectTooLarge`` before a byte is read; one whose ETag is not ``if_match`` (written
    over since) raises ``ObjectOverwritten``."""
    get = s3.get_object
    if if_match is not None:  # notifications give the ETag without its quotes
        get = functools.partial(s3.get_object, IfMatch='"' + if_match.strip('"') + '"')
    try:
        response = _if_there(get, bucket, key, version_id)
    except ClientError as exc:
        if error_code(exc) != "PreconditionFailed":
            raise
        raise ObjectOverwritten(
            f"s3://{bucket}/{key} was written over after this upload; its own event publishes it"
        ) from exc
    if response is None:
        return None
    size = response["ContentLength"]
    if max_bytes is not None and size > max_bytes:
        response["Body"].close()
        raise ObjectTooLarge(too_large_reason(size, max_bytes))
    received = 0
    for chunk in response["Body"].iter_chunks(CHUNK_BYTES):
        received += len(chunk)
        sink.write(chunk)
    if received != size:
        raise PublishError(f"s3://{bucket}/{key}: read {received} of {size} bytes")
    return StagedObject(key, response.get("VersionId"), response["LastModified"], size)


def _if_there(call: Callable[..., Any], bucket: str, key: str, version_id: str | None) -> Any:
    """``call`` (get_object, head_object) for the key, or one version of it; ``None`` when
    the key or the version no longer exists."""
    versioned = {} if version_id is None else {"VersionId": version_id}
    try:
        return call(Bucket=bucket, Key=key, **versioned)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def too_large_reason(size: int, max_bytes: int) -> str:
    return (
        f"the object is {size / 2**20:.1f} MiB; the inbox accepts at most "
        f"{max_bytes / 2**20:.1f} MiB (ROUTER_INBOX_MAX_BYTES)"
    )


def download_metadata(
    s3: S3Client,
    bucket: str,
    key: str,
    version_id: str | None = None,
    *,
    max_bytes: int = METADATA_MAX_BYTES,
) -> S3Object | None:
    """A metadata file, in memory; ``None`` when the key or version no longer exists. One
    over ``max_bytes`` raises ``ObjectTooLarge``: its size is asked first (HEAD), so a large
    one is never downloaded, and the read stops after ``max_bytes + 1`` bytes all the same,
    since an unversioned key can be written over between the HEAD and the GET."""
    head = _if_there(s3.head_object, bucket, key, version_id)
    if head is None:
        return None
    if head["ContentLength"] > max_bytes:
        raise ObjectTooLarge(metadata_too_large_reason(key, max_bytes, head["ContentLength"]))
    # Read the version the HEAD measured (versions never change), where the bucket has one.
    pinned = version_id or head.get("VersionId")
    response = _if_there(s3.get_object, bucket, key, None if pinned == "null" else pinned)
    if response is None:
        return None
    with contextlib.closing(response["Body"]):
        data = _read_at_most(response["Body"], max_bytes + 1)
    if len(data) > max_bytes:
        raise ObjectTooLarge(metadata_too_large_reason(key, max_bytes))
    if len(data) != response["ContentLength"]:
        size = response["ContentLength"]
        raise PublishError(f"s3://{bucket}/{key}: read {len(data)} of {size} bytes")
    return S3Object(key, response.get("VersionId"), response["LastModified"], data)


def _read_at_most(body: StreamingBody, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``body``: ``read(n)`` may return fewer than ``n`` before the
    end, so read until the limit or the end."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = body.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def metadata_too_large_reason(key: str, max_bytes: int, size: int | None = None) -> str:
    file = key.rsplit("/", 1)[-1]
    weight = f"is {size} bytes: more than" if size is not None else "is more than"
    return f"{file} {weight} the {max_bytes} bytes the inbox accepts for a metadata file"


def bucket_metadata(s3: S3Client, bucket: str, name: str) -> S3Object | None:
    """The current ``models/<name>/metadata.json``, if there is one; ``ObjectTooLarge`` if
    it is over ``METADATA_MAX_BYTES``.

    Listed before it is read: S3 answers a GET of a missing key with 404 only to callers
    allowed ``s3:ListBucket`` without a prefix condition (the inbox's role has it only for
    ``models/*``), and with 403 to everyone else.
    """
    key = model_key(name, METADATA_FILE)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    if not any(item["Key"] == key for item in listed.get("Contents", [])):
        return None
    return download_metadata(s3, bucket, key)


def newest_model_key(s3: S3Client, bucket: str, name: str) -> str | None:
    """The model file of ``name`` uploaded last (there is usually only ``model.ubj``)."""
    newest: tuple[datetime, str] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{MODELS_PREFIX}{name}/"
    ):
        for item in page.get("Contents", []):
            if not _is_model_file(item["Key"], name):
                continue
            candidate = (item["LastModified"], item["Key"])
            if newest is None or candidate > newest:
                newest = candidate
    return newest[1] if newest else None


def _is_model_file(key: str, name: str) -> bool:
    try:
        parsed = parse_inbox_key(key)
    except NotAnInboxKey:
        return False
    return parsed.name == name and not parsed.is_metadata


# -- status tags ---------------------------------------------------------------------------


def tag_safe(text: str) -> str:
    """``text`` as an S3 tag value: allowed characters only, at most 256 of them."""
    cleaned = " ".join(_TAG_UNSAFE.sub(" ", text).split())
    if len(cleaned) > TAG_VALUE_LIMIT:
        cleaned = cleaned[: TAG_VALUE_LIMIT - 3] + "..."
    return cleaned


def set_status(
    s3: S3Client,
    bucket: str,
    key: str,
    version_id: str | None,
    status: Status,
    reason: str | None = None,
) -> None:
    """Tag one object version with the inbox's verdict, keeping its other tags."""
    tags: list[TagTypeDef] = [
        tag
        for tag in _tags(s3, bucket, key, version_id)
        if tag["Key"] not in (STATUS_TAG, REASON_TAG)
    ]
    tags.append({"Key": STATUS_TAG, "Value": status})
    if reason:
        tags.append({"Key": REASON_TAG, "Value": tag_safe(reason)})
    if version_id is None:
        s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
    else:
        s3.put_object_tagging(
            Bucket=bucket, Key=key, VersionId=version_id, Tagging={"TagSet": tags}
        )


def read_status(
    s3: S3Client, bucket: str, key: str, version_id: str | None
) -> tuple[str | None, str | None]:
    """The inbox's status and reason tags of one object version (``None`` when untagged)."""
    tags = {tag["Key"]: tag["Value"] for tag in _tags(s3, bucket, key, version_id)}
    return tags.get(STATUS_TAG), tags.get(REASON_TAG)


def _tags(s3: S3Client, bucket: str, key: str, version_id: str | None) -> list[TagTypeDef]:
    if version_id is None:
        response = s3.get_object_tagging(Bucket=bucket, Key=key)
    else:
        response = s3.get_object_tagging(Bucket=bucket, Key=key, VersionId=version_id)
    return list(response["TagSet"])


def wait_for_verdict(
    s3: S3Client,
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    timeout_s: float,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait until the inbox tags the version; its status, or ``InboxRejected``/``NoVerdict``."""
    deadline = clock() + timeout_s
    while True:
        with bucket_errors(bucket, "read the tags of an upload in"):
            status, reason = read_status(s3, bucket, key, version_id)
        if status == "rejected":
            raise InboxRejected(f"the inbox rejected it: {reason or 'no reason given'}")
        if status is not None:
            return status
        if clock() >= deadline:
            raise NoVerdict(
                f"no verdict from the inbox after {timeout_s:g} s; is its function deployed "
                "and subscribed to the bucket? Check later with `model-router versions`"
            )
        sleep(poll_s)


# -- the CLI's side ------------------------------------------------------------------------


def upload(
    s3: S3Client,
    bucket: str,
    name: str,
    model: ValidatedModel,
    *,
    progress: bool | None = None,
) -> tuple[str, str | None]:
    """Upload a validated model as ``models/<name>/model.ubj``; returns (key, version id).

    ``progress`` shows a tqdm bar on stderr (``None``: when stderr is a terminal).
    """
    from tqdm import tqdm

    key = model_key(name)
    upload_id = secrets.token_hex(8)
    with (
        bucket_errors(bucket, "upload to"),
        tqdm(
            total=len(model.data),
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"uploading {name}",
            disable=None if progress is None else not progress,
        ) as bar,
    ):
        s3.upload_fileobj(
            io.BytesIO(model.data),
            bucket,
            key,
            ExtraArgs={"Metadata": {UPLOAD_ID_METADATA: upload_id, "sha256": model.sha256}},
            Callback=bar.update,
        )
        return key, _version_of_upload(s3, bucket, key, upload_id)


def _version_of_upload(s3: S3Client, bucket: str, key: str, upload_id: str) -> str | None:
    """The version id of our upload. Multipart uploads do not report it, and someone may
    have uploaded since, so the object's metadata identifies ours."""
    head = s3.head_object(Bucket=bucket, Key=key)
    if head.get("Metadata", {}).get(UPLOAD_ID_METADATA) == upload_id:
        return head.get("VersionId")
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=50)
    for version in listing.get("Versions", []):
        if version["Key"] != key:
            continue
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        if head.get("Metadata", {}).get(UPLOAD_ID_METADATA) == upload_id:
            return version["VersionId"]
    return None


def list_versions(
    s3: S3Client, bucket: str, name: str, *, limit: int | None = None
) -> list[BucketVersion]:
    """Every version and delete marker of ``name``'s model files, newest first, with the
    inbox's verdicts on the newest ``limit`` (one request each; all when ``None``)."""
    validate_name(name)
    found: list[BucketVersion] = []
    with bucket_errors(bucket, "list versions in"):
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=f"{MODELS_PREFIX}{name}/"
        ):
            for item in page.get("Versions", []):
                if _is_model_file(item["Key"], name):
                    found.append(
                        BucketVersion(
                            key=item["Key"],
                            version_id=item["VersionId"],
                            last_modified=item["LastModified"],
                            size=item["Size"],
                            etag=item["ETag"],
                            is_latest=item["IsLatest"],
                            deleted=False,
                        )
                    )
            for marker in page.get("DeleteMarkers", []):
                if _is_model_file(marker["Key"], name):
                    found.append(
                        BucketVersion(
                            key=marker["Key"],
                            version_id=marker["VersionId"],
                            last_modified=marker["LastModified"],
                            size=0,
                            etag="",
                            is_latest=marker["IsLatest"],
                            deleted=True,
                        )
                    )
        # Newest first; S3 lists each key's versions newest first, and a sort is stable.
        found.sort(key=lambda v: (v.last_modified, v.is_latest), reverse=True)
        shown = found if limit is None else found[:limit]
        found = [v if v.deleted else _with_status(s3, bucket, v) for v in shown] + found[
            len(shown) :
        ]
    return found


def _with_status(s3: S3Client, bucket: str, version: BucketVersion) -> BucketVersion:
    status, reason = read_status(s3, bucket, version.key, version.version_id)
    return replace(version, status=status, reason=reason)


def rollback_target(versions: list[BucketVersion], to: str | None) -> BucketVersion:
    """``to``, or else the newest version older than the live one, not rejected, with other
    content; with nothing live, the newest version that is not rejected."""
    candidates = [v for v in versions if not v.deleted]
    if to is not None:
        for version in candidates:
            if version.version_id == to:
                return version
        raise VersionNotFound(f"there is no version {to!r}; see `model-router versions`")
    live_index = next((i for i, v in enumerate(candidates) if v.live), None)
    if live_index is None:
        older, live_etag = candidates, None
    else:
        older, live_etag = candidates[live_index + 1 :], candidates[live_index].etag
    for version in older:
        if version.status not in ("rejected", "pending") and version.etag != live_etag:
            return version
    raise NothingToRollBack("no earlier version to roll back to")


@dataclass(frozen=True, slots=True)
class BucketRollback:
    target: BucketVersion
    key: str
    version_id: str | None
    validated: ValidatedModel


def rollback(
    s3: S3Client, bucket: str, name: str, to: str | None, *, nthread: int = 1
) -> BucketRollback:
    """Copy an earlier version to be the newest, after validating it as the inbox will.

    The copy is a new upload: the inbox publishes it through its usual checks. Its tags are
    not copied, so it starts without a verdict.
    """
    target = rollback_target(list_versions(s3, bucket, name), to)
    with bucket_errors(bucket, "read a version from"):
        obj = download(s3, bucket, target.key, target.version_id)
        metadata = bucket_metadata(s3, bucket, name)
    if obj is None:
        raise VersionNotFound(f"version {target.version_id!r} disappeared from the bucket")
    validated = validate_model(
        obj.data, metadata=metadata.data if metadata else None, prefer="embedded", nthread=nthread
    )
    with bucket_errors(bucket, "copy a version in"):
        copied = s3.copy_object(
            Bucket=bucket,
            Key=target.key,
            CopySource={"Bucket": bucket, "Key": target.key, "VersionId": target.version_id},
            TaggingDirective="REPLACE",
            Tagging="",
        )
    return BucketRollback(target, target.key, copied.get("VersionId"), validated)
