"""The inbox locks one model folder at a time: a publish of one model never waits for
another model's publisher, and one of the same model does."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from router.publish.local import ModelFolder
from tests.modelkit import model_bytes, train_booster

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import InboxRun

WAIT_S = 20.0


def deliver_in_background(inbox: InboxRun, event: dict[str, Any]) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        inbox.deliver(event)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def test_another_models_publisher_does_not_wait_for_a_held_lock(inbox: InboxRun, efs: Path) -> None:
    event = inbox.put("models/other/model.ubj", model_bytes(train_booster(seed=2)))

    with ModelFolder(efs, "churn", history_limit=5):  # a publisher of churn, stuck mid-publish
        done = deliver_in_background(inbox, event)
        assert done.wait(WAIT_S), "publishing `other` waited for the lock on `churn`"

    assert (efs / "other" / "model.ubj").exists()


def test_the_same_models_publisher_waits_for_a_held_lock(inbox: InboxRun, efs: Path) -> None:
    event = inbox.put("models/churn/model.ubj", model_bytes(train_booster(seed=3)))

    with ModelFolder(efs, "churn", history_limit=5):
        done = deliver_in_background(inbox, event)
        assert not done.wait(0.5), "publishing `churn` did not wait for its own lock"
    assert done.wait(WAIT_S)

    assert (efs / "churn" / "model.ubj").exists()
