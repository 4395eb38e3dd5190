"""Reading and validating the prediction request body.

The body is read by hand rather than declared as a FastAPI body parameter so that its size is
capped while it streams in (a chunked upload cannot grow past the limit), it is parsed with
orjson (many times faster than the stdlib for rows of floats), and each failure gets its own
status: 413 too large, 400 not JSON, 422 not a valid request.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import orjson
from pydantic import ValidationError

from router.api.schemas import PredictRequest
from router.errors import InvalidInstances, MalformedRequest, RequestTooLarge

if TYPE_CHECKING:
    from fastapi import Request


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLarge(
            f"the body is {int(declared)} bytes; the limit is {max_bytes} (ROUTER_MAX_BODY_BYTES)"
        )
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise RequestTooLarge(
                f"the body is over the limit of {max_bytes} bytes (ROUTER_MAX_BODY_BYTES)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_predict_request(body: bytes, max_rows: int) -> PredictRequest:
    if not body:
        raise MalformedRequest('the body is empty: send {"instances": [[...], ...]}')
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        document = _loads_with_nan(body, exc)
    if not isinstance(document, dict):
        raise InvalidInstances('the body must be a JSON object: {"instances": [[...], ...]}')
    rows = document.get("instances")
    if isinstance(rows, list) and len(rows) > max_rows:
        raise RequestTooLarge(
            f"{len(rows)} rows in one request; the limit is {max_rows} (ROUTER_MAX_ROWS)"
        )
    try:
        return PredictRequest.model_validate(document)
    except ValidationError as exc:
        raise InvalidInstances(_describe(exc, document)) from exc


def _loads_with_nan(body: bytes, error: orjson.JSONDecodeError) -> object:
    """The body once orjson refused it: Python's ``json.dumps`` writes ``NaN`` for a missing
    float, and most clients send that, so ``NaN`` is read as a missing value (``null``).
    ``Infinity`` is refused: it is no missing value, and XGBoost would compare with it.
    Only bodies orjson refuses get here, so valid JSON keeps the fast path."""

    def constant(name: str) -> None:
        if name == "NaN":
            return None
        raise InvalidInstances(
            f"{name} is not a number a model can use: send a finite number, or null (or NaN) "
            "for a missing value"
        )

    def number(literal: str) -> float:
        value = float(literal)
        if math.isinf(value):  # 1e999: refused as orjson refuses it, as malformed
            raise MalformedRequest(f"the body is not valid JSON: {error}")
        return value

    try:
        return json.loads(body, parse_constant=constant, parse_float=number)
    except (ValueError, RecursionError):  # not JSON even so (UnicodeDecodeError is one)
        raise MalformedRequest(f"the body is not valid JSON: {error}") from error


def _describe(exc: ValidationError, document: dict[str, object]) -> str:
    """The first few problems, located like ``instances.0.2``.

    ``instances`` is a union of two row forms and pydantic reports a failure per form; keep
    only the errors of the form the client used (that of its first row).
    """
    first_row = _first_row(document)
    wanted = "list[dict" if isinstance(first_row, dict) else "list[list"
    messages: list[str] = []
    for error in exc.errors():
        tags = [part for part in error["loc"] if isinstance(part, str) and "[" in part]
        if tags and not tags[0].startswith(wanted):
            continue
        location = ".".join(str(part) for part in error["loc"] if part not in tags)
        message = f"{location or 'body'}: {error['msg']}"
        if message not in messages:
            messages.append(message)
        if len(messages) == 3:
            break
    return "; ".join(messages)


def _first_row(document: dict[str, object]) -> object:
    rows = document.get("instances")
    return rows[0] if isinstance(rows, list) and rows else None
