"""Deploy the router with Terraform (through python-terraform), print its outputs and a
ready-to-paste signed call.

Usage (from the project root, with the project's virtual environment and AWS credentials)::

    python scripts/deploy.py deploy --region eu-west-1 [--architecture arm64] [--auto-approve]
    python scripts/deploy.py outputs
    python scripts/deploy.py destroy --region eu-west-1 [--auto-approve]

``deploy`` builds the package with scripts/build_package.py for ``--architecture`` (or takes
``--package``), runs ``terraform init`` and ``terraform apply`` in terraform/ with
``package_path`` and ``architecture`` set to match, then prints the outputs and a SigV4-signed
``curl`` and Python call. More variables: ``--var name=value`` (repeatable; a value starting
with ``{`` or ``[`` is read as JSON) and ``--var-file file.tfvars``.

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
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from scripts import build_package

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM_DIR = ROOT / "terraform"
# The model `make run` trains and tests/events/apigw_http_v2.json predicts with.
EXAMPLE_MODEL = "iris"
EXAMPLE_ROW = (5.1, 3.5, 1.4, 0.2)
# Set by this script from its own options, so --var may not set them.
OWNED_VARIABLES = ("package_path", "architecture")


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


def print_example(outputs: dict[str, Any], args: argparse.Namespace) -> None:
    api_url = outputs.get("api_url", {}).get("value")
    if not api_url:
        print("No api_url output: nothing to call.")
        return
    authorization = str(parse_variables(args.var).get("api_authorization", "AWS_IAM"))
    print()
    print(
        example_calls(
            api_url,
            api_region(api_url, region_of(args)),
            authorization=authorization,
            model=args.model,
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
    if "region" not in variables and not args.var_file:
        raise DeployError("which Region? pass --region (or set AWS_REGION)")
    return variables


def cmd_deploy(args: argparse.Namespace) -> None:
    variables = terraform_variables(args)
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
    outputs = read_outputs(terraform(args.terraform_dir))
    print_outputs(outputs)
    print_example(outputs, args)


def cmd_destroy(args: argparse.Namespace) -> None:
    variables = terraform_variables(args)
    tf = terraform(args.terraform_dir)
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
        default=EXAMPLE_MODEL,
        help=f"model named in the example call (default {EXAMPLE_MODEL})",
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
