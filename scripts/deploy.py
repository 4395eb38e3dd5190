"""Deploy the router with Terraform (through python-terraform), print its outputs and a
ready-to-paste signed call.

Usage (from the project root, with the project's virtual environment and AWS credentials)::

    python scripts/deploy.py deploy --region eu-west-1 [--architecture arm64] [--auto-approve]
    python scripts/deploy.py outputs
    python scripts/deploy.py destroy --region eu-west-1 [--auto-approve]

``deploy`` first checks what would otherwise fail late (pre-flight): Terraform 1.9 or later on
PATH, a Region, valid AWS credentials (STS GetCallerIdentity), and room in the account's
Lambda concurrency quota for the reservations asked for. Each failure is one line. Then it
builds the package with scripts/build_package.py for ``--architecture`` (or takes
``--package``), runs ``terraform init`` and ``terraform apply`` in terraform/ with
``package_path`` and ``architecture`` set to match, and prints the outputs and a call to
a model that exists, matching the API's authorization. More variables: ``--var name=value``
(repeatable; a value starting with ``{`` or ``[`` is read as JSON) and ``--var-file
file.tfvars``; ``terraform.tfvars`` in terraform/ is read as Terraform reads it.

``destroy`` makes the same checks but the quota (and ``outputs`` the Terraform one), after
making sure this checkout has deployed something (a Terraform state); it offers to empty the
versioned inbox bucket first (every version and delete marker; Terraform cannot delete a
bucket that holds any) and says what outlives it.

python-terraform's own ``destroy()`` passes ``-force``, which Terraform 0.15 removed, so every
command here is spelled out with ``Terraform.cmd``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    from python_terraform import IsFlagged, IsNotFlagged, Terraform

    from scripts import build_package
except ModuleNotFoundError as missing:  # run by a Python without the project installed
    if __name__ != "__main__":
        raise
    sys.exit(
        f"error: {missing.name} is not installed for {sys.executable}: run "
        "`.venv/bin/python scripts/deploy.py` (after `make install`) or `make deploy`"
    )

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import boto3

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM_DIR = ROOT / "terraform"
# The model `make run` trains and tests/events/apigw_http_v2.json predicts with.
EXAMPLE_MODEL = "iris"
EXAMPLE_ROW = (5.1, 3.5, 1.4, 0.2)
# Set by this script from its own options, so --var may not set them.
OWNED_VARIABLES = ("package_path", "architecture")
# terraform/versions.tf: required_version = ">= 1.9".
MINIMUM_TERRAFORM = (1, 9)
# Lambda refuses a reservation (reserved or provisioned concurrency taken from the
# unreserved pool) that leaves fewer than this many executions unreserved.
MIN_UNRESERVED = 100
CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas: Lambda "Concurrent executions"
DEFAULT_NAME = "model-router"  # var.name's default


class DeployError(Exception):
    """A step failed; the message says which."""


@contextlib.contextmanager
def _python_terraform_quirks() -> Iterator[None]:
    """python-terraform logs a failed command with ``Logger.warn``, which warns that ``warn``
    is deprecated; the failure itself is reported by this script."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="The 'warn' method is deprecated",
            category=DeprecationWarning,
            module="python_terraform",
        )
        yield


def terraform(directory: Path) -> Terraform:
    return Terraform(working_dir=str(directory))


def run(tf: Terraform, command: str, **options: Any) -> None:
    """``terraform <command> <options>``, its output streamed to ours."""
    with _python_terraform_quirks():
        code, _, _ = tf.cmd(command, capture_output=False, **options)
    if code != 0:
        raise DeployError(f"terraform {command} failed (exit code {code})")


def has_state(directory: Path) -> bool:
    """Whether anything may be deployed from ``directory``: a local state with resources, or a
    backend ``terraform init`` recorded (a remote state, which Terraform itself reads)."""
    if (directory / ".terraform" / "terraform.tfstate").is_file():
        return True  # a backend is configured: only Terraform can tell
    for path in [directory / "terraform.tfstate", *directory.glob("terraform.tfstate.d/*/*")]:
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return True  # unreadable here: let Terraform say what it is
        if state.get("resources") or state.get("outputs"):
            return True
    return False


