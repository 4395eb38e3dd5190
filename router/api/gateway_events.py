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
    could not read. The body comes back as bytes, decoded from base64 or encoded from text,
    in a copy of the event (the caller's stays as it was), so that Mangum and the direct
    path do neither again."""
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
    headers = _headers(event, "headers", nullable=False)
    _check_server_headers({name.lower(): value for name, value in headers.items()})
    query = event.get("rawQueryString", "")
    if not isinstance(query, str):
        raise MalformedEvent("rawQueryString must be a string")
    cookies = event.get("cookies")
    if cookies is not None and not (
        isinstance(cookies, list) and all(isinstance(c, str) for c in cookies)
    ):
        raise MalformedEvent("cookies must be a list of strings")
    _require_unicode("requestContext.http.path", [http["path"]])
    _require_unicode("rawQueryString", [query])
    _require_unicode("a header", [*headers, *headers.values()])
    _require_unicode("a cookie", cookies or [])


def _check_v1(event: dict[str, Any]) -> None:
    # How Mangum tells a REST API event (resource) from an HTTP API 1.0 one (version) and
    # from an Application Load Balancer's (requestContext.elb), which it serves too.
    if not ("resource" in event or "version" in event or "elb" in event["requestContext"]):
        raise MalformedEvent(
            "a REST API event has a resource, an HTTP API one a version, and a load "
            "balancer's requestContext an elb"
        )
    _require_string(event.get("httpMethod"), "httpMethod")
    _require_string(event.get("path"), "path")
    identity = event["requestContext"].get("identity", {})
    if not isinstance(identity, dict):
        raise MalformedEvent("requestContext.identity must be an object")
    # REST APIs send null for what a request does not have; Mangum reads null as empty.
    headers = _headers(event, "headers", nullable=True)
    multi = event.get("multiValueHeaders")
    if multi is not None and not (
        isinstance(multi, dict)
        and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in multi.values())
    ):
        raise MalformedEvent("multiValueHeaders must map names to lists of strings")
    # Mangum's reading: multiValueHeaders, joined with ", ", win over headers.
    merged = {name.lower(): value for name, value in headers.items()}
    merged.update({name.lower(): ", ".join(values) for name, values in (multi or {}).items()})
    _check_server_headers(merged)
    texts: list[str] = [event["path"], *merged, *merged.values()]
    for key in ("queryStringParameters", "multiValueQueryStringParameters"):
        parameters = event.get(key)
        if parameters is None:
            continue
        if not isinstance(parameters, dict):
            raise MalformedEvent(f"{key} must be an object or null")
        for name, value in parameters.items():
            texts += [name, *(value if isinstance(value, list) else [value])]
    _require_unicode("the path, a header or the query", [t for t in texts if isinstance(t, str)])


def _headers(event: dict[str, Any], key: str, *, nullable: bool) -> dict[str, str]:
    """The event's ``key`` (headers), which may be absent (and, if ``nullable``, null)."""
    if key not in event:
        return {}
    headers = event[key]
    if headers is None and nullable:
        return {}
    if not isinstance(headers, dict) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in headers.items()
    ):
        raise MalformedEvent(f"{key} must be an object of strings")
    return headers


def _check_server_headers(lowered: dict[str, str]) -> None:
    """The headers Mangum reads the scope's server port from, with int()."""
    _, colon, port = lowered.get("host", "").partition(":")
    if not colon:
        port = lowered.get("x-forwarded-port", "443")
    if not port.isdecimal():
        raise MalformedEvent("the host or x-forwarded-port header has no valid port")


def _require_unicode(where: str, texts: list[str]) -> None:
    """Refuse text that has no UTF-8 form: a lone surrogate (JSON's "\\ud800", which a hand-made
    event can hold and API Gateway never sends), which Mangum and the app encode."""
    for text in texts:
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise MalformedEvent(f"{where} holds text that is no valid Unicode") from None


def _with_checked_body(event: dict[str, Any]) -> dict[str, Any]:
    body = event.get("body")
    if body is None:
        return event
    if not isinstance(body, str):
        raise MalformedEvent("body must be a string or null")
    if not event.get("isBase64Encoded"):
        try:
            encoded = body.encode()  # what Mangum and the direct path would do, once
        except UnicodeEncodeError:
            raise MalformedEvent("the body holds text that is no valid Unicode") from None
        return {**event, "body": encoded}
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
            # A lone surrogate (refused as malformed) has no UTF-8 form for the problem body.
            return path[:200].encode(errors="replace").decode()
    return ""
