"""``POST /models/{name}/predict`` is served ahead of the app (router.api.asgi_predict),
and answers exactly what the FastAPI route answers: status, headers and bytes, and the same
prediction line, for answers and for every kind of refusal."""

from __future__ import annotations

import gzip
import json
import logging
import random
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from router.api import create_app
from router.api import models as models_api
from router.api.body import INLINE_PARSE_MAX_BYTES
from router.settings import Settings
from tests.log_lines import (
    assert_the_secret_is_only_in_the_log,
    comparable_prediction_lines,
    fail_with_a_secret,
)
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from router.api.app import RouterApp
    from router.registry.registry import ModelRegistry

MAX_BODY_BYTES = 200_000
ROW = [0.5, -1.0, 2.0, 0.25]
FEATURES = ["a", "b", "c", "d"]
OBJECT_ROW = dict(zip(FEATURES, ROW, strict=True))
JSON = {"content-type": "application/json"}
_rng = random.Random(7)
# Over the size parsed on the event loop, and over the rows predicted on it: both in a thread.
MANY_ROWS = json.dumps({"instances": [[_rng.random() for _ in ROW] for _ in range(1200)]})
assert len(MANY_ROWS) > INLINE_PARSE_MAX_BYTES


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


Request = tuple[str, str, bytes, dict[str, str]]
ONE_ROW = _json({"instances": [ROW]})
PREDICT = "/models/m/predict"
# (method, path, body, headers): answers and refusals of every kind.
REQUESTS: dict[str, Request] = {
    "one row": ("POST", PREDICT, ONE_ROW, JSON),
    "rows as objects": ("POST", PREDICT, _json({"instances": [OBJECT_ROW]}), JSON),
    "labels": ("POST", PREDICT, _json({"instances": [ROW], "output": "label"}), JSON),
    "margin, all rounds": (
        "POST",
        PREDICT,
        _json({"instances": [ROW], "output": "margin", "rounds": "all"}),
        JSON,
    ),
    "NaN": ("POST", PREDICT, b'{"instances": [[NaN, 1, 2, 3]]}', JSON),
    "many rows": ("POST", PREDICT, MANY_ROWS.encode(), JSON),
    "gzip": ("POST", PREDICT, gzip.compress(ONE_ROW), {**JSON, "content-encoding": "gzip"}),
    "an unknown coding": ("POST", PREDICT, ONE_ROW, {**JSON, "content-encoding": "br"}),
    "a charset": ("POST", PREDICT, ONE_ROW, {"content-type": "application/json; charset=utf-8"}),
    "no content type": ("POST", PREDICT, ONE_ROW, {}),
    "a request id": ("POST", PREDICT, ONE_ROW, {**JSON, "x-request-id": "r" * 300}),
    "not JSON by its type": ("POST", PREDICT, b"a,b", {"content-type": "text/csv"}),
    "too large": ("POST", PREDICT, _json({"instances": [ROW] * 20_000}), JSON),
    "no body": ("POST", PREDICT, b"", JSON),
    "not JSON": ("POST", PREDICT, b'{"instances": [[1,', JSON),
    "not UTF-8": ("POST", PREDICT, b'{"instances": [[1, "\xff"]]}', JSON),
    "a key twice": ("POST", PREDICT, b'{"instances": [[1, 2, 3, 4]], "instances": [[1]]}', JSON),
    "the wrong width": ("POST", PREDICT, b'{"instances": [[1, 2]]}', JSON),
    "an invalid name": ("POST", "/models/-m/predict", b'{"instances": [[1]]}', JSON),
    "a percent-encoded name": ("POST", "/models/%6D/predict", ONE_ROW, JSON),
    "an unknown model": ("POST", "/models/none/predict", b'{"instances": [[1]]}', JSON),
    "a broken model": ("POST", "/models/broken/predict", b'{"instances": [[1]]}', JSON),
    "GET on the path": ("GET", PREDICT, b"", {}),
    "HEAD on the path": ("HEAD", PREDICT, b"", {}),
}


@pytest.fixture
def settings(model_root: Path) -> Settings:
    return Settings(model_root=model_root, reload_interval_s=0, max_body_bytes=MAX_BODY_BYTES)


@pytest.fixture
def apps(settings: Settings, registry: ModelRegistry, model_root: Path) -> dict[str, RouterApp]:
    write_model(
        model_root,
        "m",
        train_booster("binary", feature_names=FEATURES),
        metadata={"class_labels": ["no", "yes"]},
    )
    write_model(model_root, "broken", b"{not a model")
    direct = create_app(settings, registry)
    route_only = create_app(settings, registry)
    route_only.direct_predict = None
    return {"direct": direct, "route": route_only}


