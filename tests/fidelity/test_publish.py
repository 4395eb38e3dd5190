"""After a publish, through the inbox or into a folder, the model still answers what its
estimator answers; and class labels live with the model across retrains, by one rule in
both paths: a version published without metadata keeps the live version's, and
``--drop-metadata`` publishes without."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import xgboost as xgb

from router.cli import main
from router.publish.validate import validate_model
from router.xgb.metadata import EMBEDDED_METADATA_ATTR
from tests.events import http_api_event

from .compare import assert_same, requests_for
from .estimators import classifier

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    import pytest

    from scripts.lambda_inputs import LambdaContext
    from tests.publish.conftest import InboxRun

    from .estimators import Case

LABELS = {"class_labels": ["stays", "churns"]}


def live_metadata(root: Path, name: str) -> dict[str, object] | None:
    raw = xgb.Booster(model_file=root / name / "model.ubj").attr(EMBEDDED_METADATA_ATTR)
    return None if raw is None else dict(json.loads(raw))


def test_models_published_through_the_inbox_answer_what_their_estimators_answer(
    inbox: InboxRun,
    efs: Path,
    store: Path,
    cases: dict[str, Case],
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
) -> None:
    chosen = [cases[name] for name in ("binary-es", "multiclass-es", "categorical-es", "forest")]
    for case in chosen:
        # What a data scientist uploads with the AWS CLI: the estimator's file, then labels.
        folder = store / case.name
        model = inbox.put(
            f"models/{case.name}/model.{case.fmt}", (folder / f"model.{case.fmt}").read_bytes()
        )
        assert inbox.deliver(model)["status"] == "published"
        if case.metadata:
            metadata = inbox.put(
                f"models/{case.name}/metadata.json", json.dumps(case.metadata).encode()
            )
            assert inbox.deliver(metadata)["status"] == "published"
    router = import_handler(efs)
    for case in chosen:
        for form, output, request in requests_for(case):
            event = http_api_event(
                "POST", f"/models/{case.name}/predict", request,
                headers={"content-type": "application/json"},
            )  # fmt: skip
            response = router.handler(event, context)
            assert response["statusCode"] == 200, (case.name, form, output, response["body"])
            assert_same(case, output, json.loads(response["body"]))


def test_labels_survive_a_retrain_through_the_inbox(inbox: InboxRun, efs: Path) -> None:
    first = classifier("churn", "ubj", early=True).booster
    retrained = classifier("churn", "ubj", early=False).booster
    labelled = validate_model(bytes(first.save_raw("ubj")), metadata=json.dumps(LABELS).encode())
    # publish --bucket --metadata: the labels travel inside the uploaded file
    assert (
        inbox.deliver(inbox.put("models/churn/model.ubj", labelled.data))["status"] == "published"
    )
    assert live_metadata(efs, "churn") == LABELS

    # A retrain uploaded without metadata keeps the live version's labels.
    plain = bytes(retrained.save_raw("ubj"))
    assert inbox.deliver(inbox.put("models/churn/model.ubj", plain))["status"] == "published"
    assert live_metadata(efs, "churn") == LABELS
    assert xgb.Booster(model_file=efs / "churn" / "model.ubj").num_boosted_rounds() == 60

    # publish --bucket --drop-metadata uploads the model with empty metadata of its own.
    dropped = validate_model(plain, metadata=b"{}").data
    assert inbox.deliver(inbox.put("models/churn/model.ubj", dropped))["status"] == "published"
    assert live_metadata(efs, "churn") == {}


def test_labels_survive_a_retrain_in_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    first, retrained = tmp_path / "first.ubj", tmp_path / "retrained.json"
    classifier("churn", "ubj", early=True).model.save_model(first)
    classifier("churn", "json", early=False).model.save_model(retrained)
    metadata = tmp_path / "labels.json"
    metadata.write_text(json.dumps(LABELS))
    target = ["--name", "churn", "--model-root", str(root)]

    assert main(["publish", str(first), *target, "--metadata", str(metadata)]) == 0
    out = capsys.readouterr().out
    assert "early stopping at best_iteration" in out and "serves rounds 1-" in out
    assert live_metadata(root, "churn") == LABELS

    assert main(["publish", str(retrained), *target]) == 0
    out = capsys.readouterr().out
    assert "kept the live version's metadata (class_labels)" in out
    assert "no early stopping: serves all 60 rounds" in out
    assert live_metadata(root, "churn") == LABELS

    assert main(["publish", str(retrained), *target, "--drop-metadata"]) == 0
    assert live_metadata(root, "churn") == {}
