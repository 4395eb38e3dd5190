"""Lambda's limit on what a function returns.

A synchronous invocation's response, the proxy dict serialised as JSON, may be at most
6,291,556 bytes; beyond it Lambda fails the invocation (``Function.ResponseSizeTooLarge``)
and API Gateway answers ``500 {"message": "Internal Server Error"}``, with nothing in the
router's logs. Well within the row limit an answer can pass it: contributions of a
multiclass model are rows x classes x (features + 1) numbers, and a binary V2 answer grows
by a third as base64. So the entry measures what it returns and answers a problem instead.
"""

from __future__ import annotations

import json
from typing import Any

from router.errors import AnswerTooLarge

RESPONSE_LIMIT_BYTES = 6_291_556
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
    size = response_size(response)
    if size > RESPONSE_LIMIT_BYTES:
        raise AnswerTooLarge(
            f"the answer is {size:,} bytes, more than the {RESPONSE_LIMIT_BYTES:,} a Lambda "
            "function may return; send fewer rows in a request (or ask for a smaller output)"
        )
