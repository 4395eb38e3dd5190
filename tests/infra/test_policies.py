"""The IAM documents in terraform/ against the calls the code really makes.

moto enforces no IAM, so each test runs real code (the inbox handler, the bucket commands
of ``model-router``) against moto with botocore event hooks recording every S3 call: its
operation, bucket, key, version and prefix, and the status moto answered. Each call is
turned into what S3 asks IAM for it (the action, the resource, the condition keys in the
request context, the KMS calls S3 makes on the caller's behalf, and the ``s3:ListBucket``
that S3 checks before it will answer 404 rather than 403 for a missing key), and
``tests.infra.policy`` decides each against the rendered documents.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

import router.publish.lambda_handler
from router.publish import s3 as bucket_commands
from router.publish.validate import validate_model
from tests.infra.hcl import role_statements
from tests.infra.policy import Condition, Request, Statement, decide, render
from tests.modelkit import model_bytes, train_booster
from tests.publish import conftest as publish_fixtures
from tests.publish.conftest import BUCKET, REGION, InboxRun

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mypy_boto3_s3 import S3Client

    from tests.infra.hcl import Module

ACCOUNT = "123456789012"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
INBOX_ROLE = f"arn:aws:iam::{ACCOUNT}:role/model-router-inbox"
ROUTER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/model-router-router"
EFS_ARN = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef0"
ACCESS_POINT = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:access-point/fsap-0123456789abcdef0"
REFERENCES = {
    "aws_s3_bucket.inbox.arn": BUCKET_ARN,
    "local.inbox_key_prefix": "models/",
    "aws_kms_key.this.arn": KEY_ARN,
    "local.region": REGION,
    "local.account_id": ACCOUNT,
    'aws_iam_role.function["inbox"].arn': INBOX_ROLE,
    'aws_iam_role.function["router"].arn': ROUTER_ROLE,
    "aws_efs_file_system.this.arn": EFS_ARN,
    "aws_efs_access_point.this.arn": ACCESS_POINT,
}
# The publishing tests' fixtures: moto, the versioned inbox bucket, the real inbox handler.
aws = publish_fixtures.aws
boto3_session = publish_fixtures.boto3_session
s3 = publish_fixtures.s3
bucket = publish_fixtures.bucket
efs = publish_fixtures.efs
sequencers = publish_fixtures.sequencers
inbox = publish_fixtures.inbox

S3_VIA = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}


@dataclass(frozen=True)
class Call:
    operation: str
    params: Mapping[str, Any]
    status: int


class Recorder:
    """Every call of one client (S3 or Step Functions), with the status moto answered."""

    def __init__(self, client: Any) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()  # s3transfer uploads from worker threads
        self.listen(client)

    def listen(self, client: Any) -> None:
        """Record this client's calls too (a function may use more than one client)."""
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-parameter-build.{service}.*", self._params)
        client.meta.events.register(f"after-call.{service}.*", self._answered)

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["recorded_params"] = dict(params)

    def _answered(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        call = Call(model.name, context.get("recorded_params", {}), http_response.status_code)
        with self._lock:
            self.calls.append(call)


def object_arn(params: Mapping[str, Any]) -> str:
    return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"


def requests_for(call: Call) -> list[Request]:
    """What S3 asks IAM to allow for one call (AWS's "Actions, resources and condition keys
    for Amazon S3"; with SSE-KMS, S3 calls KMS as the caller)."""
    p = call.params
    versioned = "VersionId" in p
    checks: list[Request] = []

    def obj(action: str, arn: str | None = None) -> None:
        checks.append(Request(action, arn or object_arn(p)))

    def kms(*actions: str) -> None:
        checks.extend(Request(action, KEY_ARN, S3_VIA) for action in actions)

    def listing(action: str) -> None:
        context = {"s3:prefix": p["Prefix"]} if "Prefix" in p else {}
        checks.append(Request(action, f"arn:aws:s3:::{p['Bucket']}", context))

    op = call.operation
    if op in ("GetObject", "HeadObject"):
        obj("s3:GetObjectVersion" if versioned else "s3:GetObject")
        if op == "GetObject" and call.status == 200:
            kms("kms:Decrypt")
        if call.status == 404:
            # S3 answers 404 for a missing key only to a caller allowed s3:ListBucket on the
            # bucket; the request has no s3:prefix, so a prefix condition cannot match.
            checks.append(Request("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}"))
    elif op == "GetObjectTagging":
        obj("s3:GetObjectVersionTagging" if versioned else "s3:GetObjectTagging")
    elif op == "PutObjectTagging":
        obj("s3:PutObjectVersionTagging" if versioned else "s3:PutObjectTagging")
    elif op == "ListObjectsV2":
        listing("s3:ListBucket")
    elif op == "ListObjectVersions":
        listing("s3:ListBucketVersions")
    elif op == "PutObject":
        obj("s3:PutObject")
        kms("kms:GenerateDataKey")
        if "Tagging" in p:
            obj("s3:PutObjectTagging")
    elif op in ("CreateMultipartUpload", "UploadPart"):
        obj("s3:PutObject")
        kms("kms:GenerateDataKey")
    elif op == "CompleteMultipartUpload":
        obj("s3:PutObject")
        kms("kms:Decrypt")  # S3 decrypts the parts' data keys to assemble them
    elif op == "AbortMultipartUpload":
        obj("s3:AbortMultipartUpload")
    elif op == "CopyObject":
        source = p["CopySource"]
        source_arn = f"arn:aws:s3:::{source['Bucket']}/{source['Key']}"
        obj("s3:GetObjectVersion" if "VersionId" in source else "s3:GetObject", source_arn)
        obj("s3:PutObject")
        if "Tagging" in p or p.get("TaggingDirective") == "REPLACE":
            obj("s3:PutObjectTagging")
        kms("kms:Decrypt", "kms:GenerateDataKey")
    elif op == "DeleteObject":
        obj("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject")
    # Step Functions: each action is checked on the resource its ARN parameter names
    # (AWS's "Actions, resources and condition keys for AWS Step Functions").
    elif op == "StartExecution":
        checks.append(Request("states:StartExecution", p["stateMachineArn"]))
    elif op in ("DescribeExecution", "ListMapRuns"):
        checks.append(Request(f"states:{op}", p["executionArn"]))
    elif op == "DescribeMapRun":
        checks.append(Request("states:DescribeMapRun", p["mapRunArn"]))
    else:
        raise AssertionError(f"the test does not know what {op} needs: teach requests_for")
    return checks


def refused(
    calls: list[Call], policies: Mapping[str, list[Statement]], principal: str
) -> list[str]:
    """Each check some document does not allow, as "<document>: <decision>: <check>"."""
    problems = []
    for call in calls:
        for check in requests_for(call):
            for name, statements in policies.items():
                is_resource_policy = any(s.principals is not None for s in statements)
                if is_resource_policy and not check.action.startswith("s3:"):
                    continue  # the endpoint and bucket policies see only S3's requests
                request = Request(
                    check.action,
                    check.resource,
                    {
                        **check.context,
                        "aws:SecureTransport": "true",
                        "aws:PrincipalArn": principal,
                        "aws:PrincipalAccount": ACCOUNT,
                    },
                    principal,
                )
                decision = decide(statements, request)
                # A same-account resource policy need not allow; it must not deny.
                if decision == "denied" or (not is_resource_policy and decision != "allowed"):
                    problems.append(f"{name}: {decision}: {call.operation}: {request}")
    return problems


def document(module: Module, name: str) -> list[Statement]:
    return render(module.data[f"aws_iam_policy_document.{name}"], REFERENCES)


def role(module: Module, function: str) -> list[Statement]:
    """What the execution role of ``function`` (a key of local.functions) is granted: the
    function's own statements and those every function shares (terraform/functions.tf)."""
    return render({"statement": role_statements(module, function)}, REFERENCES)


@pytest.fixture
def recorded_inbox(inbox: InboxRun) -> Iterator[tuple[InboxRun, Recorder]]:
    """The inbox run, recording the calls of the S3 clients its handler uses."""
    recorder = Recorder(router.publish.lambda_handler.s3_client())
    recorder.listen(router.publish.lambda_handler.tagging_client())  # the verdict tags
    yield inbox, recorder


def test_the_bucket_is_encrypted_with_the_key_the_policies_name(module: Module) -> None:
    # requests_for adds S3's KMS calls because the bucket is SSE-KMS with this key.
    encryption = module.resources["aws_s3_bucket_server_side_encryption_configuration.inbox"]
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert (default["sse_algorithm"], default["kms_master_key_id"]) == (
        "aws:kms",
        "${aws_kms_key.this.arn}",
    )


@pytest.mark.parametrize("with_metadata", [False, True], ids=["model-alone", "with-metadata"])
def test_the_inbox_role_and_endpoint_allow_every_call_of_a_publish(
    module: Module, recorded_inbox: tuple[InboxRun, Recorder], with_metadata: bool
) -> None:
    run, recorder = recorded_inbox
    model = model_bytes(train_booster("binary", n_features=3))
    if with_metadata:
        metadata = b'{"description": "churn in 30 days"}'
        assert run.deliver(run.put("models/churn/metadata.json", metadata))["status"] == "pending"
    outcome = run.deliver(run.put("models/churn/model.ubj", model))
    assert outcome["status"] == "published", outcome
    removed = run.deliver(run.delete("models/churn/model.ubj"))
    assert removed["status"] == "unpublished", removed
    operations = {call.operation for call in recorder.calls}
    assert {"GetObject", "PutObjectTagging"} <= operations

    policies = {
        "inbox role": role(module, "inbox"),
        "S3 endpoint": document(module, "s3_endpoint"),
        "bucket policy": document(module, "inbox_bucket"),
    }
    assert refused(recorder.calls, policies, INBOX_ROLE) == []


def test_the_uploader_policy_allows_publish_versions_and_rollback(
    module: Module, s3: S3Client, bucket: str
) -> None:
    recorder = Recorder(s3)
    inbox_s3 = boto3.client("s3", region_name=REGION)  # the inbox's verdicts, not recorded
    first = validate_model(model_bytes(train_booster("binary", n_features=3, seed=1)))
    second = validate_model(model_bytes(train_booster("binary", n_features=3, seed=2)))
    for model in (first, second):
        key, version = bucket_commands.upload(s3, bucket, "churn", model, progress=False)
        bucket_commands.set_status(inbox_s3, bucket, key, version, "published")
        assert bucket_commands.wait_for_verdict(s3, bucket, key, version, timeout_s=0) == (
            "published"
        )
    versions = bucket_commands.list_versions(s3, bucket, "churn")
    assert len(versions) == 2
    bucket_commands.rollback(s3, bucket, "churn", None)
    s3.delete_object(Bucket=bucket, Key="models/churn/model.ubj")  # unpublish, as documented
    operations = {call.operation for call in recorder.calls}
    assert {"PutObject", "HeadObject", "ListObjectVersions", "CopyObject"} <= operations

    policies = {
        "uploader_policy_json": document(module, "uploader"),
        "bucket policy": document(module, "inbox_bucket"),
    }
    assert refused(recorder.calls, policies, f"arn:aws:iam::{ACCOUNT}:user/data-scientist") == []


def test_the_uploader_policy_allows_a_multipart_upload(
    module: Module, s3: S3Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above 8 MiB boto3 uploads in parts, and with SSE-KMS completing them needs
    kms:Decrypt: a threshold of one byte makes the test model take that path."""
    from boto3.s3 import transfer

    monkeypatch.setattr(
        "boto3.s3.inject.TransferConfig",
        lambda: transfer.TransferConfig(multipart_threshold=1, use_threads=False),
    )
    recorder = Recorder(s3)
    model = validate_model(model_bytes(train_booster("binary", n_features=3)))
    bucket_commands.upload(s3, bucket, "churn", model, progress=False)
    operations = [call.operation for call in recorder.calls]
    assert "CompleteMultipartUpload" in operations

    policies = {"uploader_policy_json": document(module, "uploader")}
    assert refused(recorder.calls, policies, f"arn:aws:iam::{ACCOUNT}:user/ci") == []
    (kms,) = [s for s in policies["uploader_policy_json"] if s.sid == "UseInboxKey"]
    assert set(kms.actions) == {"kms:GenerateDataKey", "kms:Decrypt"}


def test_a_missing_key_is_a_403_under_a_prefix_condition() -> None:
    """The evaluator's rule the publish test relies on, shown on the document as it was:
    ListBucket conditioned on s3:prefix does not cover the 404 of a GetObject."""
    prefix = Condition("StringLike", "s3:prefix", ("models/*",))
    statements = [
        Statement("ListInbox", "Allow", ("s3:ListBucket",), (BUCKET_ARN,), None, (prefix,))
    ]
    missing = Call("GetObject", {"Bucket": BUCKET, "Key": "models/churn/metadata.json"}, 404)
    (_, list_check) = requests_for(missing)
    assert decide(statements, list_check) == "implicitly denied"
    listed = Call("ListObjectsV2", {"Bucket": BUCKET, "Prefix": "models/churn/"}, 200)
    assert decide(statements, requests_for(listed)[0]) == "allowed"


# ---------------------------------------------------------------------------------------
# EFS: only through our access point
# ---------------------------------------------------------------------------------------


def efs_request(action: str, principal: str, access_point: str | None) -> Request:
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": principal}
    if access_point is not None:
        context["elasticfilesystem:AccessPointArn"] = access_point
    return Request(action, EFS_ARN, context, principal)


@pytest.mark.parametrize(
    ("action", "principal", "access_point", "expected"),
    [
        ("elasticfilesystem:ClientMount", ROUTER_ROLE, ACCESS_POINT, "allowed"),
        ("elasticfilesystem:ClientMount", INBOX_ROLE, ACCESS_POINT, "allowed"),
        ("elasticfilesystem:ClientWrite", INBOX_ROLE, ACCESS_POINT, "allowed"),
        ("elasticfilesystem:ClientWrite", ROUTER_ROLE, ACCESS_POINT, "denied"),
        # Another principal of the account whose own policy grants ClientMount: the root
        # (no access point) and any other access point are refused.
        ("elasticfilesystem:ClientMount", f"arn:aws:iam::{ACCOUNT}:role/other", None, "denied"),
        ("elasticfilesystem:ClientMount", ROUTER_ROLE, None, "denied"),
        ("elasticfilesystem:ClientMount", ROUTER_ROLE, ACCESS_POINT + "1", "denied"),
        ("elasticfilesystem:ClientRootAccess", INBOX_ROLE, ACCESS_POINT, "denied"),
    ],
)
def test_the_file_system_is_reachable_only_through_our_access_point(
    module: Module, action: str, principal: str, access_point: str | None, expected: str
) -> None:
    decision = decide(document(module, "efs"), efs_request(action, principal, access_point))
    assert decision == expected


def test_each_role_allows_its_own_mount(module: Module) -> None:
    for name, role_arn, actions in (
        ("router", ROUTER_ROLE, ["elasticfilesystem:ClientMount"]),
        ("inbox", INBOX_ROLE, ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]),
    ):
        for action in actions:
            request = efs_request(action, role_arn, ACCESS_POINT)
            assert decide(role(module, name), request) == "allowed", (name, action)
        request = efs_request("elasticfilesystem:ClientMount", role_arn, None)
        assert decide(role(module, name), request) == "implicitly denied", name
