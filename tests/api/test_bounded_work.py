"""No body within the size limit costs much more than a valid one, and none holds up other
requests: measured against a real ``model-router serve``, as ratios to a valid body of the
same size sent in the same test (absolute times depend on the machine)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import httpx2
import orjson
import pytest

from tests.live.server import running_server
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

FEATURES = 300
ROWS = 1_000  # about 1 MB of rows, as in the report that found a 3 s stall
TIMES = 3  # the fastest of a few sends: the machine is shared, noise only adds
JSON = {"content-type": "application/json"}


def _rows(value: object, rows: int = ROWS) -> list[list[object]]:
    return [[value] * FEATURES for _ in range(rows)]


def _objects(names: list[str], rows: int) -> list[dict[str, float]]:
    return [dict.fromkeys(names, 0.5) for _ in range(rows)]


# "f0" ... spelt with an escape, and ending in an escaped quote.
ESCAPED_NAMES = [f'\\u0066{i}\\"' for i in range(FEATURES)]


def hostile_bodies() -> dict[str, bytes]:
    valid_rows = _rows(0.5)
    escaped_rows = b",".join(
        b"{" + b",".join(b'"%s":0.5' % name.encode() for name in ESCAPED_NAMES) + b"}"
        for _ in range(ROWS // 4)
    )
    return {
        # The report's case: every value a string, which pydantic reported one by one.
        "every value a string": orjson.dumps({"instances": _rows("")}),
        "one bad value, last": orjson.dumps(
            {"instances": [*valid_rows[:-1], [*_rows(0.5, 1)[0][:-1], ""]]}
        ),
        "other row form, last": orjson.dumps({"instances": [*valid_rows[:-1], {"f0": 0.5}]}),
        "unknown features": orjson.dumps(
            {"instances": _objects([f"x{i}" for i in range(FEATURES)], ROWS // 3)}
        ),
        # Escapes are what the duplicate check must read around; the repeat is at the end.
        "escaped keys, repeat last": b'{"instances": [' + escaped_rows[:-1] + b',"f0\\"":1}]}',
        "escaped instances twice": b'{"instances": '
        + orjson.dumps(valid_rows)
        + b', "\\u0069nstances": [[0.5]]}',
    }


def _post_seconds(client: httpx2.Client, body: bytes) -> tuple[float, int]:
    best, status = float("inf"), 0
    for _ in range(TIMES):
        started = time.perf_counter()
        status = client.post("/models/m/predict", content=body, headers=JSON).status_code
        best = min(best, time.perf_counter() - started)
    return best, status


def test_no_body_costs_more_than_twice_a_valid_one_nor_stalls_health(model_root: Path) -> None:
    write_model(model_root, "m", train_booster(n_features=FEATURES, trees=5))
    valid = orjson.dumps({"instances": _rows(0.5)})

    with (
        running_server(model_root) as base_url,
        httpx2.Client(base_url=base_url, timeout=60) as client,
    ):
        valid_s, status = _post_seconds(client, valid)
        assert status == 200
        costs, ratios = {}, {}
        for kind, body in hostile_bodies().items():
            assert abs(len(body) - len(valid)) < len(valid) * 0.25, kind  # the same size
            costs[kind], status = _post_seconds(client, body)
            assert 400 <= status < 500, (kind, status)
            # Against a valid body sent just after, so that a machine whose load changes
            # during the test (a CI neighbour) compares like with like.
            beside_s, _ = _post_seconds(client, valid)
            ratios[kind] = costs[kind] / beside_s
        stalls = _health_latency_during(base_url, client, [*hostile_bodies().values(), valid])

    assert len(stalls) > len(hostile_bodies())  # the poller ran while the bodies were read
    slowest = max(ratios, key=ratios.__getitem__)
    assert ratios[slowest] <= 2, (slowest, costs, valid_s)
    assert max(stalls) <= 2 * valid_s, (stalls, valid_s)


def _health_latency_during(
    base_url: str, client: httpx2.Client, bodies: list[bytes]
) -> list[float]:
    """/health latencies from another connection while each of ``bodies`` is sent."""
    latencies: list[float] = []
    polling, done = threading.Event(), threading.Event()

    def poll_health() -> None:
        with httpx2.Client(base_url=base_url, timeout=60) as other:
            while not done.is_set() and len(latencies) < 1_000:
                started = time.perf_counter()
                if other.get("/health").status_code == 200:
                    latencies.append(time.perf_counter() - started)
                polling.set()

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        assert polling.wait(timeout=30)
        for body in bodies:
            client.post("/models/m/predict", content=body, headers=JSON)
    finally:
        done.set()
        poller.join(timeout=60)
    return latencies
