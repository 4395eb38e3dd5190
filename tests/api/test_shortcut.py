"""``POST /models/{name}/predict`` goes past FastAPI's route machinery
(router.api.shortcut) and answers exactly what the FastAPI route answers, errors included."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from router.api import create_app
from router.api import models as models_api
from router.api.shortcut import EndpointShortcut
from router.settings import Settings
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fastapi import FastAPI

    from router.registry.registry import ModelRegistry

ROW = [0.5, -1.0, 2.0, 0.25]
JSON = {"content-type": "application/json"}
# (method, path, body, headers): answers and refusals of every kind.
REQUESTS: dict[str, tuple[str, str, bytes, dict[str, str]]] = {
    "one row": ("POST", "/models/m/predict", json.dumps({"instances": [ROW]}).encode(), JSON),
    "labels": (
        "POST",
        "/models/m/predict",
        json.dumps({"instances": [ROW], "output": "label"}).encode(),
        JSON,
    ),
    "NaN": ("POST", "/models/m/predict", b'{"instances": [[NaN, 1, 2, 3]]}', JSON),
    "not JSON by its type": ("POST", "/models/m/predict", b"a,b", {"content-type": "text/csv"}),
    "too large": ("POST", "/models/m/predict", json.dumps({"instances": [ROW] * 99}).encode(), {}),
    "not JSON": ("POST", "/models/m/predict", b'{"instances": [[1,', JSON),
    "the wrong width": ("POST", "/models/m/predict", b'{"instances": [[1, 2]]}', JSON),
    "an invalid name": ("POST", "/models/-m/predict", b'{"instances": [[1]]}', JSON),
    "an unknown model": ("POST", "/models/none/predict", b'{"instances": [[1]]}', JSON),
    "a broken model": ("POST", "/models/broken/predict", b'{"instances": [[1]]}', JSON),
    "GET on the path": ("GET", "/models/m/predict", b"", {}),
}


@pytest.fixture
def settings(model_root: Path) -> Settings:
    return Settings(model_root=model_root, reload_interval_s=0, max_body_bytes=1024)


@pytest.fixture
def apps(settings: Settings, registry: ModelRegistry, model_root: Path) -> dict[str, FastAPI]:
    write_model(model_root, "m", train_booster("binary"), metadata={"class_labels": ["no", "yes"]})
    write_model(model_root, "broken", b"{not a model")
    shortcut = create_app(settings, registry)
    route_only = create_app(settings, registry)
    route_only.user_middleware = [
        m for m in route_only.user_middleware if m.cls is not EndpointShortcut
    ]
    return {"shortcut": shortcut, "route": route_only}


@pytest.fixture
def clients(apps: dict[str, FastAPI]) -> Iterator[dict[str, TestClient]]:
    with (
        TestClient(apps["shortcut"], raise_server_exceptions=False) as shortcut,
        TestClient(apps["route"], raise_server_exceptions=False) as route,
    ):
        yield {"shortcut": shortcut, "route": route}


def _answer(client: TestClient, request: tuple[str, str, bytes, dict[str, str]]) -> Any:
    method, path, body, headers = request
    response = client.request(method, path, content=body, headers=headers)
    return response.status_code, dict(response.headers), response.content


@pytest.mark.parametrize("case", REQUESTS)
def test_the_shortcut_answers_what_the_route_answers(
    clients: dict[str, TestClient], case: str
) -> None:
    by_route = _answer(clients["route"], REQUESTS[case])

    assert _answer(clients["shortcut"], REQUESTS[case]) == by_route


def test_the_corpus_covers_answers_and_every_kind_of_refusal(
    clients: dict[str, TestClient],
) -> None:
    statuses = {_answer(clients["shortcut"], request)[0] for request in REQUESTS.values()}

    assert statuses == {200, 400, 404, 405, 413, 415, 422, 503}


def _predict_route(app: FastAPI) -> APIRoute:
    (route,) = [
        r for r in app.routes if isinstance(r, APIRoute) and r.endpoint is models_api.predict
    ]
    return route


def test_predict_skips_fastapis_route_which_still_serves_under_a_root_path(
    apps: dict[str, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = apps["shortcut"]
    route = _predict_route(app)
    served_by_route: list[str] = []
    route_app = route.app

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        served_by_route.append(scope["path"])
        await route_app(scope, receive, send)

    monkeypatch.setattr(route, "app", counting)
    body = {"instances": [ROW]}

    with TestClient(app) as client:
        assert client.post("/models/m/predict", json=body).status_code == 200
    assert served_by_route == []
    with TestClient(app, root_path="/api") as client:
        assert client.post("/api/models/m/predict", json=body).status_code == 200
    assert served_by_route == ["/api/models/m/predict"]


def test_the_route_still_documents_predict(apps: dict[str, FastAPI]) -> None:
    operation = apps["shortcut"].openapi()["paths"][models_api.PREDICT_PATH]["post"]

    assert "instances" in json.dumps(operation["requestBody"])
