"""What the Lambda entry checks of an event before Mangum reads it, and the answer it gives
when the event is not one Mangum can read.

Mangum indexes events as API Gateway writes them (``headers`` an object, a body that is
base64 when it says so, ``requestContext.http``...) and raises on anything else, so a
malformed event became an unhandled exception: Lambda's error response, with a stack trace,
to whoever invoked the function. These checks are the few that Mangum's own handlers need
(``mangum/handlers/api_gateway.py``), a handful of dict lookups per event.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from router.api.problems import PROBLEM_MEDIA_TYPE, problem_body
from router.api.v2.errors import V2_ERROR_MEDIA_TYPE, is_v2_path, v2_error_body
from router.errors import MalformedEvent, NotAnHttpEvent, RouterError


def check_event(event: object) -> dict[str, Any]:
    """The event to hand Mangum: raise ``NotAnHttpEvent`` unless ``event`` is an API Gateway
    request (HTTP API payload 2.0 or 1.0, REST API), and ``MalformedEvent`` for one Mangum
    could not read. A valid base64 body comes back decoded, in a copy of the event (the
    caller's stays as it was), so Mangum does not decode it a second time."""
    if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
        raise NotAnHttpEvent(f"not an API Gateway request event (keys: {_keys(event)})")
    if event.get("version") == "2.0":
        _check_v2(event)
    elif "httpMethod" in event:
        _check_v1(event)
    else:
        raise NotAnHttpEvent(f"not an API Gateway request event (keys: {_keys(event)})")
    return _with_checked_body(event)


def event_problem(error: RouterError, event: object) -> dict[str, Any]:
    """The Lambda proxy response for an event refused before the app saw it, or for an
    answer refused after it (over Lambda's limit): under ``/v2`` the protocol's error."""
    path = _path(event)
    if is_v2_path(path):
        body, media_type = v2_error_body(error.detail), V2_ERROR_MEDIA_TYPE
    else:
        problem = problem_body(error.status, error.slug, error.title, error.detail, path)
        body, media_type = orjson.dumps(problem), PROBLEM_MEDIA_TYPE
    return {
        "statusCode": error.status,
        "headers": {"content-type": media_type},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _check_v2(event: dict[str, Any]) -> None:
    http = event["requestContext"].get("http")
    if not isinstance(http, dict):
        raise MalformedEvent("requestContext.http must be an object")
    for key in ("method", "path", "sourceIp"):
        _require_string(http.get(key), f"requestContext.http.{key}")
    _check_headers(event, "headers", required=False)
    if not isinstance(event.get("rawQueryString", ""), str):
        raise MalformedEvent("rawQueryString must be a string")
    cookies = event.get("cookies")
    if cookies is not None and not (
        isinstance(cookies, list) and all(isinstance(c, str) for c in cookies)
    ):
        raise MalformedEvent("cookies must be a list of strings")


def _check_v1(event: dict[str, Any]) -> None:
    _require_string(event.get("httpMethod"), "httpMethod")
    _require_string(event.get("path"), "path")
    identity = event["requestContext"].get("identity", {})
    if not isinstance(identity, dict):
        raise MalformedEvent("requestContext.identity must be an object")
    # REST APIs send null for what a request does not have; Mangum reads null as empty.
    _check_headers(event, "headers", required=False, nullable=True)
    multi = event.get("multiValueHeaders")
    if multi is not None and not (
        isinstance(multi, dict)
        and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in multi.values())
    ):
        raise MalformedEvent("multiValueHeaders must map names to lists of strings")
    for key in ("queryStringParameters", "multiValueQueryStringParameters"):
        if event.get(key) is not None and not isinstance(event[key], dict):
            raise MalformedEvent(f"{key} must be an object or null")


def _check_headers(
    event: dict[str, Any], key: str, *, required: bool, nullable: bool = False
) -> None:
    if key not in event and not required:
        return
    headers = event[key]
    if headers is None and nullable:
        return
    if not isinstance(headers, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        raise MalformedEvent(f"{key} must be an object of strings")
    # Mangum reads the server's port from these two, with int().
    lowered = {name.lower(): value for name, value in headers.items()}
    _, colon, port = lowered.get("host", "").partition(":")
    if not colon:
        port = lowered.get("x-forwarded-port", "443")
    if not port.isdecimal():
        raise MalformedEvent("the host or x-forwarded-port header has no valid port")


def _with_checked_body(event: dict[str, Any]) -> dict[str, Any]:
    body = event.get("body")
    if body is None:
        return event
    if not isinstance(body, str):
        raise MalformedEvent("body must be a string or null")
    if not event.get("isBase64Encoded"):
        return event
    try:
        decoded = base64.b64decode(body, validate=True)
    except binascii.Error:
        raise MalformedEvent("the body is marked base64 but is not valid base64") from None
    return {**event, "body": decoded, "isBase64Encoded": False}


def _require_string(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise MalformedEvent(f"{where} must be a string")


def _keys(event: object) -> str:
    if not isinstance(event, dict):
        return f"none: a JSON {type(event).__name__}"
    return ", ".join(sorted(str(key)[:40] for key in event)[:10]) or "none"


def _path(event: object) -> str:
    if isinstance(event, dict):
        path = event.get("rawPath", event.get("path"))
        if isinstance(path, str):
            return path[:200]
    return ""