def require_state(directory: Path) -> None:
    if not has_state(directory):
        raise DeployError(
            f"nothing deployed from this checkout: no Terraform state in {directory} "
            "(deploy with `make deploy REGION=...`)"
        )


def read_outputs(tf: Terraform) -> dict[str, Any]:
    """``terraform output -json``: name -> {"value", "type", "sensitive"}."""
    with _python_terraform_quirks():
        outputs: dict[str, Any] | None = tf.output()
    if not outputs:
        raise DeployError("Terraform has no outputs here: has `deploy` run in this folder?")
    return outputs


def apply_options(
    variables: dict[str, Any], var_files: Sequence[Path], *, auto_approve: bool
) -> dict[str, Any]:
    """Options for ``apply`` and ``destroy``. Variables go last (python-terraform writes them
    to a temporary JSON var file), so they win over ``--var-file`` as ``-var`` would."""
    return {
        "var_file": [str(path.resolve()) for path in var_files],
        "var": variables,
        # Without -auto-approve, Terraform asks for "yes" on this terminal.
        "auto_approve": IsFlagged if auto_approve else IsNotFlagged,
        "input": not auto_approve,
    }


# ---------------------------------------------------------------------------------------
# Pre-flight: what would otherwise fail after minutes of building, or halfway into apply
# ---------------------------------------------------------------------------------------


def aws_session(region: str | None) -> boto3.Session:
    """The session every AWS call of this script uses (tests replace it)."""
    try:
        import boto3
    except ImportError as exc:
        raise DeployError("deploying needs boto3: pip install 'model-router[publish]'") from exc
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session(region_name=region)
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
        raise DeployError(f"cannot use the AWS configuration: {exc}") from exc


