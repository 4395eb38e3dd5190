"""Readers predicting continuously while a model is republished 50 times see the old or the
new predictions, never an error: a publish is one atomic rename of one complete file."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from router.publish.local import ModelFolder
from router.publish.validate import validate_model
from router.registry.registry import ModelRegistry
from router.settings import Settings
from tests.modelkit import model_bytes, rows, train_booster

if TYPE_CHECKING:
    from pathlib import Path

REPUBLISHES = 50
READERS = 2


@pytest.mark.timeout(60)
def test_readers_see_old_or_new_predictions_and_no_error_across_50_republishes(
    model_root: Path,
) -> None:
    boosters = [train_booster("regression", seed=seed, trees=20) for seed in (1, 2)]
    versions = [validate_model(model_bytes(booster)).data for booster in boosters]
    matrix = rows(8)
    allowed = {booster.inplace_predict(matrix).tobytes(): i for i, booster in enumerate(boosters)}
    with ModelFolder(model_root, "m", history_limit=3) as folder:
        folder.publish(versions[0])
    # Every request checks the file, as the router on Lambda does within its reload interval.
    registry = ModelRegistry.from_settings(Settings(model_root=model_root, reload_interval_s=0))
    stop = threading.Event()
    served = threading.Condition()  # notified at every prediction a reader checked
    seen: Counter[int] = Counter()
    failures: list[Exception | str] = []

    def read() -> None:
        while not stop.is_set():
            try:
                predictions = registry.get("m").predictor.predict(matrix).tobytes()
            except Exception as exc:  # any error at all is a failure of the publisher
                with served:
                    failures.append(exc)
                    served.notify_all()
                continue
            with served:
                if predictions in allowed:
                    seen[allowed[predictions]] += 1
                else:
                    failures.append("predictions from neither version")
                served.notify_all()

    readers = [threading.Thread(target=read) for _ in range(READERS)]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    for i in range(REPUBLISHES):
        live = (i + 1) % 2
        with served:
            before = seen[live]
        with ModelFolder(model_root, "m", history_limit=3) as folder:
            assert folder.publish(versions[live]).changed

        def live_served(live: int = live, before: int = before) -> bool:
            return seen[live] > before or bool(failures)

        with served:  # readers serve each version before the next publish replaces it
            assert served.wait_for(live_served, timeout=10), f"publish {i} was never served"
    elapsed = time.monotonic() - started
    stop.set()
    for reader in readers:
        reader.join()

    assert failures == []
    assert seen[0] > 0 and seen[1] > 0
    assert registry.metrics.totals().get("LoadFailure", 0) == 0
    assert elapsed < 30
