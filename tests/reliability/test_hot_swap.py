"""Hot swap under HTTP load: four models served by a real ``model-router serve``, each
replaced over and over by one kind of writer, while four clients predict. Every answer must
be a 200, and every version it reports must be one somebody wrote whole (A or B)."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from router.publish.local import ModelFolder
from tests.live.server import running_server
from tests.modelkit import rows
from tests.reliability.swap import copy_over, rename_into_place, twin_models, write_in_place

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.reliability.conftest import Budget

CLIENTS = 4
IN_PLACE_CHUNK = 4096
# Writers whose every new version is served at the next check; the others rewrite one
# inode, which never settles while they run.
SERVED_AT_ONCE = ("rename", "publisher")
SEEN_WITHIN_S = 10.0


def _version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def _served(http: httpx2.Client, name: str, version: str, body: dict[str, Any]) -> bool:
    """Wait until ``name`` answers with ``version``: the writer's swap took effect."""
    deadline = time.monotonic() + SEEN_WITHIN_S
    while time.monotonic() < deadline:
        response = http.post(f"/models/{name}/predict", json=body)
        if response.status_code == 200 and response.json()["version"] == version:
            return True
        time.sleep(0.02)
    return False


def _writers(root: Path) -> dict[str, Callable[[bytes], None]]:
    def publish(data: bytes) -> None:
        with ModelFolder(root, "publisher", history_limit=2) as folder:
            folder.publish(data)

    return {
        "rename": lambda data: rename_into_place(root / "rename.ubj", data),
        "copy-over": lambda data: copy_over(root / "copy-over.ubj", data),
        "in-place": lambda data: write_in_place(
            root / "in-place.ubj", data, chunk=IN_PLACE_CHUNK, pause_s=0.002
        ),
        "publisher": publish,
    }


@pytest.mark.timeout(600)
def test_hot_swaps_by_every_kind_of_writer_never_fail_or_serve_unwritten_bytes(
    model_root: Path, budget: Budget, report: Any
) -> None:
    a, b = twin_models(trees=100)
    allowed = {_version(a), _version(b)}
    writers = _writers(model_root)
    for name in writers:  # a first version of each, written whole
        if name == "publisher":
            writers[name](a)
        else:
            rename_into_place(model_root / f"{name}.ubj", a)
    body = {"instances": rows(2, n_features=4).tolist()}
    answers: dict[str, Counter[str]] = {name: Counter() for name in writers}
    failures: list[str] = []
    sent = itertools.count()
    writers_done = threading.Event()
    lock = threading.Lock()

    with running_server(model_root, reload_interval_s="0.1", log_level="WARNING") as url:

        def client(offset: int) -> None:
            names = list(writers)
            with httpx2.Client(base_url=url, timeout=30) as http:
                for i in itertools.count(offset):
                    n = next(sent)
                    if n >= budget.hot_swap_requests and writers_done.is_set():
                        return
                    name = names[i % len(names)]
                    response = http.post(f"/models/{name}/predict", json=body)
                    with lock:
                        if response.status_code != 200:
                            failures.append(f"{name}: {response.status_code} {response.text}")
                        else:
                            answers[name][response.json()["version"]] += 1

        def writer(name: str) -> None:
            with httpx2.Client(base_url=url, timeout=30) as http:
                for i in range(budget.hot_swap_replacements):
                    data = b if i % 2 == 0 else a
                    writers[name](data)
                    if name in SERVED_AT_ONCE and not _served(http, name, _version(data), body):
                        with lock:
                            failures.append(f"{name}: swap {i} not served within {SEEN_WITHIN_S} s")
                    time.sleep(0.05)

        for name in writers:  # every model loaded once before the swaps begin
            assert httpx2.post(f"{url}/models/{name}/predict", json=body).status_code == 200
        clients = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        swaps = [threading.Thread(target=writer, args=(name,)) for name in writers]
        for thread in clients + swaps:
            thread.start()
        for thread in swaps:
            thread.join(timeout=300)
        writers_done.set()
        for thread in clients:
            thread.join(timeout=300)

    for name, seen in answers.items():
        report(
            "hot-swap",
            writer=name,
            requests=sum(seen.values()),
            replacements=budget.hot_swap_replacements,
            failed=sum(1 for failure in failures if failure.startswith(f"{name}:")),
            unpublished=sum(count for version, count in seen.items() if version not in allowed),
            versions_served=len(seen),
        )
    assert failures == []
    unwritten = {name: set(seen) - allowed for name, seen in answers.items() if set(seen) - allowed}
    assert unwritten == {}
