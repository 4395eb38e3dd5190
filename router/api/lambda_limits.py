"""Lambda's limit on what a function returns.

A synchronous invocation's response, the proxy dict serialised as JSON, may be at most
6,291,556 bytes; beyond it Lambda fails the invocation (``Function.ResponseSizeTooLarge``)
and API Gateway answers ``500 {"message": "Internal Server Error"}``, with nothing in the
router's logs. Well within the row limit an answer can pass it: contributions of a
multiclass model are rows x classes x (features + 1) numbers, and a binary V2 answer grows
by a third as base64. So the entry measures what it returns and answers a problem instead.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from router.errors import AnswerTooLarge

RESPONSE_LIMIT_BYTES = 6_291_556
# The ASGI scope key Mangum sets to the Lambda event: the app runs on Lambda.
ON_LAMBDA_KEY = "aws.event"
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


# What the proxy response carries beside the body: status, headers, the base64 flag.
_ENVELOPE_BYTES = 1024


def refuse_oversized_answer(content: bytes, *, binary: bool) -> None:
    """``refuse_oversized`` for an answer the app is about to send through Mangum, before
    the prediction line is written: a JSON body travels as its text, a binary one as base64.
    The Lambda entry measures the exact response again; this lets the line say 413."""
    if len(content) < _SHORT_BODY_CHARACTERS // 2:
        return
    body = base64.b64encode(content).decode() if binary else content.decode()
    _refuse_size(len(json.dumps(body)) + _ENVELOPE_BYTES)
