"""Peers over HTTP: MLServer (with mlserver-xgboost) in a virtual environment of its own,
serving the same model files, and ``wrk`` as the load generator when it is installed.

MLServer is "tuned" as its docs suggest for latency: inference in the server process
(``parallel_workers: 0``, no hop to a worker pool), no debug logging, no metrics server. It
answers the Open Inference Protocol (``POST /v2/models/<name>/infer``). Only 127.0.0.1 is
ever served or sent a request.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from scripts.bench.http_load import THREAD_ENV
from scripts.loopback import HOST, free_port, serving

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MLSERVER_REQUIREMENTS = ("mlserver>=1.6", "mlserver-xgboost>=1.6")


def ensure_peer_env(venv: Path, log: Path) -> Path:
    """Create ``venv`` with MLServer and mlserver-xgboost from PyPI once; returns its python."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mlserver").exists():
        with log.open("ab") as out:
            if not python.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", str(venv)], check=True, stdout=out, stderr=out
                )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *MLSERVER_REQUIREMENTS],
                check=True,
                stdout=out,
                stderr=out,
                timeout=900,
            )
    return python


def v2_body(row: list[float]) -> bytes:
    """One row as an Open Inference Protocol request."""
    request = {"inputs": [{"name": "predict", "shape": [1, len(row)], "datatype": "FP32"}]}
    request["inputs"][0]["data"] = row
    return json.dumps(request, separators=(",", ":")).encode()


@contextlib.contextmanager
def mlserver(venv: Path, model_file: Path, name: str, work: Path, log: IO[bytes]) -> Iterator[int]:
    """Run MLServer on one model until the block ends; yields its HTTP port once ready."""
    folder = work / "mlserver"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / name).mkdir(parents=True)
    port = free_port()
    settings = {
        "debug": False,
        "host": HOST,
        "http_port": port,
        "grpc_port": free_port(),
        "parallel_workers": 0,
        "metrics_endpoint": None,
        "metrics_port": free_port(),
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": name,
        "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": str(model_file)},
    }
    (folder / name / "model-settings.json").write_text(json.dumps(model_settings))
    env = {"PATH": str(venv / "bin"), "HOME": str(work), **THREAD_ENV}
    command = [str(venv / "bin" / "mlserver"), "start", str(folder)]
    ready = f"/v2/models/{name}/ready"
    with serving(
        command,
        port,
        env=env,
        log=log,
        cwd=folder,
        health_path=ready,
        start_timeout_s=120,
        die_with_parent=True,
    ):
        yield port


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_us: float
    p99_us: float
    requests: int
    errors: int


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""
_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def wrk(
    port: int, path: str, body: bytes, *, concurrency: int, seconds: float, work: Path
) -> WrkResult:
    """``wrk`` on one connection per client, one thread, for ``seconds``; 127.0.0.1 only."""
    script = work / "wrk-post.lua"
    script.write_text(_LUA.format(body=json.dumps(body.decode())))
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    command.append(f"http://{HOST}:{port}{path}")
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=seconds + 30
    ).stdout
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", output))
    requests = int(_find(r"(\d+) requests in", output))
    errors = 0
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if bad:
        errors += int(bad.group(1))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(rps, _latency(output, "50%"), _latency(output, "99%"), requests, errors)


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    return found.group(1)


def _latency(output: str, which: str) -> float:
    found = re.search(rf"{re.escape(which)}\s+([\d.]+)(us|ms|s)\b", output)
    if found is None:
        raise RuntimeError(f"no {which} latency in wrk output:\n{output}")
    return float(found.group(1)) * _UNITS[found.group(2)]