@pytest.fixture
def clients(apps: dict[str, RouterApp]) -> Iterator[dict[str, TestClient]]:
    with (
        TestClient(apps["direct"], raise_server_exceptions=False) as direct,
        TestClient(apps["route"], raise_server_exceptions=False) as route,
    ):
        yield {"direct": direct, "route": route}


def _answer(client: TestClient, request: Request) -> Any:
    method, path, body, headers = request
    response = client.request(method, path, content=body, headers=headers)
    return response.status_code, response.headers.raw, response.content


@pytest.mark.parametrize("case", REQUESTS)
def test_the_direct_path_answers_what_the_route_answers(
    clients: dict[str, TestClient], case: str
) -> None:
    by_route = _answer(clients["route"], REQUESTS[case])

    assert _answer(clients["direct"], REQUESTS[case]) == by_route


def test_the_corpus_covers_answers_and_every_kind_of_refusal(
    clients: dict[str, TestClient],
) -> None:
    statuses = {_answer(clients["direct"], request)[0] for request in REQUESTS.values()}

    assert statuses == {200, 400, 404, 405, 413, 415, 422, 503}


@pytest.mark.parametrize(
    "case", ["one row", "many rows", "a request id", "the wrong width", "an invalid name"]
)
def test_the_direct_path_writes_the_routes_prediction_line(
    clients: dict[str, TestClient],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    caplog.set_level(logging.INFO, logger="router")  # the level `make run` logs at
    for client in clients.values():  # the first, cold-start lines, out of the way
        _answer(client, REQUESTS["one row"])
    capsys.readouterr()
    _answer(clients["route"], REQUESTS[case])
    by_route = comparable_prediction_lines(capsys.readouterr().out)

    _answer(clients["direct"], REQUESTS[case])

    assert comparable_prediction_lines(capsys.readouterr().out) == by_route
    assert len(by_route) == 1


def test_a_body_sent_in_chunks_is_read_whole(clients: dict[str, TestClient]) -> None:
    body = MANY_ROWS.encode()
    chunks = [body[start : start + 1000] for start in range(0, len(body), 1000)]

    response = clients["direct"].post(PREDICT, content=iter(chunks), headers=JSON)

    assert response.status_code == 200
    assert response.content == _answer(clients["route"], REQUESTS["many rows"])[2]


def test_a_body_growing_past_the_limit_in_chunks_is_413(clients: dict[str, TestClient]) -> None:
    chunks = iter([b'{"instances": [' + b"[1, 2, 3, 4]," * 10_000] * 3)

    response = clients["direct"].post(PREDICT, content=chunks, headers=JSON)

    assert response.status_code == 413
    assert "ROUTER_MAX_BODY_BYTES" in response.json()["detail"]


def test_a_bug_on_the_direct_path_is_the_apps_500_problem_with_the_trace_in_the_log(
    clients: dict[str, TestClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(models_api, "predict_now", fail_with_a_secret)
    by_route = _answer(clients["route"], REQUESTS["one row"])
    caplog.clear()

    direct = _answer(clients["direct"], REQUESTS["one row"])

    assert direct == by_route
    assert direct[0] == 500
    assert_the_secret_is_only_in_the_log(caplog, direct[2].decode())


def _predict_route(app: RouterApp) -> APIRoute:
    (route,) = [
        r for r in app.routes if isinstance(r, APIRoute) and r.endpoint is models_api.predict
    ]
    return route


def test_predict_skips_the_app_whose_route_still_serves_under_a_root_path(
    apps: dict[str, RouterApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = apps["direct"]
    route = _predict_route(app)
    served_by_route: list[str] = []
    route_app = route.app

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        served_by_route.append(scope["path"])
        await route_app(scope, receive, send)

    monkeypatch.setattr(route, "app", counting)
    body = {"instances": [ROW]}

    with TestClient(app) as client:
        assert client.post(PREDICT, json=body).status_code == 200
    assert served_by_route == []
    with TestClient(app, root_path="/api") as client:
        assert client.post("/api" + PREDICT, json=body).status_code == 200
    assert served_by_route == ["/api" + PREDICT]


def test_other_requests_reach_the_app_and_its_middleware(apps: dict[str, RouterApp]) -> None:
    with TestClient(apps["direct"]) as client:
        assert client.head("/health").status_code == 200  # HeadAsGet, a middleware
        assert client.get("/models").status_code == 200
        assert client.post("/v2/models/m/infer", json={}).status_code == 422


def test_the_route_still_documents_predict(apps: dict[str, RouterApp]) -> None:
    operation = apps["direct"].openapi()["paths"][models_api.PREDICT_PATH]["post"]

    assert "instances" in json.dumps(operation["requestBody"])
