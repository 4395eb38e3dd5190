"""Behaviours of the serving path that no other test pins down: where large batches run (on
both prediction routes), and that a model's metadata is checked against the model on the way
to a prediction."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi.testclient import TestClient

from router.api import create_app
from router.api import models as models_api
from router.api.v2 import routes as v2_routes
from tests.modelkit import rows, train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from router.registry.registry import ModelRegistry
    from router.settings import Settings


def _threads_of_predictions(
    settings: Settings,
    registry: ModelRegistry,
    path: str,
    body: dict[str, Any],
    predict: Callable[..., Any],
) -> list[str]:
    """Where ``predict`` (the route's prediction function) ran for one request: on the
    worker thread, or (offloaded nowhere) the caller's thread."""
    app = create_app(settings, registry)
    offloaded = app.state.run_blocking
    threads: list[str] = []

    async def spy(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if func is predict:
            threads.append("worker")
        return await offloaded(func, *args, **kwargs)

    app.state.run_blocking = spy
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return threads or [threading.current_thread().name]


def _native_request(n_rows: int) -> dict[str, Any]:
    return {"instances": rows(n_rows).tolist()}


def _v2_request(n_rows: int) -> dict[str, Any]:
    matrix = rows(n_rows)
    tensor = {"name": "input", "shape": list(matrix.shape), "datatype": "FP32"}
    return {"inputs": [{**tensor, "data": matrix.ravel().tolist()}]}


def test_small_batches_predict_on_the_loop_and_large_ones_off_it(
    settings: Settings, registry: ModelRegistry, model_root: Path
) -> None:
    write_model(model_root, "m", train_booster(trees=3))
    limit = models_api.INLINE_PREDICT_MAX_ROWS
    native = "/models/m/predict", models_api.predict_now
    v2 = "/v2/models/m/infer", v2_routes._answer

    for (path, predict), request in [(native, _native_request), (v2, _v2_request)]:
        small = _threads_of_predictions(settings, registry, path, request(limit), predict)
        large = _threads_of_predictions(settings, registry, path, request(limit + 1), predict)
        assert small != ["worker"], path
        assert large == ["worker"], path


def test_the_inline_limit_is_a_small_batch() -> None:
    # The loop must stay free: a batch that takes more than a thread hop must leave it.
    assert 1 <= models_api.INLINE_PREDICT_MAX_ROWS <= 256


def test_metadata_feature_names_that_differ_from_the_model_are_refused(
    client: TestClient, model_root: Path
) -> None:
    booster = train_booster(feature_names=["a", "b", "c", "d"])
    write_model(model_root, "m", booster, metadata={"feature_names": ["a", "b", "c", "x"]})

    response = client.post("/models/m/predict", json={"instances": rows(1).tolist()})

    assert response.status_code == 503
    assert "feature_names" in response.json()["detail"]


def test_metadata_feature_count_that_differs_from_the_model_is_refused(
    client: TestClient, model_root: Path
) -> None:
    write_model(model_root, "m", train_booster(), metadata={"feature_names": ["a", "b"]})

    response = client.post("/models/m/predict", json={"instances": rows(1).tolist()})

    assert response.status_code == 503
    assert "2 features" in response.json()["detail"]


def test_metadata_names_features_of_a_model_that_has_none(
    client: TestClient, model_root: Path
) -> None:
    booster = train_booster()
    booster.feature_names = None
    write_model(model_root, "m", booster, metadata={"feature_names": ["w", "x", "y", "z"]})
    row = rows(1)[0]

    response = client.post(
        "/models/m/predict",
        json={"instances": [dict(zip(["w", "x", "y", "z"], row.tolist(), strict=True))]},
    )

    assert response.status_code == 200, response.text
    np.testing.assert_allclose(
        response.json()["predictions"], booster.inplace_predict(row[None, :]), rtol=1e-6
    )
