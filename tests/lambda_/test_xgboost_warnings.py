"""libxgboost's warnings reach the JSON logs. XGBoost's Python package turns them into
``UserWarning``s, which Python prints to stderr as plain text, outside the JSON lines that
CloudWatch Logs Insights and Lambda's log-level filter read.

Run in a fresh process with the Lambda environment, as an invocation environment starts:
pytest replaces ``warnings.showwarning`` in-process, and turns warnings into errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

# The entry configures logging at import, as on a cold start; then libxgboost warns, here
# about a parameter it does not use (loading a model saved by an old XGBoost warns the same
# way).
WARN_AFTER_COLD_START = """
import router.lambda_handler
import numpy as np, xgboost as xgb
xgb.train({"not_a_parameter": 1}, xgb.DMatrix(np.zeros((4, 2)), np.zeros(4)), 1)
"""


@pytest.mark.slow
def test_a_libxgboost_warning_is_a_json_line_not_plain_text_on_stderr(tmp_path: Path) -> None:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
    env = {
        **{key: os.environ[key] for key in keep if key in os.environ},
        "AWS_LAMBDA_FUNCTION_NAME": "model-router",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": "eu-west-1",
        "ROUTER_MODEL_ROOT": str(tmp_path),
        "OMP_NUM_THREADS": "1",
    }

    done = subprocess.run(
        [sys.executable, "-c", WARN_AFTER_COLD_START],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert done.stderr == ""
    [line] = [json.loads(text) for text in done.stdout.splitlines() if "not_a_parameter" in text]
    assert (line["level"], line["name"], line["category"]) == (
        "WARNING",
        "py.warnings",
        "UserWarning",
    )
    assert 'Parameters: { "not_a_parameter" } are not used.' in line["message"]
    assert line["warned_at"].split(":")[0].endswith("training.py")  # where XGBoost warned
