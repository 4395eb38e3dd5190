"""Servers on 127.0.0.1 for the tests and the benchmark: a free port, a process waited for
until it answers, and always stopped.

The standard library only, and no ``router`` import: the benchmark runs it on a fresh clone,
and the tests import it from here (tests import ``scripts``; ``scripts`` import no tests).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import signal
import socket
import subprocess
import sys
import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
STOP_TIMEOUT_S = 15
LOG_TAIL_BYTES = 3000


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it; nothing keeps it free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(
    command: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str],
    log: IO[bytes],
    cwd: Path | None = None,
    health_path: str = "/health",
    start_timeout_s: float = 60,
    die_with_parent: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (which listens on ``port``) until the block ends; enters once
    ``GET health_path`` answers 200. Output goes to ``log``: a file, not a pipe, since
    nobody reads a pipe while the block runs and a full one blocks the server mid-write.

    ``die_with_parent`` asks Linux for SIGTERM to the server when this process dies, so that
    no server outlives a caller that was killed before its ``finally`` ran."""
    preexec = _die_with_parent() if die_with_parent and sys.platform == "linux" else None
    process = subprocess.Popen(
        list(command),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        preexec_fn=preexec,
    )
    try:
        wait_healthy(process, port, start_timeout_s, path=health_path, log=log)
        yield process
    finally:
        stop(process)


def wait_healthy(
    process: subprocess.Popen[bytes],
    port: int,
    timeout_s: float,
    *,
    path: str = "/health",
    log: IO[bytes] | None = None,
) -> None:
    """Wait until ``GET path`` answers 200; raises if the process exits or time runs out."""
    what = f"the server on port {port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}{_tail(log)}")
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)  # a poll of another process: no event to wait on
    raise RuntimeError(f"{what} did not answer {path} within {timeout_s:g} s{_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``STOP_TIMEOUT_S``."""
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _die_with_parent() -> Callable[[], None]:
    # libc is loaded here, in the parent: the child, forked from a process that may have
    # threads, only makes the one call before exec.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return in_child


def _tail(log: IO[bytes] | None) -> str:
    """The end of the server's output, where ``log`` can be read back (a ``w+b`` file)."""
    if log is None:
        return ""
    with contextlib.suppress(OSError, ValueError):  # io.UnsupportedOperation is both
        log.flush()
        log.seek(0)
        return ":\n" + log.read()[-LOG_TAIL_BYTES:].decode(errors="replace")
    return f" (output in {log.name})"
