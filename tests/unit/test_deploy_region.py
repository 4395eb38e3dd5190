"""``make deploy`` and ``make destroy`` run scripts/deploy.py: when no Region is given, its
one-line error names the make variable as well as the script's option."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from scripts import deploy

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_no_region_names_the_option_the_make_variable_and_the_environment(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    # A root module with no .tfvars, so nothing else names a Region.
    args = deploy.parse_args([command, "--terraform-dir", str(tmp_path)])

    with pytest.raises(deploy.DeployError) as refused:
        deploy.terraform_variables(args)

    message = str(refused.value)
    assert message == f"which Region? pass --region (make {command} REGION=...) or set AWS_REGION"
    assert "\n" not in message