def check_terraform(directory: Path) -> str:
    """The version of the ``terraform`` on PATH, if it is recent enough."""
    binary = shutil.which("terraform")
    if binary is None:
        raise DeployError("terraform is not on PATH: install Terraform 1.9 or later")
    try:
        completed = subprocess.run(
            [binary, "version", "-json"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        version = str(json.loads(completed.stdout)["terraform_version"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        raise DeployError(f"cannot tell which Terraform {binary} is ({exc})") from exc
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if numbers < MINIMUM_TERRAFORM:
        raise DeployError(f"Terraform {version} is too old: this module needs 1.9 or later")
    return version


# The script's own calls (pre-flight, listing and emptying buckets) are small; botocore's
# defaults (60 s to connect, 60 s a read, and retries) would let an endpoint that never
# answers hold `make deploy` for minutes.
PREFLIGHT_CONNECT_TIMEOUT_S = 5.0
PREFLIGHT_READ_TIMEOUT_S = 15.0
PREFLIGHT_ATTEMPTS = 2


def preflight_client(session: boto3.Session, service: str) -> Any:
    """A client for the script's own small calls: short timeouts, one retry."""
    from botocore.config import Config

    config = Config(
        connect_timeout=PREFLIGHT_CONNECT_TIMEOUT_S,
        read_timeout=PREFLIGHT_READ_TIMEOUT_S,
        retries={"total_max_attempts": PREFLIGHT_ATTEMPTS, "mode": "standard"},
    )
    return session.client(service, config=config)  # type: ignore[call-overload]


_NOT_AWS = (
    "cannot reach AWS: the answer was not from AWS (a proxy, a captive portal, or "
    "AWS_ENDPOINT_URL pointing elsewhere)"
)


def check_credentials(session: boto3.Session) -> str:
    """The ARN of the caller, if the credentials work (STS GetCallerIdentity)."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as AwsConnectionError
    from botocore.parsers import ResponseParserError

    try:
        identity = preflight_client(session, "sts").get_caller_identity()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if not error.get("Code"):  # an error page that is no AWS error document
            raise DeployError(_NOT_AWS) from exc
        raise DeployError(
            f"the AWS credentials do not work: {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except (AwsConnectionError, HTTPClientError) as exc:  # the credentials were never tried
        raise DeployError(
            f"cannot reach AWS ({exc}): check the network, a proxy (HTTPS_PROXY) or "
            "AWS_ENDPOINT_URL"
        ) from exc
    except (ResponseParserError, KeyError) as exc:
        # A page that is not AWS's: botocore fails to parse it (not a BotoCoreError), or
        # parses well-formed XML and finds none of the answer in it.
        raise DeployError(_NOT_AWS) from exc
    except BotoCoreError as exc:  # no credentials, an unknown profile
        raise DeployError(
            f"no usable AWS credentials ({exc}): run `aws configure` or `aws sso login`, "
            "or set AWS_PROFILE"
        ) from exc
    return str(identity["Arn"])


@dataclass(frozen=True, slots=True)
class Concurrency:
    """The account's Lambda concurrency, as Lambda counts it for a new reservation."""

    quota: int | None  # Service Quotas L-B99A9384 (None: not readable)
    limit: int  # GetAccountSettings: AccountLimit.ConcurrentExecutions
    unreserved: int  # AccountLimit.UnreservedConcurrentExecutions
    ours: int  # reserved now by this deployment's functions (given back on apply)


def read_concurrency(session: boto3.Session, function_names: Sequence[str]) -> Concurrency:
    from botocore.exceptions import BotoCoreError, ClientError

    lambda_client = preflight_client(session, "lambda")
    try:
        limits = lambda_client.get_account_settings()["AccountLimit"]
        ours = 0
        for name in function_names:
            try:
                reserved = lambda_client.get_function_concurrency(FunctionName=name)
            except lambda_client.exceptions.ResourceNotFoundException:
                continue
            ours += int(reserved.get("ReservedConcurrentExecutions") or 0)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"cannot read the account's Lambda concurrency: {exc}") from exc
    quota: int | None = None
    try:
        response = preflight_client(session, "service-quotas").get_service_quota(
            ServiceCode="lambda", QuotaCode=CONCURRENCY_QUOTA
        )
        quota = int(response["Quota"]["Value"])
    except (ClientError, BotoCoreError):
        pass  # no servicequotas:GetServiceQuota: Lambda's own account limit says the same
    return Concurrency(
        quota=quota,
        limit=int(limits["ConcurrentExecutions"]),
        unreserved=int(limits["UnreservedConcurrentExecutions"]),
        ours=ours,
    )


def requested_concurrency(variables: dict[str, Any]) -> dict[str, int]:
    """What the variables take out of the unreserved pool, by variable."""

    def number(name: str, default: int) -> int:
        try:
            return int(variables.get(name, default))
        except (TypeError, ValueError) as exc:
            raise DeployError(f"{name} must be a whole number, not {variables[name]!r}") from exc

    taken = {}
    for name in (
        "router_reserved_concurrency",
        "inbox_reserved_concurrency",
        "batch_reserved_concurrency",
    ):
        if (value := number(name, -1)) > 0:
            taken[name] = value
    # Provisioned concurrency of an unreserved function comes out of the same pool.
    provisioned = number("router_provisioned_concurrency", 0)
    if "router_reserved_concurrency" not in taken and provisioned > 0:
        taken["router_provisioned_concurrency"] = provisioned
    return taken


def check_concurrency(concurrency: Concurrency, variables: dict[str, Any]) -> None:
    taken = requested_concurrency(variables)
    if not taken:
        return
    available = concurrency.unreserved + concurrency.ours - MIN_UNRESERVED
    wanted = sum(taken.values())
    if wanted <= available:
        return
    quota = concurrency.quota if concurrency.quota is not None else concurrency.limit
    asked = ", ".join(f"{name} = {value}" for name, value in taken.items())
    raise DeployError(
        f"Lambda would refuse {asked}: the account's concurrency quota is {quota} "
        f"({concurrency.unreserved} unreserved) and Lambda keeps {MIN_UNRESERVED} unreserved, "
        f"so at most {max(available, 0)} can be reserved. Leave them unset (-1 / 0), or ask "
        f"for more with `aws service-quotas request-service-quota-increase --service-code "
        f"lambda --quota-code {CONCURRENCY_QUOTA} --desired-value 1000`"
    )


def preflight_session(args: argparse.Namespace, variables: dict[str, Any]) -> boto3.Session:
    """What ``deploy`` and ``destroy`` both need: Terraform, and credentials that work."""
    check_terraform(args.terraform_dir)
    region = variables.get("region")
    session = aws_session(str(region) if region else None)
    check_credentials(session)
    return session


def preflight(args: argparse.Namespace, variables: dict[str, Any]) -> None:
    """Everything ``deploy`` can check before it builds or applies anything."""
    session = preflight_session(args, variables)
    if not requested_concurrency(variables):
        # Nothing reserved: nothing to check, and no account-wide Lambda read (a deployer
        # whose Lambda rights are scoped to its functions has no GetAccountSettings).
        return
    name = str(variables.get("name", DEFAULT_NAME))
    functions = [f"{name}-{role}" for role in ("router", "inbox", "batch")]
    concurrency = read_concurrency(session, functions)
    check_concurrency(concurrency, variables)


def tfvars_variables(args: argparse.Namespace) -> dict[str, Any]:
    """The variables Terraform reads from files: terraform.tfvars(.json), *.auto.tfvars(.json)
    (in name order) and each --var-file, later ones winning, as Terraform orders them."""
    try:
        import hcl2
    except ImportError as exc:
        raise DeployError(
            "reading .tfvars needs python-hcl2: pip install 'model-router[deploy]'"
        ) from exc

    folder: Path = args.terraform_dir
    automatic = sorted([*folder.glob("*.auto.tfvars"), *folder.glob("*.auto.tfvars.json")])
    files = [
        folder / "terraform.tfvars",
        folder / "terraform.tfvars.json",
        *automatic,
        *args.var_file,
    ]
    variables: dict[str, Any] = {}
    for path in files:
        if not path.is_file():
            continue
        if path.suffix == ".json":
            variables.update(json.loads(path.read_text()))
            continue
        try:
            with path.open(encoding="utf-8") as handle:
                variables.update(hcl2.load(handle))
        except Exception as exc:  # python-hcl2 raises lark's errors, of several classes
            raise DeployError(f"cannot read {path}: {exc}") from exc
    return {
        name: value.strip('"') if isinstance(value, str) else value
        for name, value in variables.items()
    }


# ---------------------------------------------------------------------------------------
# The example call
# ---------------------------------------------------------------------------------------


def api_region(api_url: str, fallback: str | None) -> str:
    """The Region in ``https://<id>.execute-api.<region>.amazonaws.com/``."""
    match = re.search(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com", api_url)
    if match:
        return match[1]
    if fallback:
        return fallback
    raise DeployError(f"cannot tell the Region of {api_url}; pass --region")


def example_calls(
    api_url: str,
    region: str,
    *,
    authorization: str = "AWS_IAM",
    model: str = EXAMPLE_MODEL,
    row: Sequence[float] = EXAMPLE_ROW,
) -> str:
    """A ``curl`` command and a Python snippet that predict with ``model``."""
    url = f"{api_url.rstrip('/')}/models/{model}/predict"
    body = json.dumps({"instances": [list(row)]})
    if authorization == "NONE":
        auth_lines = []
    elif authorization == "JWT":
        auth_lines = ['-H "authorization: Bearer $TOKEN"']
    else:
        auth_lines = [
            f'--aws-sigv4 "aws:amz:{region}:execute-api"',
            '--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"',
            # Temporary credentials need their token sent (and signed); an empty header would
            # still be signed by curl but not sent. Two expansions, so zsh splits them too.
            "${AWS_SESSION_TOKEN:+-H} "
            '${AWS_SESSION_TOKEN:+"x-amz-security-token: $AWS_SESSION_TOKEN"}',
        ]
    content = "-H 'content-type: application/json'"
    arguments = ["curl -sS", *auth_lines, content, f"-d {shlex.quote(body)}", shlex.quote(url)]
    curl = " \\\n  ".join(arguments)
    lines = [f"# Predict with {model!r}:"]
    if authorization == "AWS_IAM":
        lines += [
            "# (curl 7.75 or later; it signs with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and",
            "# AWS_SESSION_TOKEN if set. Credentials in a profile? Export them first:",
            '# eval "$(aws configure export-credentials --format env)")',
        ]
    lines += [curl, ""]
    if authorization == "AWS_IAM":
        lines += ["# The same from Python, signed by botocore:", python_call(url, body, region)]
    return "\n".join(lines)


def python_call(url: str, body: str, region: str) -> str:
    return f"""\
import json
import urllib.request

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

url = {json.dumps(url)}
body = {body!r}
request = AWSRequest("POST", url, data=body, headers={{"content-type": "application/json"}})
credentials = botocore.session.get_session().get_credentials()
SigV4Auth(credentials, "execute-api", {json.dumps(region)}).add_auth(request)
signed = urllib.request.Request(url, body.encode(), dict(request.headers), method="POST")
with urllib.request.urlopen(signed) as response:
    print(json.load(response))
"""


def print_outputs(outputs: dict[str, Any]) -> None:
    print("Outputs:")
    width = max(len(name) for name in outputs)
    for name, output in sorted(outputs.items()):
        value = output.get("value")
        shown = "(sensitive)" if output.get("sensitive") else value
        if not isinstance(shown, str):
            shown = json.dumps(shown)
        print(f"  {name:<{width}} = {shown}")


def published_models(session: boto3.Session, bucket: str) -> list[str]:
    """The model names under models/ of the inbox bucket."""
    s3 = preflight_client(session, "s3")
    names: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="models/", Delimiter="/"):
        for prefix in page.get("CommonPrefixes", []):
            names.append(prefix["Prefix"].removeprefix("models/").rstrip("/"))
    return names


def example_model(outputs: dict[str, Any], args: argparse.Namespace) -> tuple[str, str | None]:
    """The model to name in the call, and a note when none is known to exist."""
    bucket = outputs.get("inbox_bucket", {}).get("value")
    if args.model is not None or not bucket:
        return args.model or EXAMPLE_MODEL, None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        names = published_models(aws_session(region_of(args)), str(bucket))
    except (ClientError, BotoCoreError, DeployError) as exc:
        return EXAMPLE_MODEL, f"# (could not list the models in s3://{bucket}: {exc})"
    if EXAMPLE_MODEL in names:
        return EXAMPLE_MODEL, None
    if names:
        return names[0], None
    return EXAMPLE_MODEL, (
        f"# No model is published yet: publish the demo models first with\n"
        f"#   model-router demo --bucket {bucket}\n"
        f"# or one of yours with `model-router publish FILE --name NAME --bucket {bucket}`."
    )


def print_example(outputs: dict[str, Any], args: argparse.Namespace) -> None:
    api_url = outputs.get("api_url", {}).get("value")
    if not api_url:
        print("No api_url output: nothing to call.")
        return
    # Terraform's own value first: it has read terraform.tfvars, --var-file and --var.
    authorization = outputs.get("api_authorization", {}).get("value") or {
        **tfvars_variables(args),
        **parse_variables(args.var),
    }.get("api_authorization", "AWS_IAM")
    model, note = example_model(outputs, args)
    print()
    if note:
        print(note)
    print(
        example_calls(
            api_url,
            api_region(api_url, region_of(args)),
            authorization=str(authorization),
            model=model,
        )
    )


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


def parse_variables(pairs: Sequence[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
            raise DeployError(f"--var takes name=value, not {pair!r}")
        try:
            variables[name] = json.loads(value) if value[:1] in ("{", "[") else value
        except ValueError as exc:
            raise DeployError(f"--var {name}: {value!r} is not valid JSON ({exc})") from exc
    return variables


def region_of(args: argparse.Namespace) -> str | None:
    region: str | None = (
        args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    return region


def terraform_variables(args: argparse.Namespace) -> dict[str, Any]:
    variables = parse_variables(args.var)
    owned = sorted(set(OWNED_VARIABLES) & set(variables))
    if owned:
        raise DeployError(f"set {', '.join(owned)} with --architecture and --package, not --var")
    region = region_of(args)
    if region and "region" not in variables:
        variables["region"] = region
    if "region" not in variables and "region" not in tfvars_variables(args):
        # make runs this script: its users set REGION, which the Makefile passes as --region.
        raise DeployError(
            f"which Region? pass --region (make {args.command} REGION=...) or set AWS_REGION"
        )
    return variables


def cmd_deploy(args: argparse.Namespace) -> None:
    variables = terraform_variables(args)
    preflight(args, {**tfvars_variables(args), **variables})
    package = args.package
    if package is None:
        options = build_package.BuildOptions(target=build_package.Target(args.architecture))
        package = build_package.build(options).output
    if not package.is_file():
        raise DeployError(f"no package at {package}")
    variables["architecture"] = args.architecture
    variables["package_path"] = os.path.relpath(package.resolve(), args.terraform_dir.resolve())
    tf = terraform(args.terraform_dir)
    run(tf, "init", input=False)
    run(tf, "apply", **apply_options(variables, args.var_file, auto_approve=args.auto_approve))
    outputs = read_outputs(tf)
    print_outputs(outputs)
    print_example(outputs, args)


def cmd_outputs(args: argparse.Namespace) -> None:
    require_state(args.terraform_dir)
    check_terraform(args.terraform_dir)
    outputs = read_outputs(terraform(args.terraform_dir))
    print_outputs(outputs)
    print_example(outputs, args)


DESTROY_NOTES = """\
Before destroying, know that:
- Lambda releases the functions' network interfaces on its own schedule: deleting the
  subnets and security groups waits for them, often 20-45 minutes. Let it run.
- EFS backups (AWS Backup recovery points in aws/efs/automatic-backup-vault) outlive the
  file system and are billed until they expire or you delete them in AWS Backup.
- A later deploy starts a new file system; the access point's POSIX uid/gid
  (efs_posix_uid/efs_posix_gid) cannot change in place after the first apply.
- IAM role names are global to the account: a second Region needs another `name`.
"""


def confirm(question: str) -> bool:
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def inbox_versions(session: boto3.Session, bucket: str) -> list[dict[str, str]]:
    """Every object version and delete marker in the bucket (``Key``, ``VersionId``)."""
    s3 = preflight_client(session, "s3")
    found: list[dict[str, str]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
    return found


def empty_bucket(session: boto3.Session, bucket: str, versions: list[dict[str, str]]) -> None:
    """Delete ``versions`` for good, 1000 a request (DeleteObjects' limit)."""
    s3 = preflight_client(session, "s3")
    for start in range(0, len(versions), 1000):
        batch: Any = versions[start : start + 1000]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if errors := response.get("Errors"):
            first = errors[0]
            raise DeployError(
                f"could not delete {len(errors)} versions from s3://{bucket}, e.g. "
                f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}"
            )


# The versioned buckets a deployment makes: the output naming each, and the variable that
# lets Terraform delete it with what it holds.
VERSIONED_BUCKETS = (
    ("inbox_bucket", "inbox_force_destroy"),
    ("batch_bucket", "batch_force_destroy"),
)


def prepare_buckets_for_destroy(
    args: argparse.Namespace, outputs: dict[str, Any], variables: dict[str, Any]
) -> None:
    """Terraform cannot delete a bucket holding any version or delete marker (unless its
    force_destroy variable is set): offer to empty each first, before the long destroy."""
    for output, force_destroy in VERSIONED_BUCKETS:
        bucket = outputs.get(output, {}).get("value")
        if bucket and str(variables.get(force_destroy, "false")).lower() != "true":
            _empty_for_destroy(args, str(bucket), force_destroy, variables)


def _empty_for_destroy(
    args: argparse.Namespace, bucket: str, force_destroy: str, variables: dict[str, Any]
) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    session = aws_session(region_of(args) or variables.get("region"))
    try:
        versions = inbox_versions(session, bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return
        raise DeployError(f"cannot list s3://{bucket}: {exc}") from exc
    except BotoCoreError as exc:
        raise DeployError(f"cannot list s3://{bucket}: {exc}") from exc
    if not versions:
        return
    question = (
        f"s3://{bucket} holds {len(versions)} object versions and delete markers, and "
        "Terraform cannot delete a bucket that is not empty. Delete them all now?"
    )
    if args.empty_buckets or (not args.auto_approve and confirm(question)):
        try:
            empty_bucket(session, bucket, versions)
        except (ClientError, BotoCoreError) as exc:
            raise DeployError(f"cannot empty s3://{bucket}: {exc}") from exc
        print(f"Emptied s3://{bucket}: {len(versions)} versions and delete markers deleted.")
        return
    raise DeployError(
        f"s3://{bucket} still holds {len(versions)} versions: pass --empty-buckets (or answer "
        f"yes) to delete them first, or set {force_destroy} = true"
    )


def cmd_destroy(args: argparse.Namespace) -> None:
    require_state(args.terraform_dir)
    variables = terraform_variables(args)
    preflight_session(args, {**tfvars_variables(args), **variables})
    tf = terraform(args.terraform_dir)
    print(DESTROY_NOTES)
    with _python_terraform_quirks():
        outputs: dict[str, Any] = tf.output() or {}
    prepare_buckets_for_destroy(args, outputs, {**tfvars_variables(args), **variables})
    run(tf, "init", input=False)
    run(tf, "destroy", **apply_options(variables, args.var_file, auto_approve=args.auto_approve))


COMMANDS = {"deploy": cmd_deploy, "outputs": cmd_outputs, "destroy": cmd_destroy}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--terraform-dir",
        type=Path,
        default=TERRAFORM_DIR,
        help="the root module (default terraform/)",
    )
    common.add_argument("--region", help="AWS Region (default $AWS_REGION)")
    common.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Terraform variable (repeatable)",
    )
    common.add_argument(
        "--var-file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a .tfvars file (repeatable)",
    )
    common.add_argument(
        "--model",
        help=f"model named in the example call (default: {EXAMPLE_MODEL} if published, "
        "else one that is)",
    )
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser(
        "deploy", parents=[common], help="build, init, apply, print the outputs and a call"
    )
    deploy.add_argument("--architecture", choices=sorted(build_package.MACHINES), default="x86_64")
    deploy.add_argument("--package", type=Path, help="deploy this zip instead of building one")
    deploy.add_argument("--auto-approve", action="store_true", help="apply without asking")
    commands.add_parser("outputs", parents=[common], help="print the outputs and a call")
    destroy = commands.add_parser("destroy", parents=[common], help="destroy everything deployed")
    destroy.add_argument("--auto-approve", action="store_true", help="destroy without asking")
    destroy.add_argument(
        "--empty-buckets",
        "--empty-inbox",  # its name when the inbox was the only versioned bucket
        dest="empty_buckets",
        action="store_true",
        help="delete every version in the inbox and batch buckets first, without asking",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (DeployError, build_package.BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
