"""``POST /models/{name}/predict`` served straight from the ASGI scope, ahead of the app.

Predict is the hot path, and for a one-row request the app's layers cost about as much as
XGBoost's own call (docs/benchmarks.md): FastAPI's and Starlette's entry, the middleware
stack (FastAPI's body-limit and telemetry wrappers, Starlette's error middleware, each
wrapping ``send`` again), a Starlette request and response per call, and the route's
machinery. None of it does anything for predict: the endpoint reads its collaborators from
``app.state``, its name from the path, and its body with its own bounds. So ``RouterApp``
hands a matching request to this path before any of them: it runs the endpoint's steps
(``router.api.body``, ``router.api.models``, the same problems and the same log line) on
the scope, ``receive`` and ``send`` directly. A test holds its answers equal to the
route's, headers and bytes, over a corpus of requests, errors included.

The FastAPI route stays: it documents the endpoint in the OpenAPI document, and serves what
this path leaves to it (an app mounted under a root path, whose scope's path starts with
it). Anything but a ``POST`` on the path goes to the app as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from starlette.responses import Response
from starlette.routing import compile_path

from router.api.body import check_content_encoding, check_content_type, parse_received, receive_body
from router.api.lambda_limits import ON_LAMBDA_KEY, refuse_oversized_answer
from router.api.models import PREDICT_PATH, answer_body, find_live_model, predict_rows
from router.api.problems import internal_problem, router_problem
from router.api.request_log import request_id, write_prediction_line
from router.errors import RouterError
from router.names import validate_name

if TYPE_CHECKING:
    from starlette.datastructures import State
    from starlette.types import Receive, Scope, Send

    from router.api.request_log import PredictionFacts

# The request headers the endpoint reads, by their ASGI (lower-case) names.
_READ_HEADERS: Final = frozenset(
    {b"content-type", b"content-encoding", b"content-length", b"x-request-id"}
)
_JSON: Final = (b"content-type", b"application/json")


class AsgiPredict:
    """``await direct(scope, receive, send)`` serves a predict request, and answers whether
    it did: ``False`` for a request the app must serve (not a ``POST`` on the path)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.path = compile_path(PREDICT_PATH)[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        match = self.path.match(scope["path"]) if scope["method"] == "POST" else None
        if match is None:
            return False
        name = match["name"]
        headers = _headers(scope)
        started = time.perf_counter()
        status = 500
        facts: PredictionFacts | None = None
        problem: Response | None = None
        try:
            content, facts = await self._predict(scope, receive, name, headers)
            if ON_LAMBDA_KEY in scope:  # Mangum (a REST API event): so that the line says 413
                refuse_oversized_answer(Response(content, media_type="application/json"), scope)
            status = 200
        except RouterError as exc:
            status = exc.status
            problem = router_problem(exc, scope["path"], self.state.settings)
        except Exception:
            # The app's answer to a bug (its handler's, logged with the trace once, as JSON);
            # Starlette's error middleware would raise it again for the server to log as text.
            problem = internal_problem(scope["path"])
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            caller_id = request_id(scope, headers.get(b"x-request-id"))
            write_prediction_line(self.state, name, facts, caller_id, status, latency_ms)
        if problem is not None:
            await problem(scope, receive, send)
            return True
        # What Starlette's Response(content, media_type="application/json") sends.
        length = (b"content-length", str(len(content)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [length, _JSON]})
        await send({"type": "http.response.body", "body": content})
        return True

    async def _predict(
        self, scope: Scope, receive: Receive, name: str, headers: dict[bytes, str]
    ) -> tuple[bytes, PredictionFacts]:
        """``router.api.models.predict_with`` for the live model, on the scope."""
        state = self.state
        settings = state.settings
        registry = state.registry
        run_blocking = state.run_blocking
        validate_name(name)
        check_content_type(headers.get(b"content-type"))
        encoding = headers.get(b"content-encoding")
        check_content_encoding(encoding)
        body = await receive_body(
            receive, headers.get(b"content-length"), settings.max_body_bytes, state.body_timeout_s
        )
        payload = await parse_received(body, encoding, settings, run_blocking)
        model, cache = await find_live_model(registry, name, run_blocking)
        predictions = await predict_rows(registry, model, payload, run_blocking)
        facts = (model.version, len(payload.instances), payload.output, cache)
        return answer_body(name, model, payload, predictions), facts


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers the endpoint reads, each as Starlette's ``Headers.get`` reads it: the
    first of its name, as Latin-1 text."""
    found: dict[bytes, Any] = {}
    for name, value in scope["headers"]:
        if name in _READ_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found
