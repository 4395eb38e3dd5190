"""A large or compressed infer body is read in a worker thread, as ``/models`` bodies over
64 KiB are, so that the event loop keeps answering other requests meanwhile.

No clock is read: the large request's parse waits until a small request sent after it
has been answered, which it can only be while the loop is free. Were the parse on the
loop, the small request would wait for the parse instead, and the parse would give up."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from router.api.body import INLINE_PARSE_MAX_BYTES
from router.api.v2 import routes
from tests.v2.conftest import publish

if TYPE_CHECKING:
    import xgboost as xgb
    from fastapi.testclient import TestClient

PATH = "/v2/models/iris/infer"
WAIT_S = 15  # waited in full only when the parse blocks the loop


def body_of(rows: int) -> bytes:
    data = np.full((rows, 4), 5.25).tolist()
    tensor = {"name": "input", "shape": [rows, 4], "datatype": "FP64", "data": data}
    return json.dumps({"inputs": [tensor]}).encode()


LARGE = body_of(4000)
assert len(LARGE) > INLINE_PARSE_MAX_BYTES and len(gzip.compress(LARGE)) < 4096


@pytest.mark.parametrize(
    ("body", "headers"),
    [(LARGE, {}), (gzip.compress(LARGE), {"Content-Encoding": "gzip"})],
    ids=["over 64 KiB", "compressed"],
)
def test_other_requests_are_answered_while_a_large_body_is_parsed(
    client: TestClient,
    model_root: Any,
    iris_boosters: list[xgb.Booster],
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    headers: dict[str, str],
) -> None:
    publish(model_root, iris_boosters[0])
    parsing, answered = threading.Event(), threading.Event()
    on_loop: list[bool] = []
    waited: list[bool] = []
    parse = routes.parse_infer_request

    def parse_when_answered(*args: Any, **kwargs: Any) -> Any:
        on_loop.append(_on_the_loop())
        if not parsing.is_set():  # the large request, the first one sent
            parsing.set()
            waited.append(answered.wait(WAIT_S))
        return parse(*args, **kwargs)

    monkeypatch.setattr(routes, "parse_infer_request", parse_when_answered)
    large: dict[str, Any] = {}
    sender = threading.Thread(
        target=lambda: large.update(response=client.post(PATH, content=body, headers=headers))
    )
    sender.start()
    try:
        assert parsing.wait(WAIT_S)
        small = client.post(PATH, content=body_of(1))
        answered.set()
    finally:
        answered.set()
        sender.join(WAIT_S)

    assert small.status_code == 200 and large["response"].status_code == 200
    assert waited == [True]  # the small request was answered during the large one's parse
    assert on_loop == [False, True]  # a small body is still parsed inline: no thread hop


def _on_the_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a worker thread runs no event loop
        return False
    return True
