"""Errors answered before a V2 endpoint runs, by the HTTP server or by the Lambda entry,
are in the protocol's shape too: tritonclient reads ``json.loads(body)["error"]``, and on
a problem body it raised "an exception occurred in the client while decoding the
response" instead of the server's message. ``/models`` keeps its problem bodies."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from router.api import lambda_limits
from tests.events import http_api_event
from tests.live.server import running_server
from tests.v2.conftest import publish, train_iris

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import ModuleType

    import xgboost as xgb

    from scripts.lambda_inputs import LambdaContext


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("models")
    publish(root, train_iris(21))
    with running_server(root) as url:
        yield url


def features() -> httpclient.InferInput:
    tensor = httpclient.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 4), np.float32), binary_data=False)
    return tensor


@pytest.mark.slow
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Length": "abc"}, "invalid character in Content-Length"),
        ({"X-Token": "t" * 70_000}, "its URL and headers are over 64 KiB"),  # a huge token
    ],
    ids=["content-length not a number", "headers over 64 KiB"],
)
def test_tritonclient_reads_the_servers_400s(
    base_url: str, headers: dict[str, str], message: str
) -> None:
    client = httpclient.InferenceServerClient(base_url.removeprefix("http://"))
    try:
        with pytest.raises(InferenceServerException) as refused:
            client.infer("iris", [features()], headers=headers)
    finally:
        client.close()

    assert refused.value.status() == "400"
    assert refused.value.message() == f"The request is not valid HTTP/1.1: {message}."


def exchange(base_url: str, request: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes; the head and body of the answer (the server then closes)."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.lower(), body


BAD_CHUNK = b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", [b"/v2/models/iris/infer", b"/v2", b"/%762/models/iris/infer?x=1"]
)
def test_an_unparsable_v2_request_gets_an_error_body(base_url: str, target: bytes) -> None:
    head, body = exchange(base_url, b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n" + BAD_CHUNK)

    assert head.startswith(b"http/1.1 400") and b"content-type: application/json" in head
    assert json.loads(body) == {
        "error": "The request is not valid HTTP/1.1: invalid character in chunk size."
    }


@pytest.mark.slow
@pytest.mark.parametrize("target", [b"/models/iris/predict", b"/v2x", b"/health"])
def test_other_unparsable_requests_keep_their_problem_body(base_url: str, target: bytes) -> None:
    head, body = exchange(base_url, b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n" + BAD_CHUNK)

    assert head.startswith(b"http/1.1 400") and b"application/problem+json" in head
    assert json.loads(body)["type"] == "urn:model-router:problem:invalid-http-request"


# -- the Lambda entry ------------------------------------------------------------------------


def test_an_event_refused_before_the_app_gets_an_error_body_under_v2(
    import_handler: Callable[..., ModuleType], context: LambdaContext, model_root: Path
) -> None:
    module = import_handler(model_root)

    def not_base64(path: str) -> dict[str, Any]:
        event = http_api_event("POST", path, "{}", {"content-type": "application/json"})
        return event | {"body": "not base64!", "isBase64Encoded": True}

    v2 = module.handler(not_base64("/v2/models/iris/infer"), context)
    models = module.handler(not_base64("/models/iris/predict"), context)

    assert v2["statusCode"] == 400 and v2["headers"]["content-type"] == "application/json"
    assert json.loads(v2["body"]) == {"error": "the body is marked base64 but is not valid base64"}
    assert models["headers"]["content-type"] == "application/problem+json"
    assert json.loads(models["body"])["detail"] == json.loads(v2["body"])["error"]


def test_a_v2_answer_over_lambdas_limit_is_an_error_body(
    import_handler: Callable[..., ModuleType],
    context: LambdaContext,
    model_root: Path,
    iris_boosters: list[xgb.Booster],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish(model_root, iris_boosters[0])
    module = import_handler(model_root)
    # A limit any answer passes, rather than 6 MB of contributions.
    monkeypatch.setattr(lambda_limits, "RESPONSE_LIMIT_BYTES", 100)
    monkeypatch.setattr(lambda_limits, "_SHORT_BODY_CHARACTERS", 0)
    request = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1] * 4}]}

    response = module.handler(
        http_api_event(
            "POST",
            "/v2/models/iris/infer",
            json.dumps(request),
            {"content-type": "application/json"},
        ),
        context,
    )

    assert response["statusCode"] == 413
    assert response["headers"]["content-type"] == "application/json"
    assert "more than the 100 a Lambda function may return" in json.loads(response["body"])["error"]
