"""What Lambda hands a handler, for the tests and the benchmark alike: the recorded API
Gateway HTTP API event re-aimed at one request, and the context object.

The event is the one recorded in ``tests/events/``, read there as data (``scripts`` import no
tests), so that the tests and the benchmark send the handler the same shape. The standard
library only, and no ``router`` import: the benchmark runs it on a fresh clone.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

RECORDED_EVENTS = Path(__file__).resolve().parents[1] / "tests" / "events"
REGION = "eu-west-1"
ACCOUNT = "123456789012"


def recorded_http_api_event() -> dict[str, Any]:
    """``tests/events/apigw_http_v2.json``: a POST to /models/iris/predict, as recorded."""
    event: dict[str, Any] = json.loads((RECORDED_EVENTS / "apigw_http_v2.json").read_text())
    return event


def http_api_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: Mapping[str, str | None] | None = None,
    *,
    binary: bool = False,
    route: str = "$default",
    path_parameters: Mapping[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``method path``, made from a copy of
    ``template`` (by default the recorded event, read afresh).

    ``headers`` update the recorded ones (a ``None`` value removes one; names are lower-cased,
    as payload 2.0 has them). ``binary`` sends ``body`` base64-encoded, as API Gateway passes
    a body without a text Content-Type. ``route`` is the route key that matched (the
    router's handler routes by path and reads neither it nor ``path_parameters``; a
    handler behind one route per path, like the benchmark's peers, reads both)."""
    event = copy.deepcopy(template) if template is not None else recorded_http_api_event()
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = event["routeKey"] = route
    event.pop("pathParameters", None)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    sent = {key: value for key, value in event["headers"].items() if key != "content-length"}
    for name, value in (headers or {}).items():
        if value is None:
            sent.pop(name.lower(), None)
        else:
            sent[name.lower()] = value
    event["headers"] = sent
    event.pop("body", None)
    event["isBase64Encoded"] = False
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        event["body"] = base64.b64encode(raw).decode() if binary else raw.decode()
        event["isBase64Encoded"] = binary
        sent["content-length"] = str(len(raw))
    return event


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that the handlers, Mangum and Powertools
    read; the ARN and log group follow the function's name."""

    function_name: str = "model-router"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = "3f1c0b5e-2d9a-4b7c-8e6f-1a2b3c4d5e6f"
    function_version: str = "$LATEST"
    log_stream_name: str = "2026/11/23/[$LATEST]0123456789abcdef"
    remaining_ms: int = 29_000
    invoked_function_arn: str = field(init=False)
    log_group_name: str = field(init=False)

    def __post_init__(self) -> None:
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        self.invoked_function_arn = arn
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
