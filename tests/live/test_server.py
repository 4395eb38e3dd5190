"""The real server process: what a user gets from `model-router serve`."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

import httpx2
import numpy as np
import pytest

from tests.live.server import running_server
from tests.modelkit import model_bytes, replace_file, rows, train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

RELOAD_INTERVAL_S = 0.5

pytestmark = pytest.mark.slow


def predict(base_url: str, matrix: np.ndarray) -> dict[str, object]:
    response = httpx2.post(
        f"{base_url}/models/m/predict", json={"instances": matrix.tolist()}, timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_dropped_in_model_is_served_within_the_reload_interval(model_root: Path) -> None:
    old_booster, new_booster = train_booster(seed=1, trees=8), train_booster(seed=2, trees=8)
    path = write_model(model_root, "m", old_booster)
    matrix = rows(4)

    with running_server(model_root, reload_interval_s=str(RELOAD_INTERVAL_S)) as base_url:
        before = predict(base_url, matrix)
        replace_file(path, model_bytes(new_booster))  # what a retraining job does
        dropped_at = time.monotonic()
        deadline = dropped_at + RELOAD_INTERVAL_S + 5
        after = before
        while after["version"] == before["version"] and time.monotonic() < deadline:
            time.sleep(0.05)
            after = predict(base_url, matrix)
        seen_after = time.monotonic() - dropped_at

    np.testing.assert_array_equal(
        np.asarray(before["predictions"], dtype=np.float32), old_booster.inplace_predict(matrix)
    )
    assert after["version"] != before["version"], "the new model was never served"
    np.testing.assert_array_equal(
        np.asarray(after["predictions"], dtype=np.float32), new_booster.inplace_predict(matrix)
    )
    assert seen_after < RELOAD_INTERVAL_S + 2


def test_server_answers_every_endpoint_and_problem(model_root: Path) -> None:
    write_model(model_root, "m", train_booster())

    with running_server(model_root) as base_url:
        listing = httpx2.get(f"{base_url}/models", timeout=10)
        missing = httpx2.post(f"{base_url}/models/nope/predict", json={"instances": [[1.0]]})
        docs = httpx2.get(f"{base_url}/docs", timeout=10)

    assert [m["name"] for m in listing.json()["models"]] == ["m"]
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert docs.status_code == 200


def _raw_exchange(base_url: str, request: bytes) -> tuple[bytes, bytes]:
    """One request on its own connection, and everything the server sent until it closed:
    (head, what came after the blank line)."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


def test_head_answers_as_get_without_a_body(model_root: Path) -> None:
    """``curl -I`` on a GET endpoint: GET's status and headers, and no body on the wire."""
    write_model(model_root, "m", train_booster())

    with running_server(model_root) as base_url:
        for path in ("/health", "/models", "/models/m"):
            got = httpx2.get(base_url + path, timeout=10)
            request = f"HEAD {path} HTTP/1.1\r\nHost: router\r\nConnection: close\r\n\r\n"
            head, rest = _raw_exchange(base_url, request.encode())
            lines = head.decode().split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            assert lines[0] == "HTTP/1.1 200 OK", (path, lines[0])
            assert headers["content-type"] == got.headers["content-type"]
            assert rest == b"", path
        on_predict = httpx2.head(base_url + "/models/m/predict", timeout=10)

    assert (on_predict.status_code, on_predict.headers["allow"]) == (405, "POST")
