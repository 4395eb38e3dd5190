"""``HEAD`` answered as ``GET`` is, without the body (RFC 9110 §9.3.2).

FastAPI routes a ``GET`` endpoint for ``GET`` alone, so ``curl -I /health`` (what an
operator tries first) met a 405. The body is the server's to drop: uvicorn writes none for
a ``HEAD``, whatever the app sends, and neither does API Gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            # A copy: the server reads its own scope's method to leave the body out.
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)
