"""Errors under ``/v2`` as the Open Inference Protocol has them: ``{"error": "..."}``.

Stock clients read exactly that field (tritonclient raises ``InferenceServerException`` with
its text), so every error of these routes, whichever handler turns it into a response,
comes out in this shape with the same status the rest of the API uses: the app's handlers
(``router.api.problems``), and what answers before the app runs, uvicorn's protocol
(``router.api.http_protocol``) and the Lambda entry (``router.api.gateway_events``).
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

V2_PREFIX = "/v2"
V2_ERROR_MEDIA_TYPE = "application/json"


def is_v2_path(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(f"{V2_PREFIX}/")


def v2_error_body(message: str) -> bytes:
    """The body of an error under ``/v2``, for the app's handlers and for the answers given
    before the app runs (the HTTP server's, the Lambda entry's)."""
    return orjson.dumps({"error": message})


def v2_error_response(status: int, message: str, headers: dict[str, str] | None) -> Response:
    return Response(
        v2_error_body(message),
        status_code=status,
        media_type=V2_ERROR_MEDIA_TYPE,
        headers=headers,
    )
