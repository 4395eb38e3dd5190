"""Fixtures for publishing: a moto inbox bucket, a folder standing in for EFS, S3 events built
from the recorded ones, and the real inbox handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, unquote_plus

import boto3
import pytest
from moto import mock_aws

import router.publish.lambda_handler
from router.observability import JSON_LOGGERS
from scripts.lambda_inputs import LambdaContext
from tests.events import load_event
from tests.lambda_ import conftest as lambda_fixtures

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from mypy_boto3_s3 import S3Client

# The Lambda tests' fixtures, for the end-to-end test through the router's handler.
import_handler = lambda_fixtures.import_handler
context = lambda_fixtures.context

BUCKET = "model-router-inbox-test"
REGION = "eu-west-1"


@pytest.fixture(scope="session")
def boto3_session() -> boto3.Session:
    """One session for every test: a client from a fresh session parses the S3 service model
    again (~0.5 s), and moto resets boto3's default session whenever a mock starts."""
    return boto3.Session()


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, boto3_session: boto3.Session
) -> Iterator[None]:
    """moto for every AWS call; no real credentials or config can leak in."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    router.publish.lambda_handler.s3_client.cache_clear()
    router.publish.lambda_handler.tagging_client.cache_clear()
    with mock_aws():
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3_session)
        yield
    router.publish.lambda_handler.s3_client.cache_clear()
    router.publish.lambda_handler.tagging_client.cache_clear()


@pytest.fixture
def s3(aws: None) -> S3Client:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3: S3Client) -> str:
    """The inbox bucket, versioned as the Terraform makes it."""
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return BUCKET


@pytest.fixture
def efs(tmp_path: Path) -> Path:
    """A folder standing in for the EFS mount."""
    root = tmp_path / "efs"
    root.mkdir()
    return root


@dataclass
class Sequencers:
    """S3 sequencers in the order the events happened. Every other one has two more leading
    zeros: S3's sequencers differ in length, and only a zero-padded comparison orders them."""

    value: int = 0x67419C5D4E8F3A21
    issued: list[str] = field(default_factory=list)

    def next(self) -> str:
        self.value += 0x1000
        text = f"{self.value:X}"
        text = text.rjust(len(text) + len(self.issued) % 2 * 2, "0")
        self.issued.append(text)
        return text


@pytest.fixture
def sequencers() -> Sequencers:
    return Sequencers()


def s3_event(
    bucket: str,
    key: str,
    *,
    version_id: str | None,
    sequencer: str,
    event_name: str = "ObjectCreated:Put",
    size: int | None = None,
    etag: str | None = None,
) -> dict[str, Any]:
    """A notification from the recorded ones, for ``key`` (URL-encoded here, as S3 does)."""
    removed = event_name.startswith("ObjectRemoved:")
    event = load_event("s3_object_removed" if removed else "s3_object_created")
    record = event["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    obj["key"] = quote_plus(key, safe="/")
    obj["sequencer"] = sequencer
    if version_id is None:
        obj.pop("versionId", None)
    else:
        obj["versionId"] = version_id
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag.strip('"')  # as S3 writes it in a notification
    return event


@dataclass
class InboxRun:
    """Uploads objects to the moto bucket and hands the matching events to the real
    ``router.publish.lambda_handler.handler``, in the order a test chooses."""

    s3: S3Client
    bucket: str
    sequencers: Sequencers
    context: LambdaContext

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        """Upload ``body``; returns the event S3 would send (not yet delivered)."""
        version_id = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["VersionId"]
        return s3_event(
            self.bucket,
            key,
            version_id=version_id,
            sequencer=self.sequencers.next(),
            size=len(body),
        )

    def delete(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        if version_id is None:
            response = self.s3.delete_object(Bucket=self.bucket, Key=key)
            name = "ObjectRemoved:DeleteMarkerCreated"
        else:
            response = self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            name = "ObjectRemoved:Delete"
        return s3_event(
            self.bucket,
            key,
            version_id=response.get("VersionId"),
            sequencer=self.sequencers.next(),
            event_name=name,
        )

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        outcomes: dict[str, Any] = router.publish.lambda_handler.handler(event, self.context)
        return outcomes["outcomes"][0]  # type: ignore[no-any-return]

    def status(self, event: dict[str, Any]) -> tuple[str | None, str | None]:
        obj = event["Records"][0]["s3"]["object"]
        tags = self.s3.get_object_tagging(
            Bucket=self.bucket, Key=key_of(event), VersionId=obj["versionId"]
        )["TagSet"]
        values = {tag["Key"]: tag["Value"] for tag in tags}
        return values.get("model-router-status"), values.get("model-router-reason")


def key_of(event: dict[str, Any]) -> str:
    return unquote_plus(event["Records"][0]["s3"]["object"]["key"])


def version_of(event: dict[str, Any]) -> str:
    return str(event["Records"][0]["s3"]["object"]["versionId"])


@pytest.fixture
def inbox(
    s3: S3Client,
    bucket: str,
    efs: Path,
    sequencers: Sequencers,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[InboxRun]:
    """The real inbox handler, configured as its Terraform does, writing into ``efs``."""
    monkeypatch.setenv("ROUTER_MODEL_ROOT", str(efs))
    monkeypatch.setenv("ROUTER_HISTORY_LIMIT", "3")
    yield InboxRun(s3, bucket, sequencers, LambdaContext(function_name="model-router-inbox"))
    reset_router_logging()


def reset_router_logging() -> None:
    """Undo the handler's JSON logging setup (configure_logging stops the router's loggers
    propagating), so later tests' caplog sees records again."""
    router.publish.lambda_handler._json_logger.cache_clear()
    routers = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "router"]
    for name in [*routers, *JSON_LOGGERS]:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
