"""scripts/deploy.py against a fake ``terraform`` on PATH that records its arguments (and the
variable files python-terraform writes) and prints canned outputs, with AWS played by moto
(plus the two Lambda concurrency answers moto lacks, given to botocore as HTTP responses);
and the printed calls against a loopback server that checks their SigV4 signatures. No
network, no AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from moto import mock_aws

from scripts import build_package, deploy
from scripts.loopback import free_port
from tests.silent_aws import silent_aws_endpoint

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "eu-west-1"
REAL_AWS_SESSION = deploy.aws_session  # before the fixtures put moto's in its place
# As terraform/outputs.tf outputs it: without the $default stage's trailing slash.
API_URL = f"https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com"
OUTPUTS = {
    "api_url": {"sensitive": False, "type": "string", "value": API_URL},
    "router_function_name": {"sensitive": False, "type": "string", "value": "model-router-router"},
    "private_subnet_ids": {"sensitive": False, "type": ["list", "string"], "value": ["subnet-1"]},
}
# What the local backend leaves after an apply (version 4), reduced to what is read.
DEPLOYED_STATE = {
    "version": 4,
    "outputs": {"api_url": {"value": API_URL, "type": "string"}},
    "resources": [{"mode": "managed", "type": "aws_lambda_function", "name": "router"}],
}
FAKE_TERRAFORM = """\
#!{python}
import json, os, sys
from pathlib import Path

argv = sys.argv[1:]
var_files = {{}}
for arg in argv:
    if arg.startswith("-var-file="):
        path = arg.split("=", 1)[1]
        try:
            var_files[path] = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            var_files[path] = None
with open(os.environ["FAKE_TERRAFORM_LOG"], "a") as log:
    log.write(json.dumps({{"argv": argv, "cwd": os.getcwd(), "var_files": var_files}}) + "\\n")
if argv[:1] == ["version"]:
    print(json.dumps({{"terraform_version": os.environ.get("FAKE_TERRAFORM_VERSION", "1.11.4")}}))
if argv[:1] == ["output"]:
    print(Path(os.environ["FAKE_TERRAFORM_OUTPUTS"]).read_text())
sys.exit(int(os.environ.get("FAKE_TERRAFORM_EXIT_" + argv[0], "0")))
"""


class FakeTerraform:
    def __init__(self, log: Path, working_dir: Path) -> None:
        self.log = log
        self.working_dir = working_dir

    def run(self, command: str, *args: str) -> int:
        """``scripts/deploy.py <command> <args>`` in-process, on this fake's folder."""
        return deploy.main([command, f"--terraform-dir={self.working_dir}", *args])

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """The commands run, less the pre-flight's ``terraform version``."""
        return [call["argv"][0] for call in self.calls() if call["argv"][0] != "version"]

    def call(self, command: str) -> dict[str, Any]:
        (found,) = [call for call in self.calls() if call["argv"][0] == command]
        return found

    def variables(self, command: str) -> dict[str, Any]:
        """What the JSON var files of ``command`` set, later files winning."""
        merged: dict[str, Any] = {}
        for content in self.call(command)["var_files"].values():
            merged.update(content or {})
        return merged


