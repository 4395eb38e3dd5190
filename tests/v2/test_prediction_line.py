"""Every V2 infer writes the prediction log line that ``/models/{name}/predict`` writes
(README, Operations): model, version, rows, output, status, latency and cache, for
answers and for failures alike."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from tests.log_lines import prediction_lines
from tests.v2.conftest import publish

if TYPE_CHECKING:
    from pathlib import Path

    import xgboost as xgb
    from fastapi.testclient import TestClient

    from tests.v2.conftest import Published


@pytest.fixture
def iris(model_root: Path, iris_boosters: list[xgb.Booster]) -> Published:
    return publish(model_root, iris_boosters[0])


def request(rows: int, width: int = 4, **fields: Any) -> dict[str, Any]:
    data = np.ones((rows, width)).tolist()
    tensor = {"name": "input", "shape": [rows, width], "datatype": "FP32", "data": data}
    return {"inputs": [tensor], **fields}


def test_answers_are_logged_with_what_was_served(
    client: TestClient,
    iris: Published,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="router")  # the line's level is checked against it
    outputs = {"outputs": [{"name": "value"}, {"name": "margin"}]}

    for _ in range(2):
        client.post("/v2/models/iris/infer", json=request(3))
    client.post(
        f"/v2/models/iris/versions/{iris.version}/infer",
        json=request(2, **outputs),
        headers={"x-request-id": "req-7"},
    )

    first, second, pinned = prediction_lines(capsys.readouterr().out)
    assert first["level"] == "INFO" and first["status"] == 200
    assert (first["model"], first["version"], first["rows"]) == ("iris", iris.version, 3)
    assert first["output"] == "value" and first["latency_ms"] > 0
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert first["sample_rate"] == 1.0 and "request_id" not in first
    assert (pinned["version"], pinned["rows"], pinned["output"]) == (
        iris.version,
        2,
        "value,margin",
    )
    assert pinned["status"] == 200 and pinned["request_id"] == "req-7"


FAILURES: list[tuple[str, str, Any, int, str | None]] = [
    ("not JSON", "/v2/models/iris/infer", b"{inputs", 400, "iris"),
    ("wrong width", "/v2/models/iris/infer", request(1, width=3), 422, "iris"),
    ("UINT8 of 300", "/v2/models/iris/infer", {"inputs": [
        {"name": "x", "shape": [1, 4], "datatype": "UINT8", "data": [300, 1, 1, 1]}]}, 400, "iris"),
    ("too many rows", "/v2/models/iris/infer", request(20_000), 413, "iris"),
    ("no such model", "/v2/models/nope/infer", request(1), 404, "nope"),
    ("unknown version", "/v2/models/iris/versions/0123456789ab/infer", request(1), 404, "iris"),
    ("invalid name", "/v2/models/-bad-/infer", request(1), 400, None),  # not the caller's text
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "model"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
def test_failures_are_logged_with_their_status(
    client: TestClient,
    iris: Published,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    path: str,
    body: Any,
    status: int,
    model: str | None,
) -> None:
    caplog.set_level(logging.INFO, logger="router")
    content = body if isinstance(body, bytes) else json.dumps(body).encode()

    response = client.post(path, content=content)

    assert response.status_code == status
    (line,) = prediction_lines(capsys.readouterr().out)
    assert (line["level"], line["status"], line.get("model")) == ("WARNING", status, model)
    assert "version" not in line and "cache" not in line  # nothing was served
    assert line["sample_rate"] == 1.0
