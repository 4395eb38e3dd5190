"""Reading and validating the prediction request body.

The body is read by hand rather than declared as a FastAPI body parameter so that its size is
capped while it streams in (a chunked upload cannot grow past the limit), it is parsed with
orjson (many times faster than the stdlib for rows of floats), and each failure gets its own
status: 415 not JSON by its type or compressed in a coding it cannot read, 413 too large
(as sent or once inflated), 400 not JSON or ambiguous JSON, 422 not a valid request.

Work per request is bounded by the body's size, whatever the body holds: the row form is
decided from the first row, each row is checked with C-level iteration (``map(type, row)``)
and the check stops at the first bad value, so an invalid body never costs more than a valid
one of the same size. ``PredictRequest`` documents the same rules in the OpenAPI schema;
validating rows through it tried both row forms and built an error object per bad value.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import TYPE_CHECKING, Any, Final, get_args

import orjson

from router.api.content_coding import decode_body, is_compressed, refuse_unsupported
from router.api.schemas import PredictRequest
from router.counts import parse_count
from router.errors import (
    ClientClosedRequest,
    InvalidInstances,
    MalformedRequest,
    RequestTimeout,
    RequestTooLarge,
    UnsupportedMediaType,
)
from router.xgb.limits import FLOAT32_MAX
from router.xgb.metadata import RoundsChoice
from router.xgb.outputs import OUTPUTS

if TYPE_CHECKING:
    from fastapi import Request
    from starlette.types import Receive

    from router.api.dependencies import RunBlocking
    from router.settings import Settings

# Bodies up to this size are parsed on the event loop: well under a millisecond, less than
# the hop to a worker thread. Larger ones are parsed in a thread so the loop keeps serving.
INLINE_PARSE_MAX_BYTES: Final = 64 * 1024
FIELDS: Final = tuple(PredictRequest.model_fields)
_GZIP_MAGIC: Final = b"\x1f\x8b"
ROUNDS: Final = get_args(RoundsChoice)
# What orjson makes of a JSON number, boolean or null. true and false are 1 and 0, as
# XGBoost reads a pandas bool column (a DataFrame's records hold them so); the predictor
# refuses them where the feature is categorical. Rows as objects may also carry strings: a
# categorical feature's category.
ARRAY_VALUE_TYPES: Final[frozenset[type]] = frozenset({float, int, bool, type(None)})
OBJECT_VALUE_TYPES: Final[frozenset[type]] = frozenset({float, int, bool, type(None), str})


async def read_predict_request(
    request: Request, settings: Settings, run_blocking: RunBlocking
) -> PredictRequest:
    """The checked request: its content type and coding, then its bytes, then its JSON."""
    check_content_type(request.headers.get("content-type"))
    encoding = request.headers.get("content-encoding")
    check_content_encoding(encoding)
    body = await read_body(request, settings.max_body_bytes, request.app.state.body_timeout_s)
    return await parse_received(body, encoding, settings, run_blocking)


async def parse_received(
    body: bytes, encoding: str | None, settings: Settings, run_blocking: RunBlocking
) -> PredictRequest:
    """The request of a received body: on the event loop when it is small, else in a
    thread, as is a compressed one whatever its size (a few KiB can inflate to the body
    limit)."""
    if len(body) <= INLINE_PARSE_MAX_BYTES and not is_compressed(encoding):
        return parse_predict_request(body, settings.max_rows)
    parsed: PredictRequest = await run_blocking(
        parse_encoded_request, body, encoding, settings.max_body_bytes, settings.max_rows
    )
    return parsed


def check_content_encoding(content_encoding: str | None) -> None:
    """gzip, deflate or none, before the body is read (``content_coding``)."""
    refuse_unsupported(content_encoding)


def parse_encoded_request(
    body: bytes, content_encoding: str | None, max_bytes: int, max_rows: int
) -> PredictRequest:
    """The request of a body sent with ``content_encoding``, inflated within ``max_bytes``."""
    return parse_predict_request(decode_body(body, content_encoding, max_bytes), max_rows)


def check_content_type(content_type: str | None) -> None:
    """JSON, a ``+json`` type, or no type at all. Anything else is refused: a form or
    ``text/plain`` is what a browser sends cross-site without a CORS preflight."""
    if content_type is None:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if not media_type or media_type == "application/json":
        return
    if media_type.startswith("application/") and media_type.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"the body's content type is {media_type[:100]!r}; send application/json"
    )


async def read_body(request: Request, max_bytes: int, timeout_s: float | None = None) -> bytes:
    """``receive_body`` for a Starlette request."""
    content_length = request.headers.get("content-length")
    return await receive_body(request.receive, content_length, max_bytes, timeout_s)


async def receive_body(
    receive: Receive, content_length: str | None, max_bytes: int, timeout_s: float | None = None
) -> bytes:
    """The whole body, refused as soon as it is over ``max_bytes`` (or its
    ``content_length`` says it will be) and, with ``timeout_s``, when it has not arrived in
    that time (a client that stops half way holds a connection and a buffer, and uvicorn
    has no body timeout of its own)."""
    refuse_declared_size(content_length, max_bytes)
    if timeout_s is None:
        return await _receive_chunks(receive, max_bytes)
    try:
        async with asyncio.timeout(timeout_s):
            return await _receive_chunks(receive, max_bytes)
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {timeout_s:g} s (ROUTER_BODY_TIMEOUT_S)"
        ) from None


async def _receive_chunks(receive: Receive, max_bytes: int) -> bytes:
    """The ASGI body messages, read as Starlette's ``Request.stream`` reads them."""
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientClosedRequest(f"the connection closed after {received} bytes of the body")
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        refuse_received_size(received, max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            # Most bodies come in one message: no copy for them.
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def refuse_declared_size(content_length: str | None, max_bytes: int) -> None:
    """A body whose ``content-length`` header says it is over the limit, before reading it."""
    declared = parse_count(content_length)
    if declared is not None and declared > max_bytes:
        raise RequestTooLarge(
            f"the body is {declared} bytes; the limit is {max_bytes} (ROUTER_MAX_BODY_BYTES)"
        )


def refuse_received_size(received: int, max_bytes: int) -> None:
    """A body over the limit once ``received`` bytes of it are in (whatever it declared)."""
    if received > max_bytes:
        raise RequestTooLarge(
            f"the body is over the limit of {max_bytes} bytes (ROUTER_MAX_BODY_BYTES)"
        )


def parse_predict_request(body: bytes, max_rows: int) -> PredictRequest:
    document = decode_json(body)
    if not isinstance(document, dict):
        raise InvalidInstances('the body must be a JSON object: {"instances": [[...], ...]}')
    extra = sorted(set(document).difference(FIELDS))
    if extra:
        raise InvalidInstances(
            f"{extra[0][:64]}: unknown field; the fields are {', '.join(FIELDS)}"
        )
    output = _choice(document, "output", OUTPUTS, "value")
    rounds = _choice(document, "rounds", ROUNDS, None)
    rows, categories = _rows(document, max_rows)
    _refuse_duplicate_keys(body, document, rows, categories)
    # Checked above, rule for rule: constructing without validation is what keeps the cost
    # of a body linear in its size.
    fields: dict[str, Any] = {"instances": rows, "output": output, "rounds": rounds}
    return PredictRequest.model_construct(**fields)


def _choice(
    document: dict[str, Any], field: str, words: tuple[str, ...], default: str | None
) -> str | None:
    value = document.get(field, default)
    if value is default or (type(value) is str and value in words):
        return value
    # Shown as the JSON it was sent as (5, null, "proba"), not as Python's repr of it.
    shown = orjson.dumps(value).decode()
    shown = shown if len(shown) <= _SHOWN_VALUE else shown[:_SHOWN_VALUE] + "..."
    raise InvalidInstances(f"{field}: {shown} is not one of {', '.join(words)}")


_SHOWN_LITERAL: Final = 24  # a number's digits quoted in a refusal, at most
_SHOWN_VALUE: Final = 64  # a field's value quoted in a refusal, at most


def decode_json(body: bytes) -> object:
    """Strict orjson first; the lenient parse only when it fails, so valid JSON keeps the
    fast path."""
    if not body:
        raise MalformedRequest('the body is empty: send {"instances": [[...], ...]}')
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        refuse_non_utf8(body)
        return loads_with_nan(body, exc)


def refuse_non_utf8(body: bytes) -> None:
    """JSON is UTF-8 (RFC 8259 §8.1). orjson says so as "surrogates not allowed", which
    names nothing the sender did; a compressed body sent without its header is the usual
    cause, so it is named when the bytes start as gzip's do."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = (
            " (it starts as a gzip stream does: send it uncompressed, or say "
            "Content-Encoding: gzip)"
            if body.startswith(_GZIP_MAGIC)
            else ""
        )
        raise MalformedRequest(
            f"the body is not UTF-8 text, as JSON must be: byte {exc.start} is "
            f"0x{body[exc.start]:02x}{hint}"
        ) from None


def loads_with_nan(
    body: bytes, error: orjson.JSONDecodeError, *, integers_as_floats: bool = True
) -> object:
    """The body once orjson refused it: Python's ``json.dumps`` writes ``NaN`` for a missing
    float, and most clients send that, so ``NaN`` is read as a missing value (``null``).
    ``Infinity`` is refused: it is no missing value, and XGBoost would compare with it.
    Only bodies orjson refuses get here, so valid JSON keeps the fast path. A refused number
    is named by where it is in the document (``instances.537.0``): in a body of thousands
    of rows, the literal alone does not find it."""
    refused: list[_Refused] = []  # in the order parsed

    def refuse(reason: str) -> _Refused:
        marker = _Refused(reason)
        refused.append(marker)
        return marker

    def constant(name: str) -> _Refused | None:
        if name == "NaN":
            return None
        return refuse(
            f"{name} is not a number a model can use: send a finite number, or null (or NaN) "
            "for a missing value"
        )

    # Valid JSON that no double holds (1e999, or an integer of hundreds of digits, which
    # orjson leaves to this parse too): refused as any number beyond float32's range is,
    # the range models compute in. Integers are read as floats (by C, not a Python hook:
    # bodies with NaN hold thousands), which is what rows become; one beyond a double's
    # range reads as infinite, and rows refuse it as beyond float32's.
    def number(literal: str) -> float | _Refused:
        value = float(literal)
        if math.isinf(value):
            return refuse(_beyond_float32(literal))
        return value

    try:
        document = json.loads(
            body,
            parse_constant=constant,
            parse_float=number,
            # A V2 request's shapes must stay integers; its tensors check their own values.
            parse_int=float if integers_as_floats else int,
        )
    except (ValueError, RecursionError):  # not JSON even so (UnicodeDecodeError is one)
        raise MalformedRequest(f"the body is not valid JSON: {error}") from error
    if refused:
        # Where it still is: a key given twice may have replaced it (a refusal too, later).
        found = _first_refused(document)
        if found is None:
            raise InvalidInstances(refused[0].reason)
        where, marker = found
        raise InvalidInstances(f"{where}: {marker.reason}" if where else marker.reason)
    return document


class _Refused:
    """A number the lenient parse refuses, left in its place so that the refusal can say
    where it was; the document never goes further."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _first_refused(document: object) -> tuple[str, _Refused] | None:
    """The first refused number in document order, and its path (``instances.3.plan``)."""
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, _Refused):
            return where, value
        if isinstance(value, dict):
            items: list[tuple[object, object]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        prefix = f"{where}." if where else ""
        pending.extend((f"{prefix}{key}", item) for key, item in reversed(items))
    return None


def _beyond_float32(literal: str) -> str:
    shown = literal if len(literal) <= _SHOWN_LITERAL else literal[:_SHOWN_LITERAL] + "..."
    return f"{shown} is beyond float32's range (±{FLOAT32_MAX:.4g}); models compute in float32"


def _rows(document: dict[str, Any], max_rows: int) -> tuple[list[Any], int]:
    """The rows, checked, and how many strings their values hold (categories)."""
    if "instances" not in document:
        raise InvalidInstances('instances: field required: send {"instances": [[...], ...]}')
    rows = document["instances"]
    if not isinstance(rows, list):
        hint = (
            ' (a DataFrame\'s to_dict() is by column: send to_dict(orient="records"))'
            if isinstance(rows, dict)
            else ""
        )
        raise InvalidInstances(f"instances: must be a list of rows{hint}")
    if not rows:
        raise InvalidInstances("instances: must hold at least 1 row")
    if len(rows) > max_rows:
        raise RequestTooLarge(
            f"{len(rows)} rows in one request; the limit is {max_rows} (ROUTER_MAX_ROWS)"
        )
    # The first row decides the form; a row of the other form is an error at that row.
    if type(rows[0]) is list:
        return rows, _check_array_rows(rows)
    if type(rows[0]) is dict:
        return rows, _check_object_rows(rows)
    raise InvalidInstances(
        "instances.0: a row is an array of numbers or an object of feature: number"
    )


def _check_array_rows(rows: list[Any]) -> int:
    value_types = ARRAY_VALUE_TYPES
    for number, row in enumerate(rows):
        if type(row) is not list:
            raise InvalidInstances(
                f"instances.{number}: not an array like the first row: use one row form"
            )
        if not value_types.issuperset(map(type, row)):
            raise InvalidInstances(_bad_value(number, row, value_types))
    return 0


def _check_object_rows(rows: list[Any]) -> int:
    value_types = OBJECT_VALUE_TYPES
    strings = 0
    for number, row in enumerate(rows):
        if type(row) is not dict:
            raise InvalidInstances(
                f"instances.{number}: not an object like the first row: use one row form"
            )
        types = list(map(type, row.values()))
        if not value_types.issuperset(types):
            raise InvalidInstances(_bad_value(number, row, value_types))
        strings += types.count(str)
    return strings


def _bad_value(number: int, row: list[Any] | dict[str, Any], value_types: frozenset[type]) -> str:
    """Where the first bad value of a row is (only called once, for the refused row)."""
    items = enumerate(row) if isinstance(row, list) else row.items()
    for key, value in items:
        if type(value) not in value_types:
            where = key if isinstance(key, int) else key[:64]
            kind = _JSON_KINDS.get(type(value), f"a {type(value).__name__}")
            # Only object rows name a categorical feature's category; arrays send its code.
            hint = " (a category by name only in rows as objects)" if type(value) is str else ""
            return (
                f"instances.{number}.{where}: {kind}, not a valid value; send numbers, booleans "
                f"or null{hint}"
            )
    raise AssertionError("no bad value in a refused row")  # pragma: no cover


_JSON_KINDS: Final[dict[type, str]] = {
    list: "an array",
    dict: "an object",
    str: "a string",
}


def _refuse_duplicate_keys(
    body: bytes, document: dict[str, Any], rows: list[Any], categories: int
) -> None:
    """Refuse ``{"output": "margin", "output": "value"}`` and a feature twice in one row:
    parsers disagree on which one wins, so a gateway may have read another request.

    orjson keeps the last silently, so count strings instead. The strings left after
    parsing are the top-level keys and choices, the feature names and the categories in
    rows (other values were checked to be numbers), each from its own string in the text; a
    repeated key leaves the strings of its overwritten pair in the text only. So the text
    holds more strings than the parse exactly when a key was repeated. A string is two
    unescaped quotes: drop escaped backslashes (pairs, as a parser reads them left to
    right), then every ``\\"`` left is an escaped quote. Counting bytes keeps this a few
    scans of the body, whatever it holds.
    """
    objects = rows if type(rows[0]) is dict else []
    strings = len(document) + categories + sum(map(len, objects))
    strings += sum(type(document.get(field)) is str for field in ("output", "rounds"))
    text = body.replace(b"\\\\", b"") if b"\\\\" in body else body
    if text.count(b'"') - text.count(b'\\"') != 2 * strings:
        raise MalformedRequest(
            "a key appears twice in one object (instances, output or a feature of a row); "
            "send each key once"
        )
