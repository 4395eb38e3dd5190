"""A client that stops half way through its body gets a 408 and frees its connection, while
the server goes on answering others: against a real ``model-router serve``."""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.live.server import running_server
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

BODY_TIMEOUT_S = 1.0


# A predict request on each API, whose body stops after its first bytes.
STALLED_REQUESTS = {
    "models": (b"POST /models/m/predict", b'{"instances": [[0.1,'),
    "v2": (b"POST /v2/models/m/infer", b'{"inputs": [{"name": "x",'),
}


@pytest.mark.parametrize("api", STALLED_REQUESTS)
def test_a_stalled_body_is_408_within_the_body_timeout(model_root: Path, api: str) -> None:
    write_model(model_root, "m", train_booster())
    request_line, first_bytes = STALLED_REQUESTS[api]

    with running_server(model_root, body_timeout_s=str(BODY_TIMEOUT_S)) as base_url:
        address = urlsplit(base_url)
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            sock.sendall(
                request_line + b" HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n" + first_bytes
            )
            started = time.monotonic()
            other = httpx2.get(f"{base_url}/health", timeout=10)  # meanwhile, others are served
            answer = _read_until_closed(sock)
            waited = time.monotonic() - started

    assert other.status_code == 200
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"ROUTER_BODY_TIMEOUT_S" in answer
    assert BODY_TIMEOUT_S * 0.9 <= waited < BODY_TIMEOUT_S + 10


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_that_hangs_up_mid_body_is_logged_as_499_not_as_a_failure(
    model_root: Path, tmp_path: Path
) -> None:
    write_model(model_root, "m", train_booster())

    with (
        (tmp_path / "server.log").open("w+b") as output,
        running_server(model_root, output=output) as base_url,
    ):
        address = urlsplit(base_url)
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            sock.sendall(
                b"POST /models/m/predict HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
                b'{"instances": [[0.1,'
            )
        deadline = time.monotonic() + 10
        while b'"status":499' not in (tmp_path / "server.log").read_bytes():
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.05)
        after = httpx2.post(f"{base_url}/models/m/predict", json={"instances": [[0.1] * 4]})

    log = (tmp_path / "server.log").read_text()
    assert after.status_code == 200
    line = next(line for line in log.splitlines() if '"status":499' in line)
    assert '"level":"WARNING"' in line
    assert "Traceback" not in log
    assert "unhandled error" not in log


# What a client that is not HTTP/1.1 sends, and the words the problem names it by.
UNPARSABLE_REQUESTS = {
    "request line": (b"GARBAGE\r\n\r\n", "invalid method"),
    "content length": (
        b"GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: ten\r\n\r\n",
        "Content-Length",
    ),
    "chunk size": (
        b"POST /models/m/predict HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        "chunk size",
    ),
    "70 kB URL": (b"GET /models/" + b"m" * 70_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n", "over 64 KiB"),
    "2,000 headers": (
        b"GET /health HTTP/1.1\r\nhost: x\r\n"
        + b"".join(b"x-padding-%d: %s\r\n" % (i, b"p" * 24) for i in range(2000))
        + b"\r\n",
        "over 64 KiB",
    ),
}


def test_a_request_the_server_cannot_parse_gets_a_problem_body(model_root: Path) -> None:
    write_model(model_root, "m", train_booster())

    with running_server(model_root) as base_url:
        address = urlsplit(base_url)
        for case, (request_bytes, detail) in UNPARSABLE_REQUESTS.items():
            with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
                sock.sendall(request_bytes)
                answer = _read_until_closed(sock)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400"), (case, answer[:300])
            assert b"content-type: application/problem+json" in head.lower(), case
            problem = json.loads(body)
            assert problem["type"] == "urn:model-router:problem:invalid-http-request", case
            assert problem["status"] == 400
            assert detail in problem["detail"], (case, problem)
        # Under the bound, however many: a browser's cookies, a proxy's forwarding headers.
        padding = {f"x-padding-{i}": "p" * 24 for i in range(1000)}
        health = httpx2.get(f"{base_url}/health", headers=padding, timeout=10)

    assert health.status_code == 200
