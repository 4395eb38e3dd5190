"""Cold start: a new process, up to the first prediction through ``router.lambda_handler``.

Measured against the stack's own floor, ``python -c "import fastapi, mangum, xgboost"``, run
interleaved with ours by the same interpreter, so that both see the same machine. Both are
timed from spawn to exit (wall clock, and the child's CPU time); ours also reports when its
first response was ready.

Which interpreter matters: XGBoost imports scikit-learn whenever it is installed, which the
project's development environment has and Lambda has not. The full run therefore uses a lean
virtual environment (``.venv-bench``) with only the runtime dependencies and the server extra.

Children get a clean environment, so ``PYTHONDONTWRITEBYTECODE`` in the caller's does not
reach them: bytecode is cached where Python always caches it (pip wrote it for the installed
packages; the router's is written by the first run), as a Lambda package built by pip ships
its ``.pyc`` files. The full run starts with one unmeasured run of each, which also warms the
page cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scripts.bench.workload import LAMBDA_ENV, REPO

if TYPE_CHECKING:
    from pathlib import Path

BASELINE_CODE = "import fastapi, mangum, xgboost"
# The child: import the Lambda entry (which builds everything, as Lambda's init phase does),
# send one real-shaped event, and say when the answer was ready.
HANDLER_CODE = """\
import os, time
from {module} import handler
import json
with open(os.environ["BENCH_EVENT"]) as f:
    event = json.load(f)
class Context:
    aws_request_id = "cold-start"
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + function_name
    def get_remaining_time_in_millis(self):
        return 30000
response = handler(event, Context())
ready = time.time()
# VmHWM: this process's peak resident memory, what Lambda's memory limit counts.
with open("/proc/self/status") as f:
    peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print("BENCH-COLD", response["statusCode"], repr(ready), peak_kb, flush=True)
"""
# Whose handler a cold start measures: ours, and the peers answering the same event.
HANDLERS = {
    "router": "router.lambda_handler",
    "fastapi": "scripts.bench.peer_fastapi",
    "handwritten": "scripts.bench.peer_handler",
}
MODULES_KEPT_OUT = ("sklearn", "pandas")
STAMP = ".bench-stamp"
CHILD_TIMEOUT_S = 120


@dataclass(slots=True)
class ColdRuns:
    """Spawn-to-exit wall and CPU seconds of each run; for ours, spawn to first answer."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    first_answer_s: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)  # after the first answer


def ensure_lean_env(venv: Path, log: Path) -> Path:
    """Create or refresh ``venv`` with ``pip install -e <repo>[server]``; returns its python.

    Refreshed when ``pyproject.toml`` changed since it was made; refused if scikit-learn or
    pandas found their way in, since then it measures the wrong thing.
    """
    python = venv / "bin" / "python"
    stamp = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    stamp_path = venv / STAMP
    if not (python.exists() and stamp_path.exists() and stamp_path.read_text() == stamp):
        with log.open("ab") as out:
            if not python.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", str(venv)], check=True, stdout=out, stderr=out
                )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "-e", f"{REPO}[server]"],
                check=True,
                stdout=out,
                stderr=out,
                timeout=600,
            )
        stamp_path.write_text(stamp)
    check = (
        "import importlib.util, json; print(json.dumps({'kept_out': "
        f"[m for m in {MODULES_KEPT_OUT!r} if importlib.util.find_spec(m)]}}))"
    )
    found = json.loads(
        subprocess.run(
            [str(python), "-c", check], check=True, capture_output=True, text=True, cwd="/"
        ).stdout
    )
    if found["kept_out"]:
        raise RuntimeError(f"{venv} has {found['kept_out']}: not a lean environment")
    return python


def installed(python: Path, modules: tuple[str, ...]) -> dict[str, bool]:
    code = (
        "import importlib.util, json; "
        f"print(json.dumps({{m: bool(importlib.util.find_spec(m)) for m in {modules!r}}}))"
    )
    output = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, cwd="/"
    ).stdout
    result: dict[str, bool] = json.loads(output)
    return result


