"""``/models`` predict bodies sent compressed, as ``requests`` and ``httpx`` users send them
(``data=gzip.compress(body)`` with ``Content-Encoding: gzip``): the same answer as the
body sent as it is, within the same limit once inflated, through the app and through
the Lambda handler (API Gateway passes a gzip body base64-encoded)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from typing import TYPE_CHECKING, Any

import pytest

from router.api import body as body_module
from tests.api.test_errors import GOOD_ROW, assert_problem
from tests.events import http_api_event
from tests.lambda_ import conftest as lambda_fixtures
from tests.modelkit import train_booster, write_model

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import ModuleType

    from fastapi.testclient import TestClient

    from scripts.lambda_inputs import LambdaContext

PATH = "/models/m/predict"
REQUEST = json.dumps({"instances": [GOOD_ROW, [0.5, None, 0.1, 0.9]]}).encode()
JSON = {"content-type": "application/json"}
# The Lambda tests' fixtures: the handler imported afresh, and a context.
import_handler = lambda_fixtures.import_handler
context = lambda_fixtures.context


@pytest.fixture
def served(client: TestClient, model_root: Path) -> TestClient:
    write_model(model_root, "m", train_booster(feature_names=["a", "b", "c", "d"]))
    return client


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZip", gzip.compress),
        ("x-gzip", gzip.compress),
    ],
)
def test_a_compressed_body_answers_as_the_body_itself(
    served: TestClient, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    plain = served.post(PATH, content=REQUEST, headers=JSON)
    sent = served.post(
        PATH, content=compress(REQUEST), headers={**JSON, "content-encoding": encoding}
    )

    assert plain.status_code == 200 and sent.status_code == 200, sent.text
    assert sent.json() == plain.json()


def test_a_coding_the_router_cannot_read_is_415(served: TestClient) -> None:
    response = served.post(PATH, content=REQUEST, headers={**JSON, "content-encoding": "br"})

    detail = assert_problem(response, 415, "unsupported-media-type")["detail"]
    assert "'br'" in detail and "gzip or deflate" in detail


@pytest.mark.parametrize(
    ("body", "status", "slug", "words"),
    [
        (gzip.compress(REQUEST)[:-9], 400, "malformed-request", "ends before its stream"),
        (gzip.compress(REQUEST) + b"junk", 400, "malformed-request", "4 bytes follow"),
        (b"not gzip at all", 400, "malformed-request", "not valid gzip"),
        # A few KiB that inflate past the 6 MiB body limit: refused as they inflate.
        (gzip.compress(b" " * (7 * 1024 * 1024)), 413, "request-too-large", "inflated"),
    ],
    ids=["cut-short", "trailing-bytes", "not-gzip", "bomb"],
)
def test_a_broken_or_oversized_stream_is_refused(
    served: TestClient, body: bytes, status: int, slug: str, words: str
) -> None:
    response = served.post(PATH, content=body, headers={**JSON, "content-encoding": "gzip"})

    assert words in assert_problem(response, status, slug)["detail"]


def test_a_compressed_body_is_inflated_off_the_event_loop(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However small it is sent: a few KiB can inflate to the body limit.
    on_loop: list[bool] = []
    parse = body_module.parse_predict_request

    def recording(*args: Any) -> Any:
        on_loop.append(_on_the_loop())
        return parse(*args)

    monkeypatch.setattr(body_module, "parse_predict_request", recording)
    gzipped = {**JSON, "content-encoding": "gzip"}
    assert served.post(PATH, content=gzip.compress(REQUEST), headers=gzipped).status_code == 200
    assert served.post(PATH, content=REQUEST, headers=JSON).status_code == 200

    assert on_loop == [False, True]  # a small plain body is still parsed inline


def _on_the_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_the_lambda_handler_reads_a_gzip_body_as_api_gateway_passes_it(
    import_handler: Callable[..., ModuleType], context: LambdaContext, model_root: Path
) -> None:
    write_model(model_root, "m", train_booster(feature_names=["a", "b", "c", "d"]))
    module = import_handler(model_root)
    plain = module.handler(http_api_event("POST", PATH, REQUEST, JSON), context)
    event = http_api_event(
        "POST", PATH, gzip.compress(REQUEST), {**JSON, "content-encoding": "gzip"}, binary=True
    )
    assert event["isBase64Encoded"] is True

    sent = module.handler(event, context)

    assert plain["statusCode"] == 200 and sent["statusCode"] == 200, sent["body"]
    assert json.loads(sent["body"]) == json.loads(plain["body"])
    refused = module.handler(
        http_api_event("POST", PATH, REQUEST, {**JSON, "content-encoding": "zstd"}), context
    )
    assert refused["statusCode"] == 415
