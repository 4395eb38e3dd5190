"""uvicorn's HTTP protocol (httptools), answering a request it cannot parse as the app
answers bad input: a 400 with a problem body (under ``/v2``, the protocol's ``{"error"}``),
not uvicorn's plain-text line.

Such a request never reaches the app: a request line that is not HTTP, a Content-Length or
chunk size that is not a number, a request line and headers over ``MAX_HEAD_BYTES``. The
connection still closes after the answer, as uvicorn's does: the parser cannot tell where
the next request would start.

uvicorn bounds neither the URL nor the headers (llhttp does not either), so a client could
grow one request's header list without end; the bound here is the one httptools' URL parser
has anyway (its offsets are 16-bit), and far above what any client of the API sends.
"""

from __future__ import annotations

import sys
from typing import Final
from urllib.parse import unquote, urlsplit

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from router.api.problems import PROBLEM_MEDIA_TYPE, problem_type
from router.api.v2.errors import V2_ERROR_MEDIA_TYPE, is_v2_path, v2_error_body

MAX_HEAD_BYTES: Final = 64 * 1024  # the URL and every header's name and value, together
_HEAD_TOO_LARGE: Final = f"its URL and headers are over {MAX_HEAD_BYTES // 1024} KiB"


class HeadTooLarge(Exception):
    """Raised from the parser's callbacks: httptools stops and raises its callback error."""


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
        # The parser was fine; a callback refused what it was given: the bound here, or
        # uvicorn's own (its URL parse, in on_headers_complete).
        if isinstance(error.__context__, HeadTooLarge):
            return _HEAD_TOO_LARGE
        return "its URL or headers cannot be read"
    if isinstance(error, httptools.HttpParserError) and str(error):
        # llhttp's fixed descriptions ("Invalid character in Content-Length"): no request
        # bytes are echoed in them.
        return str(error)[0].lower() + str(error)[1:]
    return "its request line, headers or body framing cannot be parsed"


def _request_path(target: bytes) -> str:
    """The decoded path of a request target (origin form, or absolute form)."""
    text = target.decode("latin-1")
    path = text if text.startswith("/") else urlsplit(text).path
    return unquote(path.partition("?")[0].partition("#")[0])


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """``model-router serve``'s HTTP protocol: uvicorn's, with a problem body for a request
    it cannot parse, and a bound on a request's URL and headers."""

    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        reason = _parser_reason()
        # Under /v2 the protocol's {"error"}: tritonclient reads no problem body. The
        # target is what the parser read of it, which may stop short (a URL over the bound).
        if is_v2_path(_request_path(getattr(self, "url", b""))):
            body = v2_error_body(f"The request is not valid HTTP/1.1: {reason}.")
            media_type = V2_ERROR_MEDIA_TYPE
        else:
            body, media_type = unparsable_request_body(reason), PROBLEM_MEDIA_TYPE
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + media_type.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
