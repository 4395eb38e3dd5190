"""The Lambda package, built once per session for this machine's architecture.

The build reuses ``.cache/lambda-build`` (unpacked wheels keyed by the lock's hash) and pip's
cache, so only the first run on a machine downloads anything. It targets CPython 3.12, as
Lambda does, when this machine has one; otherwise this machine's own Python, and the
terminal summary says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from scripts.build_package import (
    LAMBDA_PYTHON,
    BuildOptions,
    BuildResult,
    Target,
    build,
    find_interpreter,
)

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

PROBE = Path(__file__).with_name("handler_probe.py")
HOST_ARCHITECTURES = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
_SUMMARY: list[str] = []


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    result: BuildResult
    # The zip, extracted as Lambda extracts it to /var/task.
    task_root: Path
    # A CPython of the package's target version, which runs the probe.
    python: Path


@pytest.fixture(scope="session")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> BuiltPackage:
    architecture = HOST_ARCHITECTURES[platform.machine()]
    python = find_interpreter(LAMBDA_PYTHON)
    version = LAMBDA_PYTHON
    if python is None:
        python = Path(sys.executable)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        _SUMMARY.append(
            f"lambda package: NO CPython {LAMBDA_PYTHON} on this machine; built and tested "
            f"for CPython {version} instead (Lambda runs {LAMBDA_PYTHON})"
        )
    output = tmp_path_factory.mktemp("lambda-package") / "model-router-lambda.zip"
    started = time.perf_counter()
    result = build(
        BuildOptions(target=Target(architecture, version), output=output, interpreter=python)
    )
    _SUMMARY.append(
        f"lambda package: {architecture}, CPython {version} bytecode by {python}; "
        f"{result.unzipped_bytes:,} bytes unzipped, {result.zipped_bytes:,} zipped; built in "
        f"{time.perf_counter() - started:.1f} s ("
        + ", ".join(f"{step} {seconds:.1f}" for step, seconds in result.seconds.items())
        + ")"
    )
    task_root = output.parent / "task"
    with zipfile.ZipFile(output) as archive:
        archive.extractall(task_root)
    return BuiltPackage(result=result, task_root=task_root, python=python)


# What the Lambda Python runtime puts on sys.path after the package (boto3 and what it needs).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# What Lambda's runtime client takes of a function's memory, beside the handler's process.
RUNTIME_CLIENT_MIB = 24


def runtime_site(tmp_path: Path) -> Path:
    """A folder standing in for the runtime's packages, which the package leaves out: this
    environment's copies (they are pure Python)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


def run_in_package(
    python: Path, code: str, args: list[str], env: dict[str, str], *, timeout_s: float
) -> str:
    """Run ``code`` in the package's interpreter, isolated (``-I -S -B``: none of this
    environment's packages), with ``args`` and only ``env``; its output."""
    completed = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed.stdout


def assert_fits_the_process_reserve(peak_kib: str) -> None:
    """A function's peak (VmHWM, in KiB) leaves Lambda's runtime client its room within the
    reserve the memory budgets keep for the process."""
    from router.settings import LAMBDA_PROCESS_RESERVE_MIB

    peak_mib = int(peak_kib) / 1024
    assert peak_mib <= LAMBDA_PROCESS_RESERVE_MIB - RUNTIME_CLIENT_MIB, f"{peak_mib:.1f} MiB"


def run_probe(
    python: Path,
    paths: list[Path],
    events: list[dict[str, Any]],
    model_root: Path,
    workdir: Path,
    *,
    write_bytecode: bool = True,
) -> dict[str, Any]:
    """Import the handler in ``python -I -S`` with only ``paths`` added, invoke it with
    ``events``, and return the probe's report (see handler_probe.py)."""
    request = workdir / "probe-request.json"
    report = workdir / "probe-report.json"
    request.write_text(json.dumps({"paths": [str(path) for path in paths], "events": events}))
    # Lambda's environment, less credentials: the router reads nothing else.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "ROUTER_MODEL_ROOT": str(model_root),
        "AWS_LAMBDA_FUNCTION_NAME": "model-router-router",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_REGION": "eu-west-1",
        "LAMBDA_TASK_ROOT": str(paths[0]),
        "OMP_NUM_THREADS": "1",
    }
    flags = ["-I", "-S"] + ([] if write_bytecode else ["-B"])
    completed = subprocess.run(
        [str(python), *flags, str(PROBE), str(request), str(report)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"the probe failed:\n{completed.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    for line in _SUMMARY:
        terminalreporter.write_line(line)
