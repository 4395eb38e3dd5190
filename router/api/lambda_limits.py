"""Lambda's limit on what a function returns.

A synchronous invocation's response, the proxy dict serialised as JSON, may be at most
6,291,556 bytes; beyond it Lambda fails the invocation (``Function.ResponseSizeTooLarge``)
and API Gateway answers ``500 {"message": "Internal Server Error"}``, with nothing in the
router's logs. Well within the row limit an answer can pass it: contributions of a
multiclass model are rows x classes x (features + 1) numbers, and a binary V2 answer grows
by a third as base64. So the entry measures what it returns and answers a problem instead.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from router.errors import AnswerTooLarge

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Scope

RESPONSE_LIMIT_BYTES = 6_291_556
# The ASGI scope key Mangum sets to the Lambda event: the app runs on Lambda.
ON_LAMBDA_KEY = "aws.event"


@functools.cache
def text_mime_types() -> list[str]:
    """The media types the Lambda entry's Mangum sends as text (problem+json among them);
    any other body goes as base64. Mangum is imported only on Lambda's paths: the local
    server never needs it."""
    from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

    return [*DEFAULT_TEXT_MIME_TYPES, "+json"]


# JSON escaping can grow a body: with ensure_ascii (the runtime's choice before Python
# 3.12) a character outside the BMP becomes two \\uXXXX escapes, 12 characters. A body
# this short cannot reach the limit whatever it holds, and is not measured.
_SHORT_BODY_CHARACTERS = RESPONSE_LIMIT_BYTES // 16


def response_size(response: dict[str, Any]) -> int:
    """The bytes Lambda's Python runtime sends for ``response`` (``awslambdaric``'s
    marshaller; ``ensure_ascii`` is the larger of its two spellings)."""
    return len(json.dumps(response))


def refuse_oversized(response: dict[str, Any]) -> None:
    """Raise ``AnswerTooLarge`` when ``response`` is over Lambda's limit."""
    body = response.get("body")
    if isinstance(body, str) and len(body) < _SHORT_BODY_CHARACTERS:
        return
    _refuse_size(response_size(response))


def _refuse_size(size: int) -> None:
    if size > RESPONSE_LIMIT_BYTES:
        raise AnswerTooLarge(
            f"the answer is {size:,} bytes, more than the {RESPONSE_LIMIT_BYTES:,} a Lambda "
            "function may return; send fewer rows in a request (or ask for a smaller output)"
        )


def proxy_response(response: Response, *, payload_v2: bool = True) -> dict[str, Any]:
    """The Lambda proxy response Mangum makes of ``response`` (``HTTPGateway.__call__``
    for payload 2.0, ``APIGateway.__call__`` for a REST API): lower-case headers, the body
    as text for a text type (``text_mime_types``) and as base64 for any other. The
    router's answers carry each header once and no cookies."""
    headers = {name.decode().lower(): value.decode() for name, value in response.raw_headers}
    from mangum.handlers.utils import handle_base64_response_body

    body, is_base64 = handle_base64_response_body(bytes(response.body), headers, text_mime_types())
    if payload_v2:
        return {
            "statusCode": response.status_code,
            "body": body,
            "headers": headers,
            "isBase64Encoded": is_base64,
        }
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "multiValueHeaders": {},
        "body": body,
        "isBase64Encoded": is_base64,
    }


def refuse_oversized_answer(response: Response, scope: Scope) -> None:
    """``refuse_oversized`` for an answer the app is about to send through Mangum, measured
    as Mangum will send it, before the prediction line is written (so that it says 413).
    The Lambda entry measures what Mangum made again; both measures are the same."""
    if len(response.body) < _SHORT_BODY_CHARACTERS // 2:
        return
    event = scope[ON_LAMBDA_KEY]
    refuse_oversized(proxy_response(response, payload_v2=event.get("version") == "2.0"))