def child_env(model_root: Path, event_path: Path) -> dict[str, str]:
    """What Lambda would give the function, and no more of the caller's environment."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(LAMBDA_ENV)
    env["ROUTER_MODEL_ROOT"] = str(model_root)
    env["BENCH_EVENT"] = str(event_path)
    env["PYTHONPATH"] = str(REPO)  # this checkout's router, also when the venv's is elsewhere
    return env


def _run(
    command: list[str], env: dict[str, str], cwd: Path
) -> tuple[float, float, float | None, float | None]:
    """Spawn, wait; (wall s, CPU s, seconds from spawn to the BENCH-COLD line, and the
    peak RSS in MiB it reports; both None for the floor, which prints none)."""
    with tempfile.TemporaryFile() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        spawned_at = time.time()
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            code = child.wait(timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        output = out.read().decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"{command[:2]} exited with {code}:\n{output[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    first_answer = peak_mib = None
    for line in output.splitlines():
        if line.startswith("BENCH-COLD "):
            _, status, ready, peak_kb = line.split()
            if status != "200":
                raise RuntimeError(f"cold-start request answered {status}:\n{output[-3000:]}")
            first_answer = float(ready) - spawned_at
            peak_mib = int(peak_kb) / 1024
    return wall, cpu, first_answer, peak_mib


def _import_times(python: Path, module: str, env: dict[str, str], cwd: Path) -> dict[str, int]:
    """``python -X importtime`` of one handler module: each module and its self time, µs."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=True,
    )
    found: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "[us]" not in line:
            own, _, name = line.removeprefix("import time:").split("|")
            found[name.strip()] = int(own)
    return found


def imports_beyond(
    python: Path, model_root: Path, event_path: Path, work: Path, top: int = 12
) -> list[tuple[str, int]]:
    """The packages that ``router.lambda_handler`` imports and the idiomatic FastAPI app
    does not, by their modules' summed self time (µs), largest first."""
    env = child_env(model_root, event_path)
    ours = _import_times(python, HANDLERS["router"], env, work)
    theirs = _import_times(python, HANDLERS["fastapi"], env, work)
    by_package: dict[str, int] = {}
    for name, own in ours.items():
        if name not in theirs:
            package = name.split(".")[0]
            by_package[package] = by_package.get(package, 0) + own
    return sorted(by_package.items(), key=lambda item: -item[1])[:top]


def measure(
    python: Path,
    model_root: Path,
    event_path: Path,
    work: Path,
    *,
    runs: int,
    max_seconds: float,
    warm_up: bool = True,
) -> dict[str, ColdRuns]:
    """Interleaved rounds of the floor, ours and the peers, alternating the order, after one
    unmeasured round (``warm_up``). Stops early, after at least one round, once
    ``max_seconds`` passed."""
    env = child_env(model_root, event_path)
    commands = {"baseline": [str(python), "-c", BASELINE_CODE]}
    for name, module in HANDLERS.items():
        commands[name] = [str(python), "-c", HANDLER_CODE.format(module=module)]
    results = {name: ColdRuns() for name in commands}
    for name in commands if warm_up else ():  # warm the bytecode and page caches
        _run(commands[name], env, work)
    deadline = time.monotonic() + max_seconds
    for number in range(runs):
        order = list(commands) if number % 2 == 0 else list(reversed(commands))
        for name in order:
            wall, cpu, first_answer, peak_mib = _run(commands[name], env, work)
            results[name].wall_s.append(wall)
            results[name].cpu_s.append(cpu)
            if first_answer is not None:
                results[name].first_answer_s.append(first_answer)
            if peak_mib is not None:
                results[name].peak_rss_mib.append(peak_mib)
        if time.monotonic() > deadline:
            break
    return results
