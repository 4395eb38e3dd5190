"""An earlier revision of the router, to time in the same run as this checkout
(``scripts/bench_router.py --baseline REV``): before/after figures from one machine at one
time, rather than from two reports written on different days.

The revision's files come out of git (``git archive``) into the work folder, and its own
dependencies (its ``pyproject.toml``, with the server extra) into a venv of its own, both
made once per commit. Its ``router`` package then runs this checkout's benchmark worker:
the child's import path holds only a ``router`` link to the revision and a ``scripts`` link
to this checkout.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scripts.bench.workload import REPO

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Baseline:
    revision: str  # as given
    commit: str  # its abbreviated hash
    python: Path  # of the revision's venv
    import_path: Path  # a folder with ``router`` (the revision's) and ``scripts`` (ours)


def prepare(revision: str, work: Path, log: Path) -> Baseline:
    commit = _git("rev-parse", "--short=12", f"{revision}^{{commit}}")
    home = work / "baselines" / commit
    tree = home / "tree"
    if not (tree / "router").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    venv = home / "venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        with log.open("ab") as out:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, stdout=out, stderr=out
            )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", f"{tree}[server]"],
                check=True,
                stdout=out,
                stderr=out,
                timeout=900,
            )
        stamp.touch()
    import_path = home / "path"
    import_path.mkdir(exist_ok=True)
    for name, target in (("router", tree / "router"), ("scripts", REPO / "scripts")):
        link = import_path / name
        if link.is_symlink() and link.resolve() != target.resolve():
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    return Baseline(revision, commit, python, import_path)


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()
