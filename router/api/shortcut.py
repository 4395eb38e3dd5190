"""``POST /models/{name}/predict`` reached without FastAPI's per-request machinery.

Predict is the hot path, and for a one-row request FastAPI's handling of a route (the
route table matched in turn, dependency solving even with nothing declared, the endpoint's
wrappers) costs about as much as XGBoost's own call (docs/benchmarks.md). The predict
endpoint declares nothing for FastAPI to do: it reads its collaborators from ``app.state``
and its name from the path. So this ASGI middleware calls it directly with a Starlette
request, and turns its errors into the same problem responses as the app's handlers.

The FastAPI route stays: it documents the endpoint in the OpenAPI document, and serves what
this middleware leaves to it (an app mounted under a root path). Anything but a ``POST``
on the path goes on to the app as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.routing import compile_path

from router.api.problems import router_problem
from router.errors import RouterError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    Endpoint = Callable[[Request], Awaitable[Response]]


class EndpointShortcut:
    """Serve ``method path`` with ``endpoint`` (which takes a request and declares nothing
    for FastAPI to solve), matched by Starlette's own path rule; the rest goes to ``app``."""

    def __init__(self, app: ASGIApp, *, method: str, path: str, endpoint: Endpoint) -> None:
        self.app = app
        self.method = method
        self.path = compile_path(path)[0]
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Under a root path, the scope's path starts with it: no match, the app routes it.
        ours = scope["type"] == "http" and scope["method"] == self.method
        match = self.path.match(scope["path"]) if ours else None
        if match is None:
            await self.app(scope, receive, send)
            return
        # What Starlette's route would have put in the scope for the endpoint.
        scope["path_params"] = match.groupdict()
        scope["endpoint"] = self.endpoint
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except RouterError as exc:
            # Any other exception is a bug: it goes on to the app's handler for those.
            response = router_problem(exc, scope["path"], scope["app"].state.settings)
        await response(scope, receive, send)
