"""Schemathesis against a running ``model-router serve``, from its own OpenAPI document:
no input it can generate, valid or not, gets a server error or an answer the document does
not describe. ``make test`` runs a small budget; ``make fuzz`` the one reported in
docs/reliability.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from tests.live.server import running_server
from tests.modelkit import train_booster, write_model

pytestmark = pytest.mark.slow

# Cases per operation and phase; the total over the four phases is several times this.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "100"))
SEED = os.environ.get("FUZZ_SEED", "20261201")
# Every check about what the server answers. Left out: positive_data_acceptance (a schema
# cannot say how many features a model has, so schema-valid rows may rightly be a 422), and
# the checks about authentication and resources the API does not have.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    model_root: Path, tmp_path: Path
) -> None:
    write_model(model_root, "m", train_booster(feature_names=["a", "b", "c", "d"]))
    write_model(model_root, "iris", train_booster("multiclass"), layout="file")
    schemathesis = Path(sys.executable).with_name("schemathesis")

    with running_server(model_root, log_level="WARNING") as base_url:  # no access log
        operations = sum(
            len(methods)
            for methods in httpx2.get(f"{base_url}/openapi.json").json()["paths"].values()
        )
        run = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{base_url}/openapi.json",
                f"--checks={CHECKS}",
                f"--max-examples={MAX_EXAMPLES}",
                f"--seed={SEED}",
                "--workers=1",
                "--request-timeout=30",
                f"--report-dir={tmp_path / 'report'}",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            cwd=tmp_path,  # its cache of past crashes, replayed first, stays with this run
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
            check=False,
        )
    output = run.stdout + run.stderr
    if report := os.environ.get("FUZZ_REPORT"):
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(output)

    assert run.returncode == 0, output[-6000:]
    assert f"Tested: {operations}" in output, output[-3000:]
    match = re.search(r"(\d+) generated, (\d+) passed", output)
    assert match is not None, output[-3000:]
    generated, passed = map(int, match.groups())
    assert generated == passed >= MIN_CASES, output[-3000:]
