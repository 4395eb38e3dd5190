"""Recorded-shape AWS events, loaded by name: every test builds events from these files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json``."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return copy.deepcopy(event)


def http_api_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``method path``, from the recorded one."""
    event = load_event("apigw_http_v2")
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = "$default"
    event["routeKey"] = "$default"
    event.pop("pathParameters", None)
    event["headers"] = {
        key: value for key, value in event["headers"].items() if key != "content-length"
    }
    if headers:
        event["headers"].update(headers)
    if body is None:
        event.pop("body", None)
    else:
        text = body.decode() if isinstance(body, bytes) else body
        event["body"] = text
        event["headers"]["content-length"] = str(len(text.encode()))
    event["isBase64Encoded"] = False
    return event
