"""docs/byom.md runs: every code block, in order, in a fresh folder. Python blocks share one
namespace; console blocks run their ``$`` commands (``model-router`` ones through its entry
point in this process), and ``model-router serve`` starts a real server (on a free port,
which replaces the guide's 127.0.0.1:8000) for the blocks after it."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from router.cli import main
from tests.live.server import running_server

if TYPE_CHECKING:
    from collections.abc import Iterator

GUIDE = Path(__file__).parents[2] / "docs" / "byom.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
GUIDE_URL = "http://127.0.0.1:8000"

pytestmark = pytest.mark.slow


def blocks() -> Iterator[tuple[int, str, str]]:
    text = GUIDE.read_text()
    for match in BLOCK.finditer(text):
        yield text[: match.start()].count("\n") + 1, match[1], match[2]


def test_every_code_block_of_the_guide_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    namespace: dict[str, Any] = {"__name__": "byom"}
    base_url = GUIDE_URL
    ran = 0
    with contextlib.ExitStack() as servers:
        for line, language, code in blocks():
            where = f"docs/byom.md:{line}"
            if language == "python":
                exec(compile(code.replace(GUIDE_URL, base_url), where, "exec"), namespace)
            elif language == "console":
                for command in re.findall(r"^\$ (.+)$", code, re.MULTILINE):
                    if command.startswith("model-router serve"):
                        root = Path(command.split("--model-root ")[1].split()[0])
                        base_url = servers.enter_context(running_server(tmp_path / root))
                        continue
                    if command.startswith("model-router "):
                        # The CLI's own entry point, in-process: a new process would import
                        # XGBoost again for each command.
                        assert main(shlex.split(command)[1:]) == 0, f"{where}: {command}"
                        continue
                    done = subprocess.run(
                        command, shell=True, env=env, capture_output=True, text=True, timeout=120
                    )
                    assert done.returncode == 0, f"{where}: {command}\n{done.stdout}{done.stderr}"
            else:
                pytest.fail(f"{where}: a {language or 'plain'} block the test cannot run")
            ran += 1
    assert ran >= 10  # the guide's blocks were found
