from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from starlette.routing import Route

from tests.modelkit import (
    model_bytes,
    replace_file,
    rows,
    train_booster,
    train_variant,
    write_model,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi.testclient import TestClient


def test_list_shows_every_model_and_whether_it_is_loaded(
    client: TestClient, model_root: Path
) -> None:
    write_model(model_root, "a", train_booster(), layout="file")
    write_model(model_root, "b", train_booster(), layout="directory", fmt="json")
    client.post("/models/a/predict", json={"instances": rows(1).tolist()})

    models = {m["name"]: m for m in client.get("/models").json()["models"]}

    assert models["a"]["loaded"] is True and len(models["a"]["version"]) == 12
    assert models["b"] == models["b"] | {"loaded": False, "format": "json", "layout": "directory"}


def test_the_list_says_a_loaded_version_is_older_than_the_file_on_disk(
    client: TestClient, model_root: Path
) -> None:
    # The list does not load: after a retrain it shows the version loaded before, and says
    # that it is not the file's.
    path = write_model(model_root, "a", train_booster(seed=1), layout="file")
    served = client.post("/models/a/predict", json={"instances": rows(1).tolist()}).json()
    listed = client.get("/models").json()["models"][0]
    assert (listed["version"], listed["stale"]) == (served["version"], False)

    replace_file(path, model_bytes(train_booster(seed=2)))
    listed = client.get("/models").json()["models"][0]

    assert (listed["version"], listed["stale"]) == (served["version"], True)
    assert listed["file_bytes"] == path.stat().st_size


def test_vector_leaf_models_do_not_offer_contributions_xgboost_cannot_compute(
    client: TestClient, model_root: Path
) -> None:
    # Trees with vector leaves (multi_output_tree): XGBoost refuses pred_contribs, so the
    # router neither lists the output nor blames the rows for it. Two targets in trees of
    # one output each (XGBoost's default strategy) answer contributions as any model does.
    strategies = {"vector": "multi_output_tree", "per-target": "one_output_per_tree"}
    for name, strategy in strategies.items():
        booster = train_variant(
            {"tree_method": "hist", "multi_strategy": strategy, "max_depth": 2}, targets=2
        )
        write_model(model_root, name, booster, layout="file")
    row = {"instances": [[0.1, 0.2, 0.3, 0.4]], "output": "contributions"}

    vector = client.get("/models/vector").json()
    refused = client.post("/models/vector/predict", json=row)
    per_target = client.get("/models/per-target").json()
    answered = client.post("/models/per-target/predict", json=row)

    assert "contributions" not in vector["outputs"] and "margin" in vector["outputs"]
    assert refused.status_code == 422
    assert "answers no contributions" in refused.json()["detail"]
    assert "XGBoost refused the rows" not in refused.json()["detail"]
    assert "contributions" in per_target["outputs"]
    assert answered.status_code == 200
    assert np.asarray(answered.json()["predictions"]).shape == (1, 2, 5)


def test_describe_loads_and_shows_features_task_and_labels(
    client: TestClient, model_root: Path
) -> None:
    write_model(
        model_root,
        "iris",
        train_booster("multiclass", feature_names=["sl", "sw", "pl", "pw"]),
        metadata={"class_labels": ["a", "b", "c"], "description": "demo"},
    )

    detail = client.get("/models/iris").json()

    assert detail["loaded"] is True and detail["stale"] is False
    assert detail["task"] == "multiclass" and detail["objective"] == "multi:softprob"
    assert detail["feature_names"] == ["sl", "sw", "pl", "pw"] and detail["num_features"] == 4
    assert detail["class_labels"] == ["a", "b", "c"] and detail["description"] == "demo"
    assert detail["memory_bytes"] > detail["file_bytes"] > 0
    assert detail["loaded_at"] > 0 and detail["last_error"] is None


def test_describe_shows_a_failed_replacement_while_old_version_serves(
    client: TestClient, model_root: Path
) -> None:
    path = write_model(model_root, "m", train_booster(seed=1), layout="file")
    old_version = client.get("/models/m").json()["version"]
    replace_file(path, model_bytes(train_booster(seed=2))[:100])

    detail = client.get("/models/m").json()
    predict = client.post("/models/m/predict", json={"instances": rows(1).tolist()})

    assert detail["version"] == old_version and detail["stale"] is True
    # Not "no loadable version": the old one answers, and the error says so.
    assert detail["last_error"].startswith("the model's file does not load (not a valid")
    assert detail["last_error"].endswith(f"; version {old_version} answers")
    assert predict.status_code == 200 and predict.json()["version"] == old_version
    listed = {model["name"]: model for model in client.get("/models").json()["models"]}
    assert listed["m"]["last_error"] == detail["last_error"]


def test_health_reports_cache_and_counters(client: TestClient, model_root: Path) -> None:
    write_model(model_root, "m", train_booster(), layout="file")
    client.post("/models/m/predict", json={"instances": rows(1).tolist()})

    health = client.get("/health").json()

    assert health["status"] == "ok"
    assert health["cache"]["models"] == 1 and health["cache"]["bytes"] > 0
    assert health["counters"]["CacheMiss"] == 1


def test_openapi_documents_the_predict_body_and_docs_render(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/models/{name}/predict"]["post"]

    schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert "instances" in schema["properties"]
    assert "422" in predict["responses"] and "413" in predict["responses"]
    # The endpoint reads the name itself, so the spec must still say it is there.
    (parameter,) = predict["parameters"]
    assert parameter["in"] == "path" and parameter["name"] == "name" and parameter["required"]
    pattern = re.compile(parameter["schema"]["pattern"])
    assert pattern.match("breast-cancer_v2.1") and not pattern.match("../etc")
    assert client.get("/docs").status_code == 200


def test_every_route_is_matched_on_the_app_itself(client: TestClient) -> None:
    # No nested routers, which FastAPI matches and bookkeeps again on every request; and the
    # hot path first, since routes are tried in order.
    assert all(isinstance(route, Route) for route in client.app.routes)  # type: ignore[attr-defined]
    assert client.app.routes[0].path == "/models/{name}/predict"  # type: ignore[attr-defined]
    assert {route.path for route in client.app.routes} >= {  # type: ignore[attr-defined]
        "/models",
        "/models/{name}",
        "/models/{name}/predict",
        "/health",
    }
