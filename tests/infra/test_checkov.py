"""checkov finds nothing to fix in terraform/: every check passes or is skipped inline with
its reason (test_structure checks the reasons are there)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.infra.hcl import MODULE

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_checkov_reports_no_failed_checks(checkov: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            checkov,
            "--directory",
            str(MODULE),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        # No look-up of newer checkov releases: the check runs offline.
        env={**os.environ, "HOME": str(tmp_path), "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)

    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert report["summary"]["passed"] > 100, "checkov scanned less than the module"
    assert result.returncode == 0, result.stderr
