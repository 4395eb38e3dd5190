"""Terraform's own checks, offline: formatting, `validate` against the real AWS provider's
schema (through the stand-in), and `terraform test` plans against a mocked provider."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from tests.infra.hcl import MODULE

if TYPE_CHECKING:
    from pathlib import Path

    from tests.infra.conftest import Terraform

pytestmark = pytest.mark.slow

DEV_OVERRIDES_WARNING = "Provider development overrides are in effect"


def validate(
    terraform: Terraform, folder: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    result = terraform.run("validate", "-json", "-no-color", cwd=folder, env=env)
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


def test_terraform_files_are_formatted(terraform: Terraform) -> None:
    result = terraform.run("fmt", "-check", "-recursive", "-diff", "-no-color")

    assert result.returncode == 0, f"run `terraform fmt -recursive terraform/`:\n{result.stdout}"


def test_module_validates_against_the_aws_schema(terraform: Terraform) -> None:
    # Through dev_overrides, as by hand: Terraform starts the stand-in itself, no init.
    report = validate(terraform, MODULE)

    assert report["valid"], json.dumps(errors(report), indent=2)
    warnings = {d["summary"] for d in report["diagnostics"]} - {DEV_OVERRIDES_WARNING}
    assert not warnings


@pytest.mark.parametrize(
    ("file", "old", "new", "summary", "named"),
    [
        pytest.param(
            "lambda.tf",
            "memory_size   = var.router_memory_mb",
            "memory_sizes  = var.router_memory_mb",
            "Unsupported argument",
            "memory_sizes",
            id="misspelled-attribute",
        ),
        pytest.param(
            "lambda.tf",
            "file_system_config {",
            "filesystem_config {",
            "Unsupported block type",
            "filesystem_config",
            id="misspelled-block",
        ),
        pytest.param(
            "storage.tf",
            "encrypted        = true",
            'encrypted        = "sometimes"',
            "Incorrect attribute value type",
            "a bool is required",
            id="wrong-type",
        ),
        pytest.param(
            "lambda.tf",
            "function_version = aws_lambda_function.router.version",
            "",
            "Missing required argument",
            "function_version",
            id="missing-required-argument",
        ),
        pytest.param(
            "api.tf",
            "aws_lambda_alias.router.invoke_arn",
            "aws_lambda_alias.router.invoke_uri",
            "Unsupported attribute",
            "invoke_uri",
            id="unknown-attribute-reference",
        ),
    ],
)
def test_validate_rejects_a_broken_module(
    terraform: Terraform,
    stand_in_server: dict[str, str],
    tmp_path: Path,
    file: str,
    old: str,
    new: str,
    summary: str,
    named: str,
) -> None:
    for source in MODULE.glob("*.tf"):
        shutil.copy(source, tmp_path)
    broken = tmp_path / file
    text = broken.read_text()
    assert text.count(old) == 1, f"{old!r} no longer occurs once in {file}"
    broken.write_text(text.replace(old, new))

    report = validate(terraform, tmp_path, env=stand_in_server)

    assert not report["valid"]
    found = [(d["summary"], d.get("detail", "")) for d in errors(report)]
    assert any(s == summary and named in detail for s, detail in found), found


def test_plan_tests_pass_against_a_mocked_provider(
    terraform: Terraform, stand_in_server: dict[str, str], tmp_path: Path
) -> None:
    package = tmp_path / "model-router-lambda-x86_64.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("router/__init__.py", "")
    # The record scripts/build_package.py writes beside the zip.
    digest = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    manifest = {"architecture": "x86_64", "python_version": "3.12", "zip_base64sha256": digest}
    package.with_suffix(".json").write_text(json.dumps(manifest))

    result = terraform.run("test", "-no-color", f"-var=package_path={package}", env=stand_in_server)

    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout
