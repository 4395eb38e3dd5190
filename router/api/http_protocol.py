"""uvicorn's HTTP protocol (httptools), answering a request it cannot parse as the app
answers bad input: a 400 with a problem body, not uvicorn's plain-text line.

Such a request never reaches the app: a request line that is not HTTP, a Content-Length or
chunk size that is not a number, a URL longer than httptools' URL parser reads (64 KiB).
The connection still closes after the answer, as uvicorn's does: the parser cannot tell
where the next request would start.
"""

from __future__ import annotations

import sys
from typing import Final

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from router.api.problems import PROBLEM_MEDIA_TYPE, problem_type

_CALLBACK_FAILED: Final = (
    "its URL or headers cannot be read (a URL is read up to 64 KiB; "
    "a model name is at most 128 characters)"
)


def unparsable_request_body(reason: str) -> bytes:
    """The problem body for a request the server could not parse, for ``reason``."""
    return orjson.dumps(
        {
            "type": problem_type("invalid-http-request"),
            "title": "Invalid HTTP request",
            "status": 400,
            "detail": f"The request is not valid HTTP/1.1: {reason}.",
        }
    )


def _parser_reason() -> str:
    """What httptools said was wrong. uvicorn calls ``send_400_response`` from the handler
    of the parser's error, with a fixed message, so the error is the one being handled."""
    error = sys.exc_info()[1]
    if isinstance(error, httptools.HttpParserCallbackError):
        # The parser was fine; uvicorn's own callback failed on what it was given.
        return _CALLBACK_FAILED
    if isinstance(error, httptools.HttpParserError) and str(error):
        # llhttp's fixed descriptions ("Invalid character in Content-Length"): no request
        # bytes are echoed in them.
        return str(error)[0].lower() + str(error)[1:]
    return "its request line, headers or body framing cannot be parsed"


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """``model-router serve``'s HTTP protocol: uvicorn's, with a problem body for a request
    it cannot parse."""

    def send_400_response(self, msg: str) -> None:
        body = unparsable_request_body(_parser_reason())
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