class _Body:
    """The raw stream botocore reads a canned HTTP response from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@dataclass
class Account:
    """The AWS account the deploy talks to: moto, and the Lambda concurrency moto does not
    model (GetAccountSettings, and Service Quotas for Lambda) as Lambda's own JSON."""

    quota: float = 1000.0
    unreserved: int = 1000
    sts_error: str | None = None
    sts_answer: tuple[int, bytes] | None = None  # not AWS's (a captive portal, a proxy)
    calls: list[str] = field(default_factory=list)

    def session(self, region: str | None) -> boto3.Session:
        session = boto3.Session(region_name=region or REGION)
        session.events.register("before-send.lambda.GetAccountSettings", self._settings)
        session.events.register("before-send.service-quotas.GetServiceQuota", self._quota)
        session.events.register("before-send.sts.GetCallerIdentity", self._identity)
        session.events.register("before-call", self._record)
        return session

    def _identity(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.sts_answer is not None:
            status, body = self.sts_answer
            return AWSResponse(request.url, status, {}, _Body(body))
        if self.sts_error is None:
            return None  # moto answers
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>{self.sts_error}</Code>"
            "<Message>The security token included in the request is expired</Message>"
            "</Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, 403, {}, _Body(body.encode()))

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def _settings(self, request: Any, **_: Any) -> AWSResponse:
        limit = {
            "ConcurrentExecutions": int(self.quota),
            "UnreservedConcurrentExecutions": self.unreserved,
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
        }
        body = json.dumps({"AccountLimit": limit, "AccountUsage": {"FunctionCount": 0}})
        return AWSResponse(request.url, 200, {}, _Body(body.encode()))

    def _quota(self, request: Any, **_: Any) -> AWSResponse:
        quota = {
            "ServiceCode": "lambda",
            "QuotaCode": "L-B99A9384",
            "QuotaName": "Concurrent executions",
            "Value": self.quota,
            "Adjustable": True,
        }
        return AWSResponse(request.url, 200, {}, _Body(json.dumps({"Quota": quota}).encode()))


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    found = Account()
    with mock_aws():
        monkeypatch.setattr(deploy, "aws_session", found.session)
        yield found


@pytest.fixture
def fake_terraform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: Account
) -> FakeTerraform:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "terraform"
    script.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    script.chmod(0o755)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    working_dir = tmp_path / "terraform"
    working_dir.mkdir()
    # A checkout that has deployed: destroy and outputs look for the local state first.
    (working_dir / "terraform.tfstate").write_text(json.dumps(DEPLOYED_STATE))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TERRAFORM_LOG", str(tmp_path / "terraform-calls.jsonl"))
    monkeypatch.setenv("FAKE_TERRAFORM_OUTPUTS", str(outputs))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return FakeTerraform(tmp_path / "terraform-calls.jsonl", working_dir)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    zip_path = tmp_path / "dist" / "model-router-lambda-x86_64.zip"
    zip_path.parent.mkdir()
    zip_path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    return zip_path


