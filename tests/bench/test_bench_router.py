"""The benchmark still runs: ``scripts/bench_router.py --quick`` end to end, in a subprocess.

Quick mode trains tiny models, starts a real ``model-router serve`` on 127.0.0.1 and spawns
cold-start processes with this interpreter (no lean venv, no pip), so it takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bench_router.py"


def run_quick(output: Path, work_dir: Path, timeout_s: float) -> tuple[int, str]:
    """Run the benchmark in its own session; on timeout, stop the whole session (it has a
    server and other children) rather than only the script."""
    command = [sys.executable, str(SCRIPT), "--quick", "--output", str(output)]
    command += ["--work-dir", str(work_dir)]
    bench = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = bench.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGTERM)
        try:
            bench.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.communicate()
        pytest.fail(f"the quick benchmark took over {timeout_s:g} s")
    return bench.returncode, stderr


@pytest.mark.slow
def test_quick_run_writes_a_markdown_report(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    code, stderr = run_quick(output, tmp_path / "work", timeout_s=240)
    assert code == 0, stderr[-4000:]
    report = output.read_text()
    assert report.startswith("# Benchmarks\n")
    assert "--quick" in report  # the command that produced it
    for heading in (
        "## Targets",
        "## Lambda handler in-process vs raw `inplace_predict`",
        "### Where a handler call goes",
        "## Native predict body vs V2 JSON and binary bodies, in-process",
        "## Cache miss: loading a model",
        "## HTTP through uvicorn",
        "## Zipf(1.1) workload",
        "### The same trace through other cache policies",
        "## Cold start",
    ):
        assert heading in report
    # Misses (2 per model size), the handler against its peer, cold start against its peer.
    assert report.count("PASS") + report.count("FAIL") >= 4
    assert "/work/" not in report and str(REPO) not in report  # paths relative to the repo
    assert "| model | trees | raw p50 |" in report
    assert "| floor | trees-" in report  # the HTTP floor was served and loaded
    # Each handler's peak memory after its first answer, in MiB; the floor reports none.
    ours = "| ours: router.lambda_handler |"
    cold_rows = [line for line in report.splitlines() if line.startswith(ours)]
    assert cold_rows, report
    peak = cold_rows[0].rstrip(" |").rsplit("|", 1)[-1].strip()
    assert 20 < float(peak) < 1024, cold_rows[0]
    assert "|---|" in report
