"""A client that stops half way through its body gets a 408 and frees its connection, while
the server goes on answering others: against a real ``model-router serve``."""

from __future__ import annotations

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


def test_a_stalled_body_is_408_within_the_body_timeout(model_root: Path) -> None:
    write_model(model_root, "m", train_booster())

    with running_server(model_root, body_timeout_s=str(BODY_TIMEOUT_S)) as base_url:
        address = urlsplit(base_url)
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            sock.sendall(
                b"POST /models/m/predict HTTP/1.1\r\nhost: x\r\n"
                b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
                b'{"instances": [[0.1,'
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
