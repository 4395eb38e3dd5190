"""Header bytes only a raw client sends, against a real ``model-router serve``: uvicorn
hands the app header values decoded as Latin-1, so a byte such as 0xB2 arrives as "²",
which ``str.isdigit()`` passes and ``int()`` refuses (a 500 until the router parsed counts
itself). Neither the test client nor Mangum can send it: both encode headers as UTF-8."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.live.server import running_server
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

BODY = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
).encode()


def test_a_header_length_int_cannot_read_is_a_400(model_root: Path) -> None:
    write_model(model_root, "m", train_booster())

    with running_server(model_root) as base_url:
        address = urlsplit(base_url)
        answers = {
            length: _send(address.hostname or "", address.port or 0, length)
            for length in (b"\xb2", b"1\xb9", b"1" * 5000)
        }

    for length, answer in answers.items():
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), (length[:8], answer[:300])
        assert "must be a byte count" in json.loads(body)["error"]


def _send(host: str, port: int, length: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            b"POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
            b"content-type: application/json\r\n"
            b"inference-header-content-length: " + length + b"\r\n"
            b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
