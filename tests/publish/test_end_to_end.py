"""From a laptop to predictions: ``model-router publish --bucket`` to a moto inbox, the inbox
handler on the resulting event, then the router's Lambda handler serving the new model from
the same "EFS" folder without a restart; ``rollback`` brings the old predictions back."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from router.cli import main
from tests.events import load_event
from tests.modelkit import train_booster

from .conftest import s3_event

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    import pytest
    import xgboost as xgb

    from scripts.lambda_inputs import LambdaContext

    from .conftest import InboxRun

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]  # the row in tests/events/apigw_http_v2.json
KEY = "models/iris/model.ubj"


def expected(booster: xgb.Booster) -> np.ndarray:
    return booster.inplace_predict(np.asarray([IRIS_ROW], dtype=np.float32))  # type: ignore[no-any-return]


def test_publish_serve_replace_and_roll_back_through_the_inbox(
    inbox: InboxRun,
    efs: Path,
    tmp_path: Path,
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = train_booster("multiclass", seed=1), train_booster("multiclass", seed=2)
    old.save_model(tmp_path / "iris-old.json")  # a JSON model: published as UBJ
    new.save_model(tmp_path / "iris-new.ubj")
    router = import_handler(efs, reload_interval_s="0")

    def cli(*argv: str | Path) -> str:
        assert main([str(arg) for arg in argv]) == 0
        out = capsys.readouterr().out  # minus the JSON log lines of the handlers
        return "\n".join(line for line in out.splitlines() if not line.startswith("{"))

    def deliver(out: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
        version = re.search(r"^version: (\S+)$", out, re.MULTILINE)
        assert version is not None, out
        event = s3_event(
            inbox.bucket,
            KEY,
            version_id=version.group(1),
            sequencer=inbox.sequencers.next(),
            event_name=event_name,
        )
        return inbox.deliver(event)

    def predict() -> np.ndarray:
        response = router.handler(load_event("apigw_http_v2"), context)
        assert response["statusCode"] == 200, response["body"]
        return np.asarray(json.loads(response["body"])["predictions"], dtype=np.float32)

    published = cli(
        "publish", tmp_path / "iris-old.json", "--name", "iris", "--bucket", inbox.bucket
    )
    assert deliver(published)["status"] == "published"
    np.testing.assert_array_equal(predict(), expected(old))

    published = cli(
        "publish", tmp_path / "iris-new.ubj", "--name", "iris", "--bucket", inbox.bucket
    )
    assert deliver(published)["status"] == "published"
    np.testing.assert_array_equal(predict(), expected(new))

    rolled_back = cli("rollback", "iris", "--bucket", inbox.bucket)
    assert deliver(rolled_back, "ObjectCreated:Copy")["status"] == "published"
    np.testing.assert_array_equal(predict(), expected(old))

    assert router.registry.metrics.totals()["ModelLoad"] == 3  # one process, three versions
    listing = cli("versions", "iris", "--bucket", inbox.bucket).splitlines()[1:]
    assert [row.split()[-1] for row in listing] == ["(live)", "replaced", "replaced"]
