"""Errors under ``/v2`` as the Open Inference Protocol has them: ``{"error": "..."}``.

Stock clients read exactly that field (tritonclient raises ``InferenceServerException`` with
its text), so every error of these routes, whichever handler turns it into a response,
comes out in this shape with the same status the rest of the API uses.
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

V2_PREFIX = "/v2"


def is_v2_path(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(f"{V2_PREFIX}/")


def v2_error_response(status: int, message: str, headers: dict[str, str] | None) -> Response:
    return Response(
        orjson.dumps({"error": message}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