def test_deploy_inits_applies_with_the_package_and_prints_outputs_and_calls(
    fake_terraform: FakeTerraform, package: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    var_file = tmp_path / "prod.tfvars"
    var_file.write_text("router_memory_mb = 4096\n")
    code = fake_terraform.run(
        "deploy",
        f"--package={package}",
        "--architecture=arm64",
        f"--region={REGION}",
        "--auto-approve",
        "--var=log_level=DEBUG",
        '--var=tags={"team": "ml"}',
        f"--var-file={var_file}",
    )
    out = capfd.readouterr().out
    assert code == 0
    assert fake_terraform.commands() == ["init", "apply", "output"]
    assert all(call["cwd"] == str(fake_terraform.working_dir) for call in fake_terraform.calls())
    assert fake_terraform.call("init")["argv"] == ["init", "-input=false"]
    apply = fake_terraform.call("apply")["argv"]
    assert apply[0] == "apply"
    assert "-auto-approve" in apply
    assert "-input=false" in apply
    # The user's var file first, then ours, so ours (like -var) wins.
    var_files = [arg.split("=", 1)[1] for arg in apply if arg.startswith("-var-file=")]
    assert var_files[0] == str(var_file)
    assert len(var_files) == 2
    variables = fake_terraform.variables("apply")
    assert variables["region"] == REGION
    assert variables["architecture"] == "arm64"
    assert (fake_terraform.working_dir / variables["package_path"]).resolve() == package
    assert variables["log_level"] == "DEBUG"
    assert variables["tags"] == {"team": "ml"}
    assert f"api_url              = {API_URL}" in out
    assert 'private_subnet_ids   = ["subnet-1"]' in out
    assert f'--aws-sigv4 "aws:amz:{REGION}:execute-api"' in out
    assert f"{API_URL}/models/iris/predict" in [line.strip() for line in out.splitlines()]
    assert 'SigV4Auth(credentials, "execute-api", "eu-west-1")' in out


def test_deploy_builds_the_package_for_the_chosen_architecture(
    fake_terraform: FakeTerraform,
    package: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    built: list[build_package.BuildOptions] = []

    class Result:
        output = package

    def fake_build(options: build_package.BuildOptions) -> Result:
        built.append(options)
        return Result()

    monkeypatch.setattr(build_package, "build", fake_build)
    code = fake_terraform.run(
        "deploy", "--architecture=arm64", f"--region={REGION}", "--auto-approve"
    )
    capfd.readouterr()
    assert code == 0
    assert [options.target for options in built] == [build_package.Target("arm64", "3.12")]
    assert fake_terraform.variables("apply")["architecture"] == "arm64"


def test_deploy_without_auto_approve_lets_terraform_ask(
    fake_terraform: FakeTerraform, package: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    assert fake_terraform.run("deploy", f"--package={package}", f"--region={REGION}") == 0
    capfd.readouterr()
    apply = fake_terraform.call("apply")["argv"]
    assert "-input=true" in apply
    assert not [arg for arg in apply if arg.startswith("-auto-approve")]


@pytest.mark.parametrize("auto_approve", [True, False])
def test_destroy_never_passes_the_removed_force_flag(
    fake_terraform: FakeTerraform, auto_approve: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    approve = ["--auto-approve"] if auto_approve else []
    assert fake_terraform.run("destroy", f"--region={REGION}", *approve) == 0
    capfd.readouterr()
    assert fake_terraform.commands() == ["output", "init", "destroy"]
    destroy = fake_terraform.call("destroy")["argv"]
    assert not [arg for arg in destroy if arg.lstrip("-").startswith("force")]
    assert ("-auto-approve" in destroy) is auto_approve
    assert fake_terraform.variables("destroy") == {"region": REGION}


def test_outputs_reads_terraform_output_json_only(
    fake_terraform: FakeTerraform, capfd: pytest.CaptureFixture[str]
) -> None:
    assert fake_terraform.run("outputs") == 0
    out = capfd.readouterr().out
    # The pre-flight asks which Terraform it is, then only `output -json` runs.
    assert [call["argv"] for call in fake_terraform.calls()] == [
        ["version", "-json"],
        ["output", "-json"],
    ]
    assert "No model is published yet" not in out  # the canned outputs name no bucket
    assert "router_function_name = model-router-router" in out
    assert f"{API_URL}/models/iris/predict" in [line.strip() for line in out.splitlines()]


def test_a_failed_apply_stops_with_its_exit_code_in_the_message(
    fake_terraform: FakeTerraform,
    package: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_TERRAFORM_EXIT_apply", "3")
    code = fake_terraform.run(
        "deploy", f"--package={package}", f"--region={REGION}", "--auto-approve"
    )
    assert code == 1
    assert "terraform apply failed (exit code 3)" in capfd.readouterr().err
    assert fake_terraform.commands() == ["init", "apply"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--var=package_path=x.zip"], "with --architecture and --package"),
        (["--var=architecture=arm64"], "with --architecture and --package"),
        (["--var=oops"], "name=value"),
        (["--var=tags={team: ml}"], "not valid JSON"),
        ([], "which Region"),
    ],
)
def test_deploy_refuses_bad_options_before_running_terraform(
    fake_terraform: FakeTerraform,
    package: Path,
    argv: list[str],
    message: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    region = [] if message == "which Region" else [f"--region={REGION}"]
    code = fake_terraform.run("deploy", f"--package={package}", *region, *argv)
    assert code == 1
    assert message in capfd.readouterr().err
    assert fake_terraform.calls() == []


# ---------------------------------------------------------------------------------------
# Pre-flight: one line each, before anything is built
# ---------------------------------------------------------------------------------------


@pytest.fixture
def no_build(monkeypatch: pytest.MonkeyPatch) -> list[build_package.BuildOptions]:
    """Records builds instead of running them; pre-flight failures must leave it empty."""
    built: list[build_package.BuildOptions] = []
    monkeypatch.setattr(build_package, "build", built.append)
    return built


def assert_one_line_error(err: str, message: str) -> None:
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line


def test_preflight_refuses_without_terraform(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert fake_terraform.run("deploy", f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "terraform is not on PATH")
    assert no_build == []


def test_preflight_refuses_terraform_older_than_1_9(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_TERRAFORM_VERSION", "1.5.7")
    assert fake_terraform.run("deploy", f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "Terraform 1.5.7 is too old")
    assert no_build == [] and fake_terraform.commands() == []


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_preflight_refuses_without_credentials(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    assert fake_terraform.run(command, f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "no usable AWS credentials")
    assert no_build == [] and fake_terraform.commands() == []


@pytest.mark.parametrize(
    "answer",
    [
        # What python -m http.server answers a POST, where AWS_ENDPOINT_URL points at it.
        (501, b"<!DOCTYPE HTML>\n<html><body><h1>Error response</h1></body></html>"),
        (200, b"Sign in to the hotel wifi"),  # a captive portal: not XML
        (200, b"<html><body>Sign in</body></html>"),  # well-formed, not AWS's
    ],
    ids=["error-page", "not-xml", "other-xml"],
)
def test_preflight_says_when_the_answer_is_not_from_aws(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    account: Account,
    answer: tuple[int, bytes],
    capfd: pytest.CaptureFixture[str],
) -> None:
    account.sts_answer = answer
    assert fake_terraform.run("deploy", f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "the answer was not from AWS")
    assert no_build == [] and fake_terraform.commands() == []


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_preflight_refuses_credentials_sts_rejects(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    command: str,
    account: Account,
    capfd: pytest.CaptureFixture[str],
) -> None:
    account.sts_error = "ExpiredToken"
    assert fake_terraform.run(command, f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "the AWS credentials do not work: ExpiredToken")
    assert no_build == [] and fake_terraform.commands() == []


def test_a_fresh_account_deploys_without_reserving_concurrency(
    fake_terraform: FakeTerraform,
    package: Path,
    account: Account,
    capfd: pytest.CaptureFixture[str],
) -> None:
    account.quota, account.unreserved = 10.0, 10
    code = fake_terraform.run("deploy", f"--package={package}", f"--region={REGION}")
    capfd.readouterr()
    assert code == 0
    # Nothing reserved, so nothing account-wide read: a deployer whose Lambda rights are
    # scoped to its functions passes.
    assert "GetCallerIdentity" in account.calls
    assert not {"GetAccountSettings", "GetServiceQuota"} & set(account.calls)
    assert fake_terraform.commands() == ["init", "apply", "output"]


@pytest.mark.parametrize(
    ("where", "setting"),
    [
        ("var", "inbox_reserved_concurrency=5"),
        ("tfvars", "inbox_reserved_concurrency = 5"),
        ("var", "router_provisioned_concurrency=2"),
        ("tfvars", "batch_reserved_concurrency = 12"),
    ],
)
def test_preflight_explains_a_reservation_the_quota_cannot_hold(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    account: Account,
    where: str,
    setting: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    account.quota, account.unreserved = 10.0, 10
    extra = [f"--var={setting}"] if where == "var" else []
    if where == "tfvars":
        (fake_terraform.working_dir / "terraform.tfvars").write_text(f"{setting}\n")
    assert fake_terraform.run("deploy", f"--region={REGION}", *extra) == 1
    err = capfd.readouterr().err
    assert_one_line_error(err, "Lambda would refuse")
    assert "concurrency quota is 10" in err and "L-B99A9384" in err
    assert "GetAccountSettings" in account.calls
    assert no_build == [] and fake_terraform.commands() == []


def test_a_reservation_within_the_quota_passes() -> None:
    concurrency = deploy.Concurrency(quota=1000, limit=1000, unreserved=950, ours=5)
    # 950 unreserved + our 5 given back - 100 kept = 855 reservable.
    deploy.check_concurrency(
        concurrency, {"router_reserved_concurrency": 850, "inbox_reserved_concurrency": 5}
    )
    with pytest.raises(deploy.DeployError, match="at most 855"):
        deploy.check_concurrency(concurrency, {"router_reserved_concurrency": 856})


# ---------------------------------------------------------------------------------------
# The printed call: a model that exists, the API's authorization
# ---------------------------------------------------------------------------------------


def write_outputs(tmp_path: Path, **values: str) -> None:
    outputs = dict(OUTPUTS)
    for name, value in values.items():
        outputs[name] = {"sensitive": False, "type": "string", "value": value}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))


def make_inbox(models: list[str], bucket: str = "model-router-inbox-20261201") -> str:
    """A versioned bucket holding a model.ubj for each of ``models``."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for name in models:
        s3.put_object(Bucket=bucket, Key=f"models/{name}/model.ubj", Body=b"{}")
    return bucket


def test_the_printed_call_names_a_published_model(
    fake_terraform: FakeTerraform, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_outputs(tmp_path, inbox_bucket=make_inbox(["churn"]))
    assert fake_terraform.run("outputs") == 0
    out = capfd.readouterr().out
    assert f"{API_URL}/models/churn/predict" in [line.strip() for line in out.splitlines()]
    assert "No model is published yet" not in out


def test_the_printed_call_says_to_publish_first_when_there_is_no_model(
    fake_terraform: FakeTerraform, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bucket = make_inbox([])
    write_outputs(tmp_path, inbox_bucket=bucket)
    assert fake_terraform.run("outputs") == 0
    out = capfd.readouterr().out
    assert "No model is published yet" in out
    assert f"model-router demo --bucket {bucket}" in out


@pytest.mark.parametrize(
    ("source", "expected", "absent"),
    [
        ("output", "authorization: Bearer $TOKEN", "--aws-sigv4"),
        ("tfvars", "-H 'content-type: application/json'", "--aws-sigv4"),
    ],
)
def test_the_printed_call_follows_the_authorization_terraform_applied(
    fake_terraform: FakeTerraform,
    tmp_path: Path,
    source: str,
    expected: str,
    absent: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if source == "output":
        write_outputs(tmp_path, api_authorization="JWT")
    else:  # an older state without the output: terraform.tfvars says NONE
        (fake_terraform.working_dir / "terraform.tfvars").write_text(
            'region            = "eu-west-1"\napi_authorization = "NONE"\n'
        )
    assert fake_terraform.run("outputs") == 0
    out = capfd.readouterr().out
    assert expected in out
    assert absent not in out


# ---------------------------------------------------------------------------------------
# destroy: the versioned inbox, and what outlives it
# ---------------------------------------------------------------------------------------


def fill_versions(bucket: str) -> int:
    """Two versions of one model, a delete marker over another: three entries."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=bucket, Key="models/churn/model.ubj", Body=b"v2")
    s3.delete_object(Bucket=bucket, Key="models/iris/model.ubj")
    listing = s3.list_object_versions(Bucket=bucket)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


def remaining_versions(bucket: str) -> int:
    listing = boto3.client("s3", region_name=REGION).list_object_versions(Bucket=bucket)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


@pytest.mark.parametrize("how", ["flag", "old-flag", "answer"])
def test_destroy_empties_the_versioned_buckets_first(
    fake_terraform: FakeTerraform,
    tmp_path: Path,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    bucket = make_inbox(["churn", "iris"])
    assert fill_versions(bucket) == 4
    batch_bucket = make_inbox(["batch"], bucket="model-router-batch-x")
    write_outputs(tmp_path, inbox_bucket=bucket, batch_bucket=batch_bucket)
    questions: list[str] = []

    def answer(question: str) -> str:
        questions.append(question)
        return "y"

    monkeypatch.setattr("builtins.input", answer)
    flags = {"flag": ["--empty-buckets"], "old-flag": ["--empty-inbox"], "answer": []}[how]
    option = [*flags, "--auto-approve"] if flags else []
    assert fake_terraform.run("destroy", f"--region={REGION}", *option) == 0
    out = capfd.readouterr().out
    assert remaining_versions(bucket) == 0
    assert remaining_versions(batch_bucket) == 0
    assert len(questions) == (2 if how == "answer" else 0)
    assert f"Emptied s3://{bucket}: 4 versions" in out
    assert f"Emptied s3://{batch_bucket}: 1 versions" in out
    assert fake_terraform.commands() == ["output", "init", "destroy"]


def test_destroy_stops_before_terraform_when_the_inbox_is_kept(
    fake_terraform: FakeTerraform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    bucket = make_inbox(["churn"])
    write_outputs(tmp_path, inbox_bucket=bucket)
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert fake_terraform.run("destroy", f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "pass --empty-buckets")
    assert remaining_versions(bucket) == 1
    assert fake_terraform.commands() == ["output"]


def test_destroy_says_what_takes_long_and_what_outlives_it(
    fake_terraform: FakeTerraform, capfd: pytest.CaptureFixture[str]
) -> None:
    assert fake_terraform.run("destroy", f"--region={REGION}", "--auto-approve") == 0
    out = capfd.readouterr().out
    for fact in ("20-45 minutes", "recovery points", "uid/gid", "role names are global"):
        assert fact in out


def test_the_region_comes_from_the_api_url_first() -> None:
    assert deploy.api_region(API_URL, "us-east-1") == REGION
    assert deploy.api_region("http://127.0.0.1:8080", "us-east-1") == "us-east-1"


@pytest.mark.parametrize(
    ("authorization", "expected", "absent"),
    [
        ("NONE", "curl -sS \\\n  -H 'content-type: application/json'", "--aws-sigv4"),
        ("JWT", "authorization: Bearer $TOKEN", "--aws-sigv4"),
    ],
)
def test_other_authorizations_print_matching_calls(
    authorization: str, expected: str, absent: str
) -> None:
    text = deploy.example_calls(API_URL, REGION, authorization=authorization)
    assert expected in text
    assert absent not in text
    assert "SigV4Auth" not in text


# ---------------------------------------------------------------------------------------
# The printed calls, run against a loopback server that checks the signature
# ---------------------------------------------------------------------------------------

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


class Received:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []


@pytest.fixture
def signing_server() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            received.requests.append(("POST", self.path, headers, body))
            reply = json.dumps({"predictions": [[0.1, 0.2, 0.7]]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _assert_signed(request: tuple[str, str, dict[str, str], bytes], token: str | None) -> None:
    """Recompute the SigV4 signature from what arrived, as API Gateway would."""
    method, path, headers, body = request
    authorization = headers["authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert f"/{REGION}/execute-api/aws4_request" in authorization
    fields = dict(part.strip().split("=", 1) for part in authorization[17:].split(","))
    signed = fields["SignedHeaders"].split(";")
    assert "host" in signed
    assert headers.get("x-amz-security-token") == token
    if token:
        assert "x-amz-security-token" in signed
    url = f"http://{headers['host']}{path}"
    request_to_check = AWSRequest(method, url, data=body, headers={h: headers[h] for h in signed})
    request_to_check.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "execute-api", REGION)
    canonical = auth.canonical_request(request_to_check)
    expected = auth.signature(auth.string_to_sign(request_to_check, canonical), request_to_check)
    assert fields["Signature"] == expected
    assert json.loads(body) == {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    assert path == "/models/iris/predict"


def _credentials_env(token: str | None) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "*",
    }
    if token:
        env["AWS_SESSION_TOKEN"] = token
    return env


@pytest.mark.parametrize("shell", ["bash", "sh"])
@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLETOKEN"])
def test_printed_curl_call_is_correctly_signed(
    signing_server: tuple[str, Received], token: str | None, shell: str
) -> None:
    url, received = signing_server
    text = deploy.example_calls(url, REGION)
    curl = "\n".join(line for line in text.split("\n\n")[0].splitlines() if line[:1] != "#")
    completed = subprocess.run(
        [shell, "-c", curl],
        env=_credentials_env(token),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"predictions": [[0.1, 0.2, 0.7]]}
    (request,) = received.requests
    _assert_signed(request, token)


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLETOKEN"])
def test_printed_python_call_is_correctly_signed(
    signing_server: tuple[str, Received], token: str | None
) -> None:
    url, received = signing_server
    text = deploy.example_calls(url, REGION)
    snippet = text.split("# The same from Python, signed by botocore:\n", 1)[1]
    completed = subprocess.run(
        [sys.executable, "-c", snippet],
        env=_credentials_env(token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "'predictions': [[0.1, 0.2, 0.7]]" in completed.stdout
    (request,) = received.requests
    _assert_signed(request, token)


def test_deploy_script_runs_as_a_command(fake_terraform: FakeTerraform) -> None:
    """`python scripts/deploy.py` (not only `-m`): the import of the scripts package works."""
    script = deploy.ROOT / "scripts" / "deploy.py"
    folder = f"--terraform-dir={fake_terraform.working_dir}"
    completed = subprocess.run(
        [sys.executable, str(script), "outputs", folder],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "api_url" in completed.stdout


# ---------------------------------------------------------------------------------------
# destroy and outputs: the same pre-flight, and a checkout that never deployed
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [None, {"version": 4, "outputs": {}, "resources": []}],
    ids=["never-deployed", "destroyed-already"],
)
@pytest.mark.parametrize("command", ["destroy", "outputs"])
def test_a_checkout_that_deployed_nothing_says_so_before_terraform_runs(
    fake_terraform: FakeTerraform,
    command: str,
    state: dict[str, Any] | None,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = fake_terraform.working_dir / "terraform.tfstate"
    if state is None:
        path.unlink()
    else:
        path.write_text(json.dumps(state))
    assert fake_terraform.run(command, f"--region={REGION}") == 1
    captured = capfd.readouterr()
    assert_one_line_error(captured.err, "nothing deployed from this checkout")
    assert fake_terraform.calls() == []
    assert deploy.DESTROY_NOTES.splitlines()[0] not in captured.out


def test_a_backend_recorded_by_init_counts_as_deployed(
    fake_terraform: FakeTerraform, capfd: pytest.CaptureFixture[str]
) -> None:
    (fake_terraform.working_dir / "terraform.tfstate").unlink()
    (fake_terraform.working_dir / ".terraform").mkdir()
    (fake_terraform.working_dir / ".terraform" / "terraform.tfstate").write_text(
        json.dumps({"version": 3, "backend": {"type": "s3", "config": {"bucket": "state"}}})
    )
    assert fake_terraform.run("destroy", f"--region={REGION}", "--auto-approve") == 0
    capfd.readouterr()
    assert fake_terraform.commands() == ["output", "init", "destroy"]


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_an_unknown_aws_profile_is_one_line(
    fake_terraform: FakeTerraform,
    no_build: list[build_package.BuildOptions],
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(deploy, "aws_session", REAL_AWS_SESSION)
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    assert fake_terraform.run(command, f"--region={REGION}") == 1
    assert_one_line_error(capfd.readouterr().err, "The config profile (nosuch) could not be found")
    assert no_build == [] and fake_terraform.commands() == []


def test_unreachable_aws_is_not_blamed_on_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fake keys and no way to reach STS (a closed loopback port): a network problem."""
    port = free_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with pytest.raises(deploy.DeployError, match=r"^cannot reach AWS \(") as refused:
        deploy.check_credentials(REAL_AWS_SESSION(REGION))
    assert "credentials" not in str(refused.value)


def test_outside_the_project_environment_it_names_the_command_to_use() -> None:
    """``python3 scripts/deploy.py`` with a Python that lacks the project's packages (-S: no
    site-packages, so neither python-terraform nor the installed project)."""
    script = deploy.ROOT / "scripts" / "deploy.py"
    completed = subprocess.run(
        [sys.executable, "-S", str(script), "destroy"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=deploy.ROOT,
    )
    assert completed.returncode == 1
    assert_one_line_error(completed.stderr, "python_terraform is not installed")
    assert "`.venv/bin/python scripts/deploy.py`" in completed.stderr
    assert "`make deploy`" in completed.stderr


@pytest.mark.parametrize("target", ["deploy", "destroy"])
@pytest.mark.parametrize("region", ["", "eu-west-1"])
def test_make_passes_region_only_when_it_is_set(target: str, region: str) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AWS_REGION", "MAKEFLAGS", "MFLAGS")
    }
    completed = subprocess.run(
        ["make", "-n", "--always-make", target, f"REGION={region}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=deploy.ROOT,
        env=environment,
    )
    (line,) = [line for line in completed.stdout.splitlines() if "scripts/deploy.py" in line]
    arguments = line.split()
    assert arguments[arguments.index("scripts/deploy.py") + 1] == target
    if region:
        assert arguments[arguments.index("--region") + 1] == region
    else:
        assert "--region" not in arguments


def test_preflight_gives_up_on_an_endpoint_that_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy or an AWS_ENDPOINT_URL that takes the connection and says nothing: with
    # botocore's defaults the pre-flight waited 3 x 60 s.
    monkeypatch.setattr(deploy, "PREFLIGHT_READ_TIMEOUT_S", 0.5)
    started = time.monotonic()
    with (
        silent_aws_endpoint(monkeypatch, tmp_path),
        pytest.raises(deploy.DeployError, match="cannot reach AWS"),
    ):
        deploy.check_credentials(deploy.aws_session(REGION))
    # Two attempts of half a second, and the back-off between them.
    assert time.monotonic() - started < 10
