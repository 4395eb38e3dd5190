"""Request bodies sent compressed (``Content-Encoding: gzip`` or ``deflate``), inflated
within the body limit.

A client that compresses gets more rows through a body limit, and through Lambda's 6 MB
event; a few KiB can also inflate to gigabytes, so inflation stops one byte past the limit.
A stream cut short, or followed by more bytes, is not the request the client compressed.
"""

from __future__ import annotations

import zlib
from typing import Final

from router.errors import MalformedRequest, RequestTooLarge, UnsupportedMediaType

# zlib's window bits: gzip framing (x-gzip is its old name, RFC 9110 §8.4.1.3), and the
# zlib framing HTTP calls "deflate".
_WINDOW_BITS: Final = {"gzip": 31, "x-gzip": 31, "deflate": 15}
_IDENTITY: Final = frozenset({"", "identity"})
SUPPORTED: Final = ("gzip", "deflate")


def coding_of(content_encoding: str | None) -> str:
    """The coding named by a ``Content-Encoding`` header, lowercased; "" for none."""
    coding = (content_encoding or "").strip().lower()
    return "" if coding in _IDENTITY else coding


def is_compressed(content_encoding: str | None) -> bool:
    """Whether ``decode_body`` has to inflate (or refuse) a body of this Content-Encoding."""
    return coding_of(content_encoding) != ""


def refuse_unsupported(content_encoding: str | None) -> None:
    """RFC 9110 §15.5.16: a coding the server cannot read is a 415 (checked before the body
    is read, and again by ``decode_body``)."""
    coding = coding_of(content_encoding)
    if coding and coding not in _WINDOW_BITS:
        raise UnsupportedMediaType(
            f"Content-Encoding {coding[:32]!r} is not supported: send the body "
            f"uncompressed, or as {' or '.join(SUPPORTED)}"
        )


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body as sent before compression; never more than ``max_bytes`` once inflated."""
    encoding = coding_of(content_encoding)
    if not encoding:
        return body
    refuse_unsupported(encoding)
    inflater = zlib.decompressobj(_WINDOW_BITS[encoding])
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedRequest(f"the body is not valid {encoding}: {exc}") from exc
    if len(inflated) > max_bytes or inflater.unconsumed_tail:
        raise RequestTooLarge(
            f"the inflated body is over the limit of {max_bytes} bytes (ROUTER_MAX_BODY_BYTES)"
        )
    # zlib stops quietly at the end of the first stream, and returns what it has of a stream
    # cut short: either way the request is not the one the client compressed.
    if not inflater.eof:
        raise MalformedRequest(f"the body is not valid {encoding}: it ends before its stream does")
    if inflater.unused_data:
        raise MalformedRequest(
            f"the body is not valid {encoding}: {len(inflater.unused_data)} bytes "
            "follow after the end of its stream; send one stream and nothing after it"
        )
    return inflated
