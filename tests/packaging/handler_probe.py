"""Runs inside a child interpreter started as ``python -I -S handler_probe.py REQUEST REPORT``,
so nothing but the standard library and the folders named in the request can be imported:
as on Lambda, where the package is all there is besides the runtime.

It imports ``router.lambda_handler``, invokes ``handler`` with the request's events, and
writes a JSON report: the responses, the seconds the import took, every file under those
folders that was read or mapped (modules, data files, shared libraries), and every imported
module whose ``.pyc`` was missing or not an unchecked-hash file of this interpreter.

Only the standard library may be imported here, and only before ``sys.path`` is set.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, do not check the source


class Context:
    """The attributes of Lambda's context object that the router reads."""

    aws_request_id = "probe-request"
    function_name = "model-router-router"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:model-router-router"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def main(request_path: str, report_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    roots = [str(Path(path).resolve()) for path in request["paths"]]
    sys.path[0:0] = roots
    opened: set[str] = set()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], str):
            opened.add(args[0])

    sys.addaudithook(audit)
    started = time.perf_counter()
    entry = importlib.import_module("router.lambda_handler")
    import_seconds = time.perf_counter() - started
    import_rss_mib = _peak_rss_mib()
    responses = [entry.handler(event, Context()) for event in request["events"]]

    report = {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "import_seconds": import_seconds,
        # Peak resident memory (what Lambda's memory limit counts), after the import and
        # after the invocations.
        "import_rss_mib": import_rss_mib,
        "peak_rss_mib": _peak_rss_mib(),
        "responses": responses,
        "loaded": sorted(_inside(roots, opened | _module_files() | _mapped_files())),
        "bad_bytecode": _bad_bytecode(roots),
    }
    Path(report_path).write_text(json.dumps(report))


def _peak_rss_mib() -> float:
    """VmHWM, the peak of this process image: getrusage's ru_maxrss would carry over the
    peak of the process that forked and exec'd this one (the test runner)."""
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def _module_files() -> set[str]:
    files = (getattr(module, "__file__", None) for module in list(sys.modules.values()))
    return {str(Path(file).resolve()) for file in files if file}


def _mapped_files() -> set[str]:
    """Shared libraries (and anything else) mapped into this process."""
    with Path("/proc/self/maps").open() as maps:
        fields = [line.split(maxsplit=5) for line in maps]
    return {parts[5].strip() for parts in fields if len(parts) == 6 and parts[5].startswith("/")}


def _inside(roots: list[str], paths: set[str]) -> set[str]:
    found = set()
    for path in paths:
        resolved = str(Path(path).resolve()) if Path(path).exists() else path
        if any(resolved.startswith(root + "/") for root in roots):
            found.add(resolved)
    return found


def _bad_bytecode(roots: list[str]) -> list[str]:
    """Modules from ``roots`` without a valid unchecked-hash ``.pyc`` for this interpreter."""
    bad = []
    for name, module in sorted(sys.modules.items()):
        source: str | None = getattr(module, "__file__", None)
        if source is None or not source.endswith(".py"):
            continue
        if not any(str(Path(source).resolve()).startswith(root + "/") for root in roots):
            continue
        cached = Path(importlib.util.cache_from_source(source))
        header = cached.read_bytes()[:8] if cached.exists() else b""
        flags = int.from_bytes(header[4:8], "little") if len(header) == 8 else -1
        if header[:4] != importlib.util.MAGIC_NUMBER or flags != UNCHECKED_HASH_FLAGS:
            bad.append(name)
    return bad


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
