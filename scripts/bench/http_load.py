"""``model-router serve`` as a subprocess on 127.0.0.1, and a closed-loop HTTP/1.1 client.

The client is a few lines of asyncio over keep-alive connections with the request bytes
built once, so that on a 2-core machine it takes as little CPU from the server as a Python
client can. Every loop stops at a request count or a deadline, whichever comes first, and
only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from scripts.loopback import HOST, free_port, serving

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@contextlib.contextmanager
def serve(
    repo: Path, model_root: Path, log: IO[bytes], *, start_timeout_s: float = 60
) -> Iterator[int]:
    """Run ``model-router serve`` until the block ends; yields its port once /health is 200."""
    port = free_port()
    command = [sys.executable, "-m", "router.cli", "serve", "--model-root", str(model_root)]
    command += ["--host", HOST, "--port", str(port)]
    with _serving(command, port, repo, {}, log, start_timeout_s):
        yield port


@contextlib.contextmanager
def serve_floor(
    repo: Path, model_root: Path, log: IO[bytes], *, start_timeout_s: float = 60
) -> Iterator[int]:
    """The HTTP floor (``scripts/bench/peer_asgi.py``) under uvicorn with the server options
    ``model-router serve`` runs with: httptools, uvloop where it installs, no access log."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "scripts.bench.peer_asgi:app"]
    command += ["--host", HOST, "--port", str(port), "--http", "httptools", "--loop", "auto"]
    command += ["--no-access-log", "--log-level", "warning"]
    env = {"ROUTER_MODEL_ROOT": str(model_root)}
    with _serving(command, port, repo, env, log, start_timeout_s):
        yield port


@contextlib.contextmanager
def _serving(
    command: list[str],
    port: int,
    repo: Path,
    extra_env: dict[str, str],
    log: IO[bytes],
    start_timeout_s: float,
) -> Iterator[None]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PYTHONPATH"] = str(repo)  # serve this checkout's router
    env.update(THREAD_ENV)  # as `make run` exports them, whatever the caller's environment
    env.update(extra_env)
    with serving(
        command,
        port,
        env=env,
        log=log,
        cwd=repo,
        start_timeout_s=start_timeout_s,
        die_with_parent=True,
    ):
        yield


def post_request(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass(slots=True)
class LoadResult:
    latencies_ns: list[int]
    elapsed_s: float
    errors: int


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _closed_loop(
    port: int, request: bytes, concurrency: int, max_requests: int, max_seconds: float
) -> LoadResult:
    latencies: list[int] = []
    errors = 0
    issued = 0
    clock = time.perf_counter_ns
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds

    async def client() -> None:
        nonlocal errors, issued
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while issued < max_requests and loop.time() < deadline:
                issued += 1
                started = clock()
                status = await _exchange(reader, writer, request)
                latencies.append(clock() - started)
                if status != 200:
                    errors += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    started_s = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(client() for _ in range(concurrency))), timeout=max_seconds + 30
    )
    return LoadResult(latencies, time.perf_counter() - started_s, errors)


def closed_loop(
    port: int,
    request: bytes,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int,
) -> LoadResult:
    """``concurrency`` clients, each sending its next request when the last one is answered,
    until ``max_requests`` in all or ``max_seconds``; after ``warmup`` unmeasured requests."""
    if warmup:
        asyncio.run(_closed_loop(port, request, concurrency, warmup, max_seconds))
    return asyncio.run(_closed_loop(port, request, concurrency, max_requests, max_seconds))
