"""Start ``model-router serve`` as a real process on a free loopback port, and stop it."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from scripts.loopback import HOST, free_port, serving

if TYPE_CHECKING:
    from collections.abc import Iterator

STARTUP_TIMEOUT_S = 60


@contextlib.contextmanager
def running_server(
    model_root: Path, *, output: IO[bytes] | None = None, **router_env: str
) -> Iterator[str]:
    """Yield the base URL of a server over ``model_root``; always stop it afterwards.
    ``output``: where its stdout and stderr go (by default a file deleted afterwards)."""
    port = free_port()
    env = {**os.environ, **{f"ROUTER_{k.upper()}": v for k, v in router_env.items()}}
    cli = Path(sys.executable).with_name("model-router")  # the console script, as installed
    command = [str(cli), "serve", "--model-root", str(model_root), "--port", str(port)]
    with contextlib.ExitStack() as stack:
        log = output if output is not None else stack.enter_context(tempfile.TemporaryFile())
        stack.enter_context(
            serving(command, port, env=env, log=log, start_timeout_s=STARTUP_TIMEOUT_S)
        )
        yield f"http://{HOST}:{port}"
