"""Start ``model-router serve`` as a real process on a free loopback port, and stop it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    from collections.abc import Iterator

STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(model_root: Path, **router_env: str) -> Iterator[str]:
    """Yield the base URL of a server over ``model_root``; always stop it afterwards."""
    port = free_port()
    env = {**os.environ, **{f"ROUTER_{k.upper()}": v for k, v in router_env.items()}}
    cli = Path(sys.executable).with_name("model-router")
    # A file, not a pipe: nobody reads a pipe while tests run, and once its 64 KiB are full
    # (a log line per request) the server blocks on its next write.
    output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in the finally)
    process = subprocess.Popen(
        [str(cli), "serve", "--model-root", str(model_root), "--port", str(port)],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base_url, output)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        output.close()


def _wait_until_healthy(process: subprocess.Popen[str], base_url: str, output: IO[str]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.seek(0)
            raise RuntimeError(f"server exited with {process.returncode}:\n{output.read()}")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server at {base_url} not healthy after {STARTUP_TIMEOUT_S} s")
