"""The Lambda entry measures an answer before Mangum turns it into a proxy response, so that
the prediction line can say 413; that measure must be of the response Mangum makes, to the
byte, or an answer near the limit is refused on one path and served on another."""

from __future__ import annotations

from typing import Any

import pytest
from mangum.handlers.api_gateway import APIGateway, HTTPGateway
from starlette.responses import Response

from router.api import lambda_limits
from router.api.lambda_limits import (
    proxy_response,
    refuse_oversized_answer,
    response_size,
    text_mime_types,
)
from router.errors import AnswerTooLarge
from tests.events import http_api_event, load_event

CONFIG: Any = {
    "api_gateway_base_path": "/",
    "text_mime_types": text_mime_types(),
    "exclude_headers": [],
}
ANSWERS = {
    "json": Response(b'{"predictions": [0.25, 0.75]}', media_type="application/json"),
    "non-ascii json": Response('{"label": "grün"}'.encode(), media_type="application/json"),
    "problem": Response(b'{"status": 422}', 422, media_type="application/problem+json"),
    "binary v2": Response(
        b'{"outputs": []}\x00\x01\xff',
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": "15"},
    ),
}


def _mangums(response: Response, event: dict[str, Any]) -> dict[str, Any]:
    """What Mangum's handler for ``event`` answers for ``response``."""
    handler = (HTTPGateway if "version" in event else APIGateway)(event, None, CONFIG)
    message = {
        "status": response.status_code,
        "headers": response.raw_headers,
        "body": bytes(response.body),
    }
    proxy: dict[str, Any] = handler(message)  # type: ignore[arg-type]
    return proxy


def _event(payload: str) -> dict[str, Any]:
    if payload == "http api 2.0":
        return http_api_event("POST", "/models/m/predict", "{}")
    event = load_event("apigw_rest_v1")
    if payload == "http api 1.0":  # a REST-shaped event with a version, no resource
        del event["resource"]
        event["version"] = "1.0"
    return event


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("payload", ["http api 2.0", "http api 1.0", "rest api"])
def test_the_measured_response_is_the_one_mangum_makes(answer: str, payload: str) -> None:
    event = _event(payload)
    response = ANSWERS[answer]

    ours = proxy_response(response, payload_v2=event.get("version") == "2.0")

    assert ours == _mangums(response, event)
    assert response_size(ours) == response_size(_mangums(response, event))


@pytest.mark.parametrize("payload", ["http api 2.0", "rest api"])
def test_an_answer_is_refused_exactly_when_its_proxy_response_is_over_the_limit(
    monkeypatch: pytest.MonkeyPatch, payload: str
) -> None:
    v2 = payload == "http api 2.0"
    event = http_api_event("POST", "/models/m/predict", "{}") if v2 else load_event("apigw_rest_v1")
    response = Response(
        b'{"predictions": [' + b"0.5, " * 400 + b"1]}", media_type="application/json"
    )
    size = response_size(_mangums(response, event))
    monkeypatch.setattr(lambda_limits, "_SHORT_BODY_CHARACTERS", 0)
    scope = {lambda_limits.ON_LAMBDA_KEY: event}

    monkeypatch.setattr(lambda_limits, "RESPONSE_LIMIT_BYTES", size)
    refuse_oversized_answer(response, scope)  # exactly at the limit: served
    monkeypatch.setattr(lambda_limits, "RESPONSE_LIMIT_BYTES", size - 1)
    with pytest.raises(AnswerTooLarge, match=f"the answer is {size:,} bytes"):
        refuse_oversized_answer(response, scope)
